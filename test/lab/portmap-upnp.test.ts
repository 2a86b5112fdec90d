// mapPort() over UPnP-IGD against a real gateway daemon: Debian's miniupnpd (nftables build, 2.3.x) with
// enable_upnp=yes and a fixed http_port in a lab gateway namespace, a LAN host discovering it by SSDP
// multicast and mapping over SOAP, and a public host checking that the mapping forwards, and no longer
// does after remove(). Needs root and miniupnpd (see test/lab/portmap.test.ts for the lab's STUN responder
// and nftables tables that miniupnpd needs). SSDP and HTTP stay inside the lab's namespaces.
import { describe, expect } from "bun:test";
import { join } from "node:path";
import { type Host, type Lab, labPerTest } from "../../lab/lab.ts";
import {
  arrivals,
  gatewayDaemon,
  gatewayLab,
  probeSend,
  UPNP_HTTP_PORT,
  waitOutput,
} from "../../lab/miniupnpd.ts";

const BUN = process.execPath;
const PORTMAP = join(import.meta.dir, "../../src/portmap/index.ts");
const LOCAL_PORT = 10000;

/**
 * ARGS: local-port protocols. Calls mapPort (default gateway, 3 s), prints {"mapping": ...}, listens on
 * local-port ("listening PORT"), prints "from ADDR PORT PAYLOAD" per datagram; on SIGTERM calls remove()
 * and prints "removed".
 */
const CLIENT = `
const { mapPort } = await import(${JSON.stringify(PORTMAP)});
const [localPort, protocols] = process.argv.slice(1);
const m = await mapPort({ localPort: Number(localPort), protocols: protocols.split(","), ttlSeconds: 600, timeoutMs: 3000 });
const { remove, ...mapping } = m ?? {};
console.log(JSON.stringify({ mapping: m ? mapping : null }));
if (!m) process.exit(0);
const sock = await Bun.udpSocket({ hostname: "0.0.0.0", port: Number(localPort), socket: {
  data(_s, d, port, addr) { console.log("from " + addr + " " + port + " " + d.toString()); } } });
console.log("listening " + sock.port);
process.on("SIGTERM", async () => {
  sock.close();
  await m.remove();
  console.log("removed");
  process.exit(0);
});
setTimeout(() => {}, 50_000);`;

interface Mapping {
  external: { host: string; port: number };
  protocol: string;
  gateway: string;
  lifetimeSeconds: number;
}

const labs = labPerTest();

async function topology(upnp: boolean) {
  const l = labs.create();
  const t = await gatewayLab(l);
  const daemon = await gatewayDaemon(l, t.gw, "192.0.2", t.stunHost, t.stunIp, { upnp });
  return { l, ...t, pc: t.pcs[0] as Host, daemon };
}

const upnpRules = (l: Lab, gw: Host): string =>
  l.exec(gw, ["nft", "list", "chain", "inet", "filter", "prerouting_miniupnpd"]).stdout;

describe("mapPort over UPnP-IGD against miniupnpd", () => {
  labs.test("maps UDP 10000, forwards through the firewall, and remove() closes it again", async () => {
    const { l, gw, gwIp, probe, probeIp, pc, daemon } = await topology(true);
    expect(await arrivals(l, pc, LOCAL_PORT, probe, 30001, { host: gwIp, port: LOCAL_PORT })).toEqual([]);

    const client = l.spawn(pc, [BUN, "-e", CLIENT, String(LOCAL_PORT), "upnp"]);
    const line = await waitOutput(client, "stdout", /^\{.*\}$/m, 15_000);
    const m = (JSON.parse(line) as { mapping: Mapping | null }).mapping;
    if (!m)
      throw new Error(`no mapping: ${JSON.stringify({ client: client.output(), daemon: daemon.output() })}`);
    expect(m.protocol).toBe("upnp");
    expect(m.external).toEqual({ host: gwIp, port: LOCAL_PORT });
    expect(m.gateway).toBe("192.0.2.1");
    expect(m.lifetimeSeconds).toBe(600);
    expect(upnpRules(l, gw)).toContain(`dport ${LOCAL_PORT} dnat ip to 192.0.2.10:${LOCAL_PORT}`);

    await waitOutput(client, "stdout", /^listening \d+$/m, 5_000);
    probeSend(l, probe, 30002, m.external);
    const from = await waitOutput(client, "stdout", /^from \S+ 30002 seq \d+$/m, 5_000);
    expect(from.split(" ")[1]).toBe(probeIp);

    client.kill("SIGTERM");
    await waitOutput(client, "stdout", /^removed$/m, 5_000);
    expect(await client.exited).toBe(0);
    expect(upnpRules(l, gw)).not.toContain("dnat");
    expect(await arrivals(l, pc, LOCAL_PORT, probe, 30003, m.external)).toEqual([]);
  });

  labs.test("PCP and NAT-PMP refused (ICMP): the default list falls back to UPnP", async () => {
    const { l, gw, gwIp, pc } = await topology(true);
    const reject = ["iptables", "-I", "INPUT", "1", "-p", "udp", "--dport", "5351", "-j", "REJECT"];
    expect(l.exec(gw, reject).code).toBe(0);
    const client = l.spawn(pc, [BUN, "-e", CLIENT, String(LOCAL_PORT), "pcp,nat-pmp,upnp"]);
    const line = await waitOutput(client, "stdout", /^\{.*\}$/m, 15_000);
    const m = (JSON.parse(line) as { mapping: Mapping | null }).mapping;
    expect(m?.protocol).toBe("upnp");
    expect(m?.external).toEqual({ host: gwIp, port: LOCAL_PORT });
    expect(m?.lifetimeSeconds).toBe(600);
    client.kill("SIGTERM");
    await waitOutput(client, "stdout", /^removed$/m, 5_000);
    expect(upnpRules(l, gw)).not.toContain("dnat");
  });

  labs.test("with UPnP on, the default list still prefers PCP", async () => {
    const { l, gwIp, pc } = await topology(true);
    const client = l.spawn(pc, [BUN, "-e", CLIENT, String(LOCAL_PORT), "pcp,nat-pmp,upnp"]);
    const line = await waitOutput(client, "stdout", /^\{.*\}$/m, 15_000);
    const m = (JSON.parse(line) as { mapping: Mapping | null }).mapping;
    expect(m?.protocol).toBe("pcp");
    expect(m?.external).toEqual({ host: gwIp, port: LOCAL_PORT });
    client.kill("SIGTERM");
    await waitOutput(client, "stdout", /^removed$/m, 5_000);
  });

  labs.test("UPnP off in miniupnpd: undefined, nothing mapped", async () => {
    const { l, gw, pc } = await topology(false);
    const client = l.spawn(pc, [BUN, "-e", CLIENT, String(LOCAL_PORT), "upnp"]);
    const line = await waitOutput(client, "stdout", /^\{.*\}$/m, 15_000);
    expect(JSON.parse(line)).toEqual({ mapping: null });
    expect(await client.exited).toBe(0);
    expect(upnpRules(l, gw)).not.toContain("dnat");
    // Nothing serves the UPnP HTTP port either.
    const ss = l.exec(gw, ["ss", "-Htln", `sport = :${UPNP_HTTP_PORT}`]);
    expect(ss.stdout.trim()).toBe("");
  });
});
