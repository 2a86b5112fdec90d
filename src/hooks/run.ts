import type { ArgsDef, ParsedArgs } from "citty";
import * as v from "valibot";
import { NetpunchError } from "../errors.ts";
import type { AnyHook } from "./hook.ts";

/** The options of all selected hooks, merged; two hooks defining the same option is refused. */
export function mergedHookArgs(hooks: AnyHook[], reserved: ArgsDef): ArgsDef {
  const out: ArgsDef = {};
  const owner = new Map<string, string>();
  for (const h of hooks) {
    for (const [name, def] of Object.entries((h.args ?? {}) as ArgsDef)) {
      const prev = owner.get(name);
      if (prev !== undefined && prev !== h.name) {
        throw new NetpunchError(
          "E_USAGE",
          `hooks "${prev}" and "${h.name}" both define --${name}`,
          "use one of them per command line",
        );
      }
      if (name in reserved)
        throw new NetpunchError(
          "E_USAGE",
          `hook "${h.name}" defines --${name}, which netpunch itself uses`,
          "rename the hook's option",
        );
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
    if (problem)
      throw new NetpunchError(
        "E_USAGE",
        `${h.name} hook: ${problem}`,
        `see netpunch hooks for the ${h.name} hook's options`,
      );
    prepared.push({ hook: h, args, options: { ...args, ...checkedOptions(h, args) }, extraArgs: own });
  }
  const takers = hooks.filter((h) => h.passthrough);
  if (takers.length > 1) {
    throw new NetpunchError(
      "E_USAGE",
      `hooks ${takers.map((h) => `"${h.name}"`).join(" and ")} both take the arguments after --`,
      "use one of them per command line",
    );
  }
  if (extraArgs.length > 0 && takers.length === 0) {
    throw new NetpunchError(
      "E_USAGE",
      `arguments after -- (${extraArgs.join(" ")}) but no selected hook takes them`,
      "the openvpn and exec hooks take arguments after --",
    );
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
    const opt = key !== undefined ? `--${String(key)}` : `the ${h.name} hook's options`;
    throw new NetpunchError(
      "E_USAGE",
      `${opt}: ${issue.message}`,
      `see netpunch hooks for the ${h.name} hook's options`,
    );
  }
  // A schema over something else than an object (a hook's own choice) leaves the options as parsed.
  return typeof r.output === "object" && r.output !== null ? (r.output as Record<string, unknown>) : {};
}
