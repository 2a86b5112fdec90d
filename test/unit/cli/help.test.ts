// `--help` of every command (and of connect with each built-in hook) at several widths: no line longer
// than the width, no word split, each option listed once, every exit code; and `netpunch help`.
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ArgsDef } from "citty";
import { builtinHooks } from "../../../plugins/index.ts";
import { connectArgs } from "../../../src/cli/connect.ts";
import { DEFAULT_WIDTH, helpWidth, MIN_WIDTH, wrap } from "../../../src/cli/help.ts";
import { HOOK_LISTING_COMMANDS } from "../../../src/cli/hooks.ts";
import { cli, commandsFor, EXIT_CODES } from "../../../src/cli/main.ts";
import { NO_HOOKS, selectHooks } from "../../../src/cli/peer.ts";
import { seedPeerArgs, shieldSeedSecret } from "../../../src/cli/seed.ts";
import { captureOutput } from "../support.ts";

const savedColumns = process.env.COLUMNS;
afterEach(() => {
  if (savedColumns === undefined) delete process.env.COLUMNS;
  else process.env.COLUMNS = savedColumns;
});

// biome-ignore lint/suspicious/noControlCharactersInRegex: a terminal running the tests gets colours
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");
const collapse = (s: string) => s.replace(/\s+/g, " ").trim();

async function help(argv: string[], width: number) {
  process.env.COLUMNS = String(width);
  const r = await captureOutput(() => cli(argv));
  return { code: r.value, out: plain(r.out), err: r.err };
}

/** The commands a user can ask help for (help itself is asked below). */
const COMMANDS = Object.keys(commandsFor(NO_HOOKS)).filter((c) => c !== "help");

/** Every command line whose help a user can ask for: each command, and connect with each built-in hook. */
const HELP_LINES: string[][] = [
  [],
  ...COMMANDS.map((c) => [c]),
  ["help"],
  ...["openvpn", "wireguard", "socat-forward", "exec"].map((h) => ["connect", "--hook", h]),
  ["connect", "--hook", "print", "--hook", "exec"],
  ["a", "--hook", "exec"],
];
/** The narrowest laid out, a narrow terminal, the default, a wide one. */
const WIDTHS = [MIN_WIDTH, 60, DEFAULT_WIDTH, 132];

/** The options the command line defines, hooks included: its commands built with the hooks it selects. */
async function definitions(argv: string[]): Promise<ArgsDef> {
  const [name, ...given] = argv;
  if (name === undefined) return {};
  // As cli() does with the help's command line, before it selects hooks: `a --hook exec --help` has three
  // arguments, so the seed form takes "--hook" for a secret that starts with "-" (and shows print's help).
  const { rest } = shieldSeedSecret(name, [...given, "--help"]);
  const listing = HOOK_LISTING_COMMANDS.has(name);
  const selected =
    name === "connect" || name === "a" || name === "b" || listing
      ? await selectHooks(rest, name === "connect" ? connectArgs : seedPeerArgs, {
          builtins: builtinHooks,
          onlyExplicit: listing,
        })
      : NO_HOOKS;
  const cmd = commandsFor(selected)[name];
  if (!cmd) return {};
  const args = typeof cmd.args === "function" ? await cmd.args() : await cmd.args;
  return (args ?? {}) as ArgsDef;
}

/** The option names of the help's option entries: `  -q, --quiet  ...`, `  --[no-]relay  ...`. */
const optionEntries = (out: string) =>
  [...out.matchAll(/^ {2}(?:-[a-zA-Z], )?--(\[no-\])?([a-z][a-z0-9-]*)/gm)].map((m) => ({
    negatable: m[1] !== undefined,
    name: m[2] ?? "",
  }));

describe.each(HELP_LINES.map((argv) => [argv.join(" ") || "(no command)", argv] as const))(
  "netpunch %s --help",
  (_, argv) => {
    test.each(WIDTHS)("at %p columns: no line longer, no word split, each option once", async (width) => {
      const r = await help([...argv, "--help"], width);
      expect(r.code).toBe(0);
      expect(r.err).toBe("");
      const long = r.out.split("\n").filter((l) => l.length > width);
      expect(long).toEqual([]);

      const defs = await definitions(argv);
      // A word split across lines would put whitespace inside it: every description must read whole.
      const text = collapse(r.out.replaceAll(" \\\n", " "));
      for (const [name, def] of Object.entries(defs)) {
        if (def.description)
          expect({ name, found: text.includes(collapse(def.description)) }).toEqual({ name, found: true });
        if ("negativeDescription" in def && def.negativeDescription)
          expect(text).toContain(collapse(def.negativeDescription));
      }

      const entries = optionEntries(r.out);
      for (const [name, def] of Object.entries(defs)) {
        if (def.type === "positional") continue;
        expect({ name, times: entries.filter((e) => e.name === name).length }).toEqual({ name, times: 1 });
      }
      // --no-relay is not a second entry: it is --[no-]relay.
      expect(entries.filter((e) => e.name.startsWith("no-") && `${e.name.slice(3)}` in defs)).toEqual([]);

      for (const [code] of EXIT_CODES) expect(r.out).toMatch(new RegExp(`^ {2}${code} +\\S`, "m"));
    });
  },
);

describe("exit codes", () => {
  test("help documents 0, 1, 2, 130 and 143, as the README's table does", async () => {
    expect(EXIT_CODES.map(([c]) => c)).toEqual(["0", "1", "2", "130", "143"]);
    const readme = readFileSync(join(import.meta.dir, "../../../README.md"), "utf8");
    const table = readme.slice(
      readme.indexOf("### Exit codes and errors"),
      readme.indexOf("Every failure is"),
    );
    const documented = [...table.matchAll(/^\| ([\d /]+?) +\|/gm)].flatMap((m) => (m[1] ?? "").split(" / "));
    expect(documented).toEqual(["0", "1", "2", "130", "143"]);
    const r = await help(["--help"], 80);
    expect(r.out).toContain("143  a peer stopped by SIGTERM before it connected");
  });
});

describe("netpunch help", () => {
  test("prints the same help as --help, exit 0, and nothing on stderr (it used to add 'unknown command')", async () => {
    const viaHelp = await help(["help"], 80);
    const viaFlag = await help(["--help"], 80);
    expect(viaHelp).toEqual({ code: 0, out: viaFlag.out, err: "" });
    expect(viaHelp.out).toMatch(/^ {2}help +show this help/m);
  });

  test("help COMMAND ... is COMMAND ... --help, hooks included", async () => {
    const viaHelp = await help(["help", "connect", "--hook", "openvpn"], 80);
    const viaFlag = await help(["connect", "--hook", "openvpn", "--help"], 80);
    expect(viaHelp).toEqual({ code: 0, out: viaFlag.out, err: "" });
    expect(viaHelp.out).toContain("Options of the openvpn hook:");
  });

  test("netpunch --help lists hooks, and plugins as its former name", async () => {
    const r = await help(["--help"], 80);
    expect(r.out).toMatch(/^ {2}hooks +list the available hooks and their options/m);
    expect(r.out).toMatch(/^ {2}plugins +the same as hooks \(its former name\)/m);
  });

  test("the hooks one command line selects do not leak into the next (nothing is kept between calls)", async () => {
    const withHook = await help(["connect", "--hook", "openvpn", "--help"], 80);
    expect(withHook.out).toContain("Options of the openvpn hook:");
    const after = await help(["connect", "--help"], 80);
    expect(after.out).not.toContain("openvpn");
    expect(after.out).toContain("Options of the print hook:");
  });

  test("src/cli keeps no module-level mutable state: the shutdown and the seed-secret shield are passed", () => {
    const dir = join(import.meta.dir, "../../../src/cli");
    const lets = readdirSync(dir)
      .sort()
      .filter((f) => f.endsWith(".ts"))
      .flatMap((f) =>
        readFileSync(join(dir, f), "utf8")
          .split("\n")
          .filter((l) => /^(export )?(let|var) /.test(l))
          .map((l) => `${f}: ${l}`),
      );
    expect(lets).toEqual([]);
  });

  test("help help explains help; help with an unknown command is a usage error", async () => {
    const self = await help(["help", "help"], 80);
    expect(self.code).toBe(0);
    expect(self.out).toContain("Usage: netpunch help [COMMAND]");
    const typo = await help(["help", "conect"], 80);
    expect(typo.code).toBe(2);
    expect(typo.err).toContain('[E_USAGE] unknown command "conect"');
    expect(typo.err).toMatch(/^hint: use one of: .*connect/m);
  });

  test("hook options show under their hook, not among connect's own", async () => {
    const r = await help(["connect", "--help"], 80);
    const own = r.out.slice(r.out.indexOf("Options:"), r.out.indexOf("Options of the print hook:"));
    expect(own).toContain("--role");
    expect(own).not.toContain("--json");
    expect(r.out.slice(r.out.indexOf("Options of the print hook:"))).toContain("--json");
  });
});

describe("helpWidth: COLUMNS, else the terminal's, else 80; never below the minimum", () => {
  test.each([
    [{ COLUMNS: "100" }, { isTTY: false }, 100],
    [{ COLUMNS: "100" }, { isTTY: true, columns: 120 }, 100],
    [{}, { isTTY: true, columns: 120 }, 120],
    [{}, { isTTY: false, columns: 120 }, DEFAULT_WIDTH],
    [{}, { isTTY: false }, DEFAULT_WIDTH],
    [{ COLUMNS: "abc" }, {}, DEFAULT_WIDTH],
    [{ COLUMNS: "0" }, {}, DEFAULT_WIDTH],
    [{}, { isTTY: true, columns: 20 }, MIN_WIDTH],
  ])("env %o, stdout %o: %p", (env, stdout, width) => {
    expect(helpWidth(env, stdout)).toBe(width);
  });
});

describe("wrap", () => {
  test.each([
    ["the quick brown fox", 9, ["the quick", "brown fox"]],
    ["  spaces   collapse ", 80, ["spaces collapse"]],
    ["exactly ten", 11, ["exactly ten"]],
    ["abcdefghij", 4, ["abcd", "efgh", "ij"]], // only a word longer than the line is cut
    ["", 10, []],
  ])("%p at %p", (text, width, lines) => {
    expect(wrap(text, width)).toEqual(lines);
  });
});
