import { describe, expect, test } from "bun:test";
import { createHmac, hkdfSync, scryptSync } from "node:crypto";
import {
  deriveKey,
  deriveKeyV1,
  STRONG_SECRET_BYTES,
  tag,
  verifyTag,
  verifyTagAt,
} from "../../../src/protocol/auth.ts";
import { TAG_LEN } from "../../../src/protocol/constants.ts";
import type { Message } from "../../../src/protocol/messages.ts";
import { open, seal } from "../../../src/protocol/packet.ts";
import { KEY, KEY_V1, nonceBytes, prng, TS, toHex, unsignedPart } from "../support.ts";

const PAIR = "00112233445566778899aabbccddeeff";
const PEER = "0123456789abcdef";

const messages: Message[] = [
  {
    type: "register",
    session: "lab-1",
    role: "a",
    peerId: PEER,
    candidates: [{ kind: "lan", host: "192.0.2.10", port: 10000 }],
  },
  {
    type: "registered",
    echo: "a1a2a3a4a5a6a7a8a9aaabac",
    status: "challenge",
    observed: { host: "2001:db8::7", port: 40000 },
    serverTime: TS,
    cookie: "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf",
  },
  {
    type: "match",
    to: PEER,
    echo: "a1a2a3a4a5a6a7a8a9aaabac",
    serverTime: 0,
    cookie: "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf",
    pairId: PAIR,
    partnerId: PEER,
    observed: { host: "198.51.100.23", port: 1 },
    candidates: [{ kind: "public", host: "203.0.113.9", port: 2 }],
  },
  { type: "matchAck", session: "lab-1", pairId: PAIR, peerId: PEER },
  { type: "ping", pairId: PAIR, peerId: PEER, seq: 1 },
  { type: "pong", pairId: PAIR, peerId: PEER, seq: 1 },
  { type: "close", pairId: PAIR, peerId: PEER, rttMs: 12 },
  { type: "unmatch", to: PEER, pairId: PAIR },
];

const sealed = (msg: Message, key = KEY) => seal(key, msg, { timestamp: TS, nonce: nonceBytes() });

function flipEveryBit(packet: Uint8Array): Map<string, number[]> {
  const byReason = new Map<string, number[]>();
  for (let bit = 0; bit < packet.length * 8; bit++) {
    const p = packet.slice();
    p[bit >> 3] = (p[bit >> 3] ?? 0) ^ (1 << (bit & 7));
    const r = open(KEY, p, KEY_V1); // as the server opens: with the old key too
    const reason = r.ok ? "ok" : r.reason;
    byReason.set(reason, [...(byReason.get(reason) ?? []), bit]);
  }
  return byReason;
}

const V2_INFO = "netpunch v2 packet authentication";
const hkdf = (ikm: Uint8Array | string) =>
  toHex(new Uint8Array(hkdfSync("sha256", ikm, "netpunch", V2_INFO, 32)));

describe("deriveKey", () => {
  test("a short secret is scrypt (N=2^15, r=8, p=1), then HKDF-SHA256 with the v2 info: deterministic, 32 bytes, pinned", () => {
    expect(deriveKey("test-secret").length).toBe(32);
    expect(toHex(deriveKey("test-secret"))).toBe(
      "b5b933d21f34a1778d152aa6f0a025d8b0799bd7d91579d23bc1c9bbe5a90cad",
    );
    expect(toHex(deriveKey("test-secret"))).toBe(toHex(KEY));
    // The same construction, spelled out with node:crypto.
    const stretched = scryptSync("test-secret", "netpunch v2 secret stretching", 32, {
      N: 2 ** 15,
      r: 8,
      p: 1,
      maxmem: 64 * 1024 * 1024,
    });
    expect(toHex(KEY)).toBe(hkdf(stretched));
    expect(toHex(KEY)).not.toBe(hkdf("test-secret")); // not HKDF alone
  });

  test("a secret of 32 bytes or more is HKDF-SHA256 only; a string is its UTF-8 bytes", () => {
    expect(STRONG_SECRET_BYTES).toBe(32);
    const strong = "k".repeat(32);
    expect(toHex(deriveKey(strong))).toBe(hkdf(strong));
    expect(toHex(deriveKey(strong))).toBe("c6015c5df620587b8226668e1c443c452112d7a8d027ddf23780e6c9d1ffb270");
    expect(toHex(deriveKey(new TextEncoder().encode(strong)))).toBe(toHex(deriveKey(strong)));
    // One byte short of the bound is stretched.
    expect(toHex(deriveKey(strong.slice(1)))).not.toBe(hkdf(strong.slice(1)));
    expect(toHex(deriveKey(new TextEncoder().encode("test-secret")))).toBe(toHex(KEY));
  });

  test("deriveKeyV1 is wire version 1's key (plain HKDF, v1 info), unchanged", () => {
    expect(toHex(deriveKeyV1("test-secret"))).toBe(
      "74aebe62a7e3ae5e59dcc88a82b7cac18a2799f922206aec5537bc36ae74d479",
    );
    expect(toHex(KEY_V1)).toBe(toHex(deriveKeyV1("test-secret")));
    expect(toHex(KEY_V1)).not.toBe(toHex(KEY));
  });

  test("differs per secret, and is not the secret itself", () => {
    expect(toHex(deriveKey("test-secret2"))).not.toBe(toHex(KEY));
    expect(toHex(deriveKey("Test-secret"))).not.toBe(toHex(KEY));
    expect(toHex(KEY)).not.toContain(Buffer.from("test-secret").toString("hex"));
  });
});

describe("tag", () => {
  test("is HMAC-SHA256 truncated to 16 bytes", () => {
    const data = new TextEncoder().encode("hello");
    const full = createHmac("sha256", KEY).update(data).digest();
    expect(tag(KEY, data).length).toBe(TAG_LEN);
    expect(toHex(tag(KEY, data))).toBe(toHex(full.subarray(0, 16)));
  });

  // tag() runs on Bun.CryptoHasher (faster); node:crypto's createHmac is the reference it must equal.
  const reference = (key: Uint8Array, data: Uint8Array) =>
    toHex(createHmac("sha256", key).update(data).digest().subarray(0, TAG_LEN));

  test("the tag of every sealed vector is node:crypto's HMAC-SHA256-128 of what precedes it", () => {
    for (const msg of messages) {
      for (const key of [KEY, KEY_V1]) {
        const packet = sealed(msg, key);
        expect(toHex(packet.subarray(packet.length - TAG_LEN))).toBe(reference(key, unsignedPart(packet)));
      }
    }
  });

  test("tag() equals node:crypto's at every size a packet can have, with keys of any length (seeded)", () => {
    const rand = prng(5);
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
    for (let size = 0; size <= 1200; size += 7) {
      const key = bytes(1 + (size % 97)); // longer than a block (64) too: HMAC hashes such a key first
      const data = bytes(size);
      expect(toHex(tag(key, data))).toBe(reference(key, data));
      expect(verifyTag(key, data, tag(key, data))).toBe(true);
    }
  });

  test("verifyTag refuses a wrong, shortened or lengthened tag", () => {
    const data = new Uint8Array([1, 2, 3]);
    const t = tag(KEY, data);
    expect(verifyTag(KEY, data, t)).toBe(true);
    expect(verifyTag(KEY, data, t.subarray(0, 15))).toBe(false);
    expect(verifyTag(KEY, data, new Uint8Array([...t, 0]))).toBe(false);
    expect(verifyTag(KEY, data, new Uint8Array(0))).toBe(false);
    const wrong = t.slice();
    wrong[15] = (wrong[15] ?? 0) ^ 1;
    expect(verifyTag(KEY, data, wrong)).toBe(false);
    expect(verifyTag(KEY, new Uint8Array([1, 2, 4]), t)).toBe(false);
  });

  test("verifyTagAt: the tag at the packet's end, as verifyTag; a packet of another length is refused", () => {
    const data = new Uint8Array([1, 2, 3]);
    const packet = new Uint8Array([...data, ...tag(KEY, data)]);
    expect(verifyTagAt(KEY, packet, 3)).toBe(true);
    expect(verifyTagAt(KEY, packet, 2)).toBe(false);
    expect(verifyTagAt(KEY, new Uint8Array([...packet, 0]), 3)).toBe(false);
    expect(verifyTagAt(KEY_V1, packet, 3)).toBe(false);
    for (let i = 0; i < packet.length; i++) {
      const p = packet.slice();
      p[i] = (p[i] ?? 0) ^ 0x80;
      expect(verifyTagAt(KEY, p, 3)).toBe(false);
    }
  });
});

describe("a flipped bit anywhere is caught", () => {
  for (const msg of messages) {
    test(msg.type, () => {
      const packet = sealed(msg);
      expect(open(KEY, packet).ok).toBe(true);
      const byReason = flipEveryBit(packet);
      // The 16 bits of the magic are checked before the tag (garbage costs no HMAC); every other bit,
      // version and type included, fails authentication.
      expect(byReason.get("malformed")).toEqual(Array.from({ length: 16 }, (_, i) => i));
      expect(byReason.get("bad-auth")?.length).toBe(packet.length * 8 - 16);
      expect([...byReason.keys()].sort()).toEqual(["bad-auth", "malformed"]);
    });
  }
});

describe("another secret", () => {
  test("every message sealed with another secret is bad-auth", () => {
    const other = deriveKey("not-the-test-secret");
    for (const msg of messages) {
      const r = open(KEY, sealed(msg, other), KEY_V1);
      expect(r.ok ? "ok" : r.reason).toBe("bad-auth");
      expect(open(other, sealed(msg, other)).ok).toBe(true);
    }
  });

  test("a secret differing only in case or a trailing newline is another secret", () => {
    for (const secret of ["TEST-SECRET", "test-secret\n", "test-secret "]) {
      const r = open(KEY, sealed(messages[4] as Message, deriveKey(secret)));
      expect(r.ok ? "ok" : r.reason).toBe("bad-auth");
    }
  });
});
