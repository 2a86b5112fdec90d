import type { ConsolaInstance } from "consola";
import { Fail, NetpunchError } from "../errors.ts";
import type { PunchResult } from "../types.ts";
import { childEnv } from "./env.ts";
import type { AnyHook, HookContext, OfferContext } from "./hook.ts";
import { checkPin, type PinOutcome } from "./pins.ts";
import { resultEnv } from "./result-env.ts";
import type { PreparedHook } from "./run.ts";

export interface HookRun {
  logger: ConsolaInstance;
  signal: AbortSignal;
  /** The state directory and the tunnel's identity, for the hooks' zero-config mode (HookContext). */
  stateDir?: string;
  tunnel?: string;
}

/** What a zero-config punch needs besides the hooks: where keys and pins live, and whose tunnel this is. */
export interface OfferRun {
  logger: ConsolaInstance;
  signal: AbortSignal;
  stateDir: string;
  /** "CONFIG/TUNNEL" (src/hooks/state-dir.ts tunnelId, connectTunnelId). */
  tunnel: string;
}

/** This side's offer and the hook that made it: `bytes` go to connect({ offer }). */
export interface Offering {
  hook: AnyHook;
  bytes: Uint8Array;
}

/**
 * Before the punch: asks every hook that declares `offer` for its bytes (making its keys on first use).
 * Returns undefined when none offers (keys given by hand); two hooks offering is E_USAGE, since one punch
 * carries one offer. A failure is the hook's E_HOOK, or its NetpunchError as it is.
 */
export async function makeOffer(prepared: PreparedHook[], o: OfferRun): Promise<Offering | undefined> {
  const offers: Offering[] = [];
  for (const p of prepared) {
    if (!p.hook.offer) continue;
    const ctx: OfferContext = {
      options: p.options as OfferContext["options"],
      args: p.args,
      logger: o.logger.withTag(p.hook.name),
      signal: o.signal,
      stateDir: o.stateDir,
      tunnel: o.tunnel,
    };
    let bytes: Uint8Array | undefined;
    try {
      bytes = await p.hook.offer(ctx);
    } catch (e) {
      throw e instanceof NetpunchError ? e : Fail.hookFailed(p.hook.name, "could not make its offer", e);
    }
    if (bytes !== undefined) offers.push({ hook: p.hook, bytes });
  }
  if (offers.length > 1) throw Fail.offerTwice(offers.map((x) => x.hook.name));
  return offers[0];
}

/**
 * After the punch, before any hook's setup: checks the partner's offer with the hook that made ours, and
 * pins the partner's key on first use. Throws E_OFFER (missing, malformed, another hook or version) or
 * E_PIN_MISMATCH (another key than the pinned one); the tunnel must then not start. Without an offering
 * of ours there is nothing to check: undefined.
 */
export function checkPartnerOffer(
  offering: Offering | undefined,
  result: PunchResult,
  o: Omit<OfferRun, "signal">,
): PinOutcome | undefined {
  if (!offering) return undefined;
  const read = offering.hook.partnerFingerprint;
  if (!read)
    throw Fail.hookFailed(offering.hook.name, "offers but cannot read an offer", "no partnerFingerprint");
  let fingerprint: string;
  try {
    fingerprint = read(result.partnerOffer, o.tunnel);
  } catch (e) {
    throw e instanceof NetpunchError
      ? e
      : Fail.hookFailed(offering.hook.name, "could not read the partner's offer", e);
  }
  const outcome = checkPin(o.stateDir, o.tunnel, fingerprint);
  if (outcome === "first-use")
    o.logger.info(`tunnel ${o.tunnel}: pinned the partner's key ${fingerprint} (first use)`);
  return outcome;
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
    stateDir: o.stateDir,
    tunnel: o.tunnel,
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
