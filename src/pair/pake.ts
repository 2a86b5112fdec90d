// netpunch's pairing handshake on CPace (cpace.ts), initiator-responder with role a as the initiator:
// 1. each side sends its message, [version][Y][AD], AD being its tunnel offer (pair-offer.ts): the draft's
//    associated data, which CPace authenticates (the two keys agree only if both saw the same AD);
// 2. each side derives ISK, and from it its confirmation tag and the one it expects from the partner;
// 3. each side sends its tag; the partner's tag checks out only if both used the same code and nobody altered
//    a message on the way (a wrong code is seen on both sides). Then the pair key is theirs.
// Pure: the secret scalar comes in as 32 random bytes.
import { Fail } from "../errors.ts";
import type { Role } from "../types.ts";
import type { PairCode } from "./code.ts";
import {
  calculateGenerator,
  concat,
  confirmationTag,
  ELEMENT_BYTES,
  equalBytes,
  intermediateKey,
  isIdentity,
  lvCat,
  macKey,
  scalarFromBytes,
  scalarMult,
  scalarMultVfy,
  sidOutput,
  transcriptIr,
} from "./cpace.ts";
import { derivePairKey } from "./derive.ts";

/** The pairing message format; a partner's other version is refused (it is also bound into CI). */
export const PAKE_VERSION = 1;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * CPace's inputs from a code: PRS, the secret, is its words; CI binds the protocol, its version and the
 * nameplate (so a code's words under another number are another password); sid is empty, since nothing
 * unique is shared before the messages (the draft's sid_output then salts the pair key, see derive.ts).
 */
export function pakeInputs(code: PairCode): { prs: Uint8Array; ci: Uint8Array; sid: Uint8Array } {
  return {
    prs: utf8(code.words.join("-")),
    ci: lvCat(utf8(`netpunch pair v${PAKE_VERSION}`), utf8(String(code.nameplate))),
    sid: new Uint8Array(0),
  };
}

/** One side's half-done handshake: what it sent, and its secret scalar (never leaves this object). */
export interface PakeState {
  readonly role: Role;
  readonly code: PairCode;
  readonly y: bigint;
  readonly share: Uint8Array;
  readonly ad: Uint8Array;
}

/** Step 1: this side's message for the partner, and the state to finish with. */
export function startPake(o: { role: Role; code: PairCode; ad: Uint8Array; random32: Uint8Array }): {
  message: Uint8Array;
  state: PakeState;
} {
  const { prs, ci, sid } = pakeInputs(o.code);
  const g = calculateGenerator(prs, ci, sid);
  const y = scalarFromBytes(o.random32);
  const share = scalarMult(y, g);
  return {
    message: concat(Uint8Array.of(PAKE_VERSION), share, o.ad),
    state: { role: o.role, code: o.code, y, share, ad: o.ad },
  };
}

/** What step 2 yields: the keys, this side's tag to send, the partner's to expect, the partner's offer. */
export interface PakeKeys {
  /** The long-term pair key (HKDF of ISK): valid only once `checkConfirmation` has passed. */
  pairKey: Uint8Array;
  /** CPace's public sid_output: names the confirmation exchange's session. */
  sid: Uint8Array;
  tag: Uint8Array;
  expectedTag: Uint8Array;
  /** The partner's AD (its tunnel offer): trustworthy only once `checkConfirmation` has passed. */
  partnerAd: Uint8Array;
}

/**
 * Step 2, on the partner's message. Throws E_PAIR (bad-message) for a message of another version, too
 * short, or whose share does not decode or is the neutral element (the draft's abort).
 */
export function finishPake(state: PakeState, partnerMessage: Uint8Array | undefined): PakeKeys {
  if (
    partnerMessage === undefined ||
    partnerMessage.length < 1 + ELEMENT_BYTES ||
    partnerMessage[0] !== PAKE_VERSION
  )
    throw Fail.pairFailed("bad-message");
  const partnerShare = partnerMessage.subarray(1, 1 + ELEMENT_BYTES);
  const partnerAd = partnerMessage.subarray(1 + ELEMENT_BYTES);
  const k = scalarMultVfy(state.y, partnerShare);
  if (isIdentity(k)) throw Fail.pairFailed("bad-message");
  const [ya, adA, yb, adB] =
    state.role === "a"
      ? [state.share, state.ad, partnerShare, partnerAd]
      : [partnerShare, partnerAd, state.share, state.ad];
  const transcript = transcriptIr(ya, adA, yb, adB);
  const { sid } = pakeInputs(state.code);
  const isk = intermediateKey(sid, k, transcript);
  const sidOut = sidOutput(transcript);
  const mac = macKey(sid, isk);
  return {
    pairKey: derivePairKey(isk, sidOut),
    sid: sidOut,
    tag: confirmationTag(mac, state.share, state.ad),
    expectedTag: confirmationTag(mac, partnerShare, partnerAd),
    partnerAd: Uint8Array.from(partnerAd),
  };
}

/** Step 3: the partner's tag. Throws E_PAIR (wrong-code) unless it proves the same key. */
export function checkConfirmation(keys: PakeKeys, partnerTag: Uint8Array | undefined): void {
  if (partnerTag === undefined || !equalBytes(partnerTag, keys.expectedTag))
    throw Fail.pairFailed("wrong-code");
}
