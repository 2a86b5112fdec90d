import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import type { ConsolaInstance } from "consola";
import { STRONG_SECRET_BYTES } from "../protocol/auth.ts";
import { CliFail, type SecretFileProblem } from "./hints.ts";

/**
 * The largest secret file read. A `netpunch keygen` secret is 43 bytes and a long passphrase a few hundred;
 * 4 KiB leaves room for either while a mistaken path (/dev/zero, a log file) fails at once instead of
 * filling memory.
 */
export const MAX_SECRET_FILE_BYTES = 4096;

/** Below this many bytes the secret is warned about: the same bound below which it is stretched. */
export const SHORT_SECRET_BYTES = STRONG_SECRET_BYTES;

/**
 * The secret as bytes, from (in order) --secret-file, --secret, or NETPUNCH_SECRET. A file is read as bytes
 * (two files that differ only in invalid UTF-8 are two secrets); one trailing newline (\n or \r\n) is
 * dropped, since editors add one. A string secret is its UTF-8 bytes. The secret itself is never logged.
 */
export function resolveSecret(opts: {
  secretFile?: string;
  secret?: string;
  logger: ConsolaInstance;
  fromSeedArgs?: boolean;
}): Uint8Array {
  let secret: Uint8Array | undefined;
  if (opts.secretFile) {
    secret = readSecretFile(opts.secretFile, opts.logger);
  } else if (opts.secret !== undefined) {
    secret = new TextEncoder().encode(opts.secret);
    opts.logger.warn(
      opts.fromSeedArgs
        ? "the secret is on the command line, visible to other local users (ps); prefer --secret-file or NETPUNCH_SECRET"
        : "--secret puts the secret where other local users can see it (ps); prefer --secret-file or NETPUNCH_SECRET",
    );
  } else if (process.env.NETPUNCH_SECRET !== undefined) {
    secret = new TextEncoder().encode(process.env.NETPUNCH_SECRET);
  }
  if (secret === undefined) {
    throw CliFail.noSecret();
  }
  if (secret.length === 0) throw CliFail.emptySecret();
  if (secret.length < SHORT_SECRET_BYTES)
    opts.logger.warn(
      `short secret (${secret.length} bytes, under ${SHORT_SECRET_BYTES}): it is stretched with scrypt, which slows guessing, but a dictionary word still falls to an offline guess from one captured packet; \`netpunch keygen\` makes a 256-bit one`,
    );
  return secret;
}

/** Drops one trailing "\n" or "\r\n". */
export function dropTrailingNewline(b: Uint8Array): Uint8Array {
  if (b[b.length - 1] !== 0x0a) return b;
  return b.subarray(0, b.length - (b[b.length - 2] === 0x0d ? 2 : 1));
}

/**
 * A file holding secrets, as bytes, with one trailing newline dropped: opened without blocking, a regular file,
 * at most `maxBytes`, and a warning when other users may read or write it. `what` names it in messages.
 */
export function readSecretFile(
  file: string,
  logger: ConsolaInstance,
  maxBytes = MAX_SECRET_FILE_BYTES,
  what = "secret file",
): Uint8Array {
  const fail = (problem: SecretFileProblem, cause?: unknown): never => {
    throw CliFail.secretFile(file, problem, cause, what);
  };
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever and deaf to SIGTERM.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    return fail({ open: (e as NodeJS.ErrnoException).code ?? (e as Error).message }, e);
  }
  try {
    const st = fstatSync(fd); // the opened file itself: a symlink is followed, and cannot change under us
    if (!st.isFile()) fail({ notAFile: kindOf(st) });
    if ((st.mode & 0o077) !== 0)
      logger.warn(
        `the ${what} ${file} can be read or written by other users (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}); chmod 600 ${file}`,
      );
    const buf = new Uint8Array(maxBytes + 1);
    let n = 0;
    for (;;) {
      let got: number;
      try {
        got = readSync(fd, buf, n, buf.length - n, null);
      } catch (e) {
        return fail({ read: (e as NodeJS.ErrnoException).code ?? (e as Error).message }, e);
      }
      if (got === 0) break;
      n += got;
      if (n > maxBytes) fail({ largerThan: maxBytes });
    }
    return dropTrailingNewline(buf.slice(0, n));
  } finally {
    closeSync(fd);
  }
}

function kindOf(st: import("node:fs").Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a named pipe";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a file";
}
