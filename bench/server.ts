// The rendezvous server under load, as a real process on loopback, against a plain Bun UDP echo in the
// same run:
// 1. authenticated keepalives (REGISTERs with their cookie, refreshing --sessions waiting sessions) at rising
//    rates, to `netpunch serve` and to the echo: processed/offered, CPU us per packet (utime + stime of the
//    target process, /proc/PID/stat), kernel drops (/proc/net/snmp Udp RcvbufErrors, machine-wide, and the
//    target socket's own drops in /proc/net/udp), RSS;
// 2. the generator alone against a sink that answers nothing: its ceiling, which must be far above what the
//    server processes, or the steps above measure the generator;
// 3. idle: a fresh server holding N waiting sessions and receiving nothing: CPU (% of a core) and RSS.
// Other processes on the machine share the cores, so compare the server with the echo (same run), not
// absolute numbers across runs.
// With --before DIR (another checkout, e.g. `git worktree add DIR <commit>`), that checkout's server is a
// third target in the same run, so a change is measured against its parent under the same load.
// With --rcvbuf BYTES, the server runs once more with that SO_RCVBUF on its sockets (bench/rcvbuf-preload.ts:
// Bun.udpSocket has no option for it), which shows what raising net.core.rmem_default does for it.
// Usage: bun bench/server.ts [--sessions N] [--rates R,R,...] [--seconds S] [--generators G]
//                            [--idle N,N,...] [--idle-seconds S] [--before DIR] [--rcvbuf BYTES]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freeUdpPort } from "../src/transport/udp.ts";
import { Child } from "./lib/child.ts";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "10000" },
    rates: { type: "string", default: "5000,10000,20000,30000,40000,50000,60000,80000" },
    seconds: { type: "string", default: "2" },
    generators: { type: "string", default: "1" },
    idle: { type: "string", default: "1000,10000,100000,250000" },
    "idle-seconds": { type: "string", default: "5" },
    before: { type: "string" },
    rcvbuf: { type: "string" },
  },
});
const SESSIONS = Number(values.sessions);
const RATES = values.rates.split(",").map(Number);
const SECONDS = Number(values.seconds);
const GENERATORS = Number(values.generators);
const IDLE = values.idle === "" ? [] : values.idle.split(",").map(Number);
const IDLE_SECONDS = Number(values["idle-seconds"]);

const CLI = join(import.meta.dir, "../src/cli/main.ts");
const LOAD = join(import.meta.dir, "server-load.ts");
const PRELOAD = join(import.meta.dir, "rcvbuf-preload.ts");
/** A strong secret (32+ bytes: no scrypt), so start-up is not part of anything measured. */
const SECRET = "bench-server-secret-0123456789abcdefghijk";
/** /proc/PID/stat counts CPU in clock ticks of 1/100 s (USER_HZ on Linux). */
const TICK_US = 10_000;
/** Above the 100k default: the idle part holds up to 250k sessions, all from the generators' addresses. */
const SERVER_LIMIT = "300000";
/** A step processing less than this share of what was offered is past the target's limit. */
const SATURATED = 0.5;
/** Load steps that count as "keeping up". */
const KEPT_UP = 0.95;
/** The generator's ceiling is measured at this offered rate, per generator. */
const CEILING_RATE = 200_000;

// --- /proc ---------------------------------------------------------------------------------------------
const cpuTicks = (pid: number): number => {
  // Fields after the command's closing parenthesis: state is the 3rd field, utime the 14th, stime the 15th.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
};
const rssKb = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN);
const rcvbufErrors = (): number => {
  const lines = readFileSync("/proc/net/snmp", "utf8")
    .split("\n")
    .filter((l) => l.startsWith("Udp:"));
  const [head, vals] = lines.map((l) => l.split(/\s+/));
  return Number(vals?.[head?.indexOf("RcvbufErrors") ?? -1]);
};
const procUdpAddress = (port: number) => `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
/** The fields of the /proc/net/udp line of the socket bound to 127.0.0.1:port. */
const udpLine = (port: number): string[] | undefined => {
  const local = procUdpAddress(port);
  for (const line of readFileSync("/proc/net/udp", "utf8").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local) return f;
  }
  return undefined;
};
/** The drops counter of that socket (the last column): datagrams its full receive buffer refused. */
const socketDrops = (port: number): number => Number(udpLine(port)?.at(-1) ?? 0);

// --- child processes -----------------------------------------------------------------------------------

async function startServer(cli = CLI, rcvbuf?: string): Promise<{ child: Child; port: number }> {
  const port = await freeUdpPort("127.0.0.1");
  const args = ["serve", "--listen", `127.0.0.1:${port}`, "--quiet"];
  const limits = ["--max-sessions", SERVER_LIMIT, "--max-per-address", SERVER_LIMIT];
  // Its stdout is not read: a quiet server writes nothing there.
  const bun = rcvbuf ? ["bun", "--preload", PRELOAD] : ["bun"];
  const env: Record<string, string> = {
    NETPUNCH_SECRET: SECRET,
    ...(rcvbuf ? { BENCH_RCVBUF: rcvbuf } : {}),
  };
  const child = new Child([...bun, cli, ...args, ...limits], env);
  return { child, port };
}
async function startHelper(role: "echo" | "sink"): Promise<{ child: Child; port: number }> {
  const child = new Child(["bun", LOAD, role, "0"]);
  const { port } = await child.next<{ port: number }>();
  return { child, port };
}
/**
 * The generators receive every reply: a large receive buffer (4 MiB, as bench/rcvbuf-preload.ts sets it) keeps
 * their own socket from dropping what the target did answer, so "processed" counts the target's work.
 */
const GENERATOR_RCVBUF = String(4 * 1024 * 1024);
const share = (n: number, i: number) => Math.floor(n / GENERATORS) + (i < n % GENERATORS ? 1 : 0);

interface Step {
  offered: number;
  sent: number;
  sendRate: number;
  processed: number;
  cpuUs: number;
  cpuShare: number;
  rcvbuf: number;
  targetDrops: number;
  genDrops: number;
  rssMb: number;
}

/** GENERATORS generator processes aimed at one target process, which holds their sessions. */
class Load {
  readonly gens = Array.from(
    { length: GENERATORS },
    (_, id) =>
      new Child(["bun", "--preload", PRELOAD, LOAD, "gen", String(id)], { BENCH_RCVBUF: GENERATOR_RCVBUF }),
  );
  private genPorts: number[] = [];
  readonly steps: Step[] = [];
  constructor(
    readonly name: string,
    readonly target: { child: Child; port: number },
  ) {}

  /** Gives each generator its share of `sessions`, aimed at the target; registers them if asked. */
  async connect(sessions: number, register: boolean): Promise<number> {
    let first = 0;
    const ports = await Promise.all(
      this.gens.map((g, i) => {
        const n = share(sessions, i);
        const at = first;
        first += n;
        const port = this.target.port;
        return g.ask<{ localPort: number }>({ cmd: "connect", port, secret: SECRET, sessions: n, first: at });
      }),
    );
    this.genPorts = ports.map((p) => p.localPort);
    if (!register) return 0;
    const done = await Promise.all(this.gens.map((g) => g.ask<{ registered: number }>({ cmd: "register" })));
    return done.reduce((n, d) => n + d.registered, 0);
  }

  async step(rate: number, seconds: number): Promise<Step> {
    const { pid } = this.target.child;
    const { port } = this.target;
    await Promise.all(this.gens.map((g, i) => g.ask({ cmd: "prepare", rate: share(rate, i), seconds })));
    const genDrops = () => this.genPorts.reduce((n, p) => n + socketDrops(p), 0);
    const before = { cpu: cpuTicks(pid), snmp: rcvbufErrors(), drops: socketDrops(port), gen: genDrops() };
    const t0 = performance.now();
    const runs = await Promise.all(
      this.gens.map((g) => g.ask<{ sent: number; received: number; ms: number }>({ cmd: "go" })),
    );
    const cpu = cpuTicks(pid) - before.cpu;
    const wallS = (performance.now() - t0) / 1000;
    const sent = runs.reduce((n, r) => n + r.sent, 0);
    const processed = runs.reduce((n, r) => n + r.received, 0);
    const s: Step = {
      offered: rate,
      sent,
      sendRate: runs.reduce((n, r) => n + r.sent / (r.ms / 1000), 0),
      processed,
      cpuUs: processed > 0 ? (cpu * TICK_US) / processed : Number.NaN,
      cpuShare: (cpu * TICK_US) / 1e6 / wallS,
      rcvbuf: rcvbufErrors() - before.snmp,
      targetDrops: socketDrops(port) - before.drops,
      genDrops: genDrops() - before.gen,
      rssMb: rssKb(pid) / 1024,
    };
    this.steps.push(s);
    return s;
  }

  /** Whether the last step processed under SATURATED of what was sent: no higher rates for this target. */
  get saturated(): boolean {
    const last = this.steps.at(-1);
    return last !== undefined && last.processed / last.sent < SATURATED;
  }

  stop(): void {
    for (const g of this.gens) g.stop();
    this.target.child.stop();
  }
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
function printStep(name: string, s: Step): void {
  console.log(
    `  ${name.padEnd(6)} ${pad(s.offered, 7)} ${pad(s.sendRate.toFixed(0), 8)} ${pad(`${s.processed}/${s.sent}`, 15)}` +
      ` ${pad((s.processed / s.sent).toFixed(3), 6)} ${pad(s.cpuUs.toFixed(1), 7)} ${pad(`${(s.cpuShare * 100).toFixed(0)}%`, 5)}` +
      ` ${pad(s.targetDrops, 7)} ${pad(s.rcvbuf, 8)} ${pad(s.genDrops, 6)} ${pad(s.rssMb.toFixed(0), 5)}`,
  );
}
const best = (steps: Step[]) => Math.max(...steps.map((s) => s.processed / SECONDS));
const keptUp = (steps: Step[]) =>
  Math.max(0, ...steps.filter((s) => s.processed / s.sent >= KEPT_UP).map((s) => s.offered));
/** CPU per packet over the steps that kept up: the measure least moved by other processes on the cores. */
const cpuPerPacket = (steps: Step[]) => {
  const ok = steps.filter((s) => s.processed / s.sent >= KEPT_UP).map((s) => s.cpuUs);
  return ok.length > 0 ? ok.reduce((a, b) => a + b, 0) / ok.length : Number.NaN;
};

/** Waits (at most 5 s) until the server's socket is bound, so its counters can be read from the start. */
async function waitForServer(port: number): Promise<void> {
  for (let i = 0; i < 100 && udpLine(port) === undefined; i++) await Bun.sleep(50);
}
/** A server holding `sessions` waiting sessions, with its load generators. */
async function serverLoad(name: string, sessions: number, cli?: string, rcvbuf?: string): Promise<Load> {
  const server = await startServer(cli, rcvbuf);
  await waitForServer(server.port);
  const load = new Load(name, server);
  const registered = await load.connect(sessions, true);
  if (registered !== sessions)
    console.log(`  (${name}: only ${registered} of ${sessions} sessions registered)`);
  return load;
}

// --- 1. load ---------------------------------------------------------------------------------------------
console.log(
  `bench/server: ${SESSIONS} waiting sessions, steps of ${SECONDS} s, ${GENERATORS} generator process(es) per ` +
    `target, ${navigator.hardwareConcurrency} cores (shared with whatever else runs)`,
);
// Every target is up at once and each rate is offered to each in turn, so a disturbance from outside (other
// processes on the cores) hits all of them alike instead of one target's whole run.
const targets: Load[] = [await serverLoad("server", SESSIONS)];
if (values.before) targets.push(await serverLoad("before", SESSIONS, join(values.before, "src/cli/main.ts")));
if (values.rcvbuf) targets.push(await serverLoad("srv+rb", SESSIONS, CLI, values.rcvbuf));
const echo = new Load("echo", await startHelper("echo"));
await echo.connect(SESSIONS, false);
targets.push(echo);
console.log("  target offered  sent/s   processed/sent  ratio us/pkt   cpu  t.drops rcvbuf  g.drops rss MB");
for (const rate of RATES) {
  for (const t of targets) if (!t.saturated) printStep(t.name, await t.step(rate, SECONDS));
}
for (const t of targets) t.stop();

// --- 2. the generator's own ceiling ------------------------------------------------------------------------
const sinkLoad = new Load("sink", await startHelper("sink"));
await sinkLoad.connect(SESSIONS, false);
const ceiling = await sinkLoad.step(CEILING_RATE * GENERATORS, 1);
const sunk = (await sinkLoad.target.child.ask<{ got: number }>({})).got;
sinkLoad.stop();

console.log(
  `  target  best processed/s  keeps up (>= ${KEPT_UP * 100}%) to  us/pkt while keeping up  vs echo (best, us/pkt)`,
);
for (const t of targets)
  console.log(
    `  ${t.name.padEnd(6)} ${pad(best(t.steps).toFixed(0), 17)} ${pad(`${keptUp(t.steps)}/s`, 20)}` +
      ` ${pad(cpuPerPacket(t.steps).toFixed(1), 23)}  ${(best(t.steps) / best(echo.steps)).toFixed(2)}x,` +
      ` ${(cpuPerPacket(t.steps) / cpuPerPacket(echo.steps)).toFixed(2)}x`,
  );
if (values.rcvbuf)
  console.log(
    `  (srv+rb: the server with SO_RCVBUF ${values.rcvbuf}; the kernel doubles it, up to 2 x rmem_max)`,
  );
console.log(
  `  generator alone into a sink: ${ceiling.sendRate.toFixed(0)} sent/s offered ${CEILING_RATE * GENERATORS}/s, ` +
    `sink received ${sunk}; ${(ceiling.sendRate / best(echo.steps)).toFixed(1)}x the echo's best`,
);

// --- 3. idle ------------------------------------------------------------------------------------------------
const idleTargets: [string, string][] = [["server", CLI]];
if (values.before) idleTargets.push(["before", join(values.before, "src/cli/main.ts")]);
if (IDLE.length > 0) {
  console.log(`idle: a fresh server holding N waiting sessions, no traffic, CPU over ${IDLE_SECONDS} s`);
  console.log("  target       N    fill s  cpu (% core)  rss MB  rss per session");
}
for (const n of IDLE) {
  for (const [name, cli] of idleTargets) {
    const s = await startServer(cli);
    await waitForServer(s.port);
    await Bun.sleep(300); // its start-up is over
    const rss0 = rssKb(s.child.pid);
    const t0 = performance.now();
    const load = new Load(name, s);
    const got = await load.connect(n, true);
    const fillS = (performance.now() - t0) / 1000;
    await Bun.sleep(1000); // replies and garbage of the fill settle
    const c0 = cpuTicks(s.child.pid);
    await Bun.sleep(IDLE_SECONDS * 1000);
    const cpu = ((cpuTicks(s.child.pid) - c0) * TICK_US) / 1e6 / IDLE_SECONDS;
    const rss = rssKb(s.child.pid);
    console.log(
      `  ${name.padEnd(6)} ${pad(got, 7)} ${pad(fillS.toFixed(1), 9)} ${pad((cpu * 100).toFixed(1), 13)}` +
        ` ${pad((rss / 1024).toFixed(0), 7)} ${pad(`${(((rss - rss0) * 1024) / Math.max(1, got)).toFixed(0)} B`, 16)}`,
    );
    load.stop();
  }
}
