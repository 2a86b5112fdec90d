// The print hook's --format templates, and where --json/--format are documented: they are print's options,
// so the README lists them with print, not among connect's own options.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ArgsDef } from "citty";
import { createConsola } from "consola";
import print, { formatLine } from "../../../plugins/print.ts";
import { connectArgs } from "../../../src/cli/connect.ts";
import { cli } from "../../../src/cli/main.ts";
import { sampleResult } from "../../support/result.ts";
import { captureOutput } from "../support.ts";

const r = sampleResult();

const README = readFileSync(join(import.meta.dir, "../../../README.md"), "utf8");

describe("--format: {{ and }} are literal braces, {name} a field", () => {
  test.each([
    ["{{x}}", "{x}"], // the reported bug: it printed {x}}
    ["{{rhost}}", "{rhost}"],
    ["{{{rhost}}}", "{203.0.113.20}"],
    ["{rhost}}}", "203.0.113.20}"],
    ["}}", "}"],
    ["{{", "{"],
    ["}}}", "}}"], // one pair, then a lone brace
    ["plain } text {", "plain } text {"],
    ["{rhost}:{rport} {lport}", "203.0.113.20:40002 10000"],
    ["{RHOST}", "{RHOST}"], // only lowercase names are fields
  ])("%p prints %p", (template, line) => {
    expect(formatLine(template, r)).toBe(line);
  });

  test("the print hook itself prints it (what --format runs)", async () => {
    const { out } = await captureOutput(() =>
      print.run(r, {
        args: { format: "{{x}} {rhost}:{rport}", json: false, _: [] } as never,
        options: { format: "{{x}} {rhost}:{rport}", json: false } as never,
        state: {},
        logger: createConsola({ level: -999 }),
        signal: new AbortController().signal,
        extraArgs: [],
        env: {},
      }),
    );
    expect(out).toBe("{x} 203.0.113.20:40002\n");
  });

  test("an unknown field is still an error, with the known ones", () => {
    expect(() => formatLine("{{ok}} {rhots}", r)).toThrow(/unknown field \{rhots\} \(known: \{laddr\} /);
  });
});

/** The `--name`s in the first column of the README's option table under `heading`. */
function readmeTableOptions(heading: string): string[] {
  const start = README.indexOf(`\n${heading}\n`);
  expect(start).toBeGreaterThan(-1);
  const rows = README.slice(start).split("\n## ")[0]?.split("\n") ?? [];
  const table = rows.slice(rows.findIndex((l) => l.startsWith("| option")));
  const names: string[] = [];
  for (const row of table) {
    if (!row.startsWith("|")) break;
    const first = row.split(/(?<!\\)\|/)[1] ?? "";
    for (const m of first.matchAll(/`(--?[a-z][a-z-]*)/g)) names.push(m[1] ?? "");
  }
  return names;
}

/** Every spelling citty and rejectUnknownOptions accept for these definitions. */
function spellings(defs: ArgsDef): Set<string> {
  const out = new Set<string>();
  for (const [name, def] of Object.entries(defs)) {
    out.add(`--${name}`);
    if (def.type === "boolean") out.add(`--no-${name}`);
    for (const a of ["alias" in def ? (def.alias ?? []) : []].flat()) out.add(`-${a}`);
  }
  return out;
}

describe("README and CLI agree on where --json and --format belong", () => {
  test("connect's option table lists only connect's own options, which every hook combination accepts", () => {
    const documented = readmeTableOptions("### The peers");
    expect(documented).toContain("--role");
    const own = spellings(connectArgs);
    expect(documented.filter((o) => !own.has(o))).toEqual([]);
  });

  test("the print section documents --json and --format as print's, and how to combine print with a hook", () => {
    const section = README.slice(README.indexOf("### print (default)"), README.indexOf("### openvpn"));
    for (const o of Object.keys(print.args ?? {})) expect(section).toContain(`--${o}`);
    expect(section).toContain("`--hook exec --json` is an unknown option");
    expect(section).toContain("--hook print --hook exec --json");
  });

  test("as documented: with another hook and no print, --json is an unknown option (before any packet)", async () => {
    const { value, err } = await captureOutput(() =>
      cli(["connect", "--role", "a", "--server", "127.0.0.1:9", "--hook", "exec", "--json", "--", "true"]),
    );
    expect(value).toBe(2);
    expect(err).toContain("[E_USAGE] unknown option --json");
  });
});
