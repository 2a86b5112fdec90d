// A PEM file an option names (a certificate, a key, a CA to trust), read for the option that named it.
import { readFileSync } from "node:fs";
import { CliFail } from "./hints.ts";

/** A PEM file's text; a usage error naming the option when it cannot be read. */
export function readPem(flag: string, file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw CliFail.unreadableFile(flag, file, (e as NodeJS.ErrnoException).code ?? String(e));
  }
}
