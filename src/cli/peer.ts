import type { ArgsDef, ParsedArgs } from "citty";
import type { ConsolaInstance } from "consola";
import { builtinPlugins } from "../../plugins/index.ts";
import { NetpunchError } from "../errors.ts";
import type { NetpunchPlugin } from "../plugin.ts";
import { connect } from "../punch/connect.ts";
import type { Role } from "../types.ts";
import { eventLogger } from "./logger.ts";

export interface PeerRun {
  role: Role;
  server: string;
  local: string;
  secret: string;
  session: string;
  timeoutMs: number | undefined;
  punchMs: number | undefined;
  serverSilentMs: number | undefined;
  lan: boolean;
  hook: string;
  /** Every parsed option; each hook picks its own. */
  /** Every parsed option; each hook reads its own. */
  args: object;
  logger: ConsolaInstance;
  signal: AbortSignal;
}

/** Options of every built-in hook, merged into the peer commands so they show in --help. */
export function hookArgs(): ArgsDef {
  return Object.assign({}, ...Object.values(builtinPlugins).map((p) => p.args ?? {}));
}

// biome-ignore lint/suspicious/noExplicitAny: plugins carry their own argument types
export function findHook(name: string): NetpunchPlugin<any> {
  const plugin = builtinPlugins[name];
  if (!plugin) {
    throw new NetpunchError(
      "E_USAGE",
      `unknown hook "${name}"`,
      `available hooks: ${Object.keys(builtinPlugins).join(", ")}`,
    );
  }
  return plugin;
}

/** Punch, then hand the result to the hook. The hook is looked up first: a typo fails before any packet. */
export async function runPeer(p: PeerRun): Promise<void> {
  const hook = findHook(p.hook);
  const result = await connect({
    server: p.server,
    local: p.local,
    secret: p.secret,
    role: p.role,
    session: p.session,
    timeoutMs: p.timeoutMs,
    lan: p.lan,
    timings: {
      ...(p.punchMs !== undefined ? { punchMs: p.punchMs } : {}),
      ...(p.serverSilentMs !== undefined ? { serverSilentMs: p.serverSilentMs } : {}),
    },
    signal: p.signal,
    onEvent: eventLogger(p.logger),
  });
  try {
    await hook.run(result, {
      args: p.args as ParsedArgs,
      logger: p.logger.withTag(hook.name),
      signal: p.signal,
    });
  } catch (e) {
    if (e instanceof NetpunchError) throw e;
    throw new NetpunchError(
      "E_HOOK",
      `hook "${hook.name}" failed: ${(e as Error).message}`,
      "run with --verbose for details",
      { cause: e },
    );
  }
}
