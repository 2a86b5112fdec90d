// Every placement pair in the NAT lab, N times each: success rate, time to connect in RTTs (median and worst)
// and the path used. Needs root. Usage: bun bench/matrix.ts [--runs N] [--delay MS]
//
// Each public link (server, gateways, public peers) is a userspace delay link of MS ms one way, so round
// trips are long enough to count in; U = RTT(second peer -> server) + RTT(peer <-> peer), measured with ping
// in every run. The server runs with --alt-port and --relay; the second peer starts 1 s after the first and
// the time is from its start until both peers have proven the path.
import { parseArgs } from "node:util";
import { type Host, Lab } from "../lab/lab.ts";
import { place, type Side } from "../lab/placements.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "10" }, delay: { type: "string", default: "10" } },
});
const RUNS = Number(values.runs);
const DELAY = Number(values.delay);
const BUN = process.execPath;
const CLI = `${import.meta.dir}/../src/cli/main.ts`;
const PEER = `${import.meta.dir}/peer.ts`;

type Cell = { name: string; a: Side | "same-nat"; b: Side | "same-nat" };
const CELLS: Cell[] = [
  { name: "public / public", a: "public", b: "public" },
  { name: "public / NAT", a: "public", b: "nat" },
  { name: "NAT / NAT", a: "nat", b: "nat" },
  { name: "double NAT / NAT", a: "double", b: "nat" },
  { name: "same NAT, no hairpin", a: "same-nat", b: "same-nat" },
  { name: "symmetric / public", a: "symmetric", b: "public" },
  { name: "symmetric / NAT", a: "symmetric", b: "nat" },
  { name: "symmetric / double NAT", a: "symmetric", b: "double" },
  { name: "symmetric / symmetric", a: "symmetric", b: "symmetric" },
];

function medianPing(lab: Lab, host: Host, ip: string): number {
  const r = lab.exec(host, ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", ip]);
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
  return rtts[Math.floor(rtts.length / 2)] ?? Number.NaN;
}

async function once(cell: Cell): Promise<{ ok: boolean; ms: number; unit: number; via: string }> {
  const lab = Lab.create();
  try {
    const link = { delayMs: DELAY };
    const server = lab.host("srv");
    const serverIp = await lab.attachPublic(server, link);
    let a: { host: Host; publicIp: string; lanIp: string };
    let b: { host: Host; publicIp: string; lanIp: string };
    if (cell.a === "same-nat") {
      const gw = lab.host("gw");
      const gwIp = await lab.attachPublic(gw, link);
      const ha = lab.host("a");
      const hb = lab.host("b");
      const [ia = "", ib = ""] = lab.lan(gw, "203.0.113", [ha, hb]);
      lab.masquerade(gw);
      a = { host: ha, publicIp: gwIp, lanIp: ia };
      b = { host: hb, publicIp: gwIp, lanIp: ib };
    } else {
      a = await place(lab, "a", cell.a, "192.0.2", link);
      b = await place(lab, "b", cell.b as Side, "198.51.100", link);
    }
    const rttServer = medianPing(lab, b.host, serverIp);
    const rttPeer = medianPing(lab, b.host, cell.a === "same-nat" ? a.lanIp : a.publicIp);
    const secret = `matrix-${Math.random()}`;
    const srv = lab.spawn(server, [
      BUN,
      CLI,
      "serve",
      "--listen",
      "0.0.0.0:10001",
      "--alt-port",
      "10002",
      "--relay",
      "--secret",
      secret,
      "-q",
    ]);
    await Bun.sleep(400);
    const pa = lab.spawn(a.host, [BUN, PEER, "a", `${serverIp}:10001`, secret]);
    await Bun.sleep(1_000);
    const pb = lab.spawn(b.host, [BUN, PEER, "b", `${serverIp}:10001`, secret]);
    const kill = setTimeout(() => {
      pa.kill("SIGKILL");
      pb.kill("SIGKILL");
    }, 30_000);
    const codes = await Promise.all([pa.exited, pb.exited]);
    clearTimeout(kill);
    srv.kill("SIGTERM");
    const unit = rttServer + rttPeer;
    if (codes.some((c) => c !== 0)) return { ok: false, ms: Number.NaN, unit, via: "failed" };
    const oa = JSON.parse(await pa.stdout());
    const ob = JSON.parse(await pb.stdout());
    const ms = Math.max(oa.t.proven, ob.t.proven) - ob.t.start;
    return { ok: true, ms, unit, via: ob.result.via };
  } finally {
    await lab.cleanup();
  }
}

if (process.getuid?.() !== 0) {
  console.error("bench/matrix needs root (network namespaces); run: sudo bun run bench:matrix");
  process.exit(1);
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? Number.NaN;
console.log(
  `placement matrix: ${RUNS} runs per cell, ${DELAY} ms one-way delay per public link; time from the second peer's start`,
);
console.log("U = RTT(peer -> server) + RTT(peer <-> peer), measured by ping in each run\n");
console.log("| placement (a / b) | success | median | worst | path |");
console.log("| --- | --- | --- | --- | --- |");
for (const cell of CELLS) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await once(cell));
  const ok = runs.filter((r) => r.ok);
  const ratios = ok.map((r) => r.ms / r.unit);
  const paths = [...new Set(runs.map((r) => r.via))].join(", ");
  const fmt = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} U` : "-");
  console.log(
    `| ${cell.name} | ${ok.length}/${runs.length} | ${fmt(median(ratios))} | ${fmt(Math.max(...ratios))} | ${paths} |`,
  );
}
