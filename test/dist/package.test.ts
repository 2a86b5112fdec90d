// The npm package: `npm pack` makes a tarball whose bin works with bunx and `bun install -g`, and whose
// library API and types work for a project that installs it. Dependencies come from the npm registry.
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Real processes, sockets and (in the lab) namespaces: far slower than bun test's 5 s default.
setDefaultTimeout(60_000);

const ROOT = join(import.meta.dir, "../..");
const work = mkdtempSync(join(tmpdir(), "netpunch-pkg-"));
let tgz = "";

const sh = (argv: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) => {
  const r = Bun.spawnSync(argv, {
    cwd: opts.cwd ?? work,
    env: { ...process.env, ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};

beforeAll(() => {
  // npm pack is what a publisher runs; bun pm pack makes the same tarball.
  const r = sh(["npm", "pack", "--pack-destination", work, "--silent"], { cwd: ROOT });
  if (r.code !== 0) throw new Error(`npm pack failed: ${r.err}`);
  const file = readdirSync(work).find((f) => f.endsWith(".tgz"));
  if (!file) throw new Error("no tarball");
  tgz = join(work, file);
});

let globalBin = "";
/** `bun install -g TARBALL` into a BUN_INSTALL of this run's own; the netpunch it puts in its bin folder. */
function globalNetpunch(): string {
  if (globalBin) return globalBin;
  const home = join(work, "global");
  const r = sh([process.execPath, "install", "-g", tgz], { env: { BUN_INSTALL: home } });
  if (r.code !== 0) throw new Error(`bun install -g failed: ${r.err}`);
  globalBin = join(home, "bin", "netpunch");
  return globalBin;
}

describe("the packed tarball", () => {
  test("holds the sources, plugins and README, not tests or dev files", () => {
    const files = sh(["tar", "tzf", tgz]).out.split("\n");
    expect(files).toContain("package/src/cli/main.ts");
    expect(files).toContain("package/plugins/openvpn.ts");
    expect(files).toContain("package/README.md");
    // Built by the prepack script (scripts/build.ts --lib): declarations and a bundle for the library.
    expect(files).toContain("package/dist/types/index.d.ts");
    expect(files).toContain("package/dist/lib/index.js");
    expect(files.filter((f) => /^package\/dist\/netpunch-/.test(f))).toEqual([]); // no 100 MB binaries
    expect(files.filter((f) => f.startsWith("package/test/") || f.startsWith("package/bench/"))).toEqual([]);
  });

  test("holds the MIT LICENSE that package.json names, its repository, and a CHANGELOG whose first entry is this version", () => {
    const files = sh(["tar", "tzf", tgz]).out.split("\n");
    expect(files).toContain("package/LICENSE");
    expect(files).toContain("package/CHANGELOG.md");
    const pkg = JSON.parse(sh(["tar", "xzOf", tgz, "package/package.json"]).out) as {
      version: string;
      license: string;
      repository?: { type: string; url: string };
    };
    expect(pkg.license).toBe("MIT");
    // The repository the systemd units' Documentation= points at.
    expect(pkg.repository).toEqual({ type: "git", url: "git+https://github.com/netpunch/netpunch.git" });
    const unit = readFileSync(join(import.meta.dir, "../../packaging/netpunch-up@.service"), "utf8");
    expect(unit).toContain("Documentation=https://github.com/netpunch/netpunch#");
    expect(sh(["tar", "xzOf", tgz, "package/LICENSE"]).out).toStartWith("MIT License\n");
    const changelog = sh(["tar", "xzOf", tgz, "package/CHANGELOG.md"]).out;
    expect(/^## (\S+)/m.exec(changelog)?.[1]).toBe(pkg.version);
    expect(pkg.version).toBe("0.2.0");
    // 0.2.0 is wire version 2: the entry must say that it breaks talking to 0.1, and what to do.
    const entry = changelog.slice(changelog.indexOf("## 0.2.0"), changelog.indexOf("## 0.1.0"));
    for (const point of ["wire version 2", "cannot talk", "Upgrade the server and every peer together"])
      expect(entry).toContain(point);
    for (const point of [
      "scrypt",
      "netpunch keygen",
      "Return-routability cookies",
      "LEAVE",
      "Relay challenge",
    ])
      expect(entry).toContain(point);
    expect(changelog).toMatch(/^## 0\.1\.0\n\nThe first release/m);
  });

  test("bunx --package TARBALL netpunch runs the CLI (help, then a loopback punch)", async () => {
    // bunx resolves a relative tarball path against its own temp folder (Bun 1.4), so give it absolute.
    const bunx = [process.execPath, "x", "--package", tgz, "netpunch"];
    const help = sh([...bunx, "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("Usage: netpunch COMMAND [OPTIONS]");

    const probe = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
    const port = probe.port;
    probe.close();
    const server = Bun.spawn([...bunx, "serve", "--listen", `127.0.0.1:${port}`, "--secret", "pkg", "-q"], {
      cwd: work,
      stderr: "pipe",
    });
    try {
      await Bun.sleep(800);
      const peer = (role: string) =>
        Bun.spawn(
          [...bunx, "connect", "--role", role, "--server", `127.0.0.1:${port}`, "--secret", "pkg", "-q"],
          { cwd: work, stdout: "pipe", stderr: "pipe" },
        );
      const a = peer("a");
      const b = peer("b");
      const kill = setTimeout(() => {
        for (const p of [a, b]) p.kill("SIGKILL");
      }, 30_000);
      expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
      clearTimeout(kill);
      expect(await new Response(a.stdout).text()).toStartWith("LADDR/LHOST/LPORT/RADDR/RHOST/RPORT:");
    } finally {
      server.kill("SIGTERM");
      await server.exited;
    }
  });

  test("bun install -g puts a working netpunch in the global bin folder", () => {
    const v = sh([globalNetpunch(), "--version"]);
    expect(v.out).toStartWith("netpunch ");
  });

  test('the global install loads a plugin file that imports { definePlugin } from "netpunch"', () => {
    // A folder of its own, with no node_modules at or above it: only the global netpunch exists.
    const dir = mkdtempSync(join(tmpdir(), "netpunch-global-plugin-"));
    writeFileSync(
      join(dir, "shout.ts"),
      `import { definePlugin, NetpunchError } from "netpunch";
export default definePlugin({
  name: "shout",
  description: \`prints the partner loudly (usage errors exit \${new NetpunchError("E_USAGE", "x").exitCode})\`,
  args: { word: { type: "string", default: "hey", description: "what to shout" } },
  run() {},
});
`,
    );
    const r = sh([globalNetpunch(), "plugins", "--hook", "./shout.ts"], { cwd: dir });
    expect(r.err).toBe("");
    expect(r.out).toContain("shout: prints the partner loudly (usage errors exit 2)");
    expect(r.out).toContain("what to shout");
    expect(r.code).toBe(0);
  });

  test('the global install loads a hook file that imports the toolkit from "netpunch/hooks"', () => {
    const dir = mkdtempSync(join(tmpdir(), "netpunch-global-hook-"));
    writeFileSync(
      join(dir, "tool.ts"),
      `import { defineHook, missingProgram, NetpunchError, TEMPLATE_FIELDS } from "netpunch/hooks";
export default defineHook({
  name: "tool",
  description: \`knows \${TEMPLATE_FIELDS.length} fields, \${missingProgram("sh") ?? "has sh"}, exit \${new NetpunchError("E_USAGE", "x").exitCode}\`,
  run() {},
});
`,
    );
    const r = sh([globalNetpunch(), "hooks", "--hook", "./tool.ts"], { cwd: dir });
    expect(r.err).toBe("");
    expect(r.out).toContain("tool: knows 12 fields, has sh, exit 2");
    expect(r.code).toBe(0);
  });

  test("a project that installs it gets the library API, and its types under a plain strict tsconfig", () => {
    const app = join(work, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    expect(sh([process.execPath, "add", tgz, "bun-types@1.4.5", "typescript@5.9.3"], { cwd: app }).code).toBe(
      0,
    );
    writeFileSync(
      join(app, "main.ts"),
      `import { connect, definePlugin, NetpunchError, serve, type PunchResult } from "netpunch";
const ac = new AbortController();
const server = await serve({ listen: { host: "127.0.0.1", port: 0 }, secret: "lib", signal: ac.signal });
const at = \`127.0.0.1:\${server.local.port}\`;
const [a, b]: PunchResult[] = await Promise.all([connect({ server: at, secret: "lib", role: "a" }), connect({ server: at, secret: "lib", role: "b" })]);
const p = definePlugin({ name: "x", description: "y", args: { n: { type: "string", default: "1" } }, run(_r, { args }) { args.n.toUpperCase(); } });
ac.abort();
console.log(a.rport === b.lport && b.rport === a.lport, p.name, new NetpunchError("E_USAGE", "m").exitCode);
`,
    );
    // What a consumer is likely to have: strict, exactOptionalPropertyTypes, library files checked too
    // (skipLibCheck off), and no allowImportingTsExtensions; under both module resolutions a Bun or
    // bundler project uses (bundler) and a Node-style one (nodenext).
    const strict = {
      strict: true,
      exactOptionalPropertyTypes: true,
      noEmit: true,
      target: "ESNext",
      skipLibCheck: false,
      types: ["bun-types"],
    };
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { ...strict, module: "Preserve", moduleResolution: "bundler" },
        include: ["main.ts", "hook.ts"],
      }),
    );
    writeFileSync(
      join(app, "tsconfig.nodenext.json"),
      JSON.stringify({
        compilerOptions: { ...strict, module: "NodeNext", moduleResolution: "nodenext" },
        include: ["main.ts", "hook.ts"],
      }),
    );
    const run = sh([process.execPath, "main.ts"], { cwd: app });
    expect(run.out.trim()).toBe("true x 2");
    // The "import" bundle (for tools that do not know the "bun" condition) exports what the sources do.
    writeFileSync(
      join(app, "same.ts"),
      `const lib = await import("./node_modules/netpunch/dist/lib/index.js");
const src = await import("netpunch");
console.log(Object.keys(lib).sort().join(" ") === Object.keys(src).sort().join(" "), typeof lib.connect);
`,
    );
    expect(sh([process.execPath, "same.ts"], { cwd: app }).out.trim()).toBe("true function");
    // The second entry, netpunch/hooks: what a third-party hook imports, in both the bundle and the sources,
    // the same NetpunchError class as the main entry's, and types a strict project accepts.
    writeFileSync(
      join(app, "hook.ts"),
      `import { NetpunchError as Main } from "netpunch";
import { defineHook, type HookContext, NetpunchError, resultEnv, runChild, sleep } from "netpunch/hooks";
const hook = defineHook({ name: "h", description: "d", args: { n: { type: "string", default: "1" } }, async run(r, ctx: HookContext) { await sleep(1, ctx.signal); resultEnv(r); } });
console.log(typeof runChild, hook.name, NetpunchError === Main);
`,
    );
    expect(sh([process.execPath, "hook.ts"], { cwd: app }).out.trim()).toBe("function h true");
    writeFileSync(
      join(app, "same-hooks.ts"),
      `const lib = await import("./node_modules/netpunch/dist/lib/hooks.js");
const src = await import("netpunch/hooks");
console.log(Object.keys(lib).sort().join(" ") === Object.keys(src).sort().join(" "), typeof lib.runChild);
`,
    );
    expect(sh([process.execPath, "same-hooks.ts"], { cwd: app }).out.trim()).toBe("true function");
    const bundled = sh(
      [
        process.execPath,
        "-e",
        'const [a, b] = await Promise.all([import("./node_modules/netpunch/dist/lib/index.js"), import("./node_modules/netpunch/dist/lib/hooks.js")]); console.log(a.NetpunchError === b.NetpunchError)',
      ],
      { cwd: app },
    );
    expect(bundled.out.trim()).toBe("true");
    for (const config of ["tsconfig.json", "tsconfig.nodenext.json"]) {
      const tsc = sh([
        process.execPath,
        join(app, "node_modules/typescript/bin/tsc"),
        "-p",
        join(app, config),
      ]);
      expect({ config, errors: tsc.out + tsc.err }).toEqual({ config, errors: "" });
      expect(tsc.code).toBe(0);
    }
  });
});
