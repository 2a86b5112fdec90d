// Time to connect across two real NATs with delay, in round trips measured in the same run.
// Needs root (network namespaces). Usage: bun bench/connect-time.ts [--runs N] [--delay MS]
//
// Topology: server, NAT A and NAT B each hang off the lab's internet router through a userspace delay
// link of MS ms one way (the kernel has no netem). So RTT(peer -> server) = RTT(peer <-> peer) = 4 * MS
// nominally; both are measured with ping in every run and the times are divided by their sum.
import { parseArgs } from "node:util";
import { Lab } from "../lab/lab.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "5" }, delay: { type: "string", default: "20" } },
});
const RUNS = Number(values.runs);
const DELAY = Number(values.delay);
const GAPS_MS = [0, 5_000];
const BUN = process.execPath;
const CLI = `${import.meta.dir}/../src/cli/main.ts`;
const PEER = `${import.meta.dir}/peer.ts`;

interface PeerOut {
  t: Record<string, number>;
}

function medianPing(lab: Lab, host: Parameters<Lab["exec"]>[0], ip: string): number {
  const r = lab.exec(host, ["ping", "-n", "-c", "5", "-i", "0.2", "-W", "2", ip]);
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
  if (rtts.length === 0) throw new Error(`ping ${ip} failed: ${r.stdout}${r.stderr}`);
  return rtts[Math.floor(rtts.length / 2)] ?? 0;
}

async function once(gapMs: number, serverAgeMs: number) {
  const lab = Lab.create();
  try {
    const link = { delayMs: DELAY };
    const server = lab.host("srv");
    const serverIp = await lab.attachPublic(server, link);
    const gwA = lab.host("gwa");
    await lab.attachPublic(gwA, link);
    const gwB = lab.host("gwb");
    const gwBIp = await lab.attachPublic(gwB, link);
    const a = lab.host("a");
    const b = lab.host("b");
    lab.lan(gwA, "192.0.2", [a]);
    lab.lan(gwB, "198.51.100", [b]);
    lab.masquerade(gwA);
    lab.masquerade(gwB);
    const rttServer = medianPing(lab, a, serverIp);
    // gwB answers pings itself, so this is exactly the peer-to-peer path: A, NAT A, router, NAT B.
    const rttPeer = medianPing(lab, a, gwBIp);
    // A strong secret, as netpunch keygen makes: a short one adds scrypt (bench:kdf measures that apart).
    const secret = `bench-${crypto.randomUUID()}-${crypto.randomUUID()}`.slice(0, 43);
    const srv = lab.spawn(server, [BUN, CLI, "serve", "--listen", "0.0.0.0:10001", "--secret", secret, "-q"]);
    await Bun.sleep(serverAgeMs);
    const pa = lab.spawn(a, [BUN, PEER, "a", `${serverIp}:10001`, secret]);
    if (gapMs > 0) await Bun.sleep(gapMs);
    const pb = lab.spawn(b, [BUN, PEER, "b", `${serverIp}:10001`, secret]);
    const codes = await Promise.all([pa.exited, pb.exited]);
    srv.kill("SIGTERM");
    if (codes.some((c) => c !== 0))
      throw new Error(`peer failed: ${pa.output().stderr}${pb.output().stderr}`);
    const oa = JSON.parse(await pa.stdout()) as PeerOut;
    const ob = JSON.parse(await pb.stdout()) as PeerOut;
    const second = Math.max(oa.t.start ?? 0, ob.t.start ?? 0);
    const proven = Math.max(oa.t.proven ?? 0, ob.t.proven ?? 0) - second;
    const released = Math.max(oa.t.released ?? 0, ob.t.released ?? 0) - second;
    return { rttServer, rttPeer, proven, released };
  } finally {
    await lab.cleanup();
  }
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? Number.NaN;
const fmt = (ms: number, unit: number) => `${ms.toFixed(0).padStart(5)} ms = ${(ms / unit).toFixed(2)}x`;

if (process.getuid?.() !== 0) {
  console.error("bench/connect-time needs root (network namespaces); run: sudo bun run bench");
  process.exit(1);
}
console.log(
  `time to connect after the second peer starts; ${DELAY} ms one-way delay on each of the 3 links; ${RUNS} runs per gap`,
);
console.log(
  "unit U = RTT(peer->server) + RTT(peer<->peer), both measured by ping in each run; aim: <= 1.5 U\n",
);
console.log(
  "gap   | U (median)  | proven both ways: median, worst   | socket released (hook may start): median, worst",
);
/**
 * A server that has been up longer than one replay window (10 s) announces the second peer at once; in its
 * first 10 s every first contact gets a challenge first (one more server RTT), so that nothing sealed before
 * a restart counts. The usual case is the server that has been up; the last row shows the other.
 */
const UP_MS = 10_500;
const JUST_STARTED_MS = 400;
const rows = [...GAPS_MS.map((gap) => ({ gap, age: UP_MS })), { gap: 0, age: JUST_STARTED_MS }];
for (const { gap, age } of rows) {
  const runs: Awaited<ReturnType<typeof once>>[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await once(gap, age));
  const unit = median(runs.map((r) => r.rttServer + r.rttPeer));
  const ratio = (f: (r: (typeof runs)[number]) => number) =>
    runs.map((r) => f(r) / (r.rttServer + r.rttPeer));
  const pr = ratio((r) => r.proven);
  const re = ratio((r) => r.released);
  console.log(
    `${String(gap / 1000).padStart(3)} s${age < UP_MS ? " (server just started)" : ""} | ${unit.toFixed(0).padStart(4)} ms    | ${fmt(median(runs.map((r) => r.proven)), unit)}, worst ${Math.max(...pr).toFixed(2)}x | ${fmt(median(runs.map((r) => r.released)), unit)}, worst ${Math.max(...re).toFixed(2)}x`,
  );
}
