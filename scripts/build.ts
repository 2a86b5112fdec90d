// Builds the single-file executables: dist/netpunch-<os>-<arch>[-variant][.exe] plus SHA256SUMS; with --lib,
// the npm package's library instead: dist/lib/index.js, dist/lib/hooks.js and the declarations in dist/types
// (npm pack runs it).
// Usage: bun scripts/build.ts [TARGET...]   (default: every target; e.g. linux-x64 linux-arm64)
//        bun scripts/build.ts --lib
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Target {
  /** Our name, also the file name suffix. */
  name: string;
  /** Bun's --target. */
  bun: string;
  exe: boolean;
}

/** Every platform we ship, in the order SHA256SUMS lists them. Baseline: x64 CPUs without AVX2. */
export const TARGETS: readonly Target[] = [
  { name: "linux-x64", bun: "bun-linux-x64", exe: false },
  { name: "linux-x64-baseline", bun: "bun-linux-x64-baseline", exe: false },
  { name: "linux-x64-musl", bun: "bun-linux-x64-musl", exe: false },
  { name: "linux-arm64", bun: "bun-linux-arm64", exe: false },
  { name: "linux-arm64-musl", bun: "bun-linux-arm64-musl", exe: false },
  { name: "darwin-x64", bun: "bun-darwin-x64", exe: false },
  { name: "darwin-arm64", bun: "bun-darwin-arm64", exe: false },
  { name: "windows-x64", bun: "bun-windows-x64", exe: true },
];

export const fileName = (t: Target): string => `netpunch-${t.name}${t.exe ? ".exe" : ""}`;

/** The targets named on the command line, or all; an unknown name is an error listing the known ones. */
export function selectTargets(names: string[]): Target[] {
  if (names.length === 0) return [...TARGETS];
  return names.map((n) => {
    const t = TARGETS.find((x) => x.name === n);
    if (!t) throw new Error(`unknown target ${n}; known: ${TARGETS.map((x) => x.name).join(", ")}`);
    return t;
  });
}

/**
 * The `bun build` command line for one target. Pure. Start-up is most of a peer's time to connect, so:
 * `--bytecode` ships the parsed code (about half of the binary's start-up to its first REGISTER otherwise;
 * it needs `--format=esm` for the CLI's top-level await), and `--splitting` keeps what a command imports
 * lazily (the server, the doctor, port mapping, each built-in hook) in its own chunk, with its node:crypto
 * or node:net, instead of one bundle whose every import runs at start-up.
 */
export function buildArgv(t: Target, o: { entry: string; outDir: string; commit: string }): string[] {
  return [
    process.execPath,
    "build",
    "--compile",
    "--minify",
    "--bytecode",
    "--format=esm",
    "--splitting",
    `--target=${t.bun}`,
    `--define=NETPUNCH_COMMIT=${JSON.stringify(o.commit)}`,
    `--define=NETPUNCH_TARGET=${JSON.stringify(t.name)}`,
    o.entry,
    "--outfile",
    join(o.outDir, fileName(t)),
  ];
}

/** SHA256SUMS in the format `sha256sum -c` reads. */
export function sha256sums(dir: string, files: string[]): string {
  return files
    .map(
      (f) =>
        `${createHash("sha256")
          .update(readFileSync(join(dir, f)))
          .digest("hex")}  ${f}\n`,
    )
    .join("");
}

function gitCommit(root: string): string {
  if (process.env.NETPUNCH_COMMIT) return process.env.NETPUNCH_COMMIT;
  const r = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) return "unknown";
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], {
    cwd: root,
    stdout: "pipe",
  });
  return `${r.stdout.toString().trim()}${dirty.stdout.toString().trim() ? "-dirty" : ""}`;
}

export function build(o: { targets: Target[]; root: string; outDir: string; quiet?: boolean }): string[] {
  mkdirSync(o.outDir, { recursive: true });
  const commit = gitCommit(o.root);
  const built: string[] = [];
  for (const t of o.targets) {
    const out = join(o.outDir, fileName(t));
    rmSync(out, { force: true });
    const r = Bun.spawnSync(
      buildArgv(t, { entry: join(o.root, "src/cli/main.ts"), outDir: o.outDir, commit }),
      {
        cwd: o.root,
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    if (r.exitCode !== 0)
      throw new Error(`building ${t.name} failed:\n${r.stderr.toString()}${r.stdout.toString()}`);
    built.push(fileName(t));
    if (!o.quiet) console.error(`built ${fileName(t)} (${(statSync(out).size / 1e6).toFixed(1)} MB)`);
  }
  writeFileSync(join(o.outDir, "SHA256SUMS"), sha256sums(o.outDir, built));
  return built;
}

/**
 * A declaration file's relative imports as a consumer can resolve them. tsc keeps the sources' `./x.ts`
 * specifiers in declarations, which a project without allowImportingTsExtensions refuses; `./x.js` finds
 * `x.d.ts` beside it under every moduleResolution. Pure.
 */
export const jsSpecifiers = (dts: string): string =>
  dts.replace(/(\bfrom\s+|\bimport\(\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g, "$1$2$3.js$2");

const run = (argv: string[], cwd: string, what: string) => {
  const r = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${what} failed:\n${r.stderr.toString()}${r.stdout.toString()}`);
};

/** The package's entries ("netpunch", "netpunch/hooks"): their sources and their bundle in dist/lib. */
export const LIBRARY_ENTRIES = [
  { source: "src/index.ts", bundle: "index.js" },
  { source: "src/hooks/index.ts", bundle: "hooks.js" },
] as const;

/**
 * The package's library for consumers that do not run our TypeScript sources: ES module bundles in
 * dist/lib (dependencies stay imports, so the consumer's copies are used), and declarations in dist/types
 * (tsconfig.types.json), so a project type-checks against netpunch without our compiler options. The two
 * entries are bundled together with shared chunks: a class both export (NetpunchError) is one class, so
 * `instanceof` holds across `netpunch` and `netpunch/hooks`.
 */
export function buildLibrary(o: { root: string; outDir: string }): void {
  const lib = join(o.outDir, "lib");
  const types = join(o.outDir, "types");
  rmSync(lib, { recursive: true, force: true });
  rmSync(types, { recursive: true, force: true });
  run(
    [
      process.execPath,
      "build",
      ...LIBRARY_ENTRIES.map((e) => join(o.root, e.source)),
      "--target=bun",
      "--format=esm",
      "--splitting",
      "--packages=external",
      "--root",
      join(o.root, "src"),
      "--outdir",
      lib,
    ],
    o.root,
    "bundling dist/lib",
  );
  // Bun names each entry's bundle after its source (hooks/index.js); the package's file is hooks.js.
  for (const e of LIBRARY_ENTRIES) {
    const built = e.source.replace(/^src\//, "").replace(/\.ts$/, ".js");
    if (built !== e.bundle) writeFileSync(join(lib, e.bundle), `export * from "./${built}";\n`);
  }
  run(
    [
      process.execPath,
      join(o.root, "node_modules/typescript/bin/tsc"),
      "-p",
      join(o.root, "tsconfig.types.json"),
      "--outDir",
      types,
    ],
    o.root,
    "emitting declarations (tsc -p tsconfig.types.json)",
  );
  for (const f of readdirSync(types, { recursive: true, encoding: "utf8" })) {
    if (!f.endsWith(".d.ts")) continue;
    const path = join(types, f);
    writeFileSync(path, jsSpecifiers(readFileSync(path, "utf8")));
  }
}

if (import.meta.main) {
  const root = join(import.meta.dir, "..");
  const argv = process.argv.slice(2);
  try {
    if (argv.includes("--lib")) buildLibrary({ root, outDir: join(root, "dist") });
    else build({ targets: selectTargets(argv), root, outDir: join(root, "dist") });
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
