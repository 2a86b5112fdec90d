import { defineCommand } from "citty";
import { formatEndpoint, parseAddress } from "../addr.ts";
import { serve } from "../rendezvous/server.ts";
import { logArgs, rejectUnknownOptions, secretArgs } from "./common.ts";
import { eventLogger, makeLogger } from "./logger.ts";
import { shutdown } from "./runtime.ts";
import { resolveSecret } from "./secret.ts";

export const serveArgs = {
  listen: {
    type: "string",
    valueHint: "HOST:PORT",
    default: "0.0.0.0:10001",
    description: "UDP address to listen on; [::]:PORT for IPv6",
  },
  ...secretArgs,
  ...logArgs,
} as const;

/** Runs the server until SIGINT/SIGTERM. Shared by `serve` and the seed form `c SECRET ADDR`. */
export async function runServer(o: {
  listen: string;
  secret?: string;
  secretFile?: string;
  quiet?: boolean;
  verbose?: boolean;
  seed?: boolean;
}) {
  const logger = makeLogger(o);
  const parsed = parseAddress(o.listen, "listen address", { allowEmptyHost: true });
  const secret = resolveSecret({ secret: o.secret, secretFile: o.secretFile, logger, fromSeedArgs: o.seed });
  const server = await serve({
    listen: { host: parsed.host || "0.0.0.0", port: parsed.port },
    secret,
    signal: shutdown,
    onEvent: eventLogger(logger),
  });
  logger.info(`rendezvous server listening on UDP ${formatEndpoint(server.local)}`);
  await server.closed;
  const s = server.stats();
  logger.info(`stopped; ${s.pairsMade} pairs made, ${s.packetsIn} packets in, ${s.packetsOut} out`);
}

export const serveCommand = defineCommand({
  meta: { name: "serve", description: "run the rendezvous server (on a host with a public IP)" },
  args: serveArgs,
  async run({ args, rawArgs }) {
    rejectUnknownOptions(rawArgs, serveArgs);
    await runServer({
      listen: args.listen,
      secret: args.secret,
      secretFile: args["secret-file"],
      quiet: args.quiet,
      verbose: args.verbose,
    });
  },
});
