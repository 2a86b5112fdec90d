import type { ConsolaInstance } from "consola";
import { Fail, NetpunchError } from "../errors.ts";
import type { PunchResult } from "../types.ts";
import { childEnv } from "./env.ts";
import type { AnyHook, HookContext } from "./hook.ts";
import { resultEnv } from "./result-env.ts";
import type { PreparedHook } from "./run.ts";

export interface HookRun {
  logger: ConsolaInstance;
  signal: AbortSignal;
}

/**
 * One punch's worth of the hooks' lives, after their preflight (checkHookOptions):
 *  1. setup, hook by hook in the order given; a failure stops here and skips every run;
 *  2. run, hook by hook in order (a long-running one returns when its tunnel ends, so put it last); a
 *     failure stops the rest;
 *  3. cleanup, always: for every hook whose setup began (a hook without setup counts from there too), in
 *     reverse order, also after a failure or a signal; one cleanup failing does not skip the others.
 * A signal stops the hooks not yet started; those started still get their cleanup. Every error is kept and
 * all are reported together: the first as it is when it is alone, else one E_HOOK naming each.
 */
export async function runHooks(prepared: PreparedHook[], result: PunchResult, o: HookRun): Promise<void> {
  const errors: Error[] = [];
  const begun: { hook: AnyHook; ctx: HookContext }[] = [];
  // attempt() keeps a phase's error instead of throwing it, so the cleanups below always run.
  const setupAndRun = async () => {
    for (const p of prepared) {
      if (o.signal.aborted) return;
      const ctx = contextFor(p, result, o);
      begun.push({ hook: p.hook, ctx });
      await attempt(errors, p.hook, "failed", () => p.hook.setup?.(result, ctx));
      if (errors.length > 0) return;
    }
    for (const { hook, ctx } of begun) {
      if (o.signal.aborted) return;
      await attempt(errors, hook, "failed", () => hook.run(result, ctx));
      if (errors.length > 0) return;
    }
  };
  await setupAndRun();
  for (const { hook, ctx } of begun.reverse())
    await attempt(errors, hook, "cleanup failed", () => hook.cleanup?.(result, ctx));
  if (errors.length > 0) throw together(errors);
}

function contextFor(p: PreparedHook, result: PunchResult, o: HookRun): HookContext {
  return {
    options: p.options as HookContext["options"],
    args: p.args,
    logger: o.logger.withTag(p.hook.name),
    signal: o.signal,
    extraArgs: p.extraArgs,
    env: childEnv(resultEnv(result)),
    state: {},
  };
}

/** Runs one phase of one hook, keeping its error (a NetpunchError as it is, anything else as E_HOOK). */
async function attempt(errors: Error[], hook: AnyHook, what: string, phase: () => unknown): Promise<void> {
  try {
    await phase();
  } catch (e) {
    errors.push(e instanceof NetpunchError ? e : Fail.hookFailed(hook.name, what, e));
  }
}

/** One error for the caller: the only one as it is, or one E_HOOK whose message lists them all. */
function together(errors: Error[]): Error {
  const [first] = errors;
  if (errors.length === 1 && first) return first;
  return Fail.hooksFailed(errors);
}
