// The baseline of bench/connect-time.ts: the original Go netpunch (github.com/michurin/netpunch), which
// this project started from, built from its source and run as it is. Nothing of it is copied into netpunch.
//
// Where it comes from, first found wins: --seed PATH or NETPUNCH_SEED=PATH (a built binary, a source tree or
// a bare git repository of it), else `go install github.com/michurin/netpunch/cmd/...@latest`'s binary in
// $(go env GOPATH)/bin. Building needs a Go toolchain; nothing is installed unless asked (--install-go:
// Debian's golang-go). An older Go than the seed's go.mod asks for is tried with the go directive lowered
// in a temporary copy.
import { cpSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export type SeedBaseline = { bin: string; how: string } | { why: string };

interface Run {
  code: number;
  out: string;
}

function run(argv: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Run {
  try {
    const r = Bun.spawnSync(argv, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: r.exitCode, out: `${r.stdout.toString()}${r.stderr.toString()}`.trim() };
  } catch (e) {
    return { code: 127, out: (e as Error).message }; // the program does not exist
  }
}

const firstLines = (text: string, n = 3) => text.split("\n").slice(0, n).join(" | ");

/** The seed answers `-version` with "0.2-github.com/michurin/netpunch@...": our netpunch does not. */
const isSeed = (bin: string) => /michurin\/netpunch/.test(run([bin, "-version"]).out);

function installedSeed(): string | undefined {
  const gopath = run(["go", "env", "GOPATH"]);
  const dir = gopath.code === 0 && gopath.out ? gopath.out : join(homedir(), "go");
  const bin = join(dir, "bin", "netpunch");
  return existsSync(bin) && isSeed(bin) ? bin : undefined;
}

/** A source tree in `workDir/src` from a tree or a bare git repository; the label says which commit. */
function sourceCopy(spec: string, workDir: string): { dir: string; label: string } | { why: string } {
  const dir = join(workDir, "src");
  if (existsSync(join(spec, "go.mod"))) {
    cpSync(spec, dir, { recursive: true });
    const rev = run(["git", "-C", spec, "rev-parse", "--short=12", "HEAD"]);
    return { dir, label: rev.code === 0 ? `${spec} at ${rev.out}` : spec };
  }
  if (existsSync(join(spec, "HEAD")) && existsSync(join(spec, "objects"))) {
    const unpack = run([
      "sh",
      "-c",
      'mkdir -p "$2" && git --git-dir="$1" archive HEAD | tar -x -C "$2"',
      "sh",
      spec,
      dir,
    ]);
    if (unpack.code !== 0) return { why: `git archive of ${spec} failed: ${firstLines(unpack.out)}` };
    const rev = run(["git", "--git-dir", spec, "rev-parse", "--short=12", "HEAD"]);
    return { dir, label: `${spec} at ${rev.out}` };
  }
  return { why: `${spec} is neither a binary, a Go source tree nor a bare git repository` };
}

/**
 * go.mod with its go directive set to the local toolchain's version and no toolchain line, which a Go older
 * than 1.21 cannot parse. Pure.
 */
export function lowerGoDirective(goMod: string, localVersion: string): string {
  return goMod.replace(/^go \d+(\.\d+){1,2}$/m, `go ${localVersion}`).replace(/^toolchain .*\n?/m, "");
}

function build(src: { dir: string; label: string }, workDir: string, installGo: boolean): SeedBaseline {
  let version = run(["go", "env", "GOVERSION"]);
  if (version.code !== 0 && installGo) {
    const apt = run(["apt-get", "install", "-y", "--no-install-recommends", "golang-go"]);
    if (apt.code !== 0) return { why: `apt-get install golang-go failed: ${firstLines(apt.out)}` };
    version = run(["go", "env", "GOVERSION"]);
  }
  if (version.code !== 0) return { why: "no Go toolchain (install golang-go, or run with --install-go)" };
  const bin = join(workDir, "netpunch-seed");
  // Offline and with the Go that is here: the command needs no module outside the standard library.
  const env = { GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod", GOPROXY: "off" };
  const goBuild = () => run(["go", "build", "-o", bin, "./cmd/netpunch"], { cwd: src.dir, env });
  let built = goBuild();
  let how = `built from ${src.label} with ${version.out}`;
  if (built.code !== 0 && /go\.mod|go version|toolchain/.test(built.out)) {
    const goMod = join(src.dir, "go.mod");
    const before = readFileSync(goMod, "utf8");
    const local = /^go(\d+\.\d+)/.exec(version.out)?.[1] ?? "";
    writeFileSync(goMod, lowerGoDirective(before, local));
    const asked = /^go (\S+)$/m.exec(before)?.[1];
    how += ` (go.mod's "go ${asked}" lowered to ${local} in a temporary copy)`;
    built = goBuild();
  }
  if (built.code !== 0) return { why: `go build failed with ${version.out}: ${firstLines(built.out)}` };
  return { bin, how };
}

export function prepareSeed(o: {
  spec: string | undefined;
  installGo: boolean;
  workDir: string;
}): SeedBaseline {
  if (o.spec === undefined) {
    const bin = installedSeed();
    if (bin) return { bin, how: `${bin} (go install)` };
    return {
      why: "give --seed PATH or NETPUNCH_SEED=PATH (its binary, source tree or git repository); see the header of bench/connect-time.ts",
    };
  }
  if (!existsSync(o.spec)) return { why: `${o.spec} does not exist` };
  if (statSync(o.spec).isFile()) return { bin: o.spec, how: o.spec };
  const src = sourceCopy(o.spec, o.workDir);
  return "why" in src ? src : build(src, o.workDir, o.installGo);
}
