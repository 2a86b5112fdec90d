import type { ArgsDef, ParsedArgs } from "citty";
import type { ConsolaInstance } from "consola";
import type { PunchResult } from "./types.ts";

export interface PluginContext<A extends ArgsDef = ArgsDef> {
  /** The plugin's own options, parsed from the command line. */
  args: ParsedArgs<A>;
  /** Logs go to stderr; stdout belongs to the hook's output (the print hook's result line). */
  logger: ConsolaInstance;
  /** Aborts on SIGINT/SIGTERM: a long-running hook stops its tunnel and returns. */
  signal: AbortSignal;
}

/** A hook that gets the punch result and does something with it: print it, launch a tunnel... */
export interface NetpunchPlugin<A extends ArgsDef = ArgsDef> {
  name: string;
  description: string;
  /** citty argument definitions: they show in `--help` and are parsed with the command line. */
  args?: A;
  run(result: PunchResult, ctx: PluginContext<A>): void | Promise<void>;
}

/**
 * Identity helper that types a plugin.
 * @example
 * export default definePlugin({
 *   name: "hello",
 *   description: "greets the partner's address",
 *   args: { greeting: { type: "string", default: "hello" } },
 *   run(result, { args }) { console.log(args.greeting, result.raddr); },
 * });
 */
export const definePlugin = <const A extends ArgsDef>(plugin: NetpunchPlugin<A>): NetpunchPlugin<A> => plugin;
