import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  checkArgs,
  MAX_SECONDS,
  MAX_TIMER_MS,
  optionValues,
  rejectUnknownOptions,
  secondsOption,
} from "../../../src/cli/common.ts";
import { connectArgs } from "../../../src/cli/connect.ts";
import { NetpunchError } from "../../../src/errors.ts";
import { cliSuite, runCli as run } from "../../support/cli.ts";

// Every command here must fail before it binds or sends; the timeout turns a regression into a failure.
const T = 5000;
const SERVER = "127.0.0.1:9";
const dir = cliSuite("netpunch-options-test-", "k".repeat(43));
const SECRET_FILE = join(dir, "secret.txt");
writeFileSync(SECRET_FILE, `${"k".repeat(43)}\n`, { mode: 0o600 });

function expectUsage(r: { code: number; err: string }, ...parts: string[]) {
  expect(r.code).toBe(2);
  const line = r.err.split("\n").find((l) => l.startsWith("[E_USAGE] ")) ?? "";
  expect(line).not.toBe("");
  for (const p of parts) expect(line).toContain(p);
  expect(r.err).toMatch(/^hint: \S.*$/m);
}

describe("seconds options are bounded below what a timer can wait", () => {
  test("MAX_SECONDS is below 2^31-1 ms", () => {
    expect(MAX_SECONDS * 1000).toBeLessThan(MAX_TIMER_MS);
    expect(MAX_TIMER_MS).toBe(2_147_483_647);
  });

  test.each(["timeout", "punch-timeout", "server-timeout", "relay-after", "relay-idle", "stats-interval"])(
    "--%s: MAX_SECONDS is accepted, one more second is a usage error",
    (flag) => {
      expect(secondsOption(String(MAX_SECONDS), flag)).toBe(MAX_SECONDS * 1000);
      try {
        secondsOption(String(MAX_SECONDS + 1), flag);
        throw new Error("accepted");
      } catch (e) {
        expect(e).toBeInstanceOf(NetpunchError);
        expect((e as NetpunchError).code).toBe("E_USAGE");
        expect((e as NetpunchError).message).toContain(`--${flag}`);
      }
    },
  );

  const over = String(25 * 86_400); // 25 days: past 2^31-1 ms
  test.each(
    [
      ["serve", "--stats-interval", over],
      ["serve", "--relay-idle", over],
      ["connect", "--role", "a", "--server", SERVER, "--timeout", over],
      ["connect", "--role", "a", "--server", SERVER, "--punch-timeout", over],
      ["connect", "--role", "a", "--server", SERVER, "--server-timeout", over],
      ["connect", "--role", "a", "--server", SERVER, "--relay-after", over],
    ].map((args) => [args.join(" "), args] as [string, string[]]),
  )(
    "%s (25 days): exit 2",
    async (_, args) => {
      const serve = args[0] === "serve" ? ["--listen", "127.0.0.1:9"] : [];
      const r = await run(...args, ...serve);
      expectUsage(r, args.at(-2) as string, "24 days");
    },
    T,
  );

  test("--timeout too long: the hint says how to wait forever", async () => {
    const r = await run("connect", "--role", "a", "--server", SERVER, "--timeout", "1e9");
    expectUsage(r, "--timeout");
    expect(r.err).toMatch(/^hint: .*wait forever/m);
  });
});

describe("conflicting or repeated options are usage errors", () => {
  const connect = ["connect", "--role", "a", "--server", SERVER];
  const serve = ["serve", "--listen", "127.0.0.1:9"];
  test.each([
    [
      "--secret with --secret-file",
      [...connect, "--secret", "s3cr3t-A", "--secret-file", SECRET_FILE],
      ["--secret", "--secret-file"],
    ],
    [
      "serve --secret with --secret-file",
      [...serve, "--secret-file", SECRET_FILE, "--secret=s3cr3t-A"],
      ["--secret-file"],
    ],
    ["--relay with --no-relay (connect)", [...connect, "--relay", "--no-relay"], ["--relay", "--no-relay"]],
    ["--relay with --no-relay (serve)", [...serve, "--no-relay", "--relay"], ["--relay", "--no-relay"]],
    ["--quiet with --verbose", [...connect, "--quiet", "--verbose"], ["--quiet", "--verbose"]],
    ["-q with --verbose", [...serve, "-q", "--verbose"], ["--quiet", "--verbose"]],
    [
      "--listen twice",
      ["serve", "--listen", "127.0.0.1:9", "--listen", "127.0.0.1:10"],
      ["--listen", "2 times"],
    ],
    [
      "--listen=... and --listen ...",
      ["serve", "--listen=127.0.0.1:9", "--listen", "127.0.0.1:10"],
      ["--listen"],
    ],
    // connect takes --server more than once (several servers, raced); doctor asks one server.
    ["doctor --server twice", ["doctor", "--server", SERVER, "--server", "127.0.0.1:10"], ["--server"]],
    ["--session twice", [...connect, "--session", "x", "--session", "y"], ["--session"]],
    ["--secret twice", [...connect, "--secret", "s3cr3t-A", "--secret", "s3cr3t-B"], ["--secret"]],
    [
      "--secret-file and --secretFile",
      [...connect, "--secret-file", SECRET_FILE, "--secretFile", SECRET_FILE],
      ["--secret-file"],
    ],
    ["a hook's option twice", [...connect, "--json", "--format", "a", "--format", "b"], ["--format"]],
    ["keygen -o and --output", ["keygen", "-o", join(dir, "x"), "--output", join(dir, "y")], ["--output"]],
    ["--stun=maybe", [...serve, "--stun=maybe"], ["--stun", '"maybe"']],
    ["--loop=yes", [...connect, "--loop=yes"], ["--loop", '"yes"']],
    ["--no-relay=false", [...connect, "--no-relay=false"], ["--no-relay"]],
    [
      "seed c with an extra positional",
      ["c", "s3cr3t-A", "127.0.0.1:9", "extra"],
      ['"extra"', "SECRET LISTEN"],
    ],
    ["seed a with an extra positional", ["a", "s3cr3t-A", ":0", SERVER, "extra"], ['"extra"']],
    ["connect with a stray positional", [...connect, "stray"], ['"stray"', "only options"]],
  ] as [string, string[], string[]][])(
    "%s",
    async (_, args, parts) => {
      const r = await run(...args);
      expectUsage(r, ...parts);
      expect(r.err).not.toContain("s3cr3t");
      expect(r.out).toBe("");
    },
    T,
  );
});

describe("what stays allowed", () => {
  test("--hook is repeatable; --relay twice agrees with itself; --stun=true/false are values", () => {
    expect(() =>
      checkArgs(["--hook", "print", "--hook", "exec", "--relay", "--relay"], connectArgs),
    ).not.toThrow();
    expect(() => checkArgs(["--loop=true", "--lan=false"], connectArgs)).not.toThrow();
    expect(() => checkArgs(["--secret", "-abc"], connectArgs)).not.toThrow(); // a value, not an option
    expect(() => checkArgs(["--", "--dev", "tun", "--dev", "tap", "x"], connectArgs)).not.toThrow();
  });

  test("connect's --server is repeatable, every value kept in order (citty alone keeps the last)", () => {
    const argv = ["--server", "198.51.100.7:1", "--server=203.0.113.9:2", "--", "--server", "x:3"];
    expect(() => checkArgs(argv, connectArgs, { repeatable: ["server"] })).not.toThrow();
    expect(optionValues(argv, connectArgs, "server")).toEqual(["198.51.100.7:1", "203.0.113.9:2"]);
    // A value that starts with "-" is still a value, as checkArgs reads it.
    expect(optionValues(["--secret", "--server", "--server", "s:1"], connectArgs, "server")).toEqual(["s:1"]);
  });

  test(
    "doctor takes --stun twice (two STUN servers); the third is its own error",
    async () => {
      const r = await run("doctor", "--stun", "a:1", "--stun", "b:1", "--stun", "c:1");
      expectUsage(r, "at most twice");
    },
    T,
  );

  test(
    "NETPUNCH_SECRET with --secret-file: the flag wins, without a word about it",
    async () => {
      const r = await run("connect", "--role", "a", "--server", "nope", "--secret-file", SECRET_FILE);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^\[E_ADDRESS\]/m); // got past the secret
      expect(r.err).not.toContain("NETPUNCH_SECRET");
    },
    T,
  );
});

// Bugs found by review, each pinned by a test that failed before its fix.
test("regression: an option value starting with '-' (a secret like -abc) is not taken for an option", () => {
  expect(() => rejectUnknownOptions(["--role", "a", "--secret", "-abc"], connectArgs)).not.toThrow();
  expect(() => rejectUnknownOptions(["--role", "a", "-abc"], connectArgs)).toThrow("unknown option -abc");
});
