import { defineCommand } from "citty";
import type { Role } from "../types.ts";
import { checkArgs, logArgs, loopArgs } from "./common.ts";
import { makeLogger } from "./logger.ts";
import { commandParts, type HookSelection, runPeer } from "./peer.ts";
import type { CommandContext } from "./runtime.ts";
import { resolveSecret } from "./secret.ts";

/** Stands in for a seed secret that starts with "-", so the option parser cannot take it for an option. */
const SHIELDED = "\u0000netpunch-seed-secret";

/**
 * The seed forms take the secret as their first positional, and a secret may start with "-" ("-abc"): the
 * option parser would take it for options, and an "unknown option" error would print it. Before parsing,
 * such a secret is swapped for a placeholder; the secret is returned beside the arguments, for the seed
 * commands to swap back (CommandContext.shieldedSecret). Pure.
 */
export function shieldSeedSecret(
  command: string | undefined,
  rest: string[],
): { rest: string[]; secret?: string } {
  const positionals = command === "c" ? 2 : command === "a" || command === "b" ? 3 : 0;
  const first = rest[0];
  if (
    !positionals ||
    first === undefined ||
    !first.startsWith("-") ||
    first === "--" ||
    rest.length < positionals
  )
    return { rest };
  if (first === "--help" || first === "-h") return { rest };
  return { rest: [SHIELDED, ...rest.slice(1)], secret: first };
}

const seedSecret = (given: string, ctx: CommandContext): string =>
  given === SHIELDED && ctx.shieldedSecret !== undefined ? ctx.shieldedSecret : given;

/**
 * The original tool's positional forms, kept byte-for-byte for existing scripts:
 *   netpunch c SECRET LISTEN            (server)
 *   netpunch a|b SECRET LOCAL SERVER    (peers; prints the LADDR/... line)
 */
export const seedPeerArgs = {
  secret: { type: "positional", required: true, description: "shared secret" },
  local: { type: "positional", required: true, description: "local UDP address, e.g. :10000" },
  server: { type: "positional", required: true, description: "the rendezvous server, HOST:PORT" },
  ...loopArgs,
  ...logArgs,
} as const;

/** `netpunch a` / `netpunch b`, with the options of the hooks its command line selected. */
const seedPeer = (role: Role, selected: HookSelection, ctx: CommandContext) =>
  defineCommand({
    meta: {
      name: role,
      description: `seed-compatible peer ${role}: ${role} SECRET LOCAL SERVER (same as connect --role ${role})`,
    },
    args: { ...seedPeerArgs, ...selected.args },
    async run({ args, rawArgs }) {
      checkArgs(rawArgs, { ...seedPeerArgs, ...selected.args });
      const logger = makeLogger({ quiet: args.quiet, verbose: args.verbose });
      await runPeer({
        role,
        servers: [String(args.server)],
        local: String(args.local),
        secret: resolveSecret({ secret: seedSecret(String(args.secret), ctx), logger, fromSeedArgs: true }),
        session: "default",
        timeoutMs: undefined,
        punchMs: undefined,
        serverSilentMs: undefined,
        lan: true,
        loop: args.loop === true,
        ...commandParts(selected, args, rawArgs, logger, ctx.signal),
      });
    },
  });

export const seedA = (selected: HookSelection, ctx: CommandContext) => seedPeer("a", selected, ctx);
export const seedB = (selected: HookSelection, ctx: CommandContext) => seedPeer("b", selected, ctx);

const serverArgs = {
  secret: { type: "positional", required: true, description: "shared secret" },
  listen: { type: "positional", required: true, description: "UDP address to listen on, e.g. :10001" },
  ...logArgs,
} as const;

export const seedC = (ctx: CommandContext) =>
  defineCommand({
    meta: { name: "c", description: "seed-compatible server: c SECRET LISTEN (same as serve)" },
    args: serverArgs,
    async run({ args, rawArgs }) {
      checkArgs(rawArgs, serverArgs);
      const { runServer } = await import("./serve.ts"); // the server, loaded only for the server's command
      await runServer({
        listen: args.listen,
        secret: seedSecret(String(args.secret), ctx),
        quiet: args.quiet,
        verbose: args.verbose,
        seed: true,
        signal: ctx.signal,
      });
    },
  });
