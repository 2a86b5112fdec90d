import { readFileSync } from "node:fs";
import type { ConsolaInstance } from "consola";
import { NetpunchError } from "../errors.ts";

/**
 * The secret, from (in order) --secret-file, --secret, or NETPUNCH_SECRET. One trailing newline of a file is
 * dropped, since editors add one.
 */
export function resolveSecret(opts: {
  secretFile?: string;
  secret?: string;
  logger: ConsolaInstance;
  fromSeedArgs?: boolean;
}): string {
  let secret: string | undefined;
  if (opts.secretFile) {
    try {
      secret = readFileSync(opts.secretFile, "utf8").replace(/\r?\n$/, "");
    } catch (e) {
      throw new NetpunchError(
        "E_SECRET",
        `cannot read the secret file ${opts.secretFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        "check the path and that this user may read it",
        { cause: e },
      );
    }
  } else if (opts.secret !== undefined) {
    secret = opts.secret;
    opts.logger.warn(
      opts.fromSeedArgs
        ? "the secret is on the command line, visible to other local users (ps); prefer --secret-file or NETPUNCH_SECRET"
        : "--secret puts the secret where other local users can see it (ps); prefer --secret-file or NETPUNCH_SECRET",
    );
  } else {
    secret = process.env.NETPUNCH_SECRET;
  }
  if (secret === undefined) {
    throw new NetpunchError(
      "E_SECRET",
      "no secret given",
      "use --secret-file FILE (or set NETPUNCH_SECRET); server and both peers need the same one",
    );
  }
  if (secret.length === 0)
    throw new NetpunchError(
      "E_SECRET",
      "the secret is empty",
      "put a long random string in the secret file, e.g. openssl rand -hex 32 > secret.txt",
    );
  return secret;
}
