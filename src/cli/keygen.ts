import { closeSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { defineCommand } from "citty";
import { checkArgs, logArgs } from "./common.ts";
import { CliFail } from "./hints.ts";
import { makeLogger } from "./logger.ts";

/** 32 random bytes: a 256-bit key, beyond any guessing whatever the key derivation. */
export const SECRET_BYTES = 32;

/** The OS's CSPRNG through Web Crypto, a global: no node:crypto to load at every start-up for one command. */
const osRandom = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

/** A fresh secret: 32 bytes from the OS's CSPRNG as base64url without padding (43 characters). Pure but for the randomness. */
export const newSecret = (random: (n: number) => Uint8Array = osRandom): string =>
  Buffer.from(random(SECRET_BYTES)).toString("base64url");

export const keygenArgs = {
  output: {
    type: "string",
    alias: "o",
    valueHint: "FILE",
    description:
      "write the secret to FILE (created with mode 0600) instead of stdout; an existing FILE is refused",
  },
  force: {
    type: "boolean",
    description: "with --output: replace FILE if it exists (the old secret stops working)",
  },
  quiet: logArgs.quiet,
} as const;

/**
 * Writes `text` to `file` readable only by this user. Without `force` an existing file (or symlink) is an error
 * (O_EXCL); with it the secret goes to a new file beside it, renamed over the old one, so the new secret never
 * sits in a file with the old file's looser mode.
 */
export function writeSecretFile(file: string, text: string, force: boolean): void {
  const target = force
    ? join(dirname(file), `.${basename(file)}.${Buffer.from(osRandom(6)).toString("hex")}.tmp`)
    : file;
  let fd: number;
  try {
    fd = openSync(target, "wx", 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw CliFail.fileExists(file);
    throw CliFail.cannotWrite(file, "create", code ?? (e as Error).message, e);
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  if (target !== file) {
    try {
      renameSync(target, file);
    } catch (e) {
      unlinkSync(target);
      throw CliFail.cannotWrite(
        file,
        "replace",
        (e as NodeJS.ErrnoException).code ?? (e as Error).message,
        e,
      );
    }
  }
}

export const keygenCommand = defineCommand({
  meta: {
    name: "keygen",
    description:
      "print a fresh random 256-bit shared secret (43 characters, base64url); use --output FILE to save it instead",
  },
  args: keygenArgs,
  async run({ args, rawArgs }) {
    checkArgs(rawArgs, keygenArgs);
    const logger = makeLogger({ quiet: args.quiet });
    const secret = newSecret();
    const file = args.output;
    if (file === undefined || file === "") {
      if (args.force) throw CliFail.forceWithoutOutput();
      process.stdout.write(`${secret}\n`);
      logger.info(
        "save it in a file readable only by you (netpunch keygen --output secret.txt), then give that file to the server and both peers: netpunch serve --secret-file secret.txt",
      );
      return;
    }
    writeSecretFile(file, `${secret}\n`, args.force === true);
    logger.info(
      `wrote a new secret to ${file} (mode 0600); copy it to the server and both peers and use it with: netpunch serve --secret-file ${file}`,
    );
  },
});
