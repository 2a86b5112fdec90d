import { describe, expect, test } from "bun:test";
import { deriveKey } from "../../../src/protocol/auth.ts";
import { MAX_DATA_PACKET, MAX_DATA_PAYLOAD, MessageType, TAG_LEN } from "../../../src/protocol/constants.ts";
import { DataCodec, type DataVerdict } from "../../../src/protocol/data.ts";
import type { Data } from "../../../src/protocol/messages.ts";
import { open, seal } from "../../../src/protocol/packet.ts";
import type { Role } from "../../../src/types.ts";
import { concat, craft, fromHex, KEY, nonceBytes, prng, retag, TS, unsignedPart } from "../support.ts";

const PAIR = "00112233445566778899aabbccddeeff";
const OTHER_PAIR = "ffeeddccbbaa99887766554433221100";
const data = (payload: Uint8Array, seq: number, from: Role = "a", pairId = PAIR): Data => ({
  type: "data",
  pairId,
  from,
  seq,
  payload,
});
const bytes = (n: number, seed = 1): Uint8Array => {
  const r = prng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
};

/**
 * What the proxy made of a packet before the fast path: open(), then the DATA's fields (the pair compared as
 * the link compares it), or "other" for a message of another type (handled as control traffic, as before).
 */
interface Opened {
  verdict: DataVerdict;
  fields?: { ourPair: boolean; from: Role; seq: number; payload: number[] };
  timestamp?: number;
}
function generic(key: Uint8Array, packet: Uint8Array): Opened {
  const r = open(key, packet);
  if (!r.ok) return { verdict: r.reason as DataVerdict };
  const m = r.frame.msg;
  if (m.type !== "data") return { verdict: "other" as DataVerdict };
  const fields = { ourPair: m.pairId === PAIR, from: m.from, seq: m.seq, payload: [...m.payload] };
  return { verdict: "ok" as DataVerdict, fields, timestamp: r.frame.timestamp };
}
function fast(codec: DataCodec, packet: Uint8Array): Opened {
  const verdict = codec.open(packet);
  if (verdict !== "ok") return { verdict };
  const fields = { ourPair: codec.ourPair, from: codec.from, seq: codec.seq, payload: [...codec.payload] };
  return { verdict, fields, timestamp: codec.timestamp };
}

/** The fast path's verdict is the generic one's; "other" only for a type byte that is not DATA's. */
function expectSame(packet: Uint8Array, key = KEY, codecKey = KEY): Opened {
  const got = fast(new DataCodec(codecKey, PAIR, "b"), packet);
  if (got.verdict === "other") {
    expect(packet.length < 4 || packet[3] !== MessageType.data).toBe(true);
    return got;
  }
  expect(got).toEqual(generic(key, packet));
  return got;
}

describe("DataCodec.seal: the bytes of seal()", () => {
  const sizes = [0, 1, 63, 64, 1400, MAX_DATA_PAYLOAD];
  const seqs = [0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER];
  const stamps = [0, TS, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER];
  test.each(sizes)("payload of %d bytes, every sequence number and timestamp, both roles", (size) => {
    const payload = bytes(size, size + 1);
    for (const role of ["a", "b"] as const) {
      const codec = new DataCodec(KEY, PAIR, role);
      for (const seq of seqs)
        for (const timestamp of stamps) {
          const nonce = nonceBytes(seq & 0xff);
          const want = seal(KEY, data(payload, seq, role), { timestamp, nonce });
          expect(codec.seal(payload, seq, timestamp, nonce)).toEqual(want);
        }
    }
  });

  test("a thousand random datagrams, nonces and numbers (seeded): byte for byte", () => {
    const r = prng(13);
    const key = deriveKey(bytes(32, 99));
    const codec = new DataCodec(key, PAIR, "b");
    for (let i = 0; i < 1000; i++) {
      const payload = bytes(Math.floor(r() * 1500), i);
      const seq = Math.floor(r() * Number.MAX_SAFE_INTEGER);
      const timestamp = Math.floor(r() * 2 ** 45);
      const nonce = bytes(12, 10_000 + i);
      expect(codec.seal(payload, seq, timestamp, nonce)).toEqual(
        seal(key, data(payload, seq, "b"), { timestamp, nonce }),
      );
    }
  });

  test("a pair id no server hands out (upper case, short, not hex) seals as seal() seals it", () => {
    for (const pairId of [PAIR.toUpperCase(), "0011", "zz".repeat(16), ""]) {
      const payload = bytes(20);
      const want = seal(KEY, data(payload, 3, "a", pairId), { timestamp: TS, nonce: nonceBytes() });
      expect(new DataCodec(KEY, pairId, "a").seal(payload, 3, TS, nonceBytes())).toEqual(want);
    }
  });

  test("packets sealed earlier keep their bytes while later ones are sealed (slabs are never rewritten)", () => {
    const codec = new DataCodec(KEY, PAIR, "a");
    const payload = bytes(1400);
    // 600 packets of 1465 bytes fill more than three slabs.
    const sealed = Array.from({ length: 600 }, (_, seq) => codec.seal(payload, seq, TS, nonceBytes(seq)));
    for (let seq = 0; seq < sealed.length; seq++)
      expect(sealed[seq]).toEqual(seal(KEY, data(payload, seq), { timestamp: TS, nonce: nonceBytes(seq) }));
  });

  test("reuse: every packet is still seal()'s bytes, in the memory of the one before (grown for a larger one)", () => {
    const codec = new DataCodec(KEY, PAIR, "b");
    let last: Uint8Array | undefined;
    for (const [seq, size] of [0, 1400, 10, 1400, 5000, 64].entries()) {
      const payload = bytes(size, seq + 3);
      const p = codec.seal(payload, seq, TS, nonceBytes(seq), true);
      expect(p).toEqual(seal(KEY, data(payload, seq, "b"), { timestamp: TS, nonce: nonceBytes(seq) }));
      // Grown once, for the 5000-byte datagram (over the first 2048 bytes); the same memory otherwise.
      if (last) expect(p.buffer === last.buffer).toBe(size !== 5000);
      last = p;
    }
  });

  test("a nonce of the wrong size is refused as seal() refuses it", () => {
    const codec = new DataCodec(KEY, PAIR, "a");
    expect(() => codec.seal(bytes(4), 0, TS, new Uint8Array(11))).toThrow(RangeError);
    expect(() => seal(KEY, data(bytes(4), 0), { timestamp: TS, nonce: new Uint8Array(11) })).toThrow(
      RangeError,
    );
  });
});

describe("DataCodec.open: accepts and refuses exactly what open() does", () => {
  const sample = (size = 64, seq = 9, from: Role = "a", pairId = PAIR) =>
    seal(KEY, data(bytes(size), seq, from, pairId), { timestamp: TS, nonce: nonceBytes() });

  test("a sealed DATA opens to its fields, of our pair or not, from either role", () => {
    for (const [from, pairId, ourPair] of [
      ["a", PAIR, true],
      ["b", PAIR, true],
      ["a", OTHER_PAIR, false],
    ] as const) {
      const got = expectSame(sample(64, 2 ** 40 + 3, from, pairId));
      expect(got).toMatchObject({ verdict: "ok", fields: { ourPair, from, seq: 2 ** 40 + 3 } });
    }
    expect(expectSame(sample(0)).fields?.payload).toEqual([]);
    expect(expectSame(sample(MAX_DATA_PAYLOAD)).verdict).toBe("ok");
  });

  test("every single-bit flip of a DATA: the same verdict (a flipped type byte is another type's: generic)", () => {
    const packet = sample(64);
    const verdicts = new Set<string>();
    for (let i = 0; i < packet.length; i++)
      for (let bit = 0; bit < 8; bit++) {
        const p = packet.slice();
        p[i] = (p[i] ?? 0) ^ (1 << bit);
        verdicts.add(expectSame(p).verdict);
      }
    // Nothing flipped passes: a header or body bit breaks the tag, a type bit hands it to open().
    expect([...verdicts].sort()).toEqual(["bad-auth", "malformed", "other"]);
  });

  test("every truncation and a byte more: the same verdict", () => {
    const packet = sample(64);
    const verdicts = new Set<string>();
    for (let len = 0; len < packet.length; len++) verdicts.add(expectSame(packet.subarray(0, len)).verdict);
    verdicts.add(expectSame(concat(packet, Uint8Array.of(0))).verdict);
    expect([...verdicts].sort()).toEqual(["bad-auth", "malformed", "other"]);
  });

  test("the wrong key is bad-auth for both", () => {
    const other = deriveKey("another-secret-of-enough-length-for-hkdf-only!");
    const got = expectSame(sample(64), other, other);
    expect(got.verdict).toBe("bad-auth");
  });

  test("authenticated but not a valid DATA: version, magic, size, role, sequence number", () => {
    const body = (role: number, seq: Uint8Array, payload = bytes(8)) =>
      concat(fromHex(PAIR), Uint8Array.of(role), seq, payload);
    const seq = (n: bigint) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, n);
      return b;
    };
    const good = body(0x61, seq(5n));
    const cases: [string, Uint8Array, DataVerdict][] = [
      ["valid", craft({ type: MessageType.data, body: good }), "ok"],
      ["version 1", craft({ type: MessageType.data, body: good, version: 1 }), "bad-version"],
      ["version 3", craft({ type: MessageType.data, body: good, version: 3 }), "bad-version"],
      ["magic", craft({ type: MessageType.data, body: good, magic: [0x4e, 0x51] }), "malformed"],
      ["role c", craft({ type: MessageType.data, body: body(0x63, seq(5n)) }), "malformed"],
      ["role A", craft({ type: MessageType.data, body: body(0x41, seq(5n)) }), "malformed"],
      ["seq 2^53", craft({ type: MessageType.data, body: body(0x61, seq(2n ** 53n)) }), "malformed"],
      ["seq 2^53 - 1", craft({ type: MessageType.data, body: body(0x62, seq(2n ** 53n - 1n)) }), "ok"],
      ["seq 2^64 - 1", craft({ type: MessageType.data, body: body(0x61, seq(2n ** 64n - 1n)) }), "malformed"],
      ["no payload", craft({ type: MessageType.data, body: body(0x61, seq(1n), new Uint8Array(0)) }), "ok"],
      ["no body", craft({ type: MessageType.data, body: new Uint8Array(0) }), "malformed"],
      ["body one short", craft({ type: MessageType.data, body: good.subarray(0, 24) }), "malformed"],
      [
        "too large",
        craft({ type: MessageType.data, body: body(0x61, seq(1n), new Uint8Array(MAX_DATA_PACKET - 64)) }),
        "malformed",
      ],
    ];
    for (const [name, packet, want] of cases) {
      const got = expectSame(packet);
      expect({ name, verdict: got.verdict }).toEqual({ name, verdict: want });
    }
    // The largest DATA there may be opens; one byte more does not (checked before the tag).
    const largest = craft({
      type: MessageType.data,
      body: body(0x61, seq(1n), new Uint8Array(MAX_DATA_PAYLOAD)),
    });
    expect(largest.length).toBe(MAX_DATA_PACKET);
    expect(expectSame(largest).verdict).toBe("ok");
  });

  test("a tag of another packet, or a retagged copy with one payload bit changed", () => {
    const a = sample(64, 1);
    const b = sample(64, 2);
    const mixed = concat(unsignedPart(a), b.subarray(b.length - TAG_LEN));
    expect(expectSame(mixed).verdict).toBe("bad-auth");
    const changed = unsignedPart(a);
    changed[60] = (changed[60] ?? 0) ^ 1;
    expect(expectSame(retag(changed)).verdict).toBe("ok");
  });

  test("other types are not the fast path's: a PING says other, and open() takes it as before", () => {
    const ping = seal(
      KEY,
      { type: "ping", pairId: PAIR, peerId: "0123456789abcdef", seq: 4 },
      { timestamp: TS, nonce: nonceBytes() },
    );
    expect(new DataCodec(KEY, PAIR, "b").open(ping)).toBe("other");
    expect(open(KEY, ping).ok).toBe(true);
    expect(new DataCodec(KEY, PAIR, "b").open(new Uint8Array(3))).toBe("other");
  });

  test("a codec whose own pair id is not canonical never calls a packet ours (the string compare did not)", () => {
    const codec = new DataCodec(KEY, PAIR.toUpperCase(), "b");
    expect(codec.open(sample(8))).toBe("ok");
    expect(codec.ourPair).toBe(false);
  });
});
