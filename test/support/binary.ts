// Compiles netpunch once per test run (per target) with the real build script, into a temp folder.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, fileName, selectTargets } from "../../scripts/build.ts";

const ROOT = join(import.meta.dir, "../..");
const outDir = mkdtempSync(join(tmpdir(), "netpunch-bin-"));
const cache = new Map<string, Promise<string>>();

export function compiled(target: string): Promise<string> {
  let p = cache.get(target);
  if (!p) {
    p = (async () => {
      const [t] = selectTargets([target]);
      if (!t) throw new Error(`no target ${target}`);
      const dir = join(outDir, t.name); // each its own SHA256SUMS
      build({ targets: [t], root: ROOT, outDir: dir, quiet: true });
      return join(dir, fileName(t));
    })();
    cache.set(target, p);
  }
  return p;
}

/** Where compiled(target) put its binary and SHA256SUMS. */
export const binDir = (target: string): string => join(outDir, target);

/** The commit the build stamps in, as scripts/build.ts computes it. */
export function expectedCommitPrefix(): string {
  const r = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: ROOT, stdout: "pipe" });
  return r.exitCode === 0 ? r.stdout.toString().trim() : "unknown";
}
