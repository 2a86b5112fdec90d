import type { ArgsDef, ParsedArgs } from "citty";
import type { ConsolaInstance } from "consola";
import * as v from "valibot";
import { NetpunchError } from "../errors.ts";
import type { PunchResult } from "../types.ts";
import { childEnv } from "./env.ts";
import type { AnyHook } from "./hook.ts";
import { resultEnv } from "./result-env.ts";

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

/** Checks every hook's options (and who gets the arguments after `--`) before any packet is sent. */
export function checkHookOptions(hooks: AnyHook[], args: ParsedArgs, extraArgs: string[]): void {
  for (const h of hooks) {
    const problem = h.preflight?.({ args, extraArgs: h.passthrough ? extraArgs : [] });
    if (problem)
      throw new NetpunchError(
        "E_USAGE",
        `${h.name} hook: ${problem}`,
        `see netpunch hooks for the ${h.name} hook's options`,
      );
    if (!h.check) continue;
    const r = v.safeParse(h.check, args);
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
}

/**
 * Runs the hooks one after another, in the order given; a long-running one (a tunnel) returns when its tunnel
 * ends, so put it last. A failure stops the rest.
 */
export async function runHooks(
  hooks: AnyHook[],
  result: PunchResult,
  o: { args: ParsedArgs; extraArgs: string[]; logger: ConsolaInstance; signal: AbortSignal },
): Promise<void> {
  for (const h of hooks) {
    if (o.signal.aborted) return;
    try {
      await h.run(result, {
        args: o.args,
        logger: o.logger.withTag(h.name),
        signal: o.signal,
        extraArgs: h.passthrough ? o.extraArgs : [],
        env: childEnv(resultEnv(result)),
      });
    } catch (e) {
      if (e instanceof NetpunchError) throw e;
      throw new NetpunchError(
        "E_HOOK",
        `hook "${h.name}" failed: ${(e as Error).message}`,
        "run with --verbose for details",
        { cause: e },
      );
    }
  }
}
