// The processes bench/relay.ts runs (not a bench itself):
//   bun bench/relay-load.ts gen   the load generator: two sockets on loopback, A sends and B counts what
//                                 arrives; driven by JSON lines on stdin (one answer a line)
//   bun bench/relay-load.ts fwd A B
//                                 a bare Bun UDP forwarder between 127.0.0.1:A and 127.0.0.1:B, the baseline:
//                                 prints its port, then forwards one for one, nothing else
// The generator meets a netpunch relay the way real peers do: two connect()s (the project's own client and
// codec) through the rendezvous server, whose every datagram between the two peers is dropped here, so they
// can only meet through the relay; the tunnel sockets then take the peers' ports. For coturn it is a minimal
// TURN client (RFC 8656 Allocate and ChannelBind, then ChannelData), for socat and the Bun forwarder plain
// UDP. During a step it only sends prepared datagrams: nothing competes with the forwarder for the CPU but
// the sends and receives themselves.
import { readFileSync } from "node:fs";
import { connect, type PunchResult } from "../src/index.ts";
import type { Transport, TransportFactory } from "../src/transport/types.ts";
import { openUdp } from "../src/transport/udp.ts";

const HOST = "127.0.0.1";
/** Datagrams per sendMany call: amortises the call; a 1 ms tick at 100k/s is about three of them. */
const BATCH = 32;
/** The pacing tick: Bun's timers do not go finer; each tick sends what is due since the step began. */
const TICK_MS = 1;
/** How long datagrams are still counted after a step's last send (they may sit in the forwarder's queue). */
const DRAIN_MS = 300;
/** /proc/PID/stat counts CPU in clock ticks of 1/100 s (USER_HZ on Linux). */
const TICK_US = 10_000;

type Command =
  | { cmd: "netpunch"; server: number; secret: string; relayPorts: { low: number; high: number } }
  | { cmd: "plain" }
  | { cmd: "target"; port: number }
  | { cmd: "turn"; port: number }
  | { cmd: "go"; rate: number; size: number; seconds: number };

const cpuTicks = (pid: number | "self"): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
};

// --- TURN (RFC 8656), only what a client needs to push ChannelData through an allocation ----------------
const STUN_COOKIE = 0x2112a442;
const ALLOCATE = 0x0003;
const CHANNEL_BIND = 0x0009;
const SUCCESS = 0x0100;
const ATTR_CHANNEL_NUMBER = 0x000c;
const ATTR_XOR_PEER_ADDRESS = 0x0012;
const ATTR_REQUESTED_TRANSPORT = 0x0019;
const UDP_PROTOCOL = 17;
/** The first channel number a client may bind (RFC 8656 12). */
const CHANNEL = 0x4000;

function stunRequest(method: number, attrs: [number, Uint8Array][]): Uint8Array {
  const body = attrs.reduce((n, [, v]) => n + 4 + Math.ceil(v.length / 4) * 4, 0);
  const out = new Uint8Array(20 + body);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, method);
  dv.setUint16(2, body);
  dv.setUint32(4, STUN_COOKIE);
  crypto.getRandomValues(out.subarray(8, 20));
  let at = 20;
  for (const [type, value] of attrs) {
    dv.setUint16(at, type);
    dv.setUint16(at + 2, value.length);
    out.set(value, at + 4);
    at += 4 + Math.ceil(value.length / 4) * 4;
  }
  return out;
}
function xorPeer(port: number): Uint8Array {
  const v = new Uint8Array(8);
  const dv = new DataView(v.buffer);
  dv.setUint8(1, 1); // IPv4
  dv.setUint16(2, port ^ (STUN_COOKIE >>> 16));
  dv.setUint32(4, (0x7f000001 ^ STUN_COOKIE) >>> 0);
  return v;
}

// --- the generator -------------------------------------------------------------------------------------
async function generator(): Promise<void> {
  let received = 0;
  let target = 0;
  /** What A puts in front of each payload: nothing, or the 4-byte ChannelData header for TURN. */
  let header = new Uint8Array(0);
  let a: Bun.udp.Socket<"uint8array"> | undefined;
  let b: Bun.udp.Socket<"uint8array"> | undefined;
  let onA: (data: Uint8Array) => void = () => {};

  const open = async (aPort = 0, bPort = 0) => {
    a = await Bun.udpSocket({
      hostname: HOST,
      port: aPort,
      binaryType: "uint8array",
      socket: { data: (_s, d) => onA(d) },
    });
    b = await Bun.udpSocket({
      hostname: HOST,
      port: bPort,
      binaryType: "uint8array",
      socket: {
        data() {
          received++;
        },
      },
    });
    return { a: a.port, b: b.port };
  };

  /** Two real peers meet through the server; every datagram between them is dropped, so they take the relay. */
  async function netpunch(c: Extract<Command, { cmd: "netpunch" }>) {
    const allowed = (port: number) =>
      port === c.server || (port >= c.relayPorts.low && port <= c.relayPorts.high);
    const noDirectPath: TransportFactory = async (bind, onDatagram, onError) => {
      const t: Transport = await openUdp(bind, onDatagram, onError);
      return {
        local: t.local,
        send: (data, to) => allowed(to.port) && t.send(data, to),
        close: () => t.close(),
      };
    };
    const peer = (role: "a" | "b") =>
      connect({
        server: { host: HOST, port: c.server },
        secret: c.secret,
        role,
        session: "bench-relay",
        lan: false,
        transport: noDirectPath,
        timings: { relayAfterMs: 100 },
        timeoutMs: 20_000,
      });
    const [ra, rb] = (await Promise.all([peer("a"), peer("b")])) as [PunchResult, PunchResult];
    if (ra.via !== "relay" || rb.via !== "relay") throw new Error(`not relayed: ${ra.via}/${rb.via}`);
    target = ra.rport;
    header = new Uint8Array(0);
    return { ...(await open(ra.lport, rb.lport)), target };
  }

  /** Allocate, then bind a channel to B (which also permits B): A's ChannelData go out to B. */
  async function turn(port: number) {
    target = port;
    const ask = (msg: Uint8Array) =>
      new Promise<Uint8Array>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no TURN answer")), 2000);
        onA = (d) => {
          clearTimeout(timer);
          resolve(d);
        };
        a?.send(msg, port, HOST);
      });
    const transport = new Uint8Array([UDP_PROTOCOL, 0, 0, 0]);
    const alloc = await ask(stunRequest(ALLOCATE, [[ATTR_REQUESTED_TRANSPORT, transport]]));
    if (new DataView(alloc.buffer, alloc.byteOffset).getUint16(0) !== (ALLOCATE | SUCCESS))
      throw new Error("TURN Allocate refused");
    const channel = new Uint8Array([CHANNEL >> 8, CHANNEL & 0xff, 0, 0]);
    const bound = await ask(
      stunRequest(CHANNEL_BIND, [
        [ATTR_CHANNEL_NUMBER, channel],
        [ATTR_XOR_PEER_ADDRESS, xorPeer(b?.port ?? 0)],
      ]),
    );
    if (new DataView(bound.buffer, bound.byteOffset).getUint16(0) !== (CHANNEL_BIND | SUCCESS))
      throw new Error("TURN ChannelBind refused");
    onA = () => {};
    header = new Uint8Array(4);
    header[0] = CHANNEL >> 8;
    header[1] = CHANNEL & 0xff;
    return { target };
  }

  /** Sends `rate` datagrams of `size` payload bytes a second from A to the target, and counts them at B. */
  async function go(c: Extract<Command, { cmd: "go" }>) {
    const datagram = new Uint8Array(header.length + c.size);
    datagram.set(header);
    if (header.length) new DataView(datagram.buffer).setUint16(2, c.size);
    const flat: (Uint8Array | number | string)[] = [];
    for (let i = 0; i < BATCH; i++) flat.push(datagram, target, HOST);
    const total = Math.round(c.rate * c.seconds);
    received = 0;
    let sent = 0;
    const cpu0 = cpuTicks("self");
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * c.rate));
        while (sent < due) {
          const n = Math.min(BATCH, due - sent);
          const went = a?.sendMany(n === BATCH ? flat : flat.slice(0, n * 3)) ?? 0;
          if (went === 0) break; // the kernel's send buffer is full: the next tick goes on
          sent += went;
        }
        if (sent >= total) {
          clearInterval(timer);
          resolve();
        }
      }, TICK_MS);
    });
    const ms = performance.now() - t0;
    await Bun.sleep(DRAIN_MS);
    const cpu = ((cpuTicks("self") - cpu0) * TICK_US) / 1000 / (ms + DRAIN_MS);
    return { sent, received, ms, cpuShare: cpu };
  }

  const handle = async (c: Command): Promise<object> => {
    if (c.cmd === "netpunch") return netpunch(c);
    if (c.cmd === "plain") return open();
    if (c.cmd === "target") {
      target = c.port;
      header = new Uint8Array(0);
      return { target };
    }
    if (c.cmd === "turn") return turn(c.port);
    return go(c);
  };
  let buf = "";
  for await (const chunk of Bun.stdin.stream().pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const answer = await handle(JSON.parse(line) as Command);
      process.stdout.write(`${JSON.stringify(answer)}\n`);
    }
  }
}

// --- the bare forwarder ----------------------------------------------------------------------------------
/** What any UDP relay must do at the least: receive, look at the source, send on. No checks, no limits. */
async function forwarder(aPort: number, bPort: number): Promise<void> {
  const socket = await Bun.udpSocket({
    hostname: HOST,
    port: 0,
    socket: {
      data(s, data, port) {
        if (port === aPort) s.send(data, bPort, HOST);
        else if (port === bPort) s.send(data, aPort, HOST);
      },
    },
  });
  process.stdout.write(`${JSON.stringify({ port: socket.port })}\n`);
}

const [role, x, y] = process.argv.slice(2);
if (role === "gen") await generator();
else if (role === "fwd") await forwarder(Number(x), Number(y));
else throw new Error(`usage: bun bench/relay-load.ts gen | fwd A_PORT B_PORT (got ${role})`);
