// The pair key `netpunch pair` writes and `connect --pair-key-file` (a tunnel's `pair_key_file`) reads: its
// place in the state directory and its format. Small on purpose: connect loads it, not pairing's key makers.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { keyDir } from "../hooks/state-dir.ts";
import { CliFail } from "./hints.ts";

/** The pair key's file: STATE/keys/CONFIG/TUNNEL/pair.key (base64), beside the tunnel's own keys. */
export const pairKeyFile = (stateDir: string, tunnel: string): string =>
  join(keyDir(stateDir, tunnel), "pair.key");

/** A pair key's bytes (src/pair/derive.ts PAIR_KEY_BYTES). */
const PAIR_KEY_LEN = 32;

/** The pair key in `file` (base64 of its 32 bytes, as `pair` writes it); E_SECRET when missing or not one. */
export function readPairKey(file: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw CliFail.pairKeyFile(file, code === "ENOENT" ? "no such file" : `unreadable (${code ?? "error"})`);
  }
  const bytes = Buffer.from(text, "base64");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || bytes.length !== PAIR_KEY_LEN)
    throw CliFail.pairKeyFile(file, `it does not hold a pair key (${PAIR_KEY_LEN} bytes in base64)`);
  return new Uint8Array(bytes);
}
