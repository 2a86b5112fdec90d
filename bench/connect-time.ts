// Time to connect as the user waits for it: from the exec of `netpunch connect ...` (as a shell runs it) to
// the result line on stdout and to the process's exit, for the peer that starts second, across two real
// NATs. Needs root (network namespaces).
//
// Usage: bun bench/connect-time.ts [--runs N] [--delay MS] [--gaps S,S] [--seed PATH] [--install-go] [--trace]
//
// Lab: eim/eim NATs (plain MASQUERADE, endpoint-independent mapping) in front of peers a and b; each
// gateway's WAN link delays MS ms one way (default 20); the server's link is not delayed. The physical limit
// after the second peer starts is L = RTT(peer -> server) + RTT(peer <-> peer): its REGISTER out and the
// MATCH back, then one PING/PONG; both RTTs are measured with ping in the same run (before and after).
// Every time is printed in ms and as a ratio to L. The targets (issue 11): <= 1.5 L for the compiled
// binary, <= 1.8 L from source, process start to exit.
//
// Clients, interleaved run by run so that a change in the machine's load hits all alike:
// - the compiled binary, built once per bench run the way scripts/build.ts builds releases;
// - the source, `bun src/cli/main.ts`;
// - both again with --verbose ("-v" rows), whose log lines give the breakdown of where the time goes (there
//   is no trace output without it); the difference to the plain rows is what --verbose itself costs;
// - the baseline, the original Go netpunch ("the seed", github.com/michurin/netpunch) with its own server.
//   Get it with `git clone https://github.com/michurin/netpunch DIR` and `--seed DIR` (or NETPUNCH_SEED=DIR;
//   a bare git repository or a built binary work too; `go install .../cmd/...@latest` is found by itself).
//   It is built with the local Go (Debian's golang-go 1.19 does, with the go directive lowered in a temp
//   copy); --install-go installs golang-go with apt-get if no Go is there. Without it the bench says why and
//   goes on. The seed polls its server every 30 s, so its 5 s rows take about 25 s per run.
//
// Each process is started by bench/lib/exec-at.py at a set wall-clock time (so neither Python's start-up nor
// `ip netns exec` counts) and the bench stamps each line it reads; --trace prints the later peer's lines.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Host, Lab } from "../lab/lab.ts";
import { waitStderr } from "../lab/netpunch.ts";
import { build, fileName, TARGETS } from "../scripts/build.ts";
import { breakdownTable, type ReportRow, resultTable } from "./lib/connect-report.ts";
import { prepareSeed } from "./lib/seed.ts";
import { nowMs, spawnAt } from "./lib/timed-process.ts";
import { execAt, median, pingRtts, resultLine, type Step, stepTimes, type TimedRun } from "./lib/timeline.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    delay: { type: "string", default: "20" },
    gaps: { type: "string", default: "0,5" },
    seed: { type: "string" },
    "install-go": { type: "boolean", default: false },
    trace: { type: "boolean", default: false },
  },
});
const RUNS = Number(values.runs);
const DELAY_MS = Number(values.delay);
const GAPS_MS = (values.gaps ?? "").split(",").map((s) => Number(s) * 1000);
const ROOT = join(import.meta.dir, "..");
const SERVER_PORT = 10001;
const SEED_SERVER_PORT = 10002;
const PEER_PORT = 10000;
/**
 * A server that has been up longer than one replay window (10 s) announces the second peer at once; in its
 * first 10 s every first contact gets a challenge first (one more server RTT), so that nothing sealed before
 * a restart counts. Users meet a server that has been up, so the runs start after this.
 */
const UP_MS = 10_500;
/** Both launchers are started this long before their exec time: enough for `ip netns exec` and Python. */
const LEAD_MS = 600;
/** Ends a hung run: netpunch gives up on a silent partner after its punch timeout (10 s); the seed ~60 s. */
const RUN_LIMIT_MS = 90_000;
/** Between runs, so one run's last packets (a CLOSE burst, a MATCH resend) are gone before the next. */
const SETTLE_MS = 300;
/** 10 pings 0.2 s apart per path, before and after the runs: a median that one slow reply cannot move. */
const PINGS = "10";

if (process.getuid?.() !== 0) {
  console.error("bench/connect-time needs root (network namespaces); run: sudo bun run bench:connect");
  process.exit(1);
}
if (!Number.isInteger(RUNS) || RUNS < 1 || !(DELAY_MS > 0) || GAPS_MS.some((g) => !(g >= 0))) {
  console.error("usage: bun bench/connect-time.ts [--runs N>=1] [--delay MS>0] [--gaps S,S] [--seed PATH]");
  process.exit(2);
}

const benchStart = nowMs();
const work = mkdtempSync(join(tmpdir(), "netpunch-bench-connect-"));

// --- the clients -------------------------------------------------------------------------------------------

const target = TARGETS.find((t) => t.name === `linux-${process.arch === "arm64" ? "arm64" : "x64"}`);
if (!target) throw new Error(`no build target for ${process.arch}`);
build({ targets: [target], root: ROOT, outDir: work, quiet: true });
const BINARY = join(work, fileName(target));
const SOURCE = [process.execPath, join(ROOT, "src/cli/main.ts")];
const seed = prepareSeed({
  spec: values.seed ?? process.env.NETPUNCH_SEED,
  installGo: values["install-go"] === true,
  workDir: join(work, "seed"),
});

/** netpunch's log lines for each step, at --verbose ("listening" is logged just before the first REGISTER). */
const NETPUNCH_STEPS: Step[] = [
  { name: "REGISTER sent", pattern: /listening on UDP/ },
  { name: "MATCH", pattern: /partner found/ },
  { name: "PONG", pattern: /\) works, rtt/ },
  { name: "proven", pattern: /proven both ways/ },
  { name: "socket closed", pattern: /connected: / },
];
/**
 * The seed logs every datagram ("write: "b" -> HOST:PORT", "read: "i|a|ADDR" <- ...") and the close: its
 * REGISTER is its role letter, MATCH the "i|" peer info, PONG "y". It has no "proven" step.
 */
const SEED_STEPS: Step[] = [
  { name: "REGISTER sent", pattern: /\] write: "[a-z]" -> / },
  { name: "MATCH", pattern: /\] read: "i\|/ },
  { name: "PONG", pattern: /\] read: "y" </ },
  { name: "socket closed", pattern: /\] close: / },
];
const BREAKDOWN = [...NETPUNCH_STEPS.map((s) => s.name), "result", "exit"];

interface Client {
  name: string;
  argv(role: "a" | "b", serverIp: string, session: string): string[];
  steps: Step[];
  /** A server of its own, started before each run (the seed's keeps the last address per role). */
  server?: (secret: string) => string[];
  /** The target for process start to exit, in units of L. */
  targetX?: number;
}

const netpunchArgv =
  (cmd: string[], verbose: boolean) =>
  (role: "a" | "b", serverIp: string, session: string): string[] => [
    ...cmd,
    "connect",
    "--role",
    role,
    "--server",
    `${serverIp}:${SERVER_PORT}`,
    "--local",
    `:${PEER_PORT}`,
    "--secret-file",
    SECRET,
    // Each run its own session, so nothing a previous run left on the long-lived server is met.
    "--session",
    session,
    ...(verbose ? ["--verbose"] : []),
  ];

const SECRET = join(work, "secret.txt");
const keygen = Bun.spawnSync([BINARY, "keygen", "--output", SECRET], { stderr: "pipe" });
if (keygen.exitCode !== 0) throw new Error(`netpunch keygen failed: ${keygen.stderr}`);

const clients: Client[] = [
  // As users run it: the times to quote.
  { name: "binary", argv: netpunchArgv([BINARY], false), steps: [], targetX: 1.5 },
  { name: "source", argv: netpunchArgv(SOURCE, false), steps: [], targetX: 1.8 },
  // The breakdown.
  { name: "binary -v", argv: netpunchArgv([BINARY], true), steps: NETPUNCH_STEPS },
  { name: "source -v", argv: netpunchArgv(SOURCE, true), steps: NETPUNCH_STEPS },
];
if ("bin" in seed) {
  const bin = seed.bin;
  clients.push({
    name: "seed (Go)",
    argv: (role, serverIp) => [
      bin,
      "-peer",
      role,
      "-secret-file",
      SECRET,
      "-remote",
      `${serverIp}:${SEED_SERVER_PORT}`,
      "-local",
      `:${PEER_PORT}`,
    ],
    steps: SEED_STEPS,
    server: (secret) => [bin, "-secret-file", secret, "-local", `:${SEED_SERVER_PORT}`],
  });
}

/** --trace: every line the later peer wrote, in ms from its exec, to see what a breakdown step hides. */
function traceOf(name: string, gapMs: number, i: number, run: TimedRun): string {
  const start = execAt(run) ?? Number.NaN;
  const lines = run.lines.map((l) => `${(l.at - start).toFixed(1).padStart(8)} ${l.stream} ${l.text}`);
  return [
    `--- ${name}, gap ${gapMs / 1000} s, run ${i + 1}, the later peer:`,
    ...lines,
    `${(run.exitAt - start).toFixed(1).padStart(8)} exit ${run.code}`,
  ].join("\n");
}

// --- the lab -----------------------------------------------------------------------------------------------

const lab = Lab.create();
const failures: string[] = [];
try {
  const serverHost = lab.host("srv");
  const serverIp = await lab.attachPublic(serverHost);
  const gwA = lab.host("gwa");
  const gwAIp = await lab.attachPublic(gwA, { delayMs: DELAY_MS });
  const gwB = lab.host("gwb");
  await lab.attachPublic(gwB, { delayMs: DELAY_MS });
  const a = lab.host("a");
  const b = lab.host("b");
  lab.lan(gwA, "192.0.2", [a]);
  lab.lan(gwB, "198.51.100", [b]);
  lab.masquerade(gwA);
  lab.masquerade(gwB);
  const hosts: Record<"a" | "b", Host> = { a, b };

  const server = lab.spawn(serverHost, [
    BINARY,
    "serve",
    "--listen",
    `0.0.0.0:${SERVER_PORT}`,
    "--secret-file",
    SECRET,
  ]);
  await waitStderr(server, /listening on UDP/);
  const serverUpAt = nowMs();

  // b is the later peer at a gap > 0; gwA answers pings itself, so b -> gwA is the peer-to-peer path.
  const rtt = { server: [] as number[], peer: [] as number[] };
  const measureRtts = () => {
    for (const [into, ip] of [
      [rtt.server, serverIp],
      [rtt.peer, gwAIp],
    ] as const) {
      const r = lab.exec(b, ["ping", "-n", "-c", PINGS, "-i", "0.2", "-W", "2", ip]);
      const got = pingRtts(r.stdout);
      if (got.length === 0) throw new Error(`ping ${ip} from b failed: ${r.stdout}${r.stderr}`);
      into.push(...got);
    }
  };
  measureRtts();
  const rttBefore = { server: median(rtt.server), peer: median(rtt.peer) };
  const waitUp = serverUpAt + UP_MS - nowMs();
  if (waitUp > 0) await Bun.sleep(waitUp);

  /** One pair: a at `at`, b at `at + gap`; returns the later peer's run and the earlier one's. */
  const pair = async (client: Client, gapMs: number, session: string) => {
    await Bun.sleep(SETTLE_MS);
    lab.flushConntrack(gwA); // fresh NAT mappings, as for a user whose NAT has not seen this server lately
    lab.flushConntrack(gwB);
    const own = client.server ? lab.spawn(serverHost, client.server(SECRET)) : undefined;
    if (own) await waitStderr(own, /Start in control mode/);
    const at = nowMs() + LEAD_MS;
    const runs = await Promise.all(
      (["a", "b"] as const).map(
        (role) =>
          spawnAt(
            hosts[role],
            at + (role === "b" ? gapMs : 0),
            client.argv(role, serverIp, session),
            RUN_LIMIT_MS,
          ).done,
      ),
    );
    if (own) {
      own.kill("SIGTERM");
      await own.exited;
    }
    const [ra, rb] = runs as [TimedRun, TimedRun];
    return (execAt(ra) ?? 0) > (execAt(rb) ?? 0) ? { later: ra, earlier: rb } : { later: rb, earlier: ra };
  };

  type Row = { client: Client; gapMs: number; steps: Record<string, number>[]; failed: number };
  const rows: Row[] = GAPS_MS.flatMap((gapMs) =>
    clients.map((client) => ({ client, gapMs, steps: [], failed: 0 })),
  );
  for (const gapMs of GAPS_MS) {
    for (let i = 0; i < RUNS; i++) {
      for (const row of rows.filter((r) => r.gapMs === gapMs)) {
        const session = `bench-${gapMs}-${i}-${row.client.name.replace(/\W/g, "")}`;
        const { later, earlier } = await pair(row.client, gapMs, session);
        const ok = [later, earlier].every((r) => r.code === 0 && resultLine(r) !== undefined);
        if (values.trace) console.error(traceOf(row.client.name, gapMs, i, later));
        if (ok) row.steps.push(stepTimes(later, row.client.steps));
        else {
          row.failed++;
          const dump = (r: TimedRun) => r.lines.map((l) => `    ${l.stream}: ${l.text}`).join("\n");
          failures.push(
            `${row.client.name}, gap ${gapMs / 1000} s, run ${i + 1}: exit ${later.code}${later.killed ? " (ended by a signal)" : ""} / ${earlier.code}\n  later peer:\n${dump(later)}\n  earlier peer:\n${dump(earlier)}`,
          );
        }
      }
    }
  }
  const nBefore = { server: rtt.server.length, peer: rtt.peer.length };
  measureRtts();
  const rttAfter = {
    server: median(rtt.server.slice(nBefore.server)),
    peer: median(rtt.peer.slice(nBefore.peer)),
  };
  server.kill("SIGTERM");

  // --- the report --------------------------------------------------------------------------------------------

  const L = median(rtt.server) + median(rtt.peer);
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  console.log(
    `time to connect, as the user waits for it: the later peer, from its exec to the result line and to its exit`,
  );
  console.log(
    `lab: eim/eim NATs (MASQUERADE), ${DELAY_MS} ms one way on each peer's WAN link, server link not delayed; ${RUNS} runs per row`,
  );
  console.log(
    `limit L = RTT(peer->server) ${ms(median(rtt.server))} + RTT(peer<->peer) ${ms(median(rtt.peer))} = ${ms(L)} (ping medians; before the runs ${ms(rttBefore.server)} + ${ms(rttBefore.peer)}, after ${ms(rttAfter.server)} + ${ms(rttAfter.peer)})`,
  );
  console.log(
    `binary: ${fileName(target)} built by scripts/build.ts; source: bun src/cli/main.ts (bun ${Bun.version})`,
  );
  console.log("bin" in seed ? `seed baseline: ${seed.how}` : `seed baseline: not available (${seed.why})`);
  console.log(
    `netpunch peers as users run them; "-v" rows with --verbose, for the breakdown; server up > ${UP_MS / 1000} s\n`,
  );

  const report: ReportRow[] = rows.map((r) => ({
    client: r.client.name,
    gapMs: r.gapMs,
    steps: r.steps,
    runs: RUNS,
    failed: r.failed,
    targetX: r.client.targetX,
    baseline: r.client.server !== undefined,
  }));
  for (const line of resultTable(report, L)) console.log(line);
  console.log(
    "\nwhere the later peer's time goes: median ms from its exec to each step (and the step's own share)",
  );
  const broken = report.filter((_, i) => (rows[i]?.client.steps.length ?? 0) > 0);
  for (const line of breakdownTable(broken, BREAKDOWN)) console.log(line);
  console.log(
    "(netpunch from its --verbose lines: REGISTER sent = 'listening', logged in the same turn as the first\n" +
      " REGISTER; MATCH = 'partner found'; PONG = the first answer to our PING; proven = the path works both ways;\n" +
      " socket closed = the CLOSE exchange is over, 'connected'. The seed, from its own log of every datagram.\n" +
      " Each line as the bench read it from the pipe.)",
  );
} finally {
  await lab.cleanup();
  rmSync(work, { recursive: true, force: true });
}
for (const f of failures) console.log(`\nfailed run: ${f}`);
console.log(`\nbench took ${((nowMs() - benchStart) / 1000).toFixed(0)} s`);
if (failures.length > 0) process.exit(1);
