// Shared fixtures for the unit tests (not a test file itself).
import { sameEndpoint } from "../../src/addr.ts";
import { NetpunchError } from "../../src/errors.ts";
import { deriveKey, deriveKeyV1, tag } from "../../src/protocol/auth.ts";
import { HEADER_LEN, MAGIC, NONCE_LEN, TAG_LEN, VERSION } from "../../src/protocol/constants.ts";
import type { Message, Register } from "../../src/protocol/messages.ts";
import type { Frame } from "../../src/protocol/packet.ts";
import { type CoreOptions, RendezvousCore, type ServerAction } from "../../src/rendezvous/core.ts";
import { MemoryStore } from "../../src/rendezvous/store.ts";
import type { Endpoint } from "../../src/types.ts";

/** The wire version 2 key of "test-secret" (a short secret: scrypt, then HKDF). */
export const KEY = deriveKey("test-secret");
/** Wire version 1's key of the same secret: what an old peer seals with. */
export const KEY_V1 = deriveKeyV1("test-secret");
export const TS = 1_700_000_000_000;

/** A deterministic 12-byte nonce: bytes start, start+1, ... */
export function nonceBytes(start = 0): Uint8Array {
  return Uint8Array.from({ length: NONCE_LEN }, (_, i) => (start + i) & 0xff);
}

export const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
export const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, "hex"));

/** Builds a packet by hand from its parts, with a valid tag over everything before it. */
export function craft(
  parts: {
    body: Uint8Array;
    type: number;
    version?: number;
    magic?: readonly [number, number];
    timestamp?: number;
    nonce?: Uint8Array;
  },
  key: Uint8Array = KEY,
): Uint8Array {
  const head = new Uint8Array(HEADER_LEN);
  const magic = parts.magic ?? MAGIC;
  head[0] = magic[0];
  head[1] = magic[1];
  head[2] = parts.version ?? VERSION;
  head[3] = parts.type;
  new DataView(head.buffer).setBigUint64(4, BigInt(parts.timestamp ?? TS));
  head.set(parts.nonce ?? nonceBytes(), 12);
  return retag(concat(head, parts.body), key);
}

/** Appends a valid tag to `unsigned` (the packet without its tag). */
export function retag(unsigned: Uint8Array, key: Uint8Array = KEY): Uint8Array {
  return concat(unsigned, tag(key, unsigned));
}

/** The packet without its tag. */
export const unsignedPart = (packet: Uint8Array): Uint8Array => packet.slice(0, packet.length - TAG_LEN);

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** mulberry32: a tiny seeded PRNG, so "random" loss is the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let frameNonce = 0;
/** An authenticated frame as the channel would hand it over (unique nonce unless given). */
export function frameOf(
  msg: Message,
  opts: { nonce?: string; timestamp?: number; size?: number } = {},
): Frame {
  const nonce = opts.nonce ?? (++frameNonce).toString(16).padStart(NONCE_LEN * 2, "0");
  return { msg, nonce, timestamp: opts.timestamp ?? TS, size: opts.size ?? 512 };
}

/** Replaces process.stdout.write / process.stderr.write while `fn` runs and returns what was written. */
export async function captureOutput<T>(
  fn: () => Promise<T> | T,
): Promise<{ value: T; out: string; err: string }> {
  const origOut = process.stdout.write;
  const origErr = process.stderr.write;
  let out = "";
  let err = "";
  const grab =
    (append: (s: string) => void) =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      append(typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk));
      const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      cb?.();
      return true;
    };
  process.stdout.write = grab((s) => {
    out += s;
  }) as typeof process.stdout.write;
  process.stderr.write = grab((s) => {
    err += s;
  }) as typeof process.stderr.write;
  try {
    const value = await fn();
    return { value, out, err };
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
  }
}

/** A fixed cookie key, so the server's cookies are the same on every run. */
export const COOKIE_KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

/** A RendezvousCore with a new MemoryStore, COOKIE_KEY and sequential pair ids, unless given. */
export function makeCore(o: Partial<CoreOptions> = {}): RendezvousCore {
  let n = 0;
  return new RendezvousCore({
    store: new MemoryStore(),
    randomHex: (bytes) => (++n).toString(16).padStart(bytes * 2, "0"),
    cookieKey: COOKIE_KEY,
    ...o,
  });
}

/** The cookie of the challenge in `out`, which must be exactly one REGISTERED "challenge" sent to `to`. */
export function challengeCookie(out: ServerAction[], to: Endpoint): string {
  const [a] = out;
  if (
    out.length !== 1 ||
    a?.kind !== "send" ||
    !sameEndpoint(a.to, to) ||
    a.msg.type !== "registered" ||
    a.msg.status !== "challenge"
  )
    throw new Error(`expected one challenge to ${to.host}:${to.port}, got ${JSON.stringify(out)}`);
  return a.msg.cookie;
}

/**
 * The cookie round trip a peer makes: REGISTER without a cookie (answered with a challenge, which changes
 * nothing), then the same REGISTER with the challenge's cookie (sealed with `nonce`, if given). Returns what
 * the second REGISTER gets.
 */
export async function registerWithCookie(
  core: RendezvousCore,
  from: Endpoint,
  msg: Register,
  now: number,
  nonce?: string,
): Promise<ServerAction[]> {
  const { cookie: _, ...bare } = msg;
  const cookie = challengeCookie(await core.onFrame(from, frameOf(bare), now), from);
  return core.onFrame(from, frameOf({ ...bare, cookie }, nonce ? { nonce } : {}), now);
}

/** Returns the NetpunchError `fn` throws, failing the test when it throws nothing or something else. */
export function netpunchError(fn: () => unknown): NetpunchError {
  try {
    fn();
  } catch (e) {
    if (e instanceof NetpunchError) return e;
    throw e;
  }
  throw new Error("expected a NetpunchError, nothing was thrown");
}
