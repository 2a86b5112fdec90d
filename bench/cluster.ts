// Several `netpunch serve` processes on one real redis-server (a child on loopback), against one server with
// the memory store in the same run. For 1, 2 and 3 servers on Redis (and the memory baseline):
// 1. registrations/s: load generators (bench/server-load.ts, one per server) register --sessions waiting
//    sessions spread over the servers (the REGISTER, challenge, REGISTER-with-cookie round trip of a peer),
//    and how many are held at the end;
// 2. keepalives: each generator refreshes its sessions at --keepalive-rate for 2 s; processed per second;
// 3. Redis's side: commands (INFO commandstats) and bytes in and out (INFO stats) per registration and per
//    keepalive, its memory per waiting session (INFO memory, and MEMORY USAGE on sampled session keys);
// 4. pairs: --pairs real `netpunch connect` pairs, a at the first server and b at the last, each process timed
//    from its start to its result; b's time against the memory store's (ratio), Redis commands and bytes per
//    pair (less the servers' own ticks, measured idle just before).
// Everything shares this machine's cores: compare the rows with each other, not with other machines.
// Every process is stopped by its PID at the end, however the bench ends. Usage:
//   bun bench/cluster.ts [--sessions N] [--pairs K] [--keepalive-rate R]
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { RedisClient } from "bun";
import { freeUdpPort } from "../src/transport/udp.ts";
import { startRedis, stopAllRedis } from "../test/support/redis.ts";
import { Child } from "./lib/child.ts";
import { cpuUs, Processes, type Started } from "./lib/processes.ts";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "6000" },
    pairs: { type: "string", default: "4" },
    "keepalive-rate": { type: "string", default: "6000" },
  },
});
const SESSIONS = Number(values.sessions);
const PAIRS = Number(values.pairs);
const KEEPALIVE_RATE = Number(values["keepalive-rate"]);
/** Seconds of keepalives per generator: long enough for a steady rate, short enough for the ~90 s budget. */
const KEEPALIVE_SECONDS = 2;
/** The servers' own ticks (sweeps, due sessions) are measured over this long with no load, then subtracted. */
const IDLE_MS = 2_000;
/** Session keys sampled with MEMORY USAGE (one SCAN page is about this many). */
const SAMPLE_KEYS = 50;
/** A server's UDP port appears in /proc/net/udp once it listens (after connecting to Redis): 10 s at most. */
const LISTEN_TIMEOUT_MS = 10_000;
/** A pair on loopback connects in well under a second; a stuck one fails the bench instead of hanging it. */
const PAIR_TIMEOUT_MS = 20_000;
const SERVER_LIMIT = String(SESSIONS * 2);

const CLI = join(import.meta.dir, "../src/cli/main.ts");
const LOAD = join(import.meta.dir, "server-load.ts");
const PRELOAD = join(import.meta.dir, "rcvbuf-preload.ts");
/** As bench/server.ts: a generator's 4 MiB receive buffer keeps its own socket from dropping the replies. */
const GENERATOR_RCVBUF = String(4 * 1024 * 1024);
/** A strong secret (32+ bytes: no scrypt), given in a file: never in a child's argv or environment. */
const SECRET = "bench-cluster-secret-0123456789abcdefghijk";
const dir = mkdtempSync(join(tmpdir(), "netpunch-cluster-"));
const SECRET_FILE = join(dir, "secret");
writeFileSync(SECRET_FILE, SECRET);
chmodSync(SECRET_FILE, 0o600);

const procs = new Processes();
const children: Child[] = [];
const redis = await startRedis();
const client = new RedisClient(redis.url);
await client.connect();

// --- Redis INFO --------------------------------------------------------------------------------------------
const info = async (section: string): Promise<Map<string, string>> => {
  const text = String(await client.send("INFO", [section]));
  const out = new Map<string, string>();
  for (const line of text.split("\r\n")) {
    const at = line.indexOf(":");
    if (at > 0) out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
};
interface RedisCounters {
  calls: number;
  /** Calls per command name (lower case, as INFO names them). */
  byCommand: Map<string, number>;
  bytes: number;
  memory: number;
}
async function counters(): Promise<RedisCounters> {
  const [cmds, stats, mem] = await Promise.all([info("commandstats"), info("stats"), info("memory")]);
  let calls = 0;
  const byCommand = new Map<string, number>();
  // cmdstat_set:calls=12,usec=...: every command counted, INFO's own included (a handful per reading).
  for (const [k, v] of cmds)
    if (k.startsWith("cmdstat_")) {
      const n = Number(/calls=(\d+)/.exec(v)?.[1] ?? 0);
      calls += n;
      byCommand.set(k.slice("cmdstat_".length), n);
    }
  const bytes = Number(stats.get("total_net_input_bytes")) + Number(stats.get("total_net_output_bytes"));
  return { calls, byCommand, bytes, memory: Number(mem.get("used_memory")) };
}
const minus = (a: RedisCounters, b: RedisCounters): RedisCounters => ({
  calls: a.calls - b.calls,
  byCommand: new Map([...a.byCommand].map(([k, n]) => [k, n - (b.byCommand.get(k) ?? 0)])),
  bytes: a.bytes - b.bytes,
  memory: a.memory - b.memory,
});

/** Mean MEMORY USAGE (all samples) of up to SAMPLE_KEYS keys matching `pattern`: what one such key costs. */
async function keyBytes(pattern: string): Promise<number> {
  const [, keys] = (await client.send("SCAN", ["0", "MATCH", pattern, "COUNT", "200"])) as [string, string[]];
  const sample = keys.slice(0, SAMPLE_KEYS);
  if (sample.length === 0) return Number.NaN;
  const sizes = await Promise.all(sample.map((k) => client.send("MEMORY", ["USAGE", k, "SAMPLES", "0"])));
  return sizes.reduce((s: number, n) => s + Number(n), 0) / sample.length;
}

/** Busy and total jiffies of the whole machine (/proc/stat's cpu line): how much of its cores were in use. */
function machineJiffies(): { busy: number; total: number } {
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "")
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  // idle and iowait are the 4th and 5th fields.
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}
const CORES = navigator.hardwareConcurrency;

// --- processes ---------------------------------------------------------------------------------------------
const udpBound = (port: number): boolean => {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync("/proc/net/udp", "utf8")
    .split("\n")
    .some((l) => l.trim().split(/\s+/)[1] === local);
};

async function startServers(n: number, store: "memory" | "redis"): Promise<{ s: Started; port: number }[]> {
  const out: { s: Started; port: number }[] = [];
  for (let i = 0; i < n; i++) {
    const port = await freeUdpPort("127.0.0.1");
    const s = procs.start([
      "bun",
      CLI,
      "serve",
      "--listen",
      `127.0.0.1:${port}`,
      "--secret-file",
      SECRET_FILE,
      "--quiet",
      "--max-sessions",
      SERVER_LIMIT,
      "--max-per-address",
      SERVER_LIMIT,
      "--store",
      store === "memory" ? "memory" : redis.url,
    ]);
    out.push({ s, port });
  }
  const until = performance.now() + LISTEN_TIMEOUT_MS;
  while (!out.every((o) => udpBound(o.port))) {
    if (performance.now() > until || out.some((o) => o.s.proc.exitCode !== null))
      throw new Error(`a server did not start: ${out.map((o) => o.s.out().stderr).join("\n")}`);
    await Bun.sleep(20);
  }
  return out;
}

async function stopServers(servers: { s: Started }[]): Promise<void> {
  for (const { s } of servers) s.proc.kill("SIGTERM");
  await Promise.all(servers.map(({ s }) => s.proc.exited));
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** PAIRS connect pairs, a at the first server, b at the last: b's start-to-result times in ms. */
async function pairs(servers: { port: number }[], tag: string): Promise<number[]> {
  const times: number[] = [];
  const first = servers[0]?.port as number;
  const last = servers.at(-1)?.port as number;
  const peer = (role: string, port: number, session: string) =>
    procs.start([
      "bun",
      CLI,
      "connect",
      "--role",
      role,
      "--server",
      `127.0.0.1:${port}`,
      "--secret-file",
      SECRET_FILE,
      "--session",
      session,
      "--json",
    ]);
  for (let i = 0; i < PAIRS; i++) {
    const session = `${tag}-${i}`;
    const a = peer("a", first, session);
    await a.waitFor(/waiting for the partner/, PAIR_TIMEOUT_MS);
    const t0 = performance.now();
    const b = peer("b", last, session);
    await b.waitFor(/"rport"/, PAIR_TIMEOUT_MS);
    times.push(performance.now() - t0);
    await Promise.all([a.proc.exited, b.proc.exited]);
  }
  return times;
}

interface Row {
  name: string;
  servers: number;
  regsPerS: number;
  held: number;
  keepalivesPerS: number;
  opsPerReg: number;
  bytesPerReg: number;
  opsPerKeepalive: number;
  bytesPerKeepalive: number;
  memPerSession: number;
  keyBytes: number;
  /** A replay nonce's key (SET NX PX 30 s): every authenticated packet leaves one for 30 s. */
  nonceKeyBytes: number;
  pairMs: number;
  opsPerPair: number;
  bytesPerPair: number;
  serverCpu: number;
  redisCpu: number;
  genCpu: number;
  machine: number;
  offeredKeepalives: number;
  /** The commands of one registration and of one keepalive, by name. */
  mix: { reg: string; keepalive: string };
}

async function run(n: number, store: "memory" | "redis"): Promise<Row> {
  await client.send("FLUSHALL", []);
  const servers = await startServers(n, store);
  const redisPid = Number((await info("server")).get("process_id"));
  // 4. Pairs first, on an empty store: what a pair costs, less the servers' idle ticks over the same time.
  const idle0 = await counters();
  await Bun.sleep(IDLE_MS);
  const idle1 = await counters();
  const tickCallsPerMs = (idle1.calls - idle0.calls) / IDLE_MS;
  const tickBytesPerMs = (idle1.bytes - idle0.bytes) / IDLE_MS;
  const p0 = await counters();
  const tp = performance.now();
  const times = await pairs(servers, `${store}${n}`);
  const pairWall = performance.now() - tp;
  const pd = minus(await counters(), p0);

  // 1. Registrations: one generator per server, its share of the sessions.
  const gens = servers.map((_, i) => {
    const g = new Child(["bun", "--preload", PRELOAD, LOAD, "gen", String(i)], {
      BENCH_RCVBUF: GENERATOR_RCVBUF,
    });
    children.push(g);
    return g;
  });
  const share = (i: number) => Math.floor(SESSIONS / n) + (i < SESSIONS % n ? 1 : 0);
  let first = 0;
  for (const [i, g] of gens.entries()) {
    const sessions = share(i);
    await g.ask({ cmd: "connect", port: servers[i]?.port, secret: SECRET, sessions, first });
    first += sessions;
  }
  const cpu0 = servers.reduce((s, o) => s + cpuUs(o.s.pid), 0);
  const rcpu0 = cpuUs(redisPid);
  const gcpu0 = gens.reduce((s, g) => s + cpuUs(g.pid), 0);
  const m0 = machineJiffies();
  const r0 = await counters();
  const t0 = performance.now();
  const regs = await Promise.all(
    gens.map((g) => g.ask<{ registered: number; ms: number }>({ cmd: "register" })),
  );
  const regWall = performance.now() - t0;
  const rd = minus(await counters(), r0);
  const held = regs.reduce((s, r) => s + r.registered, 0);
  const sessionKey = store === "redis" ? await keyBytes("{netpunch}:s:*") : Number.NaN;
  const nonceKey = store === "redis" ? await keyBytes("{netpunch}:nonce:*") : Number.NaN;

  // 2. Keepalives at KEEPALIVE_RATE per generator.
  await Promise.all(
    gens.map((g) => g.ask({ cmd: "prepare", rate: KEEPALIVE_RATE, seconds: KEEPALIVE_SECONDS })),
  );
  const k0 = await counters();
  const ka = await Promise.all(
    gens.map((g) => g.ask<{ sent: number; received: number; ms: number }>({ cmd: "go" })),
  );
  const kd = minus(await counters(), k0);
  const keepalives = ka.reduce((s, r) => s + r.received, 0);
  const kaMs = Math.max(...ka.map((r) => r.ms));
  const serverCpu = (servers.reduce((s, o) => s + cpuUs(o.s.pid), 0) - cpu0) / 1000;
  const redisCpu = (cpuUs(redisPid) - rcpu0) / 1000;
  const genCpu = (gens.reduce((s, g) => s + cpuUs(g.pid), 0) - gcpu0) / 1000;
  const m1 = machineJiffies();
  const busyMs = regWall + kaMs;
  for (const g of gens) g.stop();
  await stopServers(servers);
  return {
    name: store === "memory" ? "memory store (baseline)" : `Redis, ${n} server${n > 1 ? "s" : ""}`,
    servers: n,
    regsPerS: held / (regWall / 1000),
    held,
    keepalivesPerS: keepalives / (kaMs / 1000),
    opsPerReg: rd.calls / SESSIONS,
    bytesPerReg: rd.bytes / SESSIONS,
    opsPerKeepalive: keepalives ? kd.calls / keepalives : Number.NaN,
    bytesPerKeepalive: keepalives ? kd.bytes / keepalives : Number.NaN,
    memPerSession: rd.memory / Math.max(1, held),
    keyBytes: sessionKey,
    nonceKeyBytes: nonceKey,
    pairMs: median(times),
    opsPerPair: (pd.calls - tickCallsPerMs * pairWall) / PAIRS,
    bytesPerPair: (pd.bytes - tickBytesPerMs * pairWall) / PAIRS,
    // Share of one core over the registration and keepalive phases.
    serverCpu: serverCpu / busyMs,
    redisCpu: redisCpu / busyMs,
    genCpu: genCpu / busyMs,
    // The whole machine, every process on it (other helpers' too), in cores.
    machine: ((m1.busy - m0.busy) / (m1.total - m0.total)) * CORES,
    offeredKeepalives: KEEPALIVE_RATE * n,
    mix: { reg: mixOf(rd, SESSIONS), keepalive: mixOf(kd, keepalives) },
  };
}

/** "evalsha 3.0, get 2.0, ...": the commands per unit that are at least 0.1 of one, most first. */
function mixOf(d: RedisCounters, units: number): string {
  return [...d.byCommand]
    .map(([k, n]) => [k, n / Math.max(1, units)] as const)
    .filter(([, per]) => per >= 0.1)
    .sort((a, b) => b[1] - a[1])
    .map(([k, per]) => `${k} ${per.toFixed(1)}`)
    .join(", ");
}

const f = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "-");
try {
  const t0 = performance.now();
  const rows: Row[] = [];
  rows.push(await run(1, "memory"));
  for (const n of [1, 2, 3]) rows.push(await run(n, "redis"));
  const base = rows[0] as Row;
  console.log(
    `bench/cluster: ${SESSIONS} waiting sessions, ${KEEPALIVE_RATE} keepalives/s per generator for ${KEEPALIVE_SECONDS} s, ${PAIRS} pairs per row; ${Math.round((performance.now() - t0) / 1000)} s in all`,
  );
  console.log(
    "| store | regs/s | vs memory | held | keepalives/s (offered) | vs memory | CPU: servers, Redis, generators, machine | pair (b) ms | vs memory |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows)
    console.log(
      `| ${r.name} | ${f(r.regsPerS)} | ${f(r.regsPerS / base.regsPerS, 2)}x | ${r.held} | ${f(r.keepalivesPerS)} (${r.offeredKeepalives}) | ${f(r.keepalivesPerS / base.keepalivesPerS, 2)}x | ${f(r.serverCpu * 100)}%, ${f(r.redisCpu * 100)}%, ${f(r.genCpu * 100)}%, ${f(r.machine * 100)}% of ${CORES * 100}% | ${f(r.pairMs)} | ${f(r.pairMs / base.pairMs, 2)}x |`,
    );
  console.log("");
  console.log(
    "| store | Redis cmds/registration | bytes/registration | cmds/keepalive | bytes/keepalive | cmds/pair | bytes/pair | used_memory/session | MEMORY USAGE: session key, nonce key |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows.slice(1))
    console.log(
      `| ${r.name} | ${f(r.opsPerReg, 1)} | ${f(r.bytesPerReg)} | ${f(r.opsPerKeepalive, 1)} | ${f(r.bytesPerKeepalive)} | ${f(r.opsPerPair, 1)} | ${f(r.bytesPerPair)} | ${f(r.memPerSession)} B | ${f(r.keyBytes)} B, ${f(r.nonceKeyBytes)} B |`,
    );
  console.log("");
  for (const r of rows.slice(1))
    console.log(`${r.name}: per registration ${r.mix.reg}; per keepalive ${r.mix.keepalive}`);
} finally {
  for (const c of children) c.stop();
  await procs.stopAll();
  client.close();
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
}
