import type { ArgsDef, ParsedArgs } from "citty";
import type { ConsolaInstance } from "consola";
import type * as v from "valibot";
import type { PunchResult } from "../types.ts";

/** What a hook's `run` gets besides the result. */
export interface HookContext<A extends ArgsDef = ArgsDef> {
  /** The hook's own options, parsed from the command line (and checked with `check`). */
  args: ParsedArgs<A>;
  /** Logs go to stderr; stdout belongs to the hooks' output (the print hook's result line). */
  logger: ConsolaInstance;
  /** Aborts on SIGINT/SIGTERM: a long-running hook stops its tunnel and returns. */
  signal: AbortSignal;
  /** The command line after `--`, for the hook that declares `passthrough`. */
  extraArgs: string[];
  /**
   * The environment for a child process: netpunch's without the secret, plus NETPUNCH_LPORT, NETPUNCH_RHOST...
   * Pass it to Bun.spawn: without an `env`, Bun copies the environment netpunch started with, secret included.
   */
  env: Record<string, string>;
}

/** A hook gets the punch result and does something with it: print it, launch a tunnel... */
export interface NetpunchHook<A extends ArgsDef = ArgsDef> {
  name: string;
  description: string;
  /** citty argument definitions: they show in `--help` and `netpunch hooks`, and are parsed with the command line. */
  args?: A;
  /**
   * A valibot object schema over the parsed options, checked before any packet is sent; a failure is a usage
   * error (exit 2) naming the option.
   */
  check?: v.GenericSchema;
  /** Set when the hook takes the arguments after `--`; says what they are for (shown in help). */
  passthrough?: string;
  /**
   * Checks that need more than one option's value, or the world (is the program installed?), before any
   * packet is sent. Returns a problem to report as a usage error, or nothing.
   */
  preflight?(ctx: { args: ParsedArgs<A>; extraArgs: string[] }): string | undefined;
  /** Gets the result; a long-running hook returns when its tunnel ends or `ctx.signal` aborts. */
  run(result: PunchResult, ctx: HookContext<A>): void | Promise<void>;
}

/** Any hook, whatever its options: what the loader returns and the runner takes. */
// biome-ignore lint/suspicious/noExplicitAny: hooks carry their own argument types
export type AnyHook = NetpunchHook<any>;

/**
 * Identity helper that types a hook: its `run` sees its own options with their types.
 * @example
 * export default defineHook({
 *   name: "hello",
 *   description: "greets the partner's address",
 *   args: { greeting: { type: "string", default: "hello" } },
 *   run(result, { args }) { console.log(args.greeting, result.raddr); },
 * });
 */
export const defineHook = <const A extends ArgsDef>(hook: NetpunchHook<A>): NetpunchHook<A> => hook;

/** @deprecated "plugin" was the old word for a hook: use {@link defineHook}. Kept so plugin files keep working. */
export const definePlugin: typeof defineHook = defineHook;
/** @deprecated Use {@link NetpunchHook}. */
export type NetpunchPlugin<A extends ArgsDef = ArgsDef> = NetpunchHook<A>;
/** @deprecated Use {@link HookContext}. */
export type PluginContext<A extends ArgsDef = ArgsDef> = HookContext<A>;
