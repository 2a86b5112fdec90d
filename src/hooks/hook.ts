import type { ArgsDef, ParsedArgs } from "citty";
import type { ConsolaInstance } from "consola";
import type * as v from "valibot";
import type { PunchResult } from "../types.ts";

/**
 * A hook's options as `setup`, `run` and `cleanup` get them: citty's parse of the hook's `args`, with the
 * output of its `check` schema on top, so a `v.transform(Number)` there makes the option a number here.
 */
export type HookOptions<A extends ArgsDef, C> =
  C extends v.GenericSchema<unknown, infer O>
    ? O extends object
      ? { [K in Exclude<keyof A, keyof O>]: ParsedArgs<A>[K] } & O
      : ParsedArgs<A>
    : ParsedArgs<A>;

/** What a hook's `setup`, `run` and `cleanup` get besides the result. */
export interface HookContext<A extends ArgsDef = ArgsDef, C = undefined> {
  /** The hook's options, parsed and checked: the output of `check` over what citty parsed. */
  options: HookOptions<A, C>;
  /** The options as citty parsed them, before `check` (hooks from before `options` read these). */
  args: ParsedArgs<A>;
  /** Logs go to stderr; stdout belongs to the hooks' output (the print hook's result line). */
  logger: ConsolaInstance;
  /**
   * Aborts on SIGINT/SIGTERM: a long-running hook stops its tunnel and returns. `cleanup` runs after it
   * has aborted too, so cleanup must not wait on it.
   */
  signal: AbortSignal;
  /** The command line after `--`, for the hook that declares `passthrough`. */
  extraArgs: string[];
  /**
   * The environment for a child process: netpunch's without the secret, plus NETPUNCH_LPORT, NETPUNCH_RHOST...
   * Pass it to Bun.spawn: without an `env`, Bun copies the environment netpunch started with, secret included.
   */
  env: Record<string, string>;
  /**
   * This hook's scratch space for one punch: what `setup` leaves for `run` and `cleanup` (a daemon to stop).
   * The same object in all three; a fresh one at every punch (`--loop`).
   */
  state: Record<string, unknown>;
  /**
   * Where zero-config hooks keep this host's keys and the partners' pins (undefined when the caller gave
   * none: a hook that needs it refuses its zero-config mode).
   */
  stateDir?: string;
  /** The tunnel's stable identity, "CONFIG/TUNNEL" (`connect`: "connect/SESSION"), naming its keys and pin. */
  tunnel?: string;
}

/** What a hook's `offer` gets: its options, and where its keys live. */
export interface OfferContext<A extends ArgsDef = ArgsDef, C = undefined> {
  options: HookOptions<A, C>;
  args: ParsedArgs<A>;
  logger: ConsolaInstance;
  signal: AbortSignal;
  /** The state directory: the hook keeps its own keys under it (see src/hooks/state-dir.ts keyDir). */
  stateDir: string;
  /** The tunnel's identity, "CONFIG/TUNNEL". */
  tunnel: string;
}

/**
 * A hook gets the punch result and does something with it: print it, launch a tunnel... Its life, with
 * every selected hook in step: `preflight` and `check` before any packet is sent; after the punch, every
 * hook's `setup` in order, then every `run` in order; then `cleanup`, which always runs (after a failure or a
 * signal too) for each hook whose setup began, in reverse order.
 */
export interface NetpunchHook<
  A extends ArgsDef = ArgsDef,
  C extends v.GenericSchema | undefined = v.GenericSchema | undefined,
> {
  name: string;
  description: string;
  /** citty argument definitions: they show in `--help` and `netpunch hooks`, and are parsed with the command line. */
  args?: A;
  /**
   * A valibot object schema over the parsed options, checked before any packet is sent; a failure is a usage
   * error (exit 2) naming the option. Its output is `ctx.options`.
   */
  check?: C;
  /** Set when the hook takes the arguments after `--`; says what they are for (shown in help). */
  passthrough?: string;
  /**
   * Checks that need more than one option's value, or the world (is the program installed?), before any
   * packet is sent. Returns a problem to report as a usage error, or nothing.
   */
  preflight?(ctx: { args: ParsedArgs<A>; extraArgs: string[] }): string | undefined;
  /**
   * Which of this hook's options take a config tunnel's `interface` and `address` (e.g. wg-interface,
   * wg-address), so `netpunch up` can hand them over by meaning rather than by the hook's option names.
   */
  tunnelOptions?: { interface?: string; address?: string };
  /**
   * Zero-config: the bytes to hand the partner before the punch (encodeOffer: a public key, a tunnel
   * address), or undefined when these options need no offer (keys given by hand). Called once per punch,
   * before it; makes this host's keys on first use. The partner's arrives as `result.partnerOffer`.
   */
  offer?(ctx: OfferContext<A, C>): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  /**
   * With `offer`: checks the partner's offer (decodeOffer, throwing E_OFFER) and returns the fingerprint of
   * the partner's key, which is pinned on first use and must match the pin later.
   */
  partnerFingerprint?(partnerOffer: Uint8Array | undefined, tunnel: string): string;
  /** Prepares what `run` needs (brings an interface up); a failure skips every `run`. */
  setup?(result: PunchResult, ctx: HookContext<A, C>): void | Promise<void>;
  /** Gets the result; a long-running hook returns when its tunnel ends or `ctx.signal` aborts. */
  run(result: PunchResult, ctx: HookContext<A, C>): void | Promise<void>;
  /** Undoes what `setup` did, also when setup, a run or the punch's tunnel failed, or a signal came. */
  cleanup?(result: PunchResult, ctx: HookContext<A, C>): void | Promise<void>;
}

/** Any hook, whatever its options: what the loader returns and the runner takes. */
// biome-ignore lint/suspicious/noExplicitAny: hooks carry their own argument types
export type AnyHook = NetpunchHook<any, any>;

/**
 * Identity helper that types a hook: its `run` sees its own options with their types.
 * @example
 * export default defineHook({
 *   name: "hello",
 *   description: "greets the partner's address",
 *   args: { greeting: { type: "string", default: "hello" } },
 *   run(result, { options }) { console.log(options.greeting, result.raddr); },
 * });
 */
export const defineHook = <const A extends ArgsDef, C extends v.GenericSchema | undefined = undefined>(
  hook: NetpunchHook<A, C>,
): NetpunchHook<A, C> => hook;

/** @deprecated "plugin" was the old word for a hook: use {@link defineHook}. Kept so plugin files keep working. */
export const definePlugin: typeof defineHook = defineHook;
/** @deprecated Use {@link NetpunchHook}. */
export type NetpunchPlugin<A extends ArgsDef = ArgsDef> = NetpunchHook<A>;
/** @deprecated Use {@link HookContext}. */
export type PluginContext<A extends ArgsDef = ArgsDef> = HookContext<A>;
