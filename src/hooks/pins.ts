// Trust on first use: the first key a tunnel's partner offers is pinned in the state directory; a later
// punch that brings another key is refused until the pin is forgotten (`netpunch forget CONFIG TUNNEL`).
// Who could substitute a key on that first use: anyone holding the shared secret, the server's operator
// included, since the offer travels inside the rendezvous exchange that secret authenticates.
import { rmSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { Fail } from "../errors.ts";
import { readIfThere, tunnelSegments, writePrivateFile } from "./state-dir.ts";

/** A pinned fingerprint: printable, one line, as long as a hook's key strings get (base64, hex with colons). */
const FINGERPRINT = v.pipe(v.string(), v.regex(/^[\x21-\x7e]{1,200}$/));

/** The file that holds a tunnel's pin: STATE/pins/CONFIG/TUNNEL. */
export const pinFile = (stateDir: string, tunnel: string): string =>
  join(stateDir, "pins", ...tunnelSegments(tunnel));

/** The partner's fingerprint pinned for `tunnel`, or undefined before the first punch (for status). */
export function pinnedFingerprint(stateDir: string, tunnel: string): string | undefined {
  const file = pinFile(stateDir, tunnel);
  const text = readIfThere(file)?.trim();
  if (text === undefined) return undefined;
  const r = v.safeParse(FINGERPRINT, text);
  if (!r.success) throw Fail.stateUnusable(file, "read a fingerprint from", new Error("not a fingerprint"));
  return r.output;
}

/** `first-use`: nothing was pinned, now `fingerprint` is; `same`: it matched the pin. */
export type PinOutcome = "first-use" | "same";

/**
 * Checks the partner's `fingerprint` against the tunnel's pin, pinning it when there is none yet.
 * Throws E_PIN_MISMATCH (naming the tunnel and both fingerprints) when another key is pinned.
 */
export function checkPin(stateDir: string, tunnel: string, fingerprint: string): PinOutcome {
  if (!v.is(FINGERPRINT, fingerprint))
    throw Fail.stateUnusable(pinFile(stateDir, tunnel), "pin", new Error("not a fingerprint"));
  const pinned = pinnedFingerprint(stateDir, tunnel);
  if (pinned === fingerprint) return "same";
  if (pinned !== undefined) throw Fail.pinMismatch(tunnel, pinned, fingerprint, pinFile(stateDir, tunnel));
  writePrivateFile(pinFile(stateDir, tunnel), `${fingerprint}\n`);
  return "first-use";
}

/** Removes the tunnel's pin; returns the fingerprint it held, or undefined when there was none. */
export function forgetPin(stateDir: string, tunnel: string): string | undefined {
  const pinned = pinnedFingerprint(stateDir, tunnel);
  if (pinned === undefined) return undefined;
  const file = pinFile(stateDir, tunnel);
  try {
    rmSync(file);
  } catch (e) {
    throw Fail.stateUnusable(file, "remove", e);
  }
  return pinned;
}
