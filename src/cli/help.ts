import type { ArgDef, ArgsDef } from "citty";

/**
 * `--help` text, laid out for a given width. citty's renderUsage pads every row to its longest one (171
 * columns for connect), so terminals wrapped it mid-word, and it lists `--relay` and `--no-relay` as two
 * options. This renders the same definitions as words wrapped at spaces, one entry per option.
 */

/**
 * @default 80: the width when stdout is not a terminal (a pipe, a log, `less`), the classic terminal width.
 */
export const DEFAULT_WIDTH = 80;
/**
 * Narrower than this is laid out as this: the longest word in the help, `LADDR/LHOST/LPORT/RADDR/RHOST/RPORT`
 * in print's description (35 characters), must still fit after the 4-column indent of a stacked description.
 */
export const MIN_WIDTH = 40;
/** Option names longer than this put their description on the next line, so one long name cannot squeeze every description. */
const NAME_COLUMN_MAX = 30;
/** Below this many columns beside the names (about four words a line), descriptions go under their names. */
const DESCRIPTION_MIN = 24;

/**
 * The width to wrap at: `COLUMNS` when set (POSIX's override, and how a test or a script asks for a width),
 * else the terminal's, else DEFAULT_WIDTH; never below MIN_WIDTH.
 */
export function helpWidth(
  env: Record<string, string | undefined>,
  stdout: { isTTY?: boolean; columns?: number },
): number {
  const fromEnv = Number.parseInt(env.COLUMNS ?? "", 10);
  const width =
    Number.isInteger(fromEnv) && fromEnv > 0
      ? fromEnv
      : stdout.isTTY && stdout.columns
        ? stdout.columns
        : DEFAULT_WIDTH;
  return Math.max(width, MIN_WIDTH);
}

/** Greedy word wrap at spaces. A word longer than the width is cut, as the only way it can fit. */
export const wrap = (text: string, width: number): string[] =>
  wrapTokens(text.split(/\s+/).filter(Boolean), width);

/** Greedy wrap of tokens that are never broken at their own spaces (`--server HOST:PORT`) unless too long. */
export function wrapTokens(tokens: string[], width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (let word of tokens) {
    while (word.length > width) {
      if (line) lines.push(line);
      lines.push(word.slice(0, width));
      word = word.slice(width);
      line = "";
    }
    if (!word) continue;
    if (!line) line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** One block of help. */
export type HelpBlock =
  | { kind: "text"; text: string; indent?: number }
  /** `Usage: netpunch connect ...`, continued under the command name; each part stays on one line. */
  | { kind: "usage"; command: string; parts: string[] }
  | { kind: "heading"; text: string }
  /** Two columns: option or command names, and what they do. */
  | { kind: "rows"; rows: readonly (readonly [string, string])[] }
  /** Shell commands; a long one is continued with ` \` so it still pastes. */
  | { kind: "shell"; lines: readonly string[] };

export interface Paint {
  heading(s: string): string;
  name(s: string): string;
}
export const noPaint: Paint = { heading: (s) => s, name: (s) => s };
/** Bold headings and cyan names, for a terminal. */
export const ansiPaint: Paint = {
  heading: (s) => `\x1b[1m${s}\x1b[22m`,
  name: (s) => `\x1b[36m${s}\x1b[39m`,
};

const spaces = (n: number) => " ".repeat(Math.max(n, 0));

/** Lays the blocks out; no line is longer than `width` unless a single word is. */
export function layout(blocks: HelpBlock[], width: number, paint: Paint = noPaint): string {
  const out: string[] = [];
  for (const b of blocks) {
    if (b.kind === "text") {
      const indent = b.indent ?? 0;
      if (!b.text.trim()) out.push(""); // a blank line between paragraphs
      for (const l of wrap(b.text, width - indent)) out.push(spaces(indent) + l);
    } else if (b.kind === "heading") out.push("", ...wrap(b.text, width).map(paint.heading));
    else if (b.kind === "usage") {
      // Continue under the first part when every part fits there; else the parts go under the command.
      const head = `${paint.heading("Usage:")} ${b.command}`;
      const headWidth = `Usage: ${b.command} `.length;
      const beside = b.parts.every((p) => p.length <= width - headWidth);
      const hang = beside ? headWidth : 4;
      const lines = wrapTokens(b.parts, width - hang);
      if (beside) out.push(`${head} ${lines.shift() ?? ""}`.trimEnd());
      else out.push(head);
      for (const l of lines) out.push(spaces(hang) + l);
    } else if (b.kind === "shell") {
      for (const cmd of b.lines) out.push(...shellLines(cmd, width));
    } else out.push(...rowLines(b.rows, width, paint));
  }
  return `${out.join("\n")}\n`;
}

function rowLines(rows: readonly (readonly [string, string])[], width: number, paint: Paint): string[] {
  const indent = 2;
  const gap = 2;
  const fitting = rows.map(([n]) => n.length).filter((n) => n <= NAME_COLUMN_MAX);
  const column = indent + Math.max(0, ...fitting) + gap;
  const stacked = width - column < DESCRIPTION_MIN;
  const descIndent = stacked ? indent + 2 : column;
  const out: string[] = [];
  for (const [name, what] of rows) {
    const lines = wrap(what, width - descIndent);
    const sameLine = !stacked && name.length + gap <= column - indent && lines.length > 0;
    const rest = sameLine ? lines.slice(1) : lines;
    out.push(
      sameLine
        ? `${spaces(indent)}${paint.name(name)}${spaces(column - indent - name.length)}${lines[0]}`
        : spaces(indent) + paint.name(name),
    );
    for (const l of rest) out.push(spaces(descIndent) + l);
  }
  return out;
}

/** `  netpunch connect --role a ... \` then `      --json`: the shell joins them back. */
function shellLines(cmd: string, width: number): string[] {
  const first = 2;
  const next = 6;
  const words = cmd.split(" ");
  const lines: string[] = [];
  let line = "";
  let indent = first;
  for (const w of words) {
    // Room for " \" at the end of a line that continues.
    if (line && indent + line.length + 1 + w.length + 2 > width) {
      lines.push(`${spaces(indent)}${line} \\`);
      line = w;
      indent = next;
    } else line = line ? `${line} ${w}` : w;
  }
  lines.push(spaces(indent) + line);
  return lines;
}

/** How an option is written in help: `-q, --quiet`, `--local [HOST]:PORT`, `--[no-]relay`. */
export function optionName(name: string, def: ArgDef): string {
  if (def.type === "positional") return name.toUpperCase();
  const aliases = ["alias" in def ? (def.alias ?? []) : []].flat().map((a) => `-${a}, `);
  if (def.type === "boolean") {
    const negatable = def.default === true || def.negativeDescription !== undefined;
    return `${aliases.join("")}--${negatable && !name.startsWith("no-") ? "[no-]" : ""}${name}`;
  }
  const value =
    def.type === "enum" && def.options?.length
      ? def.options.join("|")
      : (def.valueHint ?? name.toUpperCase().replaceAll("-", "_"));
  return `${aliases.join("")}--${name} ${value}`;
}

/** What an option does, with its default, whether it is required, and what its `--no-` form does. */
export function optionDescription(name: string, def: ArgDef): string {
  const parts = [def.description ?? ""];
  if (def.type === "positional") {
    if (def.required !== false && def.default === undefined) parts.push("(required)");
    return parts.join(" ").trim();
  }
  if (def.required === true && def.default === undefined) parts.push("(required)");
  if (def.type === "boolean") {
    const negatable = def.default === true || def.negativeDescription !== undefined;
    if (negatable) parts.push(`(default: ${def.default === true ? "on" : "off"})`);
    if (def.negativeDescription) parts[parts.length - 1] += `; --no-${name}: ${def.negativeDescription}`;
  } else if (def.default !== undefined) parts.push(`(default: ${def.default})`);
  return parts.join(" ").trim();
}

/** The usage line's parts after the command name: required options, [OPTIONS], then positionals. */
export function usageParts(args: ArgsDef, hasSubCommands = false): string[] {
  const entries = Object.entries(args);
  const required = entries
    .filter(([, d]) => d.type !== "positional" && d.required === true && d.default === undefined)
    .map(([n, d]) => optionName(n, d));
  const optional = entries.some(([, d]) => d.type !== "positional" && d.required !== true);
  const positionals = entries
    .filter(([, d]) => d.type === "positional")
    .map(([n, d]) =>
      d.required !== false && d.default === undefined ? n.toUpperCase() : `[${n.toUpperCase()}]`,
    );
  return [
    ...(hasSubCommands ? ["COMMAND"] : []),
    ...required,
    ...(optional || hasSubCommands ? ["[OPTIONS]"] : []),
    ...positionals,
  ];
}

/** The options of `args` as two-column rows, positionals left out. */
export const optionRows = (args: ArgsDef): [string, string][] =>
  Object.entries(args)
    .filter(([, d]) => d.type !== "positional")
    .map(([n, d]) => [optionName(n, d), optionDescription(n, d)]);

/** The positional arguments of `args` as rows. */
export const argumentRows = (args: ArgsDef): [string, string][] =>
  Object.entries(args)
    .filter(([, d]) => d.type === "positional")
    .map(([n, d]) => [optionName(n, d), optionDescription(n, d)]);
