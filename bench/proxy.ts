// Proxy mode as a tunnel program sees it, on loopback, against the kernel's path in the same run. One
// traffic program (bench/lib/proxy-traffic.ts) per side binds LPORT and sends to RHOST:RPORT, as an
// unmodified tunnel does; between the two:
//   kernel      nothing: a bare loopback socket pair, what a tunnel handed the punched port gets (baseline)
//   bun-fwd     two bare Bun forwarders with a proxy's sockets and nothing else: the floor for a proxy on Bun
//   direct      two `netpunch connect --proxy` peers on a direct path (DATA sealed per datagram); a pair
//               whose relay was proven first starts there, and is measured once its proxies moved to direct
//   relay       the server's UDP relay (`serve --relay`), the tunnels talking to it themselves (no proxy)
//   relay+proxy two --proxy peers whose pair ended on the UDP relay
//   ws          peer a on the WebSocket relay (`--server-tcp ws://`, its loopback bridge), b on UDP (no
//               proxy on either: the bridge carries bare datagrams)
//   ws+proxy    the same pair in proxy mode: a's proxy sends DATA over the WebSocket to its relay port, b's
//               over UDP to its own (against relay+proxy, the same pair with both on UDP)
//   wss         the same over TLS (--wss)
//   direct-base the `direct` pair run by another tree's netpunch (--base DIR: e.g. a `git archive` of the
//               commit before a change, with node_modules), so a change is measured against the code before
//               it in the same run, interleaved, under the same disturbances
// The relayed pairs meet on the relay because their direct datagrams are dropped (bench/lib/no-direct-
// preload.ts): on loopback nothing else stops a direct path, and connect has no option to refuse one.
// Per size and offered rate (0: as fast as the sender can): delivered datagrams/s and Mbit/s, loss, CPU per
// datagram of the processes that carry the datagrams and of the server (/proc/PID/task/*/schedstat), the
// cores they kept busy and the payload carried per CPU-second of them (Gbit/s per core); then request/
// response RTTs, one at a time at a low rate, p50/p99, and the latency each path adds to the kernel's.
// Every path is up at once and each step goes to each path in turn (--repeat N rounds, interleaved), so a
// disturbance from outside hits them alike: compare the ratios within one run, not absolute numbers across
// runs.
// Usage: bun bench/proxy.ts [--quick] [--sizes S,S] [--rates R,R] [--seconds S] [--pings N] [--repeat N]
//                           [--only kernel,bun-fwd,direct,relay,relay+proxy,ws,ws+proxy] [--wss]
//                           [--rcvbuf BYTES]
//                           [--base DIR]
// --rcvbuf gives every socket of every process that receive buffer (bench/rcvbuf-preload.ts): what a larger
// buffer would do for the proxies, which keep the kernel's default (net.core.rmem_default) today.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Control } from "./lib/control.ts";
import { cpuUs, Processes } from "./lib/processes.ts";
import { bareForwarderPath, kernelPath, netpunchPath, type Path, startServer } from "./lib/proxy-paths.ts";
import {
  added,
  bestStep,
  columns,
  figures,
  fixed,
  percentile,
  ratio,
  roundRatios,
  type StepSample,
} from "./lib/proxy-stats.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    sizes: { type: "string" },
    rates: { type: "string" },
    seconds: { type: "string" },
    pings: { type: "string" },
    repeat: { type: "string", default: "1" },
    only: { type: "string" },
    wss: { type: "boolean", default: false },
    rcvbuf: { type: "string" },
    base: { type: "string" },
  },
});
const quick = values.quick === true;
const SIZES = (values.sizes ?? "1400,100").split(",").map(Number);
/** 90,000 datagrams/s of 1400 bytes is 1 Gbit/s of payload, issue 13's goal; 0 is flat out. */
const RATES = (values.rates ?? (quick ? "0" : "30000,90000,0")).split(",").map(Number);
const SECONDS = Number(values.seconds ?? (quick ? "0.4" : "0.8"));
const PINGS = Number(values.pings ?? (quick ? "100" : "300"));
const REPEAT = Number(values.repeat);
const ONLY = values.only?.split(",");
/** How long datagrams are still counted after a step's last send (they may sit in a proxy's queue). */
const DRAIN_MS = 200;
/** The gap between two round trips: low rate, so the RTT is the path's, not a queue's. */
const PING_GAP_MS = 1;
/** Not measured: the JIT compiles each path's datagram handling, the sockets' buffers settle. */
const WARMUP = { rate: 20_000, seconds: 0.3 };

interface Step extends StepSample {
  path: string;
  round: number;
}

async function step(p: Path, size: number, offered: number, round: number, seconds = SECONDS): Promise<Step> {
  const cpu = () => ({
    peers: p.peers.reduce((n, pid) => n + cpuUs(pid), 0),
    server: p.server ? cpuUs(p.server) : 0,
  });
  const c0 = await p.b.ask<{ received: number }>({ cmd: "count" });
  const cpu0 = cpu();
  const r = await p.a.ask<{ sent: number; ms: number }>({ cmd: "send", size, rate: offered, seconds });
  await Bun.sleep(DRAIN_MS);
  const cpu1 = cpu();
  const c1 = await p.b.ask<{ received: number }>({ cmd: "count" });
  return {
    path: p.name,
    round,
    size,
    offered,
    sent: r.sent,
    delivered: c1.received - c0.received,
    sendMs: r.ms,
    peerCpuUs: cpu1.peers - cpu0.peers,
    serverCpuUs: cpu1.server - cpu0.server,
  };
}

const STEP_HEAD = [
  "  path",
  "size",
  "offered",
  "sent/s",
  "dlvd/s",
  "Mbit/s",
  "loss",
  "peer us",
  "srv us",
  "cores",
  "Gbit/s/core",
];
const STEP_WIDTHS = [13, 5, 7, 7, 7, 6, 6, 7, 6, 5, 11];
const SUMMARY_HEAD = [
  "  path",
  "size",
  "best at",
  "dgram/s",
  "Mbit/s",
  "x kernel",
  "loss",
  "peer us",
  "srv us",
  "cores",
  "Gbit/s/core",
  "RTT p50",
  "p99",
  "added p50",
  "p99",
];
const SUMMARY_WIDTHS = [13, 5, 7, 7, 6, 8, 6, 7, 6, 5, 11, 7, 6, 9, 6];
const rateName = (r: number) => (r === 0 ? "max" : String(r));

const wanted = (name: string) => !ONLY || ONLY.includes(name) || name === "direct-base";
const procs = new Processes();
const dir = mkdtempSync(join(tmpdir(), "netpunch-bench-proxy-"));
const secretFile = join(dir, "secret");
/** A strong secret (32+ bytes: no scrypt), so start-up is not part of anything measured. */
writeFileSync(secretFile, "bench-proxy-secret-0123456789abcdefghijkl", { mode: 0o600 });
const control = new Control(join(dir, "control.sock"));
// Every child inherits it; bench/rcvbuf-preload.ts, preloaded into each Bun process, reads it.
if (values.rcvbuf) process.env.BENCH_RCVBUF = values.rcvbuf;
const bench = { procs, control, secretFile, rcvbuf: values.rcvbuf !== undefined };
const stop = async () => {
  await procs.stopAll();
  control.close();
  rmSync(dir, { recursive: true, force: true });
};
/** A shell's exit code for a process ended by SIGINT (128 + 2) and SIGTERM (128 + 15). */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void stop().then(() => process.exit(SIGNAL_EXIT[signal])));

const paths: Path[] = [];
const steps: Step[] = [];
const rtts = new Map<string, number[]>();
const notes: string[] = [];
try {
  console.log(
    `bench/proxy: loopback, ${navigator.hardwareConcurrency} cores (shared with whatever else runs), ` +
      `steps of ${SECONDS} s, ${PINGS} round trips per size, ${REPEAT} round(s), ` +
      `SO_RCVBUF ${values.rcvbuf ?? "the default"}`,
  );
  const server = await startServer(bench);
  const udp = (proxy: boolean, relay: boolean) => ({ via: "udp" as const, proxy, relay });
  const starts: [string, () => Promise<Path>][] = [
    ["kernel", () => kernelPath(bench)],
    ["bun-fwd", () => bareForwarderPath(bench)],
    ["direct", () => netpunchPath(bench, server, "direct", { a: udp(true, false), b: udp(true, false) })],
    ["relay", () => netpunchPath(bench, server, "relay", { a: udp(false, true), b: udp(false, true) })],
    [
      "relay+proxy",
      () => netpunchPath(bench, server, "relay+proxy", { a: udp(true, true), b: udp(true, true) }),
    ],
    [
      "ws",
      () =>
        netpunchPath(bench, server, "ws", {
          a: { via: "ws", proxy: false, relay: true },
          b: udp(false, true),
        }),
    ],
    [
      "ws+proxy",
      () =>
        netpunchPath(bench, server, "ws+proxy", {
          a: { via: "ws", proxy: true, relay: true },
          b: udp(true, true),
        }),
    ],
  ];
  if (values.base) {
    const cli = join(values.base, "src/cli/main.ts");
    starts.push([
      "direct-base",
      () =>
        netpunchPath(
          bench,
          server,
          "direct-base",
          { a: udp(true, false), b: udp(true, false) },
          undefined,
          cli,
        ),
    ]);
  }
  if (values.wss) {
    const { selfSignedFiles } = await import("../test/support/tls-cert.ts");
    const tls = await selfSignedFiles(dir, "127.0.0.1");
    const tlsServer = await startServer(bench, tls);
    starts.push([
      "wss",
      () =>
        netpunchPath(
          bench,
          tlsServer,
          "wss",
          { a: { via: "ws", proxy: false, relay: true }, b: udp(false, true) },
          tls.cert,
        ),
    ]);
  }
  // One at a time: pairs that start together on a busy machine would only slow each other's meeting.
  for (const [name, start] of starts) if (wanted(name)) paths.push(await start());
  for (const p of paths) await step(p, SIZES[0] ?? 1400, WARMUP.rate, -1, WARMUP.seconds);

  console.log(columns(STEP_HEAD, STEP_WIDTHS));
  for (let round = 0; round < REPEAT; round++) {
    for (const size of SIZES) {
      for (const offered of RATES) {
        for (const p of paths) {
          const s = await step(p, size, offered, round);
          steps.push(s);
          const f = figures(s);
          const np = (x: string) => (p.peers.length ? x : "-");
          const cells = [
            `  ${p.name}`,
            String(size),
            rateName(offered),
            ((s.sent / s.sendMs) * 1000).toFixed(0),
            f.pps.toFixed(0),
            f.mbps.toFixed(0),
            `${(f.loss * 100).toFixed(1)}%`,
            np(fixed(f.peerUs, 2)),
            p.server ? fixed(f.serverUs, 2) : "-",
            np(fixed(f.peerCores, 2)),
            fixed(f.gbitPerCore, 2),
          ];
          console.log(columns(cells, STEP_WIDTHS));
        }
      }
      for (const p of paths) {
        const r = await p.a.ask<{ rtts: number[]; lost: number }>({
          cmd: "ping",
          size,
          count: PINGS,
          gapMs: PING_GAP_MS,
        });
        const key = `${p.name} ${size}`;
        rtts.set(key, [...(rtts.get(key) ?? []), ...r.rtts]);
      }
    }
  }
  // A proxy moves between the paths on its own: a row whose pair left its path meanwhile mixes the two.
  for (const p of paths) {
    const off = p.check?.();
    if (off) notes.push(`${p.name}: ${off}; its rows mix the two paths`);
  }
} finally {
  await stop();
}

// The summary, per size: each path's best step (the offered rate it delivered most at, median over the
// rounds) against the kernel's best, that step's CPU and Gbit/s per core, and the round trips' percentiles
// against the kernel's.
const best = (path: string, size: number) =>
  bestStep(steps.filter((s) => s.path === path && s.size === size));
console.log(
  `summary: each path's best step (median of ${REPEAT} round(s)); ` +
    `RTT in ms, one round trip at a time ${PING_GAP_MS} ms apart`,
);
console.log(
  "  (peer us: CPU per delivered datagram of the processes that carry it, both sides together; cores: their\n" +
    "  CPU-seconds per second; Gbit/s/core: payload delivered per CPU-second of them, issue 13's goal >= 1 at\n" +
    "  1400 B; added: RTT minus the kernel's, both directions together, so one direction's is half)",
);
console.log(columns(SUMMARY_HEAD, SUMMARY_WIDTHS));
for (const size of SIZES) {
  const basePps = best("kernel", size)?.figures.pps ?? Number.NaN;
  const baseRtt = rtts.get(`kernel ${size}`) ?? [];
  for (const p of paths) {
    const b = best(p.name, size);
    if (!b) continue;
    const f = b.figures;
    const r = rtts.get(`${p.name} ${size}`) ?? [];
    const base = p.name === "kernel";
    const np = (x: string) => (p.peers.length ? x : "-");
    const cells = [
      `  ${p.name}`,
      String(size),
      rateName(b.offered),
      f.pps.toFixed(0),
      f.mbps.toFixed(0),
      ratio(f.pps, basePps),
      `${(f.loss * 100).toFixed(1)}%`,
      np(fixed(f.peerUs, 2)),
      p.server ? fixed(f.serverUs, 2) : "-",
      np(fixed(f.peerCores, 2)),
      fixed(f.gbitPerCore, 2),
      fixed(percentile(r, 50), 3),
      fixed(percentile(r, 99), 3),
      base ? "" : added(percentile(r, 50), percentile(baseRtt, 50)),
      base ? "" : added(percentile(r, 99), percentile(baseRtt, 99)),
    ];
    console.log(columns(cells, SUMMARY_WIDTHS));
  }
}
// Paths against each other round by round (the same step back to back): the change against the code before
// it, the proxy against its floor, the WebSocket relay against the UDP relay.
const VERSUS: [string, string][] = [
  ["direct", "direct-base"],
  ["direct", "bun-fwd"],
  ["ws", "relay"],
  ["wss", "relay"],
  ["relay+proxy", "relay"],
  ["ws+proxy", "relay+proxy"],
];
const shown = new Set(paths.map((p) => p.name));
const pairs = VERSUS.filter(([x, base]) => shown.has(x) && shown.has(base));
if (pairs.length > 0) {
  console.log(
    "versus: CPU per delivered datagram (peers + server) of a path over its base's in the same round, " +
      `min-max (median) over ${REPEAT} round(s); RTT p50 over the base's`,
  );
  for (const [x, base] of pairs)
    for (const size of SIZES) {
      const cells = RATES.map((offered) => {
        const r = roundRatios(steps, x, base, size, offered);
        return `${rateName(offered)}: ${r ? `${fixed(r.min, 2)}-${fixed(r.max, 2)} (${fixed(r.median, 2)})` : "-"}`;
      });
      const rtt = (name: string) => percentile(rtts.get(`${name} ${size}`) ?? [], 50);
      console.log(
        `  ${`${x} / ${base}`.padEnd(24)} ${size} B  ${cells.join("  ")}  RTT ${ratio(rtt(x), rtt(base))}`,
      );
    }
}
for (const note of notes) console.log(`NOTE ${note}`);
