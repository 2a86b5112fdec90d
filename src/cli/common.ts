import type { ArgsDef } from "citty";
import * as v from "valibot";
import { MAX_SECONDS } from "../sys/clock.ts";
import { CliFail } from "./hints.ts";

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
      "what to do with the result; repeatable, run in order: a built-in (netpunch hooks), a hook file, or a package",
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

// The bounds of every seconds option (timers take a signed 32-bit count of ms) live with the clock.
export { MAX_SECONDS, MAX_TIMER_MS } from "../sys/clock.ts";

const Seconds = v.pipe(v.string(), v.transform(Number), v.number(), v.finite(), v.minValue(0.001));

/** Parses a "seconds" option into milliseconds, at most MAX_SECONDS; `undefined` stays undefined. */
export function secondsOption(value: unknown, flag: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const r = v.safeParse(Seconds, String(value));
  if (!r.success) throw CliFail.notSeconds(flag, value);
  if (r.output > MAX_SECONDS) throw CliFail.tooManySeconds(flag, value, MAX_SECONDS);
  return r.output * 1000;
}

/** Options that may be given more than once (each command reads every value itself). */
const REPEATABLE: readonly string[] = ["hook"];

/** Pairs of options that contradict each other wherever both exist, with what to do instead. */
const CONFLICTS: readonly (readonly [string, string, string])[] = [
  ["secret", "secret-file", "the secret comes from one place: keep --secret-file (or NETPUNCH_SECRET)"],
  ["quiet", "verbose", "give one of them"],
];

interface Scan {
  /** Canonical option name -> each occurrence: the flag as written and its value (true/false for booleans). */
  seen: Map<string, { flag: string; value: string | boolean }[]>;
  positionals: string[];
}

/** Walks the command line (up to `--`) as citty does, knowing which options take a value. */
function scanArgs(rawArgs: string[], defs: ArgsDef): Scan {
  const byName = new Map<string, string>([
    ["help", "help"],
    ["h", "help"],
  ]);
  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "positional") continue;
    byName.set(name, name);
    byName.set(
      name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
      name,
    );
    for (const a of ["alias" in def ? (def.alias ?? []) : []].flat()) byName.set(a, name);
  }
  const seen: Scan["seen"] = new Map();
  const positionals: string[] = [];
  const unknown = (raw: string): never => {
    throw CliFail.unknownOption(raw);
  };
  for (let i = 0; i < rawArgs.length; i++) {
    const raw = rawArgs[i] ?? "";
    if (raw === "--") break;
    if (!raw.startsWith("-") || raw === "-" || /^-\d/.test(raw)) {
      positionals.push(raw);
      continue;
    }
    const eq = raw.indexOf("=");
    const written = (eq < 0 ? raw : raw.slice(0, eq)).replace(/^--?/, "");
    const inline = eq < 0 ? undefined : raw.slice(eq + 1);
    let name = byName.get(written);
    let negated = false;
    if (name === undefined && written.startsWith("no-")) {
      name = byName.get(written.slice(3));
      if (name === undefined || defs[name]?.type !== "boolean") return unknown(raw);
      negated = true;
    }
    if (name === undefined) return unknown(raw);
    if (name === "help") continue;
    let value: string | boolean;
    if (defs[name]?.type === "boolean") {
      if (inline !== undefined && (negated || (inline !== "true" && inline !== "false")))
        throw CliFail.booleanWithValue(name, negated, inline);
      value = negated ? false : inline !== "false";
    } else {
      // The value of a string option may itself start with "-" (a secret like -abc): take it as the value.
      value = inline ?? rawArgs[++i] ?? "";
    }
    const uses = seen.get(name) ?? [];
    uses.push({ flag: raw.split("=")[0] ?? raw, value });
    seen.set(name, uses);
  }
  return { seen, positionals };
}

/**
 * Every value of a string option, in order (citty keeps only the last of a repeated one), read as checkArgs
 * reads the command line: up to `--`, knowing which options take a value.
 */
export function optionValues(rawArgs: string[], defs: ArgsDef, name: string): string[] {
  return (scanArgs(rawArgs, defs).seen.get(name) ?? []).flatMap((u) =>
    typeof u.value === "string" ? [u.value] : [],
  );
}

/**
 * citty ignores options it does not know; a typo like --sesion would then silently use the default
 * session. Refuse them instead. (checkArgs does this and more.)
 */
export function rejectUnknownOptions(rawArgs: string[], defs: ArgsDef): void {
  scanArgs(rawArgs, defs);
}

/**
 * Every command's check of its command line before it acts. Usage errors (exit 2) for what citty lets pass:
 * an unknown option; a single-valued option given twice (citty keeps the last); a boolean given a value
 * (citty reads --stun=maybe as on) or given both ways (--relay --no-relay); two options that contradict each
 * other (--secret with --secret-file, --quiet with --verbose); more positional arguments than the command
 * takes (citty drops the rest). Option values are never printed: one may be a secret.
 */
export function checkArgs(
  rawArgs: string[],
  defs: ArgsDef,
  rules: { repeatable?: readonly string[] } = {},
): void {
  const { seen, positionals } = scanArgs(rawArgs, defs);
  const repeatable = new Set([...REPEATABLE, ...(rules.repeatable ?? [])]);
  for (const [name, uses] of seen) {
    if (uses.length < 2) continue;
    if (defs[name]?.type === "boolean") {
      if (uses.some((u) => u.value !== uses[0]?.value)) throw CliFail.booleanBothWays(name);
    } else if (!repeatable.has(name)) {
      throw CliFail.givenTwice(
        name,
        uses.map((u) => u.flag),
      );
    }
  }
  const on = (name: string) => seen.get(name)?.some((u) => u.value !== false) === true;
  for (const [a, b, hint] of CONFLICTS) {
    if (defs[a]?.type === "positional" || defs[b]?.type === "positional") continue;
    if (on(a) && on(b)) throw CliFail.conflicting(a, b, hint);
  }
  const names = Object.entries(defs)
    .filter(([, d]) => d.type === "positional")
    .map(([n]) => n.toUpperCase());
  const extra = positionals[names.length];
  if (extra !== undefined) throw CliFail.extraArgument(extra, names);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
export const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, "");

/** Help goes to pipes and logs too, where colour codes are noise. */
export const forTerminal = (s: string): string => (process.stdout.isTTY ? s : stripAnsi(s));
