// Hooks through the real CLI on loopback: the exec hook (templates, environment, execve replace), a hook
// from a file and from an installed package, and the usage errors a hook author meets first.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { STUCK_EXIT_MS } from "../../src/cli/runtime.ts";
import { freePort, type Proc, run, secretFile, startServer, stopAll, waitFor } from "./cli.ts";

// Real processes, sockets and (in the lab) namespaces: far slower than bun test's 5 s default.
setDefaultTimeout(60_000);

const ROOT = join(import.meta.dir, "../..");
const SECRET = secretFile("hooks-secret");
const scratch = mkdtempSync(join(tmpdir(), "netpunch-hooks-"));
const { p: server, port: serverPort } = await startServer(SECRET);

afterAll(async () => {
  server.proc.kill("SIGTERM");
  await server.done(5_000);
  stopAll();
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * Bun auto-installs a bare import it cannot resolve when there is no node_modules folder up the tree, from
 * the npm registry, so a package hook that is not installed could be fetched and run. These tests must never
 * reach a registry: the registry is a closed loopback port and the install cache an empty folder.
 */
const OFFLINE = {
  BUN_CONFIG_REGISTRY: "http://127.0.0.1:9/",
  NPM_CONFIG_REGISTRY: "http://127.0.0.1:9/",
  BUN_INSTALL_CACHE_DIR: join(scratch, "empty-cache"),
};

/** The CLI in a given directory (hook paths and packages resolve from there), offline. */
const runIn = (cwd: string, args: string[]): Proc => run(args, OFFLINE, cwd);

let sessionNo = 0;
/** Both peers of a fresh session, with known local ports; only the public (loopback) candidate is offered. */
async function pair(hookArgs: (role: "a" | "b") => string[], cwd?: string) {
  const session = `hooks-${process.pid}-${++sessionNo}`;
  const ports = { a: await freePort(), b: await freePort() };
  const start = (role: "a" | "b") => {
    const args = [
      "connect",
      "--role",
      role,
      "--session",
      session,
      "--server",
      `127.0.0.1:${serverPort}`,
      "--local",
      `:${ports[role]}`,
      "--secret-file",
      SECRET,
      "--no-lan",
      "--timeout",
      "10",
      ...hookArgs(role),
    ];
    return cwd === undefined ? run(args) : runIn(cwd, args);
  };
  const a = start("a");
  const b = start("b");
  return { a, b, ports };
}

/** Exit code, stdout and stderr of a finished peer. */
async function outcome(p: Proc) {
  const code = await p.done();
  return { code, stdout: await p.stdout, stderr: await p.stderr };
}

describe("exec hook", () => {
  test("the command gets {rhost} {rport} filled in and NETPUNCH_LPORT in its environment", async () => {
    const file = { a: join(scratch, "exec-a.txt"), b: join(scratch, "exec-b.txt") };
    const { a, b, ports } = await pair((role) => [
      "--hook",
      "exec",
      "--",
      "sh",
      "-c",
      `echo "{rhost} {rport} $NETPUNCH_LPORT" > '${file[role]}'`,
    ]);
    const [oa, ob] = await Promise.all([outcome(a), outcome(b)]);
    expect([oa.code, ob.code], `${oa.stderr}\n${ob.stderr}`).toEqual([0, 0]);
    expect(readFileSync(file.a, "utf8")).toBe(`127.0.0.1 ${ports.b} ${ports.a}\n`);
    expect(readFileSync(file.b, "utf8")).toBe(`127.0.0.1 ${ports.a} ${ports.b}\n`);
  });

  test("--exec-replace: the command takes over the netpunch process (same PID) and its exit code", async () => {
    const { a, b } = await pair(() => [
      "--hook",
      "exec",
      "--exec-replace",
      "--",
      "sh",
      "-c",
      "echo pid=$$ lport=$NETPUNCH_LPORT; sleep 0.2",
    ]);
    const [oa, ob] = await Promise.all([outcome(a), outcome(b)]);
    expect([oa.code, ob.code], `${oa.stderr}\n${ob.stderr}`).toEqual([0, 0]);
    expect(oa.stdout).toContain(`pid=${a.proc.pid} lport=`);
    expect(ob.stdout).toContain(`pid=${b.proc.pid} lport=`);
    expect(oa.stderr).toContain("replacing netpunch with sh");
  });

  test("a failing command is a hook failure (exit 1) naming it", async () => {
    const { a, b } = await pair(() => ["--hook", "exec", "--", "sh", "-c", "exit 3"]);
    const [oa, ob] = await Promise.all([outcome(a), outcome(b)]);
    expect([oa.code, ob.code]).toEqual([1, 1]);
    expect(oa.stderr).toContain("sh exited with code 3");
  });
});

describe("third-party hooks", () => {
  test("a hook file: --hook ./examples/hello-hook.ts takes its own --greeting", async () => {
    const { a, b, ports } = await pair(
      () => ["--hook", "./examples/hello-hook.ts", "--greeting", "hi"],
      ROOT,
    );
    const [oa, ob] = await Promise.all([outcome(a), outcome(b)]);
    expect([oa.code, ob.code], `${oa.stderr}\n${ob.stderr}`).toEqual([0, 0]);
    expect(oa.stdout).toBe(`hi 127.0.0.1:${ports.b}\n`);
    expect(ob.stdout).toBe(`hi 127.0.0.1:${ports.a}\n`);
  });

  test("a hook that ignores its abort signal: one SIGTERM still ends netpunch (143), saying why", async () => {
    const { a, b } = await pair(() => ["--hook", "./test/fixtures/stubborn-hook.ts"], ROOT);
    await Promise.all([waitFor(a, /connected/i), waitFor(b, /connected/i)]);
    await Bun.sleep(200); // the hooks have started: stdout says so below
    a.proc.kill("SIGTERM");
    b.proc.kill("SIGINT");
    // Bounded: the forced exit comes STUCK_EXIT_MS after the signal; done() SIGKILLs past its own limit.
    const [oa, ob] = await Promise.all([a.done(STUCK_EXIT_MS + 15_000), b.done(STUCK_EXIT_MS + 15_000)]);
    expect([oa, ob]).toEqual([143, 130]);
    for (const [p, sig] of [
      [a, "SIGTERM"],
      [b, "SIGINT"],
    ] as const) {
      expect(await p.stdout).toContain("stubborn hook running");
      expect(await p.stderr).toContain(`still running ${STUCK_EXIT_MS / 1000} s after ${sig}`);
    }
  });

  test("an installed package: --hook hello finds node_modules/netpunch-plugin-hello in the current directory", async () => {
    const project = join(scratch, "project");
    const pkgDir = join(project, "node_modules", "netpunch-plugin-hello");
    mkdirSync(join(project, "node_modules"), { recursive: true });
    cpSync(join(ROOT, "examples", "netpunch-plugin-hello"), pkgDir, { recursive: true });
    const { a, b, ports } = await pair(() => ["--hook", "hello", "--greeting", "hi"], project);
    const [oa, ob] = await Promise.all([outcome(a), outcome(b)]);
    expect([oa.code, ob.code], `${oa.stderr}\n${ob.stderr}`).toEqual([0, 0]);
    expect(oa.stdout).toBe(`hi 127.0.0.1:${ports.b}\n`);
    expect(ob.stdout).toBe(`hi 127.0.0.1:${ports.a}\n`);

    const listed = await outcome(runIn(project, ["hooks", "--hook", "hello"]));
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(
      "hello: print a greeting with the partner's address (an example plugin package)",
    );
  });

  test("the package is not found outside the directory it is installed in", async () => {
    const elsewhere = join(scratch, "elsewhere");
    mkdirSync(join(elsewhere, "node_modules"), { recursive: true }); // empty: no auto-install from npm
    const p = runIn(elsewhere, ["hooks", "--hook", "hello"]);
    const o = await outcome(p);
    expect(o.code).toBe(2);
    expect(o.stderr).toContain('unknown hook "hello"');
  });

  test('a hook file that imports defineHook and the toolkit from "netpunch/hooks" runs from the sources', async () => {
    // A folder with no node_modules at or above it: the import is answered by the running netpunch.
    const dir = mkdtempSync(join(scratch, "entry-"));
    writeFileSync(
      join(dir, "toolkit.ts"),
      `import { defineHook, NetpunchError, resultEnv, sleep } from "netpunch/hooks";
export default defineHook({
  name: "toolkit",
  description: \`uses the toolkit (usage errors exit \${new NetpunchError("E_USAGE", "x").exitCode})\`,
  args: { wait: { type: "string", default: "1", description: "milliseconds to wait" } },
  async run(result, { args, signal }) {
    await sleep(Number(args.wait), signal);
    console.log("rport", resultEnv(result).NETPUNCH_RPORT);
  },
});
`,
    );
    const listed = await outcome(runIn(dir, ["hooks", "--hook", "./toolkit.ts"]));
    expect(listed.stderr).toBe("");
    expect(listed.stdout).toContain("toolkit: uses the toolkit (usage errors exit 2)");
    const { a, b, ports } = await pair(() => ["--hook", "./toolkit.ts"], dir);
    const [oa, ob] = await Promise.all([outcome(a), outcome(b)]);
    expect([oa.code, ob.code], `${oa.stderr}\n${ob.stderr}`).toEqual([0, 0]);
    expect(oa.stdout).toBe(`rport ${ports.b}\n`);
    expect(ob.stdout).toBe(`rport ${ports.a}\n`);
  });

  // `plugins` is the command's former name, kept as an alias.
  test.each(["hooks", "plugins"])(
    "netpunch %s --hook FILE lists the hook with its options",
    async (command) => {
      const o = await outcome(runIn(ROOT, [command, "--hook", "./examples/hello-hook.ts"]));
      expect(o.code).toBe(0);
      expect(o.stdout).toContain("hello: print a greeting with the partner's address");
      expect(o.stdout).toMatch(/--greeting=<WORD>\s+what to say to the partner \(Default: hello\)/);
      expect(o.stdout).toContain("print: "); // the built-ins are still listed
    },
  );

  test("a hook file that exports something else than a hook is a usage error (exit 2)", async () => {
    const bad = join(scratch, "not-a-plugin.ts");
    writeFileSync(bad, "export const answer = 42;\n");
    const o = await outcome(
      run(["connect", "--role", "a", "--server", "127.0.0.1:9", "--secret-file", SECRET, "--hook", bad]),
    );
    expect(o.code).toBe(2);
    expect(o.stderr).toContain(`[E_USAGE] hook "${bad}" (${bad}) does not export a plugin`);

    const nameless = join(scratch, "nameless.ts");
    writeFileSync(nameless, 'export default { description: "x", run() {} };\n');
    const o2 = await outcome(run(["hooks", "--hook", nameless]));
    expect(o2.code).toBe(2);
    expect(o2.stderr).toContain("does not export a plugin: name:");
  });

  test("a hook's option without the hook selected is an unknown option (exit 2)", async () => {
    const o = await outcome(
      run(["connect", "--role", "a", "--server", "127.0.0.1:9", "--secret-file", SECRET, "--greeting", "hi"]),
    );
    expect(o.code).toBe(2);
    expect(o.stderr).toContain("[E_USAGE] unknown option --greeting");
  });
});
