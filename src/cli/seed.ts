import { defineCommand } from "citty";
import type { Role } from "../types.ts";
import { checkArgs, logArgs, loopArgs } from "./common.ts";
import { makeLogger } from "./logger.ts";
import { runPeer, selectedHookArgs } from "./peer.ts";
import { shutdown } from "./runtime.ts";
import { resolveSecret } from "./secret.ts";
import { runServer } from "./serve.ts";

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

const seedPeer = (role: Role) =>
  defineCommand({
    meta: {
      name: role,
      description: `seed-compatible peer ${role}: ${role} SECRET LOCAL SERVER (same as connect --role ${role})`,
    },
    args: () => ({ ...seedPeerArgs, ...selectedHookArgs() }),
    async run({ args, rawArgs }) {
      checkArgs(rawArgs, { ...seedPeerArgs, ...selectedHookArgs() });
      const logger = makeLogger({ quiet: args.quiet, verbose: args.verbose });
      await runPeer({
        role,
        server: String(args.server),
        local: String(args.local),
        secret: resolveSecret({ secret: String(args.secret), logger, fromSeedArgs: true }),
        session: "default",
        timeoutMs: undefined,
        punchMs: undefined,
        serverSilentMs: undefined,
        lan: true,
        loop: args.loop === true,
        args,
        rawArgs,
        logger,
        signal: shutdown,
      });
    },
  });

export const seedA = seedPeer("a");
export const seedB = seedPeer("b");

const serverArgs = {
  secret: { type: "positional", required: true, description: "shared secret" },
  listen: { type: "positional", required: true, description: "UDP address to listen on, e.g. :10001" },
  ...logArgs,
} as const;

export const seedC = defineCommand({
  meta: { name: "c", description: "seed-compatible server: c SECRET LISTEN (same as serve)" },
  args: serverArgs,
  async run({ args, rawArgs }) {
    checkArgs(rawArgs, serverArgs);
    await runServer({
      listen: args.listen,
      secret: args.secret,
      quiet: args.quiet,
      verbose: args.verbose,
      seed: true,
    });
  },
});
