// The paths bench/proxy.ts compares, each a pair of traffic programs (bench/lib/proxy-traffic.ts) and the
// real processes between them: none (the kernel's loopback, the baseline), two `netpunch connect --proxy`
// peers on a direct path, the same on the server's UDP relay, the UDP relay without the proxy (the tunnels
// talk to the relay port themselves), two bare Bun forwarders in the proxies' place (the floor), and a peer
// on the WebSocket relay (its loopback bridge) with a UDP partner.
import { join } from "node:path";
import { freeUdpPort } from "../../src/transport/udp.ts";
import type { Control, Traffic } from "./control.ts";
import type { Processes, Started } from "./processes.ts";

const CLI = join(import.meta.dir, "../../src/cli/main.ts");
const TRAFFIC = join(import.meta.dir, "proxy-traffic.ts");
const NO_DIRECT = join(import.meta.dir, "no-direct-preload.ts");
const BARE = join(import.meta.dir, "bare-proxy.ts");
const RCVBUF = join(import.meta.dir, "../rcvbuf-preload.ts");
const HOST = "127.0.0.1";
/** A pair meets in about a second on loopback; this bounds a start that went wrong. */
const MEET_MS = 20_000;
/** Far above any step: the relay's per-pair limit must not be what is measured. */
const UNLIMITED_RATE = "1000000000";
/** Longer than any run of the bench: no relay closes for idleness between steps. */
const IDLE_S = "3600";
/** Ask for the relay at once on a pair whose direct path is blocked (the default waits 3 s). */
const RELAY_AFTER_S = "0.1";
/** The proxy's moves between the paths, as `connect` logs them (src/cli/peer.ts). */
const PROXY_MOVE = /proxy: (moved to direct|direct path lost, back to the relay)/g;

export interface Path {
  name: string;
  a: Traffic;
  b: Traffic;
  /**
   * The processes between the two programs that carry the datagrams (netpunch peers in proxy mode or on the
   * WebSocket bridge, or the bare forwarders); none for the kernel path and a hand-off to the relay.
   */
  peers: number[];
  /** The server, when the path crosses its relay. */
  server?: number;
  /**
   * Whether the path is still the one the row is named for (a proxy moves between direct and the relay on
   * its own): undefined when it is, else what happened. None for a path that cannot move.
   */
  check?: () => string | undefined;
}

export interface Bench {
  procs: Processes;
  control: Control;
  secretFile: string;
  /** Every socket of every process gets SO_RCVBUF $BENCH_RCVBUF (bench/rcvbuf-preload.ts); else the default. */
  rcvbuf: boolean;
}

/** `bun`, with the receive-buffer preload when asked for, and `preloads` of the caller's. */
const bun = (b: Bench, ...preloads: string[]) => [
  process.execPath,
  ...[...(b.rcvbuf ? [RCVBUF] : []), ...preloads].flatMap((p) => ["--preload", p]),
];

export interface Server {
  proc: Started;
  udp: string;
  ws: string;
}

/** `netpunch serve --relay --relay-tcp` on loopback, with no limit of its own in the way. */
export async function startServer(b: Bench, tls?: { cert: string; key: string }): Promise<Server> {
  const udp = await freeUdpPort(HOST);
  const tcp = await freeTcpPort();
  const proc = b.procs.start([
    ...bun(b),
    CLI,
    "serve",
    "--listen",
    `${HOST}:${udp}`,
    "--relay",
    "--relay-tcp",
    `${HOST}:${tcp}`,
    ...(tls ? ["--tls-cert", tls.cert, "--tls-key", tls.key] : []),
    "--relay-rate",
    UNLIMITED_RATE,
    "--relay-idle",
    IDLE_S,
    "--secret-file",
    b.secretFile,
  ]);
  await proc.waitFor(/listening on TCP/, MEET_MS);
  return { proc, udp: `${HOST}:${udp}`, ws: `${tls ? "wss" : "ws"}://${HOST}:${tcp}` };
}

async function freeTcpPort(): Promise<number> {
  const s = Bun.listen({ hostname: HOST, port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** The baseline: the two programs on a bare loopback socket pair, what a tunnel gets from the kernel. */
export async function kernelPath(b: Bench): Promise<Path> {
  const ports = { a: await freeUdpPort(HOST), b: await freeUdpPort(HOST) };
  for (const [me, other] of [
    ["a", "b"],
    ["b", "a"],
  ] as const)
    b.procs.start([...bun(b), TRAFFIC, b.control.path, `kernel-${me}`], {
      NETPUNCH_LHOST: HOST,
      NETPUNCH_LPORT: String(ports[me]),
      NETPUNCH_RHOST: HOST,
      NETPUNCH_RPORT: String(ports[other]),
    });
  const [ta, tb] = await Promise.all([
    b.control.wait("kernel-a", MEET_MS),
    b.control.wait("kernel-b", MEET_MS),
  ]);
  return { name: "kernel", a: ta, b: tb, peers: [] };
}

/**
 * The floor for a proxy on Bun: the programs talk to two bare forwarders (bench/lib/bare-proxy.ts) that
 * carry each datagram between the same sockets a proxy has, and do nothing else.
 */
export async function bareForwarderPath(b: Bench): Promise<Path> {
  const port = () => freeUdpPort(HOST);
  const side = async () => ({ tunnel: await port(), local: await port(), outer: await port() });
  const sides = { a: await side(), b: await side() };
  const fwds = (["a", "b"] as const).map((me) => {
    const [mine, theirs] = me === "a" ? [sides.a, sides.b] : [sides.b, sides.a];
    const fwd = b.procs.start([
      ...bun(b),
      BARE,
      ...[mine.local, mine.tunnel, mine.outer, theirs.outer].map(String),
    ]);
    b.procs.start([...bun(b), TRAFFIC, b.control.path, `bun-fwd-${me}`], {
      NETPUNCH_LHOST: HOST,
      NETPUNCH_LPORT: String(mine.tunnel),
      NETPUNCH_RHOST: HOST,
      NETPUNCH_RPORT: String(mine.local),
    });
    return fwd;
  });
  await Promise.all(fwds.map((f) => f.waitFor(/ready/, MEET_MS)));
  const [ta, tb] = await Promise.all([
    b.control.wait("bun-fwd-a", MEET_MS),
    b.control.wait("bun-fwd-b", MEET_MS),
  ]);
  return { name: "bun-fwd", a: ta, b: tb, peers: fwds.map((f) => f.pid) };
}

export interface PeerPlan {
  /** How this peer reaches the server: over UDP, or over the server's WebSocket (its bridge). */
  via: "udp" | "ws";
  proxy: boolean;
  /** Block the direct path: the pair meets on the relay. */
  relay: boolean;
}

/**
 * Two `netpunch connect` peers (of `cli`: this tree's, or another's to compare with) whose exec hooks run the traffic programs; checks the path they are on (a
 * proxy pair meant to be direct that started on the relay, once its proxies moved it).
 */
export async function netpunchPath(
  b: Bench,
  server: Server,
  name: string,
  plans: { a: PeerPlan; b: PeerPlan },
  tlsCa?: string,
  cli = CLI,
): Promise<Path> {
  const ports = { a: await freeUdpPort(HOST), b: await freeUdpPort(HOST) };
  const peer = (role: "a" | "b") => {
    const plan = plans[role];
    const partner = role === "a" ? ports.b : ports.a;
    return b.procs.start(
      [
        ...bun(b, ...(plan.relay ? [NO_DIRECT] : [])),
        cli,
        "connect",
        "--role",
        role,
        "--session",
        `bench-proxy-${name}-${process.pid}`,
        ...(plan.via === "ws"
          ? ["--server-tcp", server.ws, ...(tlsCa ? ["--tls-ca", tlsCa] : [])]
          : ["--server", server.udp, "--local", `${HOST}:${ports[role]}`]),
        "--secret-file",
        b.secretFile,
        "--no-lan",
        "--timeout",
        String(MEET_MS / 1000),
        ...(plan.relay ? ["--relay-after", RELAY_AFTER_S] : []),
        ...(plan.proxy ? ["--proxy"] : []),
        "--hook",
        "print",
        "--json",
        "--hook",
        "exec",
        "--",
        ...bun(b),
        TRAFFIC,
        b.control.path,
        `${name}-${role}`,
      ],
      plan.relay ? { BENCH_DROP_TO: String(partner) } : {},
    );
  };
  const pa = peer("a");
  const pb = peer("b");
  const [ta, tb] = await Promise.all([
    b.control.wait(`${name}-a`, MEET_MS),
    b.control.wait(`${name}-b`, MEET_MS),
  ]);
  const started = { a: pa, b: pb };
  /** The path a peer's tunnel is on now: the result's, or where its proxy last moved it. */
  const onPath = (role: "a" | "b") => {
    const moves = [...started[role].out().stderr.matchAll(PROXY_MOVE)];
    const last = moves.at(-1)?.[1];
    return last === undefined ? resultOf(started[role]).via : last === "moved to direct" ? "direct" : "relay";
  };
  const want = (plan: PeerPlan) => (plan.relay || plan.via === "ws" ? "relay" : "direct");
  for (const role of ["a", "b"] as const) {
    const p = started[role];
    const line = resultOf(p);
    const plan = plans[role];
    // Relay first, then direct: a proxy pair whose relay was proven before its direct path starts there
    // and moves once 3 probes are answered; measure it only then.
    if (plan.proxy && want(plan) === "direct" && line.via === "relay") {
      console.log(`${name}: peer ${role} started on the relay; measuring once its proxy moves to direct`);
      await p.waitFor(/proxy: moved to direct/, MEET_MS);
    }
    if (onPath(role) !== want(plan) || (plan.proxy && line.proxy !== true))
      throw new Error(
        `${name}: peer ${role} reports ${JSON.stringify(line)} and is on ${onPath(role)}, not ${want(plan)}:\n${p.out().stderr}`,
      );
  }
  const check = () => {
    const off = (["a", "b"] as const).filter((role) => onPath(role) !== want(plans[role]));
    return off.length === 0
      ? undefined
      : `peer ${off.join(" and ")} moved off ${want(plans[off[0] ?? "a"])} during the run (its proxy's log)`;
  };
  // A peer that handed its port to the tunnel only waits for the hook: its CPU is not the path's.
  const carries = (plan: PeerPlan) => plan.proxy || plan.via === "ws";
  const peers = [...(carries(plans.a) ? [pa.pid] : []), ...(carries(plans.b) ? [pb.pid] : [])];
  return {
    name,
    a: ta,
    b: tb,
    peers,
    server: server.proc.pid,
    ...(plans.a.proxy || plans.b.proxy ? { check } : {}),
  };
}

/** A peer's result line (print --json): the path it reports and whether it runs a proxy. */
function resultOf(p: Started): { via?: string; proxy?: boolean } {
  const line = p
    .out()
    .stdout.split("\n")
    .find((l) => l.startsWith("{"));
  return line ? (JSON.parse(line) as { via?: string; proxy?: boolean }) : {};
}
