// CPace, the balanced PAKE of draft-irtf-cfrg-cpace-21, cipher suite CPACE-RISTR255-SHA512: the group
// ristretto255 (RFC 9496) and SHA-512, on @noble/curves and @noble/hashes (audited; no curve arithmetic of
// our own). Each step names the draft's section it follows; test/unit/pair/cpace.test.ts runs
// its appendix's ristretto255 vectors. Pure: the secret scalar is an input.
import { ristretto255, ristretto255_hasher } from "@noble/curves/ed25519.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha512 } from "@noble/hashes/sha2.js";

const Point = ristretto255.Point;
/** What CPace needs of a ristretto255 element (noble's point class is not a type it exports). */
export interface RistrettoPoint {
  multiply(scalar: bigint): RistrettoPoint;
  toBytes(): Uint8Array;
  is0(): boolean;
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** G_Ristretto255.DSI, the suite's domain-separation identifier ("G_Ristretto255"). */
export const DSI = utf8("CPaceRistretto255");
/** H.s_in_bytes of SHA-512: its input block, which the generator string's zero padding fills ("Common function for computing generators"). */
const SHA512_BLOCK_BYTES = 128;
/** G.field_size_bytes: an encoded ristretto255 element and a scalar are 32 bytes. */
export const ELEMENT_BYTES = 32;
/** G.I, the encoding of the neutral element: what scalar_mult_vfy answers for an invalid input. */
const IDENTITY = new Uint8Array(ELEMENT_BYTES);

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** prepend_len: the length as LEB128 (7 bits a byte, low first), then the bytes (its appendix). */
export function prependLen(data: Uint8Array): Uint8Array {
  const len: number[] = [];
  let n = data.length;
  do {
    len.push(n < 128 ? n : (n & 0x7f) | 0x80);
    n >>>= 7;
  } while (n > 0);
  return concat(Uint8Array.from(len), data);
}

/** lv_cat: each part with its length prepended, concatenated (its appendix). */
export const lvCat = (...parts: readonly Uint8Array[]): Uint8Array => concat(...parts.map(prependLen));

/** generator_string: DSI, PRS and zeros filling the first hash block, then CI and sid ("Common function for computing generators"). */
export function generatorString(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const zpad = Math.max(0, SHA512_BLOCK_BYTES - 1 - prependLen(prs).length - prependLen(DSI).length);
  return lvCat(DSI, prs, new Uint8Array(zpad), ci, sid);
}

/** calculate_generator: SHA-512 of the generator string through ristretto255's element derivation ("G_Ristretto255"). */
export const calculateGenerator = (prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): RistrettoPoint =>
  ristretto255_hasher.deriveToCurve?.(sha512(generatorString(prs, ci, sid))) ??
  (() => {
    throw new Error("@noble/curves lacks ristretto255 element derivation");
  })();

/**
 * sample_scalar's recommended form ("G_Ristretto255"): 32 random bytes with the bits above the group's 252 cleared,
 * read little-endian. `random32`: 32 bytes from a CSPRNG (or a test vector's scalar).
 */
export function scalarFromBytes(random32: Uint8Array): bigint {
  if (random32.length !== ELEMENT_BYTES) throw new Error(`a scalar takes ${ELEMENT_BYTES} bytes`);
  const b = Uint8Array.from(random32);
  b[ELEMENT_BYTES - 1] = (b[ELEMENT_BYTES - 1] ?? 0) & 0x0f; // 252 bits: the top byte keeps its low 4
  let n = 0n;
  for (let i = ELEMENT_BYTES - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i] ?? 0);
  return Point.Fn.create(n);
}

/** scalar_mult: encode(y * g), the public share Y. */
export const scalarMult = (y: bigint, g: RistrettoPoint): Uint8Array => g.multiply(y).toBytes();

/**
 * scalar_mult_vfy: encode(y * decode(X)), or G.I when X does not decode ("G_Ristretto255"). The caller aborts on
 * G.I ("CPace protocol instructions"): `isIdentity`.
 */
export function scalarMultVfy(y: bigint, x: Uint8Array): Uint8Array {
  let p: RistrettoPoint;
  try {
    p = Point.fromBytes(x);
  } catch {
    return IDENTITY;
  }
  if (p.is0()) return IDENTITY;
  return p.multiply(y).toBytes();
}

export const isIdentity = (k: Uint8Array): boolean => k.length === IDENTITY.length && k.every((b) => b === 0);

/** transcript_ir: the initiator's share and data, then the responder's (the initiator-responder setting). */
export const transcriptIr = (ya: Uint8Array, adA: Uint8Array, yb: Uint8Array, adB: Uint8Array): Uint8Array =>
  concat(lvCat(ya, adA), lvCat(yb, adB));

/** ISK = H(lv_cat(DSI || "_ISK", sid, K) || transcript) ("CPace protocol instructions"). */
export const intermediateKey = (sid: Uint8Array, k: Uint8Array, transcript: Uint8Array): Uint8Array =>
  sha512(concat(lvCat(concat(DSI, utf8("_ISK")), sid, k), transcript));

/** sid_output = H("CPaceSidOutput" || transcript): a public session id both honest sides share ("Calculating a session identifier"). */
export const sidOutput = (transcript: Uint8Array): Uint8Array =>
  sha512(concat(utf8("CPaceSidOutput"), transcript));

/** mac_key of "Key confirmation": mac_key = H("CPaceMac" || sid || ISK). */
export const macKey = (sid: Uint8Array, isk: Uint8Array): Uint8Array =>
  sha512(concat(utf8("CPaceMac"), sid, isk));

/** A party's confirmation tag over the message it sent: HMAC-SHA-512(mac_key, lv_cat(Y, AD)) ("Key confirmation"). */
export const confirmationTag = (key: Uint8Array, y: Uint8Array, ad: Uint8Array): Uint8Array =>
  hmac(sha512, key, lvCat(y, ad));

/** Equal bytes, in time that depends on the length only (tags are compared with it). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
