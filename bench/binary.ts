// Single-file executables, measured side by side with `bun src/...` in the same run:
// size per target, start-up time of `netpunch --version`, and an idle server's resident memory.
// Usage: bun bench/binary.ts [--runs N]
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { build, fileName, TARGETS } from "../scripts/build.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "20" } } });
const RUNS = Number(values.runs);
const ROOT = join(import.meta.dir, "..");
const SRC = [process.execPath, join(ROOT, "src/cli/main.ts")];
const out = mkdtempSync(join(tmpdir(), "netpunch-bench-bin-"));
build({ targets: [...TARGETS], root: ROOT, outDir: out, quiet: true });
const native = join(out, fileName(TARGETS[0] as (typeof TARGETS)[number]));

console.log("binary size per target (minified, single file):");
for (const t of TARGETS)
  console.log(
    `  ${fileName(t).padEnd(30)} ${(statSync(join(out, fileName(t))).size / 1e6).toFixed(1).padStart(6)} MB`,
  );

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
function startup(argv: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = Bun.spawnSync([...argv, "--version"], { stdout: "pipe" });
    times.push(performance.now() - t0);
    if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} --version failed`);
  }
  return median(times);
}
const tBin = startup([native]);
const tSrc = startup(SRC);
console.log(`\nstart-up of --version, median of ${RUNS}:`);
console.log(`  compiled linux-x64   ${tBin.toFixed(1).padStart(6)} ms`);
console.log(
  `  bun src/cli/main.ts  ${tSrc.toFixed(1).padStart(6)} ms   (compiled is ${(tSrc / tBin).toFixed(2)}x faster)`,
);

async function idleRss(argv: string[]): Promise<number> {
  const probe = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
  const port = probe.port;
  probe.close();
  const p = Bun.spawn([...argv, "serve", "--listen", `127.0.0.1:${port}`, "--secret", "bench", "-q"], {
    stderr: "ignore",
  });
  await Bun.sleep(1_500);
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"))?.[1]);
  p.kill("SIGTERM");
  await p.exited;
  return kb / 1024;
}
const mBin = await idleRss([native]);
const mSrc = await idleRss(SRC);
console.log("\nidle server resident memory (VmRSS after 1.5 s):");
console.log(`  compiled linux-x64   ${mBin.toFixed(1).padStart(6)} MB`);
console.log(`  bun src/cli/main.ts  ${mSrc.toFixed(1).padStart(6)} MB   (ratio ${(mBin / mSrc).toFixed(2)})`);
