import { defineCommand } from "citty";
import type { Role } from "../types.ts";
import { logArgs, rejectUnknownOptions } from "./common.ts";
import { makeLogger } from "./logger.ts";
import { hookArgs, runPeer } from "./peer.ts";
import { shutdown } from "./runtime.ts";
import { resolveSecret } from "./secret.ts";
import { runServer } from "./serve.ts";

/**
 * The original tool's positional forms, kept byte-for-byte for existing scripts:
 *   netpunch c SECRET LISTEN            (server)
 *   netpunch a|b SECRET LOCAL SERVER    (peers; prints the LADDR/... line)
 */
const peerArgs = {
  secret: { type: "positional", required: true, description: "shared secret" },
  local: { type: "positional", required: true, description: "local UDP address, e.g. :10000" },
  server: { type: "positional", required: true, description: "the rendezvous server, HOST:PORT" },
  ...logArgs,
} as const;

const seedPeer = (role: Role) =>
  defineCommand({
    meta: {
      name: role,
      description: `seed-compatible peer ${role}: ${role} SECRET LOCAL SERVER (same as connect --role ${role})`,
    },
    args: () => ({
      ...peerArgs,
      ...hookArgs(),
      hook: { type: "string", default: "print", description: "what to do with the result" },
    }),
    async run({ args, rawArgs }) {
      rejectUnknownOptions(rawArgs, { ...peerArgs, ...hookArgs(), hook: { type: "string" } });
      const logger = makeLogger(args);
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
        hook: String(args.hook),
        args,
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
    rejectUnknownOptions(rawArgs, serverArgs);
    await runServer({
      listen: args.listen,
      secret: args.secret,
      quiet: args.quiet,
      verbose: args.verbose,
      seed: true,
    });
  },
});
