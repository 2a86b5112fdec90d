import type { ArgDef, ArgsDef } from "citty";
import { MAX_SECONDS, secondsOption } from "../common.ts";
import { connectArgs } from "../connect.ts";
import { TUNNEL_KEYS } from "./schema.ts";

// A tunnel table holds any `connect` option and any option of its hook by its long name; each becomes what
// the same option on a command line would be, so `connect`'s own parser reads the tunnel (TunnelConfig.argv).

/** connect's options that a tunnel table may not hold, each with why. */
export const NOT_PER_TUNNEL: Readonly<Record<string, string>> = {
  secret:
    "the secret comes from the file named by secret_file at the top level, never from the config itself",
  "secret-file": "secret_file is set once, at the top level",
  quiet: "logging is netpunch up's own: give it on up's command line",
  verbose: "logging is netpunch up's own: give it on up's command line",
  loop: "netpunch up always punches again when a tunnel ends",
};

/**
 * connect's options that are a tunnel's own keys under another name, spelt like the top level's (server_tcp,
 * tls_ca): the hyphenated name is an unknown key, and the suggestion names the right one.
 */
const RENAMED = new Set(["server-tcp", "tls-ca", "pair-key-file"]);

/** connect's options a tunnel table sets by their long names (those with a key of their own aside). */
export const connectTunnelOptions: ArgsDef = Object.fromEntries(
  Object.entries(connectArgs).filter(
    ([name]) => !(name in TUNNEL_KEYS) && !(name in NOT_PER_TUNNEL) && !RENAMED.has(name),
  ),
);

/** `--name value`, or `--name=value` for a value that starts with "-" (a value "--" would end the options). */
const withValue = (name: string, value: string): string[] =>
  value.startsWith("-") ? [`--${name}=${value}`] : [`--${name}`, value];

/**
 * A TOML value as the command line's words for option `name`: a boolean option is the flag (true) or its
 * `--no-` form (false); a string option takes a string, or a number written as the command line would
 * (25, 2.5). Anything else is refused with why (the value itself is never quoted).
 */
export function optionArgv(name: string, def: ArgDef, value: unknown): { argv: string[] } | { why: string } {
  if (def.type === "boolean") {
    if (typeof value !== "boolean") return { why: "must be true or false" };
    return { argv: [value ? `--${name}` : `--no-${name}`] };
  }
  let text: string;
  if (typeof value === "string") text = value;
  else if ((typeof value === "number" && Number.isFinite(value)) || typeof value === "bigint")
    text = String(value);
  else return { why: "must be a string or a number" };
  if (def.type === "enum" && def.options && !def.options.includes(text))
    return { why: `must be one of ${def.options.join(", ")}` };
  return { argv: withValue(name, text) };
}

/** The checks connect makes of its own options' values before it acts, made here to name the key. */
export function connectOptionProblem(name: string, def: ArgDef, text: string): string | undefined {
  if (!("valueHint" in def) || def.valueHint !== "SECONDS") return undefined;
  try {
    secondsOption(text, name);
    return undefined;
  } catch {
    return `must be a number of seconds above 0, at most ${MAX_SECONDS} (24 days)`;
  }
}
