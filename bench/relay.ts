// One relayed pair on loopback through `netpunch serve --relay` (the real process; the pair met through the
// real relay handshake, bench/relay-load.ts), against other forwarders in the same run:
//   bun     a bare Bun UDP forwarder (bench/relay-load.ts fwd): the floor for a relay written on Bun
//   socat   Debian's socat as a plain UDP forwarder
//   coturn  Debian's coturn (turnserver), one allocation with a bound channel, fed ChannelData
//   direct  no forwarder: A to B straight, the generator's own ceiling
// at rising rates and sizes: forwarded pkt/s, Mbit/s (payload), loss, and CPU us per forwarded packet of the
// forwarder process (all its threads, /proc/PID/task/*/schedstat). Each target has its own generator
// process; every target is up at once and each step is offered to each in turn, so a disturbance from
// outside (other processes on the cores) hits them alike. Compare ratios within one run, not absolute
// numbers across runs. The generator's own CPU share is printed per step: it must stay well under a core,
// and `direct` must carry every rate, or the steps measure the generator.
// Every forwarder's sockets get the same receive buffer (--rcvbuf, default 2 MiB: what coturn sets on its
// own), so loss compares the forwarders, not the buffers: the Bun ones through bench/rcvbuf-preload.ts
// (Bun.udpSocket has no option for it), socat through its rcvbuf option.
// With --before DIR (another checkout, e.g. `git worktree add DIR <commit>`), that checkout's relay is one
// more target. With --repeat N, every step runs N times (interleaved across targets), for a noisy machine.
// Usage: bun bench/relay.ts [--rates R,R,...] [--sizes S,S,...] [--seconds S] [--before DIR] [--repeat N]
//                           [--rcvbuf BYTES] [--only relay,before,bun,socat,coturn,direct]
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freeUdpPort } from "../src/transport/udp.ts";
import { Child } from "./lib/child.ts";

const { values } = parseArgs({
  options: {
    rates: { type: "string", default: "10000,30000,60000,100000" },
    sizes: { type: "string", default: "100,1200,1400" },
    seconds: { type: "string", default: "2" },
    before: { type: "string" },
    rcvbuf: { type: "string", default: String(2 * 1024 * 1024) },
    only: { type: "string" },
    repeat: { type: "string", default: "1" },
  },
});
const RATES = values.rates.split(",").map(Number);
const SIZES = values.sizes.split(",").map(Number);
const SECONDS = Number(values.seconds);
const ONLY = values.only?.split(",");
const REPEAT = Number(values.repeat);

const CLI = join(import.meta.dir, "../src/cli/main.ts");
const LOAD = join(import.meta.dir, "relay-load.ts");
const PRELOAD = join(import.meta.dir, "rcvbuf-preload.ts");
/** A strong secret (32+ bytes: no scrypt), so start-up is not part of anything measured. */
const SECRET = "bench-relay-secret-0123456789abcdefghijkl";
/** A step that forwarded at least this share of what was sent kept up; ratios compare only those. */
const KEPT_UP = 0.95;
/** A target forwarding less than this share is past its limit: no higher rates for it at this size. */
const SATURATED = 0.5;
/** Far above any step: the relay's per-pair limit must not be what is measured. */
const UNLIMITED_RATE = "1000000000";
/** Longer than the whole bench: no relay or allocation closes for idleness between steps. */
const IDLE_S = "3600";

/**
 * CPU time of all the process's threads in us: the first field of each /proc/PID/task/TID/schedstat, in ns.
 * The same time as utime + stime in /proc/PID/stat, without its 10 ms ticks (a 2 s step at 10k pkt/s
 * of a 10 us forwarder is only 20 ticks).
 */
const cpuUs = (pid: number): number => {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`))
    ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
  return ns / 1000;
};

interface Step {
  /** Which repeat of this size and rate: ratios pair steps of one round, which met the same disturbances. */
  round: number;
  size: number;
  offered: number;
  sendRate: number;
  sent: number;
  forwarded: number;
  cpuUs: number;
  cpuShare: number;
  genShare: number;
}

/** A forwarder (or none) with its own generator. */
interface Target {
  name: string;
  gen: Child;
  /** The forwarding process, or undefined for `direct`. */
  pid?: number;
  stop(): void;
  steps: Step[];
}

const generator = () =>
  new Child(["bun", "--preload", PRELOAD, LOAD, "gen"], { BENCH_RCVBUF: values.rcvbuf });
const rcvbufEnv = { BENCH_RCVBUF: values.rcvbuf };
/** Ten ports from a random start above the ephemeral range's usual low end, one range per relay server. */
const relayRange = () => {
  const low = 30_000 + Math.floor(Math.random() * 2_000) * 10;
  return { low, high: low + 9 };
};
const waitForPort = async (port: number) => {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")} `;
  for (let i = 0; i < 100 && !readFileSync("/proc/net/udp", "utf8").includes(hex); i++) await Bun.sleep(50);
};

async function netpunchRelay(name: string, cli: string): Promise<Target> {
  const port = await freeUdpPort("127.0.0.1");
  const relayPorts = relayRange();
  const server = new Child(
    [
      "bun",
      "--preload",
      PRELOAD,
      cli,
      "serve",
      "--listen",
      `127.0.0.1:${port}`,
      "--relay",
      "--relay-rate",
      UNLIMITED_RATE,
      "--relay-idle",
      IDLE_S,
      "--relay-ports",
      `${relayPorts.low}-${relayPorts.high}`,
      "--quiet",
    ],
    { NETPUNCH_SECRET: SECRET, ...rcvbufEnv },
  );
  await waitForPort(port);
  const gen = generator();
  await gen.ask({ cmd: "netpunch", server: port, secret: SECRET, relayPorts });
  return {
    name,
    gen,
    pid: server.proc.pid,
    steps: [],
    stop: () => {
      gen.stop();
      server.stop();
    },
  };
}

async function bunForwarder(): Promise<Target> {
  const gen = generator();
  const { a, b } = await gen.ask<{ a: number; b: number }>({ cmd: "plain" });
  const fwd = new Child(["bun", "--preload", PRELOAD, LOAD, "fwd", String(a), String(b)], rcvbufEnv);
  const { port } = await fwd.next<{ port: number }>();
  await gen.ask({ cmd: "target", port });
  return {
    name: "bun",
    gen,
    pid: fwd.proc.pid,
    steps: [],
    stop: () => {
      gen.stop();
      fwd.stop();
    },
  };
}

async function socat(): Promise<Target> {
  const gen = generator();
  const { b } = await gen.ask<{ a: number; b: number }>({ cmd: "plain" });
  const port = await freeUdpPort("127.0.0.1");
  const buf = `rcvbuf=${values.rcvbuf}`;
  // UDP4-LISTEN takes the first sender (A) as its peer; everything from it goes on to B.
  const proc = Bun.spawn(
    [
      "socat",
      "-T",
      IDLE_S,
      `UDP4-LISTEN:${port},bind=127.0.0.1,reuseaddr,${buf}`,
      `UDP4:127.0.0.1:${b},${buf}`,
    ],
    { stdout: "ignore", stderr: "inherit" },
  );
  await waitForPort(port);
  await gen.ask({ cmd: "target", port });
  return {
    name: "socat",
    gen,
    pid: proc.pid,
    steps: [],
    stop: () => {
      gen.stop();
      proc.kill();
    },
  };
}

async function coturn(): Promise<Target> {
  const gen = generator();
  await gen.ask({ cmd: "plain" });
  const port = await freeUdpPort("127.0.0.1");
  const relayPorts = relayRange();
  const pidfile = `/tmp/bench-relay-turnserver-${port}.pid`;
  const proc = Bun.spawn(
    [
      "turnserver",
      "-n",
      "--no-auth",
      "--listening-ip=127.0.0.1",
      "--relay-ip=127.0.0.1",
      `--listening-port=${port}`,
      `--min-port=${relayPorts.low}`,
      `--max-port=${relayPorts.high}`,
      "--allow-loopback-peers",
      "--no-tcp",
      "--no-tls",
      "--no-dtls",
      "--no-tcp-relay",
      "--no-cli",
      "--simple-log",
      "--log-file=/dev/null",
      `--pidfile=${pidfile}`,
      `--max-allocate-lifetime=${IDLE_S}`,
    ],
    { stdout: "ignore", stderr: "ignore" },
  );
  await waitForPort(port);
  await gen.ask({ cmd: "turn", port });
  return {
    name: "coturn",
    gen,
    pid: proc.pid,
    steps: [],
    stop: () => {
      gen.stop();
      proc.kill();
      rmSync(pidfile, { force: true });
    },
  };
}

async function direct(): Promise<Target> {
  const gen = generator();
  const { b } = await gen.ask<{ a: number; b: number }>({ cmd: "plain" });
  await gen.ask({ cmd: "target", port: b });
  return { name: "direct", gen, steps: [], stop: () => gen.stop() };
}

async function step(t: Target, size: number, rate: number, round: number): Promise<Step> {
  const cpu0 = t.pid ? cpuUs(t.pid) : 0;
  const t0 = performance.now();
  const r = await t.gen.ask<{ sent: number; received: number; ms: number; cpuShare: number }>({
    cmd: "go",
    rate,
    size,
    seconds: SECONDS,
  });
  const wallS = (performance.now() - t0) / 1000;
  const cpu = t.pid ? cpuUs(t.pid) - cpu0 : Number.NaN;
  const s: Step = {
    round,
    size,
    offered: rate,
    sendRate: r.sent / (r.ms / 1000),
    sent: r.sent,
    forwarded: r.received,
    cpuUs: cpu / Math.max(1, r.received),
    cpuShare: cpu / 1e6 / wallS,
    genShare: r.cpuShare,
  };
  t.steps.push(s);
  return s;
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
const fwdRate = (s: Step) => s.forwarded / SECONDS;
function printStep(name: string, s: Step): void {
  const loss = 1 - s.forwarded / s.sent;
  console.log(
    `  ${name.padEnd(7)} ${pad(s.size, 5)} ${pad(s.offered, 7)} ${pad(s.sendRate.toFixed(0), 7)} ${pad(fwdRate(s).toFixed(0), 9)}` +
      ` ${pad(((fwdRate(s) * s.size * 8) / 1e6).toFixed(0), 6)} ${pad(`${(loss * 100).toFixed(1)}%`, 6)}` +
      ` ${pad(Number.isNaN(s.cpuUs) ? "-" : s.cpuUs.toFixed(1), 7)} ${pad(Number.isNaN(s.cpuShare) ? "-" : `${(s.cpuShare * 100).toFixed(0)}%`, 5)}` +
      ` ${pad(`${(s.genShare * 100).toFixed(0)}%`, 5)}`,
  );
}
const keptUp = (s: Step | undefined) => s !== undefined && s.forwarded / s.sent >= KEPT_UP;

const wanted = (name: string) => !ONLY || ONLY.includes(name);
console.log(
  `bench/relay: one pair on loopback, steps of ${SECONDS} s, SO_RCVBUF ${values.rcvbuf} on every forwarder, ` +
    `${navigator.hardwareConcurrency} cores (shared with whatever else runs)`,
);
const targets: Target[] = [];
if (wanted("relay")) targets.push(await netpunchRelay("relay", CLI));
if (values.before && wanted("before"))
  targets.push(await netpunchRelay("before", join(values.before, "src/cli/main.ts")));
if (wanted("bun")) targets.push(await bunForwarder());
/** Debian's socat and coturn, when installed; without one, the bench says how to get it and goes on. */
const installed = (program: string, pkg: string) => {
  if (Bun.which(program)) return true;
  console.log(`  (${pkg}: not installed; apt-get install -y --no-install-recommends ${pkg})`);
  return false;
};
if (wanted("socat") && installed("socat", "socat")) targets.push(await socat());
if (wanted("coturn") && installed("turnserver", "coturn")) targets.push(await coturn());
if (wanted("direct")) targets.push(await direct());

// A first step per target, not counted: the JIT compiles the forwarding path, the sockets' buffers settle.
for (const t of targets) {
  await step(t, SIZES[0] ?? 100, RATES[0] ?? 10_000, -1);
  t.steps.length = 0;
}
console.log("  target   size offered  sent/s   fwd pkt/s Mbit/s   loss  us/pkt  fwd%  gen%");
try {
  for (const size of SIZES) {
    const saturated = new Set<string>();
    for (const rate of RATES) {
      for (let round = 0; round < REPEAT; round++) {
        for (const t of targets) {
          if (saturated.has(t.name)) continue;
          const s = await step(t, size, rate, round);
          printStep(t.name, s);
          if (s.forwarded / s.sent < SATURATED) saturated.add(t.name);
        }
      }
    }
  }
} finally {
  for (const t of targets) t.stop();
}

// The summary: CPU per packet, as a ratio at each step both targets kept up with (the cost per packet falls
// as the rate rises and batches grow, so only equal rates compare), averaged over those steps.
console.log(`summary: best forwarded pkt/s; us/pkt over steps kept up (>= ${KEPT_UP * 100}%)`);
const named = (n: string) => targets.find((t) => t.name === n);
const ratio = (x: Target, y: Target, size: number) => {
  const rs = x.steps
    .filter((s) => s.size === size && keptUp(s))
    .flatMap((s) => {
      const o = y.steps.find((q) => q.size === size && q.offered === s.offered && q.round === s.round);
      return o && keptUp(o) ? [s.cpuUs / o.cpuUs] : [];
    });
  return rs.length ? `${(rs.reduce((a, b) => a + b, 0) / rs.length).toFixed(2)}x` : "-";
};
const against = ["before", "bun", "socat", "coturn"].flatMap((n) => named(n) ?? []);
console.log(
  `  target   size  best pkt/s  us/pkt (kept up)  ${against.map((t) => `vs ${t.name}`.padStart(10)).join(" ")}`,
);
for (const size of SIZES) {
  for (const t of targets) {
    const steps = t.steps.filter((s) => s.size === size);
    const ok = steps.filter(keptUp).map((s) => s.cpuUs);
    const us = t.pid && ok.length ? (ok.reduce((a, b) => a + b, 0) / ok.length).toFixed(1) : "-";
    const ratios = t.pid ? against.map((o) => (o === t ? "" : ratio(t, o, size)).padStart(10)).join(" ") : "";
    console.log(
      `  ${t.name.padEnd(7)} ${pad(size, 5)} ${pad(Math.max(...steps.map(fwdRate)).toFixed(0), 11)} ${pad(us, 17)}  ${ratios}`,
    );
  }
}
// The generator's own check: it carried every step straight to B, and never used most of a core.
const straight = named("direct");
const genMax = Math.max(...targets.flatMap((t) => t.steps.map((s) => s.genShare)));
if (straight)
  console.log(
    `generator: direct (no forwarder) kept up in ${straight.steps.filter(keptUp).length} of ${straight.steps.length} ` +
      `steps; its busiest process used ${(genMax * 100).toFixed(0)}% of a core`,
  );
