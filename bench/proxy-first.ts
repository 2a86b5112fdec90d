// Time to a proxy-mode tunnel's first delivered datagram, for a pair that ends up direct, from the exec of
// the second peer (`netpunch connect --proxy`, as a shell runs it) to the first datagram a tunnel stand-in
// (bench/lib/first-packet.ts, the exec hook) receives from the other one, either way; against one RTT from
// that peer to the server, measured with ping in the same run. Lab: two eim NATs (plain MASQUERADE) in front
// of peers a and b, each gateway's WAN link delaying MS ms one way (default 20), the server's not delayed;
// a starts first and waits registered, b starts GAP later. Each run prints the path the tunnel started on
// (the punch's result: the relay when it was proven first) and checks that both proxies end up direct.
// It also prints when b's relay, asked for at the MATCH, was ready (three server RTTs after it at best).
// Issue 13: about one server RTT. Needs root (network namespaces).
// Usage: bun bench/proxy-first.ts [--runs N] [--delay MS] [--gap S] [--trace]
// --trace prints b's log lines (--verbose) with the ms since its exec, as the bench read them: where the time goes.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Host, Lab } from "../lab/lab.ts";
import { CLI, connectArgs, SERVER_PORT, secretFile, waitStderr } from "../lab/netpunch.ts";
import { nowMs, spawnAt } from "./lib/timed-process.ts";
import { execAt, median, pingRtts, type Step, stepTimes, type TimedRun } from "./lib/timeline.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    delay: { type: "string", default: "20" },
    gap: { type: "string", default: "1" },
    trace: { type: "boolean", default: false },
  },
});
const RUNS = Number(values.runs);
const DELAY_MS = Number(values.delay);
const GAP_MS = Number(values.gap) * 1000;
const STAND_IN = join(import.meta.dir, "lib/first-packet.ts");
/** The server announces the second peer at once only after one replay window (10 s) up (connect-time.ts). */
const UP_MS = 10_500;
/** The launchers start this long before their exec time: `ip netns exec` and Python are not measured. */
const LEAD_MS = 600;
/** A run ends when the stand-ins do (5 s after their first datagram, 20 s at most); this bounds a hang. */
const RUN_LIMIT_MS = 40_000;
/** Between runs, so one run's last packets are gone before the next. */
const SETTLE_MS = 300;
/** 10 pings 0.2 s apart, before and after the runs: a median that one slow reply cannot move. */
const PINGS = "10";
/** The proxy's first line and its moves, as connect logs them (src/cli/peer.ts). */
const CARRIES = /netpunch carries it to \S+ \((\w+)\)/;
const MOVE = /proxy: (moved to direct|direct path lost, back to the relay)/;

/**
 * Where b's time goes, from its --verbose log: the socket bound (REGISTER out), the MATCH, the path proven,
 * and the relay (asked for at the MATCH) ready, during the punch or after it (the proxy's line).
 */
const STEPS: Step[] = [
  { name: "listening", pattern: /listening on UDP/ },
  { name: "match", pattern: /partner found/ },
  { name: "proven", pattern: /connected: / },
  { name: "relay", pattern: /relay \S+:\d+ ready|the relay is ready to fall back to/ },
];

if (process.getuid?.() !== 0) {
  console.error("bench/proxy-first needs root (network namespaces); run: sudo bun bench/proxy-first.ts");
  process.exit(1);
}

const lab = Lab.create();
const dir = mkdtempSync(join(tmpdir(), "netpunch-bench-first-"));
const secret = secretFile("bench-proxy-first-secret-0123456789abcdefghij");
interface Row {
  first: number;
  hook: number;
  steps: Record<string, number>;
  /** a's steps, in ms since a's exec (its MATCH and its relay ready). */
  stepsA: Record<string, number>;
  at: "a" | "b";
  startedOn: string;
  direct: boolean;
}
const rows: Row[] = [];
let serverRtt = Number.NaN;
try {
  const serverHost = lab.host("srv");
  const serverIp = await lab.attachPublic(serverHost);
  const gwA = lab.host("gwa");
  await lab.attachPublic(gwA, { delayMs: DELAY_MS });
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
    process.execPath,
    CLI,
    "serve",
    "--listen",
    `0.0.0.0:${SERVER_PORT}`,
    "--relay",
    "--secret-file",
    secret,
  ]);
  await waitStderr(server, /listening on UDP/);
  const upAt = nowMs();
  const rtts: number[] = [];
  const ping = () => {
    const r = lab.exec(b, ["ping", "-n", "-c", PINGS, "-i", "0.2", "-W", "2", serverIp]);
    const got = pingRtts(r.stdout);
    if (got.length === 0) throw new Error(`ping ${serverIp} from b failed: ${r.stdout}${r.stderr}`);
    rtts.push(...got);
  };
  ping();
  const wait = upAt + UP_MS - nowMs();
  if (wait > 0) await Bun.sleep(wait);

  const argv = (role: "a" | "b", session: string, out: string) => [
    process.execPath,
    CLI,
    ...connectArgs(role, serverIp, secret),
    "--session",
    session,
    "--proxy",
    "--verbose",
    "--hook",
    "exec",
    "--",
    process.execPath,
    STAND_IN,
    out,
  ];
  for (let run = 0; run < RUNS; run++) {
    await Bun.sleep(SETTLE_MS);
    lab.flushConntrack(gwA);
    lab.flushConntrack(gwB);
    const out = join(dir, `run-${run}`);
    const session = `first-${run}`;
    const at = nowMs() + LEAD_MS;
    const runs = (await Promise.all(
      (["a", "b"] as const).map(
        (role) =>
          spawnAt(hosts[role], at + (role === "b" ? GAP_MS : 0), argv(role, session, out), RUN_LIMIT_MS).done,
      ),
    )) as [TimedRun, TimedRun];
    const start = execAt(runs[1]);
    const stamps = readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(" "))
      .map(([what, role, t]) => ({ what, at: role as "a" | "b", t: Number(t) }));
    const earliest = stamps.filter((x) => x.what === "first").sort((x, y) => x.t - y.t)[0];
    const hookB = stamps.find((x) => x.what === "start" && x.at === "b");
    if (start === undefined || !earliest || !hookB)
      throw new Error(`run ${run}: no exec time or no delivery`);
    // Where each proxy started (its first log line says) and where it was last moved to.
    const pathOf = (r: TimedRun) => {
      const log = r.lines.filter((l) => l.stream === "stderr").map((l) => l.text);
      const began = log.map((t) => CARRIES.exec(t)?.[1]).find((x) => x !== undefined) ?? "?";
      const last = log
        .map((t) => MOVE.exec(t)?.[1])
        .filter((x) => x !== undefined)
        .at(-1);
      return { began, now: last === undefined ? began : last === "moved to direct" ? "direct" : "relay" };
    };
    const paths = runs.map(pathOf);
    const startedOn = paths.map((p) => p.began).join("/");
    const direct = paths.every((p) => p.now === "direct");
    if (values.trace)
      for (const l of runs[1].lines)
        console.log(`  trace ${run} ${(l.at - start).toFixed(1).padStart(7)} ${l.text}`);
    rows.push({
      first: earliest.t - start,
      hook: hookB.t - start,
      steps: stepTimes(runs[1], STEPS),
      stepsA: stepTimes(runs[0], STEPS),
      at: earliest.at,
      startedOn,
      direct,
    });
  }
  ping();
  serverRtt = median(rtts);
} finally {
  await lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(secret, ".."), { recursive: true, force: true });
}

console.log(
  `bench/proxy-first: lab, eim NATs, ${DELAY_MS} ms one way on each gateway's link, b starts ${GAP_MS / 1000} s ` +
    `after a; server RTT from b (ping, median before and after) ${serverRtt.toFixed(1)} ms`,
);
console.log(
  "  (ms since b's exec: its socket bound, the MATCH, its path proven, its relay ready, its tunnel stand-in\n" +
    "  bound (started by the hook), the first datagram either stand-in got from the other; at: which side got it)",
);
console.log(
  "  run  listening   match  proven  relay ready  tunnel up  first delivered  x server RTT  at  started on a/b  ends direct",
);
const ms = (x: number | undefined, w: number) => (x === undefined ? "-" : x.toFixed(1)).padStart(w);
for (const [i, r] of rows.entries())
  console.log(
    `  ${String(i).padStart(3)} ${ms(r.steps.listening, 10)} ${ms(r.steps.match, 7)} ${ms(r.steps.proven, 7)}` +
      ` ${ms(r.steps.relay, 12)}` +
      ` ${ms(r.hook, 10)} ${ms(r.first, 16)} ${`${(r.first / serverRtt).toFixed(2)}x`.padStart(13)}` +
      `  ${r.at}   ${r.startedOn.padEnd(13)}  ${r.direct ? "yes" : "NO"}`,
  );
const firsts = rows.map((r) => r.first);
console.log(
  `  median ${median(firsts).toFixed(1)} ms = ${(median(firsts) / serverRtt).toFixed(2)}x the server RTT ` +
    `(min ${(Math.min(...firsts) / serverRtt).toFixed(2)}x, max ${(Math.max(...firsts) / serverRtt).toFixed(2)}x)`,
);
// netpunch's own part: from its socket bound (Bun's start-up and the CLI's loading before it left out).
const own = rows.flatMap((r) => (r.steps.listening === undefined ? [] : [r.first - r.steps.listening]));
console.log(
  `  from b's socket bound: median ${median(own).toFixed(1)} ms = ${(median(own) / serverRtt).toFixed(2)}x the server RTT`,
);
// The relay, asked for at the MATCH: how long after it each peer's relay was ready (three server RTTs at
// best: REQUEST/OFFER, BIND/CHALLENGE, BIND/BOUND), each from its own log.
const readyAfter = (steps: Record<string, number>) =>
  steps.relay === undefined || steps.match === undefined ? [] : [steps.relay - steps.match];
for (const [who, after] of [
  ["a", rows.flatMap((r) => readyAfter(r.stepsA))],
  ["b", rows.flatMap((r) => readyAfter(r.steps))],
] as const) {
  if (after.length === 0) continue;
  console.log(
    `  ${who}'s relay ready after its MATCH: median ${median(after).toFixed(1)} ms = ` +
      `${(median(after) / serverRtt).toFixed(2)}x the server RTT ` +
      `(min ${Math.min(...after).toFixed(1)}, max ${Math.max(...after).toFixed(1)} ms; ${after.map((x) => x.toFixed(0)).join(", ")})`,
  );
}
