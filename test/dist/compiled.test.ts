// The single-file executables: --version stamps, a loopback punch from the compiled binary, a plugin file
// loaded by it, SHA256SUMS, and the arm64 build running under qemu-user (Debian's qemu-user with the arm64
// C library from libc6-arm64-cross, which .ci/run installs).
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binDir, compiled, expectedCommitPrefix } from "../support/binary.ts";

// Real processes, sockets and (in the lab) namespaces: far slower than bun test's 5 s default.
setDefaultTimeout(60_000);

const QEMU = "qemu-aarch64";
const ARM_SYSROOT = "/usr/aarch64-linux-gnu";

async function freePort(): Promise<number> {
  const s = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
  const p = s.port;
  s.close();
  return p;
}

/** Server and peer a from `serverAndA`, peer b from `b` (argv prefix), all on loopback; returns both outputs. */
async function punch(serverAndA: string[], b: string[], extraA: string[] = []) {
  const port = await freePort();
  const secret = `bin-${Math.random()}`;
  const server = Bun.spawn(
    [...serverAndA, "serve", "--listen", `127.0.0.1:${port}`, "--secret", secret, "-q"],
    { stderr: "pipe" },
  );
  try {
    await Bun.sleep(300);
    const peer = (argv: string[], role: string, extra: string[]) =>
      Bun.spawn(
        [
          ...argv,
          "connect",
          "--role",
          role,
          "--server",
          `127.0.0.1:${port}`,
          "--secret",
          secret,
          "-q",
          ...extra,
        ],
        {
          stdout: "pipe",
          stderr: "pipe",
        },
      );
    const pa = peer(serverAndA, "a", extraA);
    const pb = peer(b, "b", ["--json"]);
    const kill = setTimeout(() => {
      pa.kill("SIGKILL");
      pb.kill("SIGKILL");
    }, 30_000);
    const [ca, cb] = await Promise.all([pa.exited, pb.exited]);
    clearTimeout(kill);
    const out = {
      a: await new Response(pa.stdout).text(),
      b: await new Response(pb.stdout).text(),
      errB: await new Response(pb.stderr).text(),
    };
    if (ca !== 0 || cb !== 0) throw new Error(`peers exited ${ca} and ${cb}: ${out.errB}`);
    return out;
  } finally {
    server.kill("SIGTERM");
    await server.exited;
  }
}

/** A plugin file as the README shows one: it imports netpunch by its package name. */
const IMPORTING_PLUGIN = `import { definePlugin, NetpunchError } from "netpunch";
export default definePlugin({
  name: "shout",
  description: "prints the partner loudly",
  args: { word: { type: "string", default: "hey", description: "what to shout" } },
  run(r, { args }) {
    console.log(\`\${args.word.toUpperCase()} \${r.raddr} \${new NetpunchError("E_USAGE", "x").exitCode}\`);
  },
});
`;

/** A hook file as the README shows one now: defineHook and the toolkit from "netpunch/hooks". */
const IMPORTING_HOOK = `import { defineHook, NetpunchError, resultEnv, sleep } from "netpunch/hooks";
export default defineHook({
  name: "shout",
  description: "prints the partner loudly",
  args: { word: { type: "string", default: "hey", description: "what to shout" } },
  async run(r, { args, signal }) {
    await sleep(1, signal);
    console.log(\`\${args.word.toUpperCase()} \${resultEnv(r).NETPUNCH_RADDR} \${new NetpunchError("E_USAGE", "x").exitCode}\`);
  },
});
`;

describe("the compiled linux-x64 binary", () => {
  test("--version names the version, the commit it was built from and the target", async () => {
    const bin = await compiled("linux-x64");
    const r = Bun.spawnSync([bin, "--version"], { stdout: "pipe" });
    const pkg = JSON.parse(readFileSync(join(import.meta.dir, "../../package.json"), "utf8")) as {
      version: string;
    };
    expect(r.stdout.toString().trim()).toMatch(
      new RegExp(
        `^netpunch ${pkg.version.replaceAll(".", "\\.")} \\(commit ${expectedCommitPrefix()}(-dirty)?, linux-x64\\)$`,
      ),
    );
  });

  test("serves and punches on loopback, and loads a third-party plugin file", async () => {
    const bin = await compiled("linux-x64");
    const plugin = join(tmpdir(), `netpunch-bin-plugin-${process.pid}.ts`);
    writeFileSync(
      plugin,
      'export default { name: "shout", description: "prints the partner loudly", args: { word: { type: "string", default: "hey" } },\n' +
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the plugin file's own template literal
        "  run(r: { raddr: string }, ctx: { args: { word: string } }) { console.log(`${ctx.args.word.toUpperCase()} ${r.raddr}`); } };\n",
    );
    const out = await punch([bin], [bin], ["--hook", plugin, "--word", "hello"]);
    const b = JSON.parse(out.b) as { raddr: string; lport: number };
    expect(out.a.trim()).toBe(`HELLO ${b.raddr.replace(/:\d+$/, "")}:${b.lport}`);
  });

  test('loads a plugin file that imports { definePlugin } from "netpunch", with no netpunch installed', async () => {
    const bin = await compiled("linux-x64");
    // A folder of its own: no node_modules at or above it, as on a host that only has the binary.
    const plugin = join(mkdtempSync(join(tmpdir(), "netpunch-bin-import-")), "shout.ts");
    writeFileSync(plugin, IMPORTING_PLUGIN);
    const out = await punch([bin], [bin], ["--hook", plugin, "--word", "hello"]);
    const b = JSON.parse(out.b) as { raddr: string; lport: number };
    // exit code 2 from the binary's own NetpunchError: the import is the running netpunch.
    expect(out.a.trim()).toBe(`HELLO ${b.raddr.replace(/:\d+$/, "")}:${b.lport} 2`);
  });

  test('loads a hook file that imports { defineHook } and the toolkit from "netpunch/hooks"', async () => {
    const bin = await compiled("linux-x64");
    const hook = join(mkdtempSync(join(tmpdir(), "netpunch-bin-hooks-")), "shout.ts");
    writeFileSync(hook, IMPORTING_HOOK);
    const out = await punch([bin], [bin], ["--hook", hook, "--word", "hello"]);
    const b = JSON.parse(out.b) as { raddr: string; lport: number };
    expect(out.a.trim()).toBe(`HELLO ${b.raddr.replace(/:\d+$/, "")}:${b.lport} 2`);
  });

  test("SHA256SUMS lists the binary with its real checksum", async () => {
    await compiled("linux-x64");
    const r = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], {
      cwd: binDir("linux-x64"),
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(r.stdout.toString()).toContain("netpunch-linux-x64: OK");
    expect(r.exitCode).toBe(0);
  });
});

/** The README's command that checks built binaries against SHA256SUMS, as written (comment and all). */
function readmeChecksumCommand(): string {
  const readme = readFileSync(join(import.meta.dir, "../../README.md"), "utf8");
  const install = readme.slice(readme.indexOf("## Install"), readme.indexOf("## Usage"));
  const lines = install.split("\n").filter((l) => l.includes("sha256sum -c"));
  if (lines.length !== 1)
    throw new Error(`expected one sha256sum line in the README's Install, got ${lines.length}`);
  return lines[0] ?? "";
}

test("the README's checksum command, run as written after a build, passes", async () => {
  await compiled("linux-x64");
  // `bun run build` writes to ./dist; here the build went to a temp folder, so a project root stand-in
  // whose dist/ is that folder runs the command exactly as a user would after building.
  const root = mkdtempSync(join(tmpdir(), "netpunch-readme-"));
  symlinkSync(binDir("linux-x64"), join(root, "dist"));
  const r = Bun.spawnSync(["sh", "-c", readmeChecksumCommand()], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(r.stderr.toString()).toBe("");
  expect(r.stdout.toString()).toContain("netpunch-linux-x64: OK");
  expect(r.exitCode).toBe(0);
});

describe("the compiled linux-arm64 binary under qemu-user", () => {
  const qemu = [QEMU, "-L", ARM_SYSROOT];
  const ready = () => {
    if (!Bun.which(QEMU) || !existsSync(ARM_SYSROOT)) {
      throw new Error(
        `needs ${QEMU} and ${ARM_SYSROOT}: apt-get install qemu-user libc6-arm64-cross (scripts/setup.sh does)`,
      );
    }
  };

  test("--version runs and names the arm64 target", async () => {
    ready();
    const bin = await compiled("linux-arm64");
    const r = Bun.spawnSync([...qemu, bin, "--version"], { stdout: "pipe", stderr: "pipe" });
    expect(r.stdout.toString()).toContain("linux-arm64)");
  });

  test("an arm64 peer punches with an x64 server and peer on loopback", async () => {
    ready();
    const x64 = await compiled("linux-x64");
    const arm = await compiled("linux-arm64");
    const out = await punch([x64], [...qemu, arm]);
    expect(out.a).toStartWith("LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: 0.0.0.0:");
    expect(JSON.parse(out.b).rhost).toBe("127.0.0.1");
  });
});
