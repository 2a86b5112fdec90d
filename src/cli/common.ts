import type { ArgsDef } from "citty";
import * as v from "valibot";
import { NetpunchError } from "../errors.ts";

export const logArgs = {
  quiet: { type: "boolean", alias: "q", description: "log only warnings and errors (stderr)" },
  verbose: { type: "boolean", description: "log every step, including dropped packets (stderr)" },
} as const satisfies ArgsDef;

export const loopArgs = {
  hook: {
    type: "string",
    valueHint: "NAME",
    default: "print",
    description:
      "what to do with the result; repeatable, run in order: a built-in (netpunch plugins), a plugin file, or a package",
  },
  loop: {
    type: "boolean",
    description: "when the hooks end (tunnel died), punch again and relaunch, with backoff",
  },
} as const satisfies ArgsDef;

export const secretArgs = {
  "secret-file": {
    type: "string",
    valueHint: "FILE",
    description: "read the shared secret from FILE (preferred; or set NETPUNCH_SECRET)",
  },
  secret: {
    type: "string",
    valueHint: "SECRET",
    description: "the shared secret itself (visible to other local users: avoid)",
  },
} as const satisfies ArgsDef;

const Seconds = v.pipe(
  v.string(),
  v.transform(Number),
  v.number(),
  v.finite(),
  v.minValue(0.001),
  v.maxValue(86_400 * 365),
);

/** Parses a "seconds" option into milliseconds; `undefined` stays undefined. */
export function secondsOption(value: unknown, flag: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const r = v.safeParse(Seconds, String(value));
  if (!r.success)
    throw new NetpunchError(
      "E_USAGE",
      `--${flag} "${String(value)}" is not a number of seconds`,
      `e.g. --${flag} 30 or --${flag} 2.5`,
    );
  return r.output * 1000;
}

/**
 * citty ignores options it does not know; a typo like --sesion would then silently use the default
 * session. Refuse them instead.
 */
export function rejectUnknownOptions(rawArgs: string[], defs: ArgsDef): void {
  const known = new Set<string>(["help", "h"]);
  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "positional") continue;
    known.add(name);
    known.add(name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()));
    for (const a of ["alias" in def ? (def.alias ?? []) : []].flat()) known.add(a);
    if (def.type === "boolean") known.add(`no-${name}`);
  }
  for (let i = 0; i < rawArgs.length; i++) {
    const raw = rawArgs[i] ?? "";
    if (raw === "--") break;
    if (!raw.startsWith("-") || /^-\d/.test(raw)) continue;
    const name = raw.replace(/^--?/, "").split("=")[0] ?? "";
    // The value of a string option may itself start with "-" (a secret like -abc): skip it.
    const def = defs[name];
    if (def && (def.type === "string" || def.type === "enum") && !raw.includes("=")) i++;
    if (!known.has(name)) {
      throw new NetpunchError(
        "E_USAGE",
        `unknown option ${raw.split("=")[0]}`,
        "see --help for the options of this command",
      );
    }
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
export const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, "");

/** Help goes to pipes and logs too, where colour codes are noise. */
export const forTerminal = (s: string): string => (process.stdout.isTTY ? s : stripAnsi(s));
