import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { cli } from "../../src/cli/main.ts";
import { captureOutput } from "./support.ts";

// Every command here fails before any packet is sent; the timeout only turns a regression into a failure, not a hang.
const T = 5000;
// Nothing listens here, and nothing should ever be sent to it by these tests.
const SERVER = "127.0.0.1:9";

const savedSecret = process.env.NETPUNCH_SECRET;
const dir = mkdtempSync(join(tmpdir(), "netpunch-cli-test-"));

beforeEach(() => {
  process.env.NETPUNCH_SECRET = "test-secret";
});

afterAll(() => {
  if (savedSecret === undefined) delete process.env.NETPUNCH_SECRET;
  else process.env.NETPUNCH_SECRET = savedSecret;
  rmSync(dir, { recursive: true, force: true });
});

async function run(...args: string[]) {
  const { value, out, err } = await captureOutput(() => cli(args));
  return { code: value, out, err };
}

/** A NetpunchError report: "[CODE] message" then "hint: ..." on its own line. */
function expectReport(err: string, code: string, ...parts: string[]) {
  expect(err).toMatch(new RegExp(`^\\[${code}\\] .+$`, "m"));
  expect(err).toMatch(/^hint: \S.*$/m);
  const line = err.split("\n").find((l) => l.startsWith(`[${code}]`)) ?? "";
  for (const p of parts) expect(line).toContain(p);
}

describe("help and version", () => {
  test("--help exits 0 and lists the commands, without colour codes", async () => {
    const r = await run("--help");
    expect(r.code).toBe(0);
    for (const cmd of ["serve", "connect"]) expect(r.out).toContain(cmd);
    expect(r.out).toContain("Exit codes");
    expect(r.out).not.toContain("\x1b[");
    expect(r.err).toBe("");
  });

  test("-h is --help", async () => {
    const r = await run("-h");
    expect(r.code).toBe(0);
    expect(r.out).toContain("connect");
  });

  test("no arguments: usage, exit 2", async () => {
    const r = await run();
    expect(r.code).toBe(2);
    expect(r.out).toContain("connect");
  });

  test("connect --help exits 0 and lists its options, the hook's included", async () => {
    const r = await run("connect", "--help");
    expect(r.code).toBe(0);
    for (const opt of [
      "--role",
      "--server",
      "--local",
      "--session",
      "--timeout",
      "--hook",
      "--secret-file",
      "--json",
    ])
      expect(r.out).toContain(opt);
  });

  test("--version prints the package version", async () => {
    const r = await run("--version");
    expect(r.code).toBe(0);
    expect(r.out).toStartWith(`netpunch ${pkg.version} (commit `);
  });
});

describe("usage errors exit 2 with one line and a hint", () => {
  test("unknown command", async () => {
    const r = await run("conect", "--role", "a");
    expect(r.code).toBe(2);
    expectReport(r.err, "E_USAGE", 'unknown command "conect"');
    expect(r.err).toMatch(/^hint: .*connect/m);
  });

  test(
    "missing secret",
    async () => {
      delete process.env.NETPUNCH_SECRET;
      const r = await run("connect", "--role", "a", "--server", SERVER);
      expect(r.code).toBe(2);
      expectReport(r.err, "E_SECRET");
      expect(r.err).toMatch(/^hint: .*--secret-file/m);
      expect(r.out).toBe("");
    },
    T,
  );

  test(
    "unreadable secret file",
    async () => {
      const r = await run(
        "connect",
        "--role",
        "a",
        "--server",
        SERVER,
        "--secret-file",
        join(dir, "missing.txt"),
      );
      expect(r.code).toBe(2);
      expectReport(r.err, "E_SECRET", "missing.txt", "ENOENT");
    },
    T,
  );

  test(
    "empty secret file",
    async () => {
      const file = join(dir, "empty.txt");
      writeFileSync(file, "\n");
      const r = await run("connect", "--role", "a", "--server", SERVER, "--secret-file", file);
      expect(r.code).toBe(2);
      expectReport(r.err, "E_SECRET", "empty");
    },
    T,
  );

  test(
    "--secret on the command line works but warns on stderr",
    async () => {
      delete process.env.NETPUNCH_SECRET;
      const r = await run("connect", "--role", "a", "--server", "nope", "--secret", "s3cret");
      expect(r.err).toContain("--secret");
      expect(r.err).not.toContain("s3cret");
      expectReport(r.err, "E_ADDRESS"); // got past the secret
    },
    T,
  );

  for (const server of ["nope", "198.51.100.7", "198.51.100.7:0", "2001:db8::1:10001", "bad_host:1"]) {
    test(
      `malformed --server ${server}`,
      async () => {
        const r = await run("connect", "--role", "a", "--server", server);
        expect(r.code).toBe(2);
        expectReport(r.err, "E_ADDRESS", "server address", `"${server}"`);
      },
      T,
    );
  }

  test(
    "malformed --local names the local address",
    async () => {
      const r = await run("connect", "--role", "a", "--server", SERVER, "--local", "127.0.0.1");
      expect(r.code).toBe(2);
      expectReport(r.err, "E_ADDRESS", "local address");
    },
    T,
  );

  test(
    "unknown option (a typo of --session)",
    async () => {
      const r = await run("connect", "--role", "a", "--server", SERVER, "--sesion", "lab-1");
      expect(r.code).toBe(2);
      expectReport(r.err, "E_USAGE", "--sesion");
    },
    T,
  );

  test(
    "unknown option in --name=value form",
    async () => {
      const r = await run("connect", "--role", "a", "--server", SERVER, "--sesion=lab-1");
      expect(r.code).toBe(2);
      expectReport(r.err, "E_USAGE", "--sesion");
      expect(r.err).not.toContain("lab-1");
    },
    T,
  );

  test(
    "bad --role",
    async () => {
      const r = await run("connect", "--role", "c", "--server", SERVER);
      expect(r.code).toBe(2);
      expectReport(r.err, "E_USAGE", "--role", '"c"');
    },
    T,
  );

  test(
    "missing --role",
    async () => {
      const r = await run("connect", "--server", SERVER);
      expect(r.code).toBe(2);
      expectReport(r.err, "E_USAGE", "role");
    },
    T,
  );

  for (const value of ["abc", "0", "-5", "Infinity"]) {
    test(
      `--timeout ${value}`,
      async () => {
        const r = await run("connect", "--role", "a", "--server", SERVER, `--timeout=${value}`);
        expect(r.code).toBe(2);
        expectReport(r.err, "E_USAGE", "--timeout", `"${value}"`);
      },
      T,
    );
  }

  test(
    "--punch-timeout abc",
    async () => {
      const r = await run("connect", "--role", "a", "--server", SERVER, "--punch-timeout", "abc");
      expect(r.code).toBe(2);
      expectReport(r.err, "E_USAGE", "--punch-timeout");
    },
    T,
  );

  test(
    "unknown --hook lists the available ones",
    async () => {
      const r = await run("connect", "--role", "a", "--server", SERVER, "--hook", "wireguard-typo");
      expect(r.code).toBe(2);
      expectReport(r.err, "E_USAGE", '"wireguard-typo"');
      expect(r.err).toMatch(/^hint: .*print/m);
    },
    T,
  );

  test(
    "invalid --session",
    async () => {
      const r = await run("connect", "--role", "a", "--server", SERVER, "--session", "lab 1");
      expect(r.code).toBe(2);
      expectReport(r.err, "E_USAGE", "session");
    },
    T,
  );

  test(
    "serve with a malformed --listen names the listen address",
    async () => {
      const r = await run("serve", "--listen", "0.0.0.0");
      expect(r.code).toBe(2);
      expectReport(r.err, "E_ADDRESS", "listen address");
    },
    T,
  );

  test(
    "serve with an unknown option",
    async () => {
      const r = await run("serve", "--lisen", ":10001");
      expect(r.code).toBe(2);
      expectReport(r.err, "E_USAGE", "--lisen");
    },
    T,
  );

  test(
    "seed form with a missing positional",
    async () => {
      const r = await run("a", "secret", ":0");
      expect(r.code).toBe(2);
      expectReport(r.err, "E_USAGE");
    },
    T,
  );
});

describe("run-time errors exit 1", () => {
  test(
    "port in use: E_PORT_IN_USE naming the port",
    async () => {
      const holder = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
      try {
        const r = await run(
          "connect",
          "--role",
          "a",
          "--server",
          SERVER,
          "--local",
          `127.0.0.1:${holder.port}`,
        );
        expect(r.code).toBe(1);
        expectReport(r.err, "E_PORT_IN_USE", String(holder.port));
        expect(r.out).toBe("");
      } finally {
        holder.close();
      }
    },
    T,
  );
});
