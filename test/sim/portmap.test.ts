// mapPort() as shipped on the simulated internet and the fake clock: a LAN host asks its gateway, whose
// daemons are tiny in-test responders (PCP/NAT-PMP on 5351, SSDP on 1900) and a fake fetch (description,
// SOAP). What test/lab/portmap*.test.ts checks against miniupnpd, here without root and to the millisecond.
import { afterEach, describe, expect, test } from "bun:test";
import { sameEndpoint } from "../../src/addr.ts";
import {
  type GatewaySocketFactory,
  type MapPortOptions,
  mapPort,
  type PortMapping,
} from "../../src/portmap/index.ts";
import { ipv4ToMapped, PCP_RESULT } from "../../src/portmap/pcp.ts";
import type { SimHost } from "../../src/transport/memory.ts";
import type { Transport } from "../../src/transport/types.ts";
import { MASQUERADE, Sim, T0 } from "./world.ts";

const GATEWAY = "198.18.1.1";
const CLIENT = "198.18.1.10";
const PUBLIC = "198.18.1.1";
const LOCAL_PORT = 10_000;
const LOCATION = `http://${GATEWAY}:5000/rootDesc.xml`;
const CONTROL = `http://${GATEWAY}:5000/ctl/IPConn`;
const WANIP1 = "urn:schemas-upnp-org:service:WANIPConnection:1";

/** A connected socket on a simulated host: bound to its address, only `remote`'s datagrams come in. */
const connectedOn =
  (host: SimHost): GatewaySocketFactory =>
  async (remote, onDatagram) => {
    const t = await host.transport({ host: host.ip, port: 0 }, (data, from) => {
      if (sameEndpoint(from, remote)) onDatagram(data);
    });
    return { localHost: host.ip, send: (data) => t.send(data, remote), close: () => t.close() };
  };

type Answer = (req: Uint8Array) => Uint8Array | Uint8Array[] | undefined;

/** A PCP success for a MAP request: its nonce and lifetime, the suggested port on the public address. */
const pcpOk: Answer = (req) => {
  if (req[0] !== 2) return undefined;
  const v = new DataView(req.buffer, req.byteOffset, req.byteLength);
  const out = new Uint8Array(60);
  const o = new DataView(out.buffer);
  out.set([2, 0x81, 0, PCP_RESULT.SUCCESS]);
  o.setUint32(4, v.getUint32(4));
  out.set(req.subarray(24, 40), 24); // nonce, protocol, reserved
  o.setUint16(40, v.getUint16(40));
  o.setUint16(42, v.getUint16(42));
  out.set(ipv4ToMapped(PUBLIC), 44);
  return out;
};

/** A PCP error reply (24-byte header only): the gateway says no. */
const pcpRefuses: Answer = (req) =>
  req[0] === 2 ? Uint8Array.from([2, 0x81, 0, PCP_RESULT.NOT_AUTHORIZED, ...new Uint8Array(20)]) : undefined;

/** A NAT-PMP-only gateway: "unsupported version" to PCP, then mappings and the external address. */
const natPmpOnly: Answer = (req) => {
  if (req[0] !== 0) return Uint8Array.from([0, 128 + (req[1] ?? 0), 0, 1, 0, 0, 0, 7]);
  if (req[1] === 0) return Uint8Array.from([0, 128, 0, 0, 0, 0, 0, 7, ...PUBLIC.split(".").map(Number)]);
  const v = new DataView(req.buffer, req.byteOffset, req.byteLength);
  const out = new Uint8Array(16);
  const o = new DataView(out.buffer);
  out[1] = 129;
  o.setUint32(4, 7);
  o.setUint16(8, v.getUint16(4));
  o.setUint16(10, v.getUint32(8) === 0 ? 0 : v.getUint16(6));
  o.setUint32(12, v.getUint32(8));
  return out;
};

const silent: Answer = () => undefined;

interface World {
  sim: Sim;
  client: SimHost;
  /** What reached the gateway's 5351 and 1900, with the time (ms after T0). */
  pmp: { at: number; data: Uint8Array }[];
  ssdp: { at: number; text: string }[];
  http: { at: number; url: string; action?: string }[];
  opts: MapPortOptions;
}

const sockets: Transport[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

/** A LAN behind a NAT; the gateway's LAN side runs `pmp` on 5351 and, when `upnp`, an IGD. */
async function world(pmp: Answer, o: { upnp?: boolean } = {}): Promise<World> {
  const sim = new Sim(1);
  const nat = sim.net.nat(PUBLIC, MASQUERADE);
  const client = sim.net.host(CLIENT, { behind: nat });
  const router = sim.net.host(GATEWAY, { behind: nat });
  // The SSDP multicast group as one more member of the LAN: what it receives, the router answers, from its own
  // address (as a device on a real LAN answers a multicast M-SEARCH by unicast).
  const group = sim.net.host("239.255.255.250", { behind: nat });
  const w: World = {
    sim,
    client,
    pmp: [],
    ssdp: [],
    http: [],
    opts: {
      localPort: LOCAL_PORT,
      gateway: GATEWAY,
      clock: sim.clock,
      random: sim.random(),
      gatewaySocket: connectedOn(client),
      transport: client.transport,
      interfaces: () => ({ lan: [{ address: CLIENT, family: "IPv4", netmask: "255.255.255.0" }] }),
      fetch: async () => new Response("no IGD here", { status: 404 }),
    },
  };
  const at = () => sim.clock.now() - T0;
  const daemon: Transport = await router.transport({ host: "0.0.0.0", port: 5351 }, (data, from) => {
    w.pmp.push({ at: at(), data: data.slice() });
    const out = pmp(data);
    for (const d of out === undefined ? [] : Array.isArray(out) ? out : [out]) daemon.send(d, from);
  });
  const ssdpReply = await router.transport({ host: "0.0.0.0", port: 1900 }, () => {});
  const groupSocket = await group.transport({ host: "0.0.0.0", port: 1900 }, (data, from) => {
    const text = new TextDecoder().decode(data);
    w.ssdp.push({ at: at(), text });
    if (!o.upnp) return;
    const answer = `HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:sim::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: ${LOCATION}\r\n\r\n`;
    ssdpReply.send(new TextEncoder().encode(answer), from);
  });
  sockets.push(daemon, ssdpReply, groupSocket);
  if (o.upnp) w.opts.fetch = fakeIgd(w);
  return w;
}

/** The IGD's HTTP side: the description, then GetExternalIPAddress, AddPortMapping and DeletePortMapping. */
function fakeIgd(w: World): NonNullable<MapPortOptions["fetch"]> {
  const xml = (body: string) =>
    new Response(`<?xml version="1.0"?>${body}`, { headers: { "content-type": "text/xml" } });
  return async (url, init) => {
    const action = /#(\w+)"/.exec(String(new Headers(init.headers).get("SOAPAction")))?.[1];
    w.http.push({ at: w.sim.clock.now() - T0, url, ...(action ? { action } : {}) });
    if (url === LOCATION)
      return xml(
        `<root><device><serviceList><service><serviceType>${WANIP1}</serviceType><controlURL>/ctl/IPConn</controlURL></service></serviceList></device></root>`,
      );
    if (url !== CONTROL) return new Response("", { status: 404 });
    const values =
      action === "GetExternalIPAddress" ? `<NewExternalIPAddress>${PUBLIC}</NewExternalIPAddress>` : "";
    return xml(
      `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:${action}Response xmlns:u="${WANIP1}">${values}</u:${action}Response></s:Body></s:Envelope>`,
    );
  };
}

/** Runs the simulation until `p` settles (a remove() waits for the gateway's answer over the LAN). */
async function settled(w: World, p: Promise<void> | undefined): Promise<void> {
  let done = false;
  void p?.finally(() => {
    done = true;
  });
  await w.sim.runUntil(() => done || !p, 10_000);
  expect(done || !p).toBe(true);
}

/** Runs mapPort on the fake clock until it settles; the result and when it came (ms after the call). */
async function run(w: World, extra: Partial<MapPortOptions> = {}) {
  const out: { done: boolean; mapping?: PortMapping } = { done: false };
  const t0 = w.sim.clock.now();
  let ms = -1;
  mapPort({ ...w.opts, ...extra }).then((m) => {
    out.done = true;
    out.mapping = m;
    ms = w.sim.clock.now() - t0;
  });
  await w.sim.runUntil(() => out.done, 10_000);
  expect(out.done).toBe(true);
  return { mapping: out.mapping, ms };
}

describe("mapPort on the simulated LAN", () => {
  test("PCP answers: mapped in one LAN round trip; remove() deletes it", async () => {
    const w = await world(pcpOk);
    const { mapping, ms } = await run(w, { ttlSeconds: 600 });
    expect(mapping).toMatchObject({
      protocol: "pcp",
      external: { host: PUBLIC, port: LOCAL_PORT },
      lifetimeSeconds: 600,
    });
    // Two links each way at the simulation's link delay: well under the first retransmission at 250 ms.
    expect(ms).toBeLessThan(250);
    expect(w.pmp).toHaveLength(1);
    await settled(w, mapping?.remove());
    expect(w.pmp).toHaveLength(2);
    const [map, del] = w.pmp.map((r) => r.data) as [Uint8Array, Uint8Array];
    expect(new DataView(del.buffer, del.byteOffset).getUint32(4)).toBe(0); // lifetime 0: delete
    expect(del.subarray(24, 36)).toEqual(map.subarray(24, 36)); // same nonce
  });

  test("PCP unsupported (a NAT-PMP-only gateway): NAT-PMP maps it, with the external address", async () => {
    const w = await world(natPmpOnly);
    const { mapping } = await run(w, { ttlSeconds: 600 });
    expect(mapping).toMatchObject({ protocol: "nat-pmp", external: { host: PUBLIC, port: LOCAL_PORT } });
    // PCP's MAP, then NAT-PMP's map and external address requests together.
    expect(w.pmp.map((r) => [r.data[0], r.data[1]])).toEqual([
      [2, 1],
      [0, 1],
      [0, 0],
    ]);
    await settled(w, mapping?.remove());
  });

  test("PCP and NAT-PMP refused: UPnP through SSDP and the fake fetch; remove() deletes it there", async () => {
    const w = await world(pcpRefuses, { upnp: true });
    const { mapping, ms } = await run(w);
    expect(mapping).toMatchObject({ protocol: "upnp", external: { host: PUBLIC, port: LOCAL_PORT } });
    expect(ms).toBeLessThan(1_500);
    // A refusal ends PCP and NAT-PMP both: one request to 5351, then one M-SEARCH that was answered.
    expect(w.pmp).toHaveLength(1);
    expect(w.ssdp).toHaveLength(1);
    expect(w.http.map((h) => h.action ?? h.url)).toEqual([
      LOCATION,
      "GetExternalIPAddress",
      "AddPortMapping",
    ]);
    await settled(w, mapping?.remove());
    expect(w.http[3]?.action).toBe("DeletePortMapping");
  });

  test("a silent gateway: undefined exactly at the 1.5 s budget, PCP sent at 0, 250 and 750 ms", async () => {
    const w = await world(silent, { upnp: true });
    const { mapping, ms } = await run(w);
    expect(mapping).toBeUndefined();
    expect(ms).toBe(1_500);
    // Arrival times: each send plus the two LAN links.
    const sentAt = w.pmp.map((r) => r.at - (w.pmp[0]?.at ?? 0));
    expect(sentAt).toEqual([0, 250, 750]);
    // Silence (unlike "unsupported version") is no reason to try NAT-PMP, and it left UPnP no time.
    expect(w.ssdp).toHaveLength(0);
    expect(w.sim.clock.size).toBe(0);
  });

  test("UPnP alone against a LAN without an IGD: three M-SEARCHes at 0, 250, 750 ms, undefined at timeoutMs", async () => {
    const w = await world(silent);
    const { mapping, ms } = await run(w, { protocols: ["upnp"] });
    expect(mapping).toBeUndefined();
    expect(ms).toBe(1_500);
    expect(w.ssdp.map((r) => r.at - (w.ssdp[0]?.at ?? 0))).toEqual([0, 250, 750]);
    expect(w.ssdp.map((r) => /^ST: (.*)$/m.exec(r.text)?.[1])).toEqual([
      "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
      "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
      "ssdp:all",
    ]);
  });

  test("aborting mid-way resolves undefined at the abort, timers gone", async () => {
    const w = await world(silent);
    const ac = new AbortController();
    w.sim.clock.setTimer(400, () => ac.abort());
    const { mapping, ms } = await run(w, { signal: ac.signal });
    expect(mapping).toBeUndefined();
    expect(ms).toBe(400);
    expect(w.sim.clock.size).toBe(0);
  });
});
