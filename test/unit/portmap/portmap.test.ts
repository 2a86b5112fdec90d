// Port mapping: /proc/net/route parsing, the PCP and NAT-PMP wire formats, and mapPort() against a fake
// gateway on loopback (always with an explicit gateway: the default one would be the real network's).
import { afterEach, describe, expect, test } from "bun:test";
import { mapPort } from "../../../src/portmap/index.ts";
import {
  decodeNatPmpExternalReply,
  decodeNatPmpMapReply,
  encodeNatPmpExternal,
  encodeNatPmpMap,
} from "../../../src/portmap/natpmp.ts";
import {
  decodePcpMapReply,
  encodePcpMap,
  ipv4ToMapped,
  mappedToIpv4,
  PCP_RESULT,
} from "../../../src/portmap/pcp.ts";
import { defaultGatewayFromRoutes, parseProcNetRoute } from "../../../src/sys/route.ts";

const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const NONCE = Uint8Array.from({ length: 12 }, (_, i) => i + 1);

describe("parseProcNetRoute / defaultGatewayFromRoutes", () => {
  // As Linux prints it (little-endian x86): header line, tab-separated columns, trailing blanks.
  const ROUTE = [
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT           ",
    "wlan0\t00000000\t010212C6\t0003\t0\t0\t600\t00000000\t0\t0\t0            ",
    "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0            ",
    "eth0\t000200C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0            ",
    "wlan0\t000212C6\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0            ",
    "",
  ].join("\n");

  test("parses every route, addresses in dotted form", () => {
    const routes = parseProcNetRoute(ROUTE, true);
    expect(routes).toHaveLength(4);
    expect(routes[0]).toEqual({
      iface: "wlan0",
      destination: "0.0.0.0",
      gateway: "198.18.2.1",
      mask: "0.0.0.0",
      flags: 3,
      metric: 600,
    });
    expect(routes[2]).toMatchObject({ iface: "eth0", destination: "192.0.2.0", mask: "255.255.255.0" });
  });

  test("the default route with the lowest metric wins", () => {
    expect(defaultGatewayFromRoutes(parseProcNetRoute(ROUTE, true))).toBe("192.0.2.1");
  });

  test("big-endian hosts print the bytes the other way round", () => {
    const be =
      "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n" +
      "eth0\t00000000\tC0000201\t0003\t0\t0\t0\t00000000\n";
    expect(defaultGatewayFromRoutes(parseProcNetRoute(be, false))).toBe("192.0.2.1");
  });

  test("no usable default route: none at all, one without a gateway, one that is down", () => {
    const header = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n";
    expect(defaultGatewayFromRoutes(parseProcNetRoute(header, true))).toBeUndefined();
    expect(defaultGatewayFromRoutes(parseProcNetRoute("", true))).toBeUndefined();
    // A point-to-point or tun default route: no RTF_GATEWAY, gateway 0.0.0.0.
    const direct = `${header}tun0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\n`;
    expect(defaultGatewayFromRoutes(parseProcNetRoute(direct, true))).toBeUndefined();
    const down = `${header}eth0\t00000000\t010200C0\t0002\t0\t0\t0\t00000000\n`;
    expect(defaultGatewayFromRoutes(parseProcNetRoute(down, true))).toBeUndefined();
  });

  test("malformed lines are skipped, not fatal", () => {
    const text = [
      "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask",
      "garbage",
      "eth0\tZZZZZZZZ\t010200C0\t0003\t0\t0\t0\t00000000",
      "eth0\t00000000\t010200C0\t0003\t0\t0\tx\t00000000",
      "eth1\t00000000\t0A6433C6\t0003\t0\t0\t5\t00000000",
    ].join("\n");
    const routes = parseProcNetRoute(text, true);
    expect(routes.map((r) => r.iface)).toEqual(["eth1"]);
    expect(defaultGatewayFromRoutes(routes)).toBe("198.51.100.10");
  });
});

describe("IPv4-mapped addresses", () => {
  test("round trip", () => {
    expect(toHex(ipv4ToMapped("198.51.100.7"))).toBe("00000000000000000000ffffc6336407");
    expect(mappedToIpv4(ipv4ToMapped("198.51.100.7"))).toBe("198.51.100.7");
    expect(mappedToIpv4(ipv4ToMapped("0.0.0.0"))).toBe("0.0.0.0");
  });

  test("anything but ::ffff:a.b.c.d is not an IPv4 address", () => {
    const v6 = new Uint8Array(16);
    v6[0] = 0x20;
    v6[1] = 0x01;
    expect(mappedToIpv4(v6)).toBeUndefined();
    expect(mappedToIpv4(new Uint8Array(4))).toBeUndefined();
  });
});

/** A PCP MAP response as a server builds it (RFC 6887 7.2 and 11.1). */
function pcpResponse(opts: {
  result?: number;
  lifetime?: number;
  nonce?: Uint8Array;
  port?: number;
  ip?: string;
  version?: number;
  protocol?: number;
}): Uint8Array {
  const buf = new Uint8Array(60);
  const v = new DataView(buf.buffer);
  buf[0] = opts.version ?? 2;
  buf[1] = 0x81;
  buf[3] = opts.result ?? 0;
  v.setUint32(4, opts.lifetime ?? 600);
  v.setUint32(8, 1234);
  buf.set(opts.nonce ?? NONCE, 24);
  buf[36] = opts.protocol ?? 17;
  v.setUint16(40, 10000);
  v.setUint16(42, opts.port ?? 10000);
  buf.set(ipv4ToMapped(opts.ip ?? "198.18.2.2"), 44);
  return buf;
}

describe("PCP MAP", () => {
  test("request layout: version 2, MAP, lifetime, client address, nonce, UDP, ports, no address preference", () => {
    const req = encodePcpMap({
      nonce: NONCE,
      lifetime: 3600,
      clientIp: "192.0.2.10",
      internalPort: 10000,
      suggestedPort: 10001,
    });
    expect(req.length).toBe(60);
    expect(toHex(req)).toBe(
      [
        "02010000", // version 2, R=0 opcode MAP, reserved
        "00000e10", // requested lifetime 3600
        "00000000000000000000ffffc000020a", // client IP ::ffff:192.0.2.10
        "0102030405060708090a0b0c", // mapping nonce
        "11000000", // protocol UDP, reserved
        "2710", // internal port 10000
        "2711", // suggested external port 10001
        "00000000000000000000ffff00000000", // suggested external IP ::ffff:0.0.0.0
      ].join(""),
    );
  });

  test("a success carries the assigned address, port and lifetime", () => {
    expect(decodePcpMapReply(pcpResponse({ port: 10002, lifetime: 120 }), NONCE)).toEqual({
      kind: "ok",
      lifetime: 120,
      epoch: 1234,
      external: { host: "198.18.2.2", port: 10002 },
    });
  });

  test("not ours: another nonce, TCP, a request, too short for a success", () => {
    expect(decodePcpMapReply(pcpResponse({ nonce: new Uint8Array(12) }), NONCE)).toBeUndefined();
    expect(decodePcpMapReply(pcpResponse({ protocol: 6 }), NONCE)).toBeUndefined();
    const request = pcpResponse({});
    request[1] = 0x01;
    expect(decodePcpMapReply(request, NONCE)).toBeUndefined();
    expect(decodePcpMapReply(pcpResponse({}).subarray(0, 40), NONCE)).toBeUndefined();
    expect(decodePcpMapReply(new Uint8Array(2), NONCE)).toBeUndefined();
  });

  test("errors, also without the opcode part", () => {
    expect(decodePcpMapReply(pcpResponse({ result: PCP_RESULT.NOT_AUTHORIZED }), NONCE)).toEqual({
      kind: "error",
      resultCode: 2,
    });
    const short = pcpResponse({ result: PCP_RESULT.MALFORMED_REQUEST }).subarray(0, 24);
    expect(decodePcpMapReply(short, NONCE)).toEqual({ kind: "error", resultCode: 3 });
  });

  test("unsupported version: from a NAT-PMP-only gateway, and from a PCP server of another version", () => {
    // RFC 6886 3.5: version 0, opcode 128 + 1, result 1, epoch.
    const natpmp = Uint8Array.from([0, 129, 0, 1, 0, 0, 0, 9]);
    expect(decodePcpMapReply(natpmp, NONCE)).toEqual({ kind: "unsupported-version" });
    const v1 = pcpResponse({ version: 1, result: PCP_RESULT.UNSUPP_VERSION }).subarray(0, 24);
    expect(decodePcpMapReply(v1, NONCE)).toEqual({ kind: "unsupported-version" });
    // A NAT-PMP datagram that is no such answer is ignored.
    expect(decodePcpMapReply(Uint8Array.from([0, 128, 0, 0, 0, 0, 0, 9]), NONCE)).toBeUndefined();
  });
});

describe("NAT-PMP", () => {
  test("requests", () => {
    expect(toHex(encodeNatPmpMap(10000, 10000, 7200))).toBe("000100002710271000001c20");
    expect(toHex(encodeNatPmpMap(10000, 0, 0))).toBe("000100002710000000000000");
    expect(toHex(encodeNatPmpExternal())).toBe("0000");
  });

  test("map reply", () => {
    const ok = Buffer.from("008100000000000a2710271100000258", "hex");
    expect(decodeNatPmpMapReply(ok, 10000)).toEqual({
      kind: "ok",
      externalPort: 10001,
      lifetime: 600,
      epoch: 10,
    });
    expect(decodeNatPmpMapReply(ok, 10001)).toBeUndefined(); // another internal port: not our answer
    const refused = Buffer.from("008100020000000a2710000000000000", "hex");
    expect(decodeNatPmpMapReply(refused, 10000)).toEqual({ kind: "error", resultCode: 2 });
    expect(decodeNatPmpMapReply(Buffer.from("0082", "hex"), 10000)).toBeUndefined();
  });

  test("external address reply", () => {
    const ok = Buffer.from("008000000000000ac6120202", "hex");
    expect(decodeNatPmpExternalReply(ok)).toEqual({ kind: "ok", host: "198.18.2.2" });
    const noAddress = Buffer.from("008000030000000a", "hex");
    expect(decodeNatPmpExternalReply(noAddress)).toEqual({ kind: "error", resultCode: 3 });
    expect(decodeNatPmpExternalReply(ok.subarray(0, 10))).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------
// mapPort against a fake gateway on 127.0.0.1

type Answer = (req: Uint8Array) => Uint8Array | Uint8Array[] | undefined;

interface FakeGateway {
  port: number;
  received: Uint8Array[];
  close(): void;
}

const fakes: FakeGateway[] = [];
afterEach(() => {
  for (const f of fakes.splice(0)) f.close();
});

async function fakeGateway(answer: Answer): Promise<FakeGateway> {
  const received: Uint8Array[] = [];
  const socket = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    binaryType: "uint8array",
    socket: {
      data(s, data, port, address) {
        received.push(data.slice());
        const out = answer(data);
        for (const d of out === undefined ? [] : Array.isArray(out) ? out : [out]) s.send(d, port, address);
      },
    },
  });
  const fake = { port: socket.port, received, close: () => socket.close() };
  fakes.push(fake);
  return fake;
}

/** Answers PCP MAP requests like a PCP server: the suggested port, the request's nonce and lifetime. */
const pcpServer: Answer = (req) => {
  if (req[0] !== 2) return undefined;
  const v = new DataView(req.buffer, req.byteOffset, req.byteLength);
  return pcpResponse({
    nonce: req.subarray(24, 36),
    lifetime: v.getUint32(4),
    port: v.getUint16(42),
    ip: "203.0.113.5",
  });
};

/** Answers like a NAT-PMP-only gateway: unsupported version for PCP, mappings and the address for NAT-PMP. */
const natPmpServer: Answer = (req) => {
  const v = new DataView(req.buffer, req.byteOffset, req.byteLength);
  if (req[0] !== 0) return Uint8Array.from([0, 128 + (req[1] ?? 0), 0, 1, 0, 0, 0, 7]);
  if (req[1] === 0) return Buffer.from("0080000000000007cb007105", "hex"); // 203.0.113.5
  const out = new Uint8Array(16);
  const o = new DataView(out.buffer);
  out[1] = 129;
  o.setUint32(4, 7);
  o.setUint16(8, v.getUint16(4));
  o.setUint16(10, v.getUint32(8) === 0 ? 0 : v.getUint16(6) || v.getUint16(4));
  o.setUint32(12, v.getUint32(8));
  return out;
};

const GW = "127.0.0.1";

describe("mapPort", () => {
  test("PCP: the gateway's answer becomes the mapping; remove() deletes it with the same nonce", async () => {
    const fake = await fakeGateway(pcpServer);
    const m = await mapPort({ localPort: 10000, gateway: GW, gatewayPort: fake.port, ttlSeconds: 600 });
    expect(m?.protocol).toBe("pcp");
    expect(m?.external).toEqual({ host: "203.0.113.5", port: 10000 });
    expect(m?.gateway).toBe(GW);
    expect(m?.lifetimeSeconds).toBe(600);
    const [map] = fake.received;
    expect(map && mappedToIpv4(map.subarray(8, 24))).toBe("127.0.0.1"); // the client address the kernel chose
    await m?.remove();
    expect(fake.received).toHaveLength(2);
    const del = fake.received[1] as Uint8Array;
    expect(toHex(del.subarray(4, 8))).toBe("00000000"); // lifetime 0
    expect(toHex(del.subarray(24, 36))).toBe(toHex((map as Uint8Array).subarray(24, 36)));
    // Once removed, removed: the same promise, nothing sent again.
    await m?.remove();
    expect(fake.received).toHaveLength(2);
  });

  test("falls back to NAT-PMP when the gateway does not speak PCP", async () => {
    const fake = await fakeGateway(natPmpServer);
    const m = await mapPort({ localPort: 10000, gateway: GW, gatewayPort: fake.port, ttlSeconds: 600 });
    expect(m?.protocol).toBe("nat-pmp");
    expect(m?.external).toEqual({ host: "203.0.113.5", port: 10000 });
    expect(m?.lifetimeSeconds).toBe(600);
    await m?.remove();
    // RFC 6886 3.4: deletion = internal port, external port 0, lifetime 0.
    expect(toHex(fake.received.at(-1) as Uint8Array)).toBe("000100002710000000000000");
  });

  test("protocols: ['nat-pmp'] skips PCP", async () => {
    const fake = await fakeGateway(natPmpServer);
    const m = await mapPort({
      localPort: 10000,
      gateway: GW,
      gatewayPort: fake.port,
      protocols: ["nat-pmp"],
    });
    expect(m?.protocol).toBe("nat-pmp");
    expect(fake.received.filter((d) => d[0] !== 0)).toEqual([]);
    await m?.remove();
  });

  test("a lost request is sent again, and its answer is the mapping", async () => {
    let n = 0;
    const fake = await fakeGateway((req) => (n++ === 0 ? undefined : pcpServer(req)));
    const m = await mapPort({ localPort: 10000, gateway: GW, gatewayPort: fake.port });
    expect(m?.protocol).toBe("pcp");
    // The first went unanswered; the second is the same request (PCP's retransmission keeps the nonce).
    expect(n).toBe(2);
    expect(toHex(fake.received[1] ?? new Uint8Array())).toBe(toHex(fake.received[0] ?? new Uint8Array()));
    await m?.remove();
  });

  test("a refusal is no mapping, and no fallback", async () => {
    const fake = await fakeGateway((req) => pcpResponse({ nonce: req.subarray(24, 36), result: 2 }));
    expect(await mapPort({ localPort: 10000, gateway: GW, gatewayPort: fake.port })).toBeUndefined();
    expect(fake.received).toHaveLength(1);
  });

  test("NAT-PMP without an external address is no candidate; the mapping is given back", async () => {
    const fake = await fakeGateway((req) =>
      req[0] === 0 && req[1] === 0 ? Buffer.from("0080000300000007", "hex") : natPmpServer(req),
    );
    const m = await mapPort({
      localPort: 10000,
      gateway: GW,
      gatewayPort: fake.port,
      protocols: ["nat-pmp"],
    });
    expect(m).toBeUndefined();
    const deadline = Date.now() + 2000;
    while (!fake.received.some((d) => toHex(d) === "000100002710000000000000") && Date.now() < deadline)
      await Bun.sleep(10);
    expect(fake.received.map(toHex)).toContain("000100002710000000000000");
  });

  test("nothing listening: ICMP port unreachable ends it after one round trip", async () => {
    const fake = await fakeGateway(() => undefined);
    const port = fake.port;
    fake.close(); // now the port is closed: the kernel answers port unreachable
    expect(await mapPort({ localPort: 10000, gateway: GW, gatewayPort: port })).toBeUndefined();
  });

  test("a silent gateway: undefined after timeoutMs, with retransmissions at 0, 250 and 750 ms", async () => {
    const fake = await fakeGateway(() => undefined);
    const t0 = performance.now();
    expect(
      await mapPort({ localPort: 10000, gateway: GW, gatewayPort: fake.port, timeoutMs: 1000 }),
    ).toBeUndefined();
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(fake.received).toHaveLength(3);
  });

  test("aborting gives up at once", async () => {
    const fake = await fakeGateway(() => undefined);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    // A generous timeout: only the abort can end this within the test's own 5 s limit.
    const m = await mapPort({
      localPort: 10000,
      gateway: GW,
      gatewayPort: fake.port,
      signal: ac.signal,
      timeoutMs: 30_000,
    });
    expect(m).toBeUndefined();
    expect(await mapPort({ localPort: 10000, gateway: GW, gatewayPort: fake.port, signal: ac.signal })).toBe(
      undefined,
    );
  });

  test("invalid options throw", async () => {
    await expect(mapPort({ localPort: 0, gateway: GW })).rejects.toThrow(RangeError);
    await expect(mapPort({ localPort: 70000, gateway: GW })).rejects.toThrow(RangeError);
    await expect(mapPort({ localPort: 10000, gateway: GW, ttlSeconds: 0 })).rejects.toThrow(RangeError);
    await expect(mapPort({ localPort: 10000, gateway: GW, timeoutMs: -1 })).rejects.toThrow(RangeError);
    await expect(mapPort({ localPort: 10000, gateway: "router.lan" })).rejects.toThrow(TypeError);
    await expect(mapPort({ localPort: 10000, gateway: "2001:db8::1" })).rejects.toThrow(TypeError);
    const protocols = ["igd"] as unknown as ("pcp" | "nat-pmp")[];
    await expect(mapPort({ localPort: 10000, gateway: GW, protocols })).rejects.toThrow(TypeError);
  });
});
