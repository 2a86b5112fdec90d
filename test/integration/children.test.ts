// Hooks' child processes as real processes: process groups, a child that ignores SIGTERM, grandchildren
// holding the pipes, a SIGKILLed netpunch, the secret kept out of children, --exec-replace's signal
// dispositions, exit codes under repeated signals, and preflight of the exec hook's program.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { runChild } from "../../src/hooks/child.ts";
import { forgetSecretsForTest, withholdSecret } from "../../src/hooks/env.ts";
import { CLI, freePort, type Proc, run, secretFile, startServer, stopAll, waitFor } from "./cli.ts";

// Real processes and sockets: slower than bun test's 5 s default.
setDefaultTimeout(60_000);

const SECRET_TEXT = "children-secret-0123456789";
const SECRET = secretFile(SECRET_TEXT);
const scratch = mkdtempSync(join(tmpdir(), "netpunch-children-"));
const { p: server, port: serverPort } = await startServer(SECRET);
const logger = createConsola({ level: -999 });

afterAll(async () => {
  server.proc.kill("SIGTERM");
  await server.done(5_000);
  stopAll();
  rmSync(scratch, { recursive: true, force: true });
});

/** True while PID exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
  } catch {
    return false;
  }
}

/** Waits (bounded) until PID is gone; true if it went. */
async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid) && Date.now() < deadline) await Bun.sleep(20);
  return !alive(pid);
}

/** Reads a PID a script wrote to FILE, bounded. */
async function pidFrom(file: string, ms = 5_000): Promise<number> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const n = Number(readFileSync(file, "utf8").trim());
      if (n > 0) return n;
    }
    await Bun.sleep(20);
  }
  throw new Error(`no PID in ${file}`);
}

/**
 * How long a test waits for a killed process to be gone: a bound on the wait, not a speed claim. The old
 * bugs left processes running for minutes, or for good, and the watchdog's grace alone is 5 s.
 */
const GONE_MS = 15_000;

const file = (name: string) => join(scratch, `${name}-${Math.random().toString(36).slice(2)}`);

describe("runChild supervises a process group", () => {
  test("abort: a child that ignores SIGTERM and a grandchild holding its pipes are both gone after the grace", async () => {
    const bgPid = file("bg");
    const ac = new AbortController();
    const done = runChild({
      // The shell ignores TERM and waits; its background sleep keeps stdout and stderr open.
      argv: ["sh", "-c", `trap '' TERM; sleep 300 & echo $! > '${bgPid}'; wait`],
      logger,
      prefix: "[t]",
      signal: ac.signal,
      graceMs: 500,
    });
    const grandchild = await pidFrom(bgPid);
    ac.abort();
    const exit = await done;
    expect({
      stopped: exit.stopped,
      signal: exit.signal,
      grandchildAlive: !(await goneWithin(grandchild, GONE_MS)),
    }).toEqual({
      stopped: true,
      signal: "SIGKILL",
      grandchildAlive: false,
    });
  });

  test("a child that exits on its own leaves no background job behind, and netpunch does not wait for its pipes", async () => {
    const bgPid = file("bg");
    const exit = await runChild({
      argv: ["sh", "-c", `sleep 300 & echo $! > '${bgPid}'; exit 3`],
      logger,
      prefix: "[t]",
      signal: new AbortController().signal,
      graceMs: 500,
    });
    const grandchild = await pidFrom(bgPid);
    expect({
      code: exit.code,
      stopped: exit.stopped,
      grandchildAlive: !(await goneWithin(grandchild, GONE_MS)),
    }).toEqual({
      code: 3,
      stopped: false,
      grandchildAlive: false,
    });
  });

  test("SIGKILL of the supervising process: the watchdog stops the child's whole group", async () => {
    const bgPid = file("bg");
    const script = join(scratch, "supervisor.ts");
    writeFileSync(
      script,
      `import { createConsola } from "consola";
import { runChild } from ${JSON.stringify(join(import.meta.dir, "../../src/hooks/child.ts"))};
await runChild({ argv: ["sh", "-c", "sleep 300 & echo $! > '${bgPid}'; sleep 300"], logger: createConsola({ level: -999 }),
  prefix: "[t]", signal: new AbortController().signal, graceMs: 500 });
`,
    );
    const sup = Bun.spawn([process.execPath, script], {
      stdout: "ignore",
      stderr: "ignore",
      cwd: join(import.meta.dir, "../.."),
    });
    const grandchild = await pidFrom(bgPid, 10_000);
    sup.kill("SIGKILL");
    await sup.exited;
    expect(await goneWithin(grandchild, GONE_MS)).toBe(true);
  });

  test("the child's environment has no NETPUNCH_SECRET and no variable with the secret's bytes", async () => {
    const out = file("env");
    process.env.NETPUNCH_SECRET = SECRET_TEXT;
    process.env.NP_TEST_COPY = `prefix-${SECRET_TEXT}-suffix`;
    try {
      withholdSecret(SECRET_TEXT);
      await runChild({
        argv: ["sh", "-c", `env > '${out}'`],
        logger,
        prefix: "[t]",
        signal: new AbortController().signal,
      });
      const env = readFileSync(out, "utf8");
      expect(env).not.toContain("NETPUNCH_SECRET");
      expect(env).not.toContain(SECRET_TEXT);
      expect(env).toContain("PATH=");
      await expect(
        runChild({
          argv: ["echo", SECRET_TEXT],
          logger,
          prefix: "[t]",
          signal: new AbortController().signal,
        }),
      ).rejects.toThrow("contains the secret");
    } finally {
      delete process.env.NETPUNCH_SECRET;
      delete process.env.NP_TEST_COPY;
      forgetSecretsForTest();
    }
  });
});

let sessionNo = 0;
/** Both peers of a fresh session on loopback, with a hook command line per role. */
async function pair(
  hookArgs: (role: "a" | "b") => string[],
  env: Record<string, string> = {},
  secretArgs = ["--secret-file", SECRET],
) {
  const session = `children-${process.pid}-${++sessionNo}`;
  const ports = { a: await freePort(), b: await freePort() };
  const start = (role: "a" | "b") =>
    run(
      [
        "connect",
        "--role",
        role,
        "--session",
        session,
        "--server",
        `127.0.0.1:${serverPort}`,
        "--local",
        `:${ports[role]}`,
        ...secretArgs,
        "--no-lan",
        "--timeout",
        "10",
        ...hookArgs(role),
      ],
      env,
    );
  return { a: start("a"), b: start("b") };
}

async function outcome(p: Proc, ms = 20_000) {
  const code = await p.done(ms);
  return { code, stdout: await p.stdout, stderr: await p.stderr };
}

describe("netpunch connect with the exec hook", () => {
  test("SIGINT (a) and SIGTERM (b) with the README's sh -c pattern: exit 0, the shell's command is gone", async () => {
    const pids = { a: file("pid-a"), b: file("pid-b") };
    // dash runs `sleep` as its own child and waits: the grandchild that used to be orphaned.
    const { a, b } = await pair((role) => [
      "--hook",
      "exec",
      "--",
      "sh",
      "-c",
      `sleep 300 & echo $! > '${pids[role]}'; wait`,
    ]);
    const grand = { a: await pidFrom(pids.a, 15_000), b: await pidFrom(pids.b, 15_000) };
    a.proc.kill("SIGINT");
    b.proc.kill("SIGTERM");
    const [oa, ob] = await Promise.all([outcome(a, 15_000), outcome(b, 15_000)]);
    expect(
      {
        codes: [oa.code, ob.code],
        alive: [!(await goneWithin(grand.a, GONE_MS)), !(await goneWithin(grand.b, GONE_MS))],
      },
      `${oa.stderr}\n${ob.stderr}`,
    ).toEqual({
      codes: [0, 0],
      alive: [false, false],
    });
  });

  test("a command that ignores SIGTERM: one SIGTERM, and after the grace its group is KILLed; exit 0, nothing left", async () => {
    const pids = { a: file("pid-a"), b: file("pid-b") };
    const { a, b } = await pair((role) => [
      "--hook",
      "exec",
      "--",
      "sh",
      "-c",
      `trap '' TERM; sleep 300 & echo $! > '${pids[role]}'; wait; wait`,
    ]);
    const grand = { a: await pidFrom(pids.a, 15_000), b: await pidFrom(pids.b, 15_000) };
    a.proc.kill("SIGTERM");
    b.proc.kill("SIGTERM");
    // The grace is 5 s (CHILD_TIMINGS.graceMs); the bound only keeps a regression from hanging the suite.
    const [oa, ob] = await Promise.all([outcome(a, 20_000), outcome(b, 20_000)]);
    expect(
      {
        codes: [oa.code, ob.code],
        alive: [!(await goneWithin(grand.a, GONE_MS)), !(await goneWithin(grand.b, GONE_MS))],
      },
      `${oa.stderr}\n${ob.stderr}`,
    ).toEqual({ codes: [0, 0], alive: [false, false] });
  });

  test("the secret from NETPUNCH_SECRET reaches neither the command's environment nor its arguments", async () => {
    const out = { a: file("env-a"), b: file("env-b") };
    const { a, b } = await pair(
      (role) => [
        "--hook",
        "exec",
        "--",
        "sh",
        "-c",
        `env > '${out[role]}'; tr '\\0' ' ' < /proc/$$/cmdline >> '${out[role]}'`,
      ],
      { NETPUNCH_SECRET: SECRET_TEXT, NP_TEST_COPY: SECRET_TEXT },
      [],
    );
    const [oa, ob] = await Promise.all([outcome(a), outcome(b)]);
    expect([oa.code, ob.code], `${oa.stderr}\n${ob.stderr}`).toEqual([0, 0]);
    for (const f of [out.a, out.b]) {
      const text = readFileSync(f, "utf8");
      expect(text).toContain("NETPUNCH_LPORT=");
      expect(text).not.toContain("NETPUNCH_SECRET");
      expect(text).not.toContain(SECRET_TEXT);
    }
  });

  test("--exec-replace: the new program has SIGPIPE at its default (yes | head -1 prints y, no Broken pipe)", async () => {
    const { a, b } = await pair(
      () => [
        "--hook",
        "exec",
        "--exec-replace",
        "--",
        "sh",
        "-c",
        "echo pid=$$; grep SigIgn /proc/$$/status; yes | head -1; env | grep -c NETPUNCH_SECRET || true",
      ],
      { NETPUNCH_SECRET: SECRET_TEXT },
      [],
    );
    const [oa, ob] = await Promise.all([outcome(a), outcome(b)]);
    expect([oa.code, ob.code], `${oa.stderr}\n${ob.stderr}`).toEqual([0, 0]);
    for (const [o, p] of [
      [oa, a],
      [ob, b],
    ] as const) {
      expect(o.stdout).toBe(`pid=${p.proc.pid}\nSigIgn:\t0000000000000000\ny\n0\n`);
      expect(o.stderr).not.toContain("Broken pipe");
    }
  });

  test("a missing program is a usage error (exit 2) before any packet", async () => {
    const p = run([
      "connect",
      "--role",
      "a",
      "--server",
      "127.0.0.1:9",
      "--secret-file",
      SECRET,
      "--hook",
      "exec",
      "--",
      "netpunch-no-such-program",
      "{rhost}",
    ]);
    const o = await outcome(p, 10_000);
    expect(o.code).toBe(2);
    expect(o.stderr).toContain("[E_USAGE] exec hook: netpunch-no-such-program not found in PATH");
    expect(o.stderr).not.toContain("registering");
  });
});

describe("exit codes do not depend on when signals arrive", () => {
  // GNU timeout sends its signal to netpunch and then to its own process group, so netpunch often gets the
  // same signal twice; a user may press Ctrl-C twice. 20 connected peers, a second signal 0-38 ms after
  // the first: every one exits 0, like a single signal.
  const RUNS = 20;
  const gapMs = (i: number) => (i % 10) * 4; // 0, 4, ... 36 ms: before, during and after the first is handled
  test(`${RUNS} peers, SIGINT twice (gaps 0-36 ms) or once: exit 0 every time`, async () => {
    const codes: number[] = [];
    const logs: string[] = [];
    for (let batch = 0; batch < RUNS / 5; batch++) {
      const pairs = await Promise.all(
        Array.from({ length: 5 }, () => pair(() => ["--hook", "exec", "--", "sh", "-c", "sleep 300; true"])),
      );
      await Promise.all(
        pairs.map(async ({ a, b }, j) => {
          const i = batch * 5 + j;
          await waitFor(a, /started sh/, 15_000);
          await waitFor(b, /started sh/, 15_000);
          a.proc.kill("SIGINT");
          if (i % 10 !== 9) {
            // the tenth of each ten gets one signal only
            if (gapMs(i) > 0) await Bun.sleep(gapMs(i));
            a.proc.kill("SIGINT");
          }
          b.proc.kill("SIGTERM");
          const [oa, ob] = await Promise.all([outcome(a, 15_000), outcome(b, 15_000)]);
          codes[i] = oa.code;
          codes[RUNS + i] = ob.code;
          if (oa.code !== 0) logs.push(`run ${i} (gap ${gapMs(i)} ms): a exited ${oa.code}\n${oa.stderr}`);
        }),
      );
    }
    expect(codes, logs.join("\n")).toEqual(Array(2 * RUNS).fill(0));
  });
});

describe("a signal's own exit code (SIGINT 130, SIGTERM 143): a peer not yet connected, a hook that never ends", () => {
  /** A peer of a session nobody else joins: it waits until signalled. */
  const waiting = (extra: string[] = []) =>
    run([
      "connect",
      "--role",
      "a",
      "--session",
      `alone-${process.pid}-${++sessionNo}`,
      "--server",
      `127.0.0.1:${serverPort}`,
      "--secret-file",
      SECRET,
      "--timeout",
      "30",
      ...extra,
    ]);
  // Each signal once, and with a second 0, 10 or 30 ms later: 130 for SIGINT, 143 for SIGTERM, always. A waiting
  // peer often exits before the second arrives; the hook below is where it surely does.
  const CASES = (["SIGINT", "SIGTERM"] as const).flatMap((sig) =>
    [undefined, 0, 10, 30].map((gap) => ({ sig, gap })),
  );
  test(`waiting: ${CASES.length} runs, SIGINT gives 130 and SIGTERM 143, whether or not a second one follows`, async () => {
    const got = await Promise.all(
      CASES.map(async ({ sig, gap }) => {
        const p = waiting();
        await waitFor(p, /waiting for the partner/, 15_000);
        p.proc.kill(sig);
        if (gap !== undefined) {
          if (gap > 0) await Bun.sleep(gap);
          p.proc.kill(sig);
        }
        return { sig, gap, code: await p.done(15_000) };
      }),
    );
    expect(got).toEqual(CASES.map(({ sig, gap }) => ({ sig, gap, code: sig === "SIGINT" ? 130 : 143 })));
  });

  test("a hook that never ends: the second signal forces the exit, with that signal's code (SIGTERM 143, not 130)", async () => {
    // run() ignores the abort: only the second signal ("now") ends netpunch, through the forced exit.
    const hook = join(scratch, "stuck.ts");
    writeFileSync(
      hook,
      `export default { name: "stuck", description: "never ends", run(_r, { signal }) { console.error("stuck hook runs"); signal.addEventListener("abort", () => console.error("stuck hook ignores the abort")); setInterval(() => {}, 1000); return new Promise(() => {}); } };\n`,
    );
    const codes: Record<string, number> = {};
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      const { a, b } = await pair(() => ["--hook", hook]);
      await Promise.all([waitFor(a, /stuck hook runs/, 15_000), waitFor(b, /stuck hook runs/, 15_000)]);
      a.proc.kill(sig);
      // Two signals sent at once may reach the process as one (the kernel does not queue them).
      await waitFor(a, /stuck hook ignores the abort/, 15_000);
      a.proc.kill(sig);
      codes[sig] = await a.done(15_000);
      b.proc.kill("SIGKILL");
      await b.done();
    }
    expect(codes).toEqual({ SIGTERM: 143, SIGINT: 130 });
  });
});

describe("wireguard hook preflight", () => {
  const KEY = `${"x".repeat(42).replace(/x/g, "A")}A=`;
  const argv = (extra: string[]) => [
    process.execPath,
    CLI,
    "connect",
    "--role",
    "a",
    "--server",
    "127.0.0.1:9",
    "--secret-file",
    SECRET,
    "--hook",
    "wireguard",
    "--wg-interface",
    "wg0",
    "--wg-peer",
    KEY,
    ...extra,
  ];
  // Without CAP_NET_ADMIN, as an ordinary user is: root drops it from the bounding set with setpriv
  // (util-linux, on every Debian); any other user has not got it anyway. Both run the test, none skips it.
  const withoutNetAdmin = (extra: string[]) =>
    Bun.spawnSync(
      process.getuid?.() === 0
        ? ["setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin", "--", ...argv(extra)]
        : argv(extra),
      { stdout: "pipe", stderr: "pipe", timeout: 15_000 },
    );

  test("without CAP_NET_ADMIN: exit 2 before any packet, pointing at --wg-sudo", () => {
    const r = withoutNetAdmin([]);
    expect({ code: r.exitCode, stderr: r.stderr.toString() }).toMatchObject({ code: 2 });
    expect(r.stderr.toString()).toContain("needs root or CAP_NET_ADMIN");
    expect(r.stderr.toString()).toContain("--wg-sudo");
  });

  test("with --wg-sudo the check is sudo's (here: is sudo installed?)", () => {
    const r = withoutNetAdmin(["--wg-sudo"]);
    const stderr = r.stderr.toString();
    expect(stderr).not.toContain("needs root or CAP_NET_ADMIN");
    if (Bun.which("sudo") === null) {
      expect(r.exitCode).toBe(2);
      expect(stderr).toContain("sudo not found in PATH");
    }
  });
});
