import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../../package.json" with { type: "json" };
import { cli } from "../../../src/cli/main.ts";
import { cliSuite, runCli as run } from "../../support/cli.ts";
import { captureOutput } from "../support.ts";

// Every command here fails before any packet is sent; the timeout only turns a regression into a failure, not a hang.
const T = 5000;
// Nothing listens here, and nothing should ever be sent to it by these tests.
const SERVER = "127.0.0.1:9";
const C = ["connect", "--role", "a", "--server", SERVER];

const dir = cliSuite("netpunch-cli-test-", "test-secret");

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

  // One secret failure a row: the options that (do not) give it, made when the row runs; what the report's
  // line names; a hint it must give.
  const secretErrors: [string, () => string[], string[], RegExp?][] = [
    [
      "missing secret",
      () => {
        delete process.env.NETPUNCH_SECRET;
        return [];
      },
      [],
      /^hint: .*--secret-file/m,
    ],
    ["unreadable secret file", () => ["--secret-file", join(dir, "missing.txt")], ["missing.txt", "ENOENT"]],
    [
      "empty secret file",
      () => {
        const file = join(dir, "empty.txt");
        writeFileSync(file, "\n");
        return ["--secret-file", file];
      },
      ["empty"],
    ],
  ];

  // Each row as [name, rest], as below: rows of different lengths would get bun's done callback in the gaps.
  test.each(secretErrors.map(([name, ...rest]) => [name, rest] as const))(
    "%s",
    async (_name, [given, parts, hint]) => {
      const r = await run(...C, ...given());
      expect(r.code).toBe(2);
      expectReport(r.err, "E_SECRET", ...parts);
      if (hint) expect(r.err).toMatch(hint);
      expect(r.out).toBe("");
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

  // One usage error a row: its name, the arguments, the report's code, what its line names, and
  // a hint it must give or a text it must not show (the value of a misspelt --name=value).
  const usageErrors: [string, string[], string, string[], RegExp?, string?][] = [
    ...["nope", "198.51.100.7", "198.51.100.7:0", "2001:db8::1:10001", "bad_host:1"].map(
      (server): [string, string[], string, string[]] => [
        `malformed --server ${server}`,
        ["connect", "--role", "a", "--server", server],
        "E_ADDRESS",
        ["server address", `"${server}"`],
      ],
    ),
    [
      "malformed --local names the local address",
      [...C, "--local", "127.0.0.1"],
      "E_ADDRESS",
      ["local address"],
    ],
    ["unknown option (a typo of --session)", [...C, "--sesion", "lab-1"], "E_USAGE", ["--sesion"]],
    [
      "unknown option in --name=value form",
      [...C, "--sesion=lab-1"],
      "E_USAGE",
      ["--sesion"],
      undefined,
      "lab-1",
    ],
    ["bad --role", ["connect", "--role", "c", "--server", SERVER], "E_USAGE", ["--role", '"c"']],
    ["missing --role", ["connect", "--server", SERVER], "E_USAGE", ["role"]],
    ...["abc", "0", "-5", "Infinity"].map((value): [string, string[], string, string[]] => [
      `--timeout ${value}`,
      [...C, `--timeout=${value}`],
      "E_USAGE",
      ["--timeout", `"${value}"`],
    ]),
    ["--punch-timeout abc", [...C, "--punch-timeout", "abc"], "E_USAGE", ["--punch-timeout"]],
    [
      "unknown --hook lists the available ones",
      [...C, "--hook", "wireguard-typo"],
      "E_USAGE",
      ['"wireguard-typo"'],
      /^hint: .*print/m,
    ],
    ["invalid --session", [...C, "--session", "lab 1"], "E_USAGE", ["session"]],
    [
      "serve with a malformed --listen names the listen address",
      ["serve", "--listen", "0.0.0.0"],
      "E_ADDRESS",
      ["listen address"],
    ],
    ["serve with an unknown option", ["serve", "--lisen", ":10001"], "E_USAGE", ["--lisen"]],
    ["seed form with a missing positional", ["a", "secret", ":0"], "E_USAGE", []],
  ];

  // Each row as [name, rest]: with rows of different lengths bun would pass its done callback in the gaps.
  test.each(usageErrors.map(([name, ...rest]) => [name, rest] as const))(
    "%s",
    async (_name, [args, code, parts, hint, hidden]) => {
      const r = await run(...args);
      expect(r.code).toBe(2);
      expectReport(r.err, code, ...parts);
      if (hint) expect(r.err).toMatch(hint);
      if (hidden) expect(r.err).not.toContain(hidden);
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
        const r = await run(...C, "--local", `127.0.0.1:${holder.port}`);
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

// Bugs found by review, each pinned by a test that failed before its fix.
test("regression: an unknown top-level option is a usage error (exit 2)", async () => {
  const { value, err } = await captureOutput(() => cli(["--bogus"]));
  expect(value).toBe(2);
  expect(err).toContain("[E_USAGE] unknown option --bogus");
});

test("regression: citty's own errors name the command that was run in the hint", async () => {
  const { value, err } = await captureOutput(() => cli(["connect", "--server", "127.0.0.1:9"]));
  expect(value).toBe(2);
  expect(err).toContain("hint: see netpunch connect --help");
});

test("regression: --relay-ports takes an unprivileged range and names itself when wrong", async () => {
  const { portRange } = await import("../../../src/cli/serve.ts");
  expect(portRange("20000-20099")).toEqual({ low: 20000, high: 20099 });
  for (const bad of ["20099-20000", "80-90", "20000", "a-b", "20000-70000"]) {
    expect(() => portRange(bad)).toThrow(`--relay-ports "${bad}" is not a range of unprivileged ports`);
  }
});
