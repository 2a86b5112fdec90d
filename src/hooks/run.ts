import type { ArgsDef, ParsedArgs } from "citty";
import * as v from "valibot";
import { Fail } from "../errors.ts";
import type { AnyHook } from "./hook.ts";

/** The options of all selected hooks, merged; two hooks defining the same option is refused. */
export function mergedHookArgs(hooks: AnyHook[], reserved: ArgsDef): ArgsDef {
  const out: ArgsDef = {};
  const owner = new Map<string, string>();
  for (const h of hooks) {
    for (const [name, def] of Object.entries((h.args ?? {}) as ArgsDef)) {
      const prev = owner.get(name);
      if (prev !== undefined && prev !== h.name) {
        throw Fail.hookOptionTwice(prev, h.name, name);
      }
      if (name in reserved) throw Fail.hookOptionReserved(h.name, name);
      owner.set(name, h.name);
      out[name] = def;
    }
  }
  return out;
}

/** A selected hook with its options checked and parsed, ready for its setup, run and cleanup. */
export interface PreparedHook {
  hook: AnyHook;
  /** The options as citty parsed them (every hook's and netpunch's own). */
  args: ParsedArgs;
  /** What citty parsed with the output of the hook's `check` on top: `ctx.options`. */
  options: Record<string, unknown>;
  /** The arguments after `--` if this hook takes them, else none. */
  extraArgs: string[];
}

/**
 * Checks every hook's options (and who gets the arguments after `--`) before any packet is sent, and returns
 * each hook with its parsed options: `check` runs once here, and its output is what the hook's run gets.
 */
export function checkHookOptions(hooks: AnyHook[], args: ParsedArgs, extraArgs: string[]): PreparedHook[] {
  const prepared: PreparedHook[] = [];
  for (const h of hooks) {
    const own = h.passthrough ? extraArgs : [];
    const problem = h.preflight?.({ args, extraArgs: own });
    if (problem) throw Fail.hookRefused(h.name, problem);
    prepared.push({ hook: h, args, options: { ...args, ...checkedOptions(h, args) }, extraArgs: own });
  }
  const takers = hooks.filter((h) => h.passthrough);
  if (takers.length > 1) {
    throw Fail.passthroughTwice(takers.map((h) => h.name));
  }
  if (extraArgs.length > 0 && takers.length === 0) {
    throw Fail.passthroughUnused(extraArgs);
  }
  return prepared;
}

/** The output of the hook's `check` over the parsed options (nothing without one); a failure is a usage error. */
function checkedOptions(h: AnyHook, args: ParsedArgs): Record<string, unknown> {
  if (!h.check) return {};
  const r = v.safeParse(h.check as v.GenericSchema, args);
  if (!r.success) {
    const issue = r.issues[0];
    const key = issue.path?.[0]?.key;
    throw Fail.hookOptionInvalid(h.name, key !== undefined ? String(key) : undefined, issue.message);
  }
  // A schema over something else than an object (a hook's own choice) leaves the options as parsed.
  return typeof r.output === "object" && r.output !== null ? (r.output as Record<string, unknown>) : {};
}
