// A hook's offer travels in REGISTER (the peer's own) and MATCH (the partner's): format byte, length, bytes.
// These pin its bytes, its bounds at encode and decode, and the sizes that keep the server from amplifying.
import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { decodeBody, encodeBody } from "../../../src/protocol/body.ts";
import {
  HEADER_LEN,
  MAX_CANDIDATES,
  MAX_OFFER_LEN,
  MAX_PACKET,
  MAX_SESSION_LEN,
  MessageType,
  OfferFormat,
  REGISTER_PADDED_LEN,
  TAG_LEN,
} from "../../../src/protocol/constants.ts";
import {
  type Match,
  type Message,
  Offer,
  OfferBytes,
  type Register,
} from "../../../src/protocol/messages.ts";
import { open, seal } from "../../../src/protocol/packet.ts";
import { craft, fromHex, KEY, nonceBytes, TS, toHex } from "../support.ts";

const PAIR = "00112233445566778899aabbccddeeff";
const PEER = "0123456789abcdef";
const PARTNER = "fedcba9876543210";
const ECHO = "a1a2a3a4a5a6a7a8a9aaabac";
const COOKIE = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
const OVERHEAD = HEADER_LEN + TAG_LEN;
/** An offer of `n` bytes, each its index (mod 256), as hex. */
const offerOf = (n: number) => toHex(Uint8Array.from({ length: n }, (_, i) => i & 0xff));

const sealed = (msg: Message) => seal(KEY, msg, { timestamp: TS, nonce: nonceBytes() });
const reopened = (msg: Message) => {
  const r = open(KEY, sealed(msg));
  return r.ok ? r.frame.msg : r.reason;
};

const register = (extra: Partial<Register> = {}): Register => ({
  type: "register",
  session: "lab-1",
  role: "a",
  peerId: PEER,
  candidates: [],
  ...extra,
});
const match = (extra: Partial<Match> = {}): Match => ({
  type: "match",
  to: PEER,
  echo: ECHO,
  serverTime: TS,
  cookie: COOKIE,
  pairId: PAIR,
  partnerId: PARTNER,
  observed: { host: "198.51.100.23", port: 40001 },
  candidates: [{ kind: "public", host: "203.0.113.9", port: 40000 }],
  ...extra,
});

/** The largest REGISTER and MATCH the schemas allow: longest session, every candidate IPv6, every option. */
const v6 = (i: number) => `2001:db8:ffff:ffff:ffff:ffff:ffff:${(i + 1).toString(16)}`;
const largestRegister = (offer?: string): Register => ({
  type: "register",
  session: "s".repeat(MAX_SESSION_LEN),
  role: "b",
  peerId: PEER,
  candidates: Array.from({ length: MAX_CANDIDATES }, (_, i) => ({
    kind: "mapped",
    host: v6(i),
    port: 65535,
  })),
  nat: { mapping: "random", step: -32768 },
  cookie: COOKIE,
  ...(offer ? { offer } : {}),
});
const largestMatch = (partnerOffer?: string): Match => ({
  ...match(),
  observed: { host: v6(100), port: 65535 },
  candidates: Array.from({ length: MAX_CANDIDATES + 1 }, (_, i) => ({
    kind: "lan",
    host: v6(i),
    port: 65535,
  })),
  altPort: 65535,
  partnerNat: { mapping: "random", step: 32767 },
  ...(partnerOffer ? { partnerOffer } : {}),
});

describe("round trip", () => {
  test.each([
    ["REGISTER, a 1-byte offer", register({ offer: "ff" })],
    [
      "REGISTER, a MAX_OFFER_LEN offer and a cookie",
      register({ cookie: COOKIE, offer: offerOf(MAX_OFFER_LEN) }),
    ],
    ["REGISTER, the largest", largestRegister(offerOf(MAX_OFFER_LEN))],
    ["MATCH, a 1-byte offer", match({ partnerOffer: "00" })],
    ["MATCH, the largest", largestMatch(offerOf(MAX_OFFER_LEN))],
  ] as [string, Message][])("%s", (_name, msg) => {
    expect(reopened(msg)).toEqual(msg);
  });

  test("without an offer, no offer key comes back", () => {
    expect(reopened(register())).toEqual(register());
    expect(reopened(match())).toEqual(match());
  });
});

describe("golden bytes", () => {
  // A change here is a wire-format change (README "Wire format": offer is format u8, length u8, bytes).
  const body = (msg: Message) => toHex(encodeBody(msg, OVERHEAD).body);

  test("REGISTER: the offer after the cookie, then the padding", () => {
    const hex = body(register({ offer: "0a0b0c" }));
    expect(hex.length / 2 + OVERHEAD).toBe(REGISTER_PADDED_LEN);
    expect(hex.slice(0, 2 * 26)).toBe(
      "056c61622d31" + // session "lab-1"
        "61" + // role 'a'
        "0123456789abcdef" + // peer id
        "00" + // no candidates
        "000000" + // NAT unknown
        "00" + // cookie length 0: none
        "01" + // offer format 1: opaque
        "03" + // 3 bytes
        "0a0b0c" +
        "00", // padding
    );
    expect(/^0*$/.test(hex.slice(2 * 25))).toBe(true);
  });

  test("REGISTER without an offer is the same bytes as before offers: its format 0 is padding", () => {
    const without = body(register({ cookie: COOKIE }));
    expect(without.slice(2 * 19, 2 * 36)).toBe(`10${COOKIE}`); // cookie, then nothing but zeros
    expect(/^0*$/.test(without.slice(2 * 36))).toBe(true);
  });

  test("MATCH: the partner's offer, then its proxy mode (0: hand-off); no offer is one zero byte", () => {
    const head =
      PEER + // to
      ECHO +
      "0000018bcfe56800" + // server clock 1_700_000_000_000
      COOKIE +
      PAIR +
      PARTNER +
      "04c63364179c41" + // 198.51.100.23:40001
      "01" + // one candidate
      "0204cb0071099c40" + // public 203.0.113.9:40000
      "0000" + // no alt port
      "000000"; // partner's NAT unknown
    expect(body(match({ partnerOffer: "0a0b0c" }))).toBe(`${head}01030a0b0c00`);
    expect(body(match())).toBe(`${head}0000`);
  });
});

describe("bounds", () => {
  /** A MATCH body (type code 3) with its offer bytes replaced by `offer` (the proxy mode byte after it: 0). */
  const matchWith = (offer: string) => {
    const none = toHex(encodeBody(match(), OVERHEAD).body);
    return craft({ type: MessageType.match, body: fromHex(`${none.slice(0, -4)}${offer}00`) });
  };
  const reason = (packet: Uint8Array) => {
    const r = open(KEY, packet);
    return r.ok ? (r.frame.msg as Match).partnerOffer : r.reason;
  };

  test("decode: 1 and MAX_OFFER_LEN bytes are taken", () => {
    expect(reason(matchWith("0101ab"))).toBe("ab");
    expect(reason(matchWith(`01${MAX_OFFER_LEN.toString(16)}${offerOf(MAX_OFFER_LEN)}`))).toBe(
      offerOf(MAX_OFFER_LEN),
    );
  });

  test("decode: length 0, one more than MAX_OFFER_LEN, or fewer bytes than the length says: malformed", () => {
    expect(reason(matchWith("0100"))).toBe("malformed");
    const over = MAX_OFFER_LEN + 1;
    expect(reason(matchWith(`01${over.toString(16)}${offerOf(over)}`))).toBe("malformed");
    expect(reason(matchWith("0105aabbcc"))).toBe("malformed");
    expect(reason(matchWith("01"))).toBe("malformed");
  });

  test("decode: a format this netpunch does not know is refused, not handed on", () => {
    expect(OfferFormat).toEqual({ none: 0, opaque: 1 });
    for (const format of [2, 0x80, 0xff])
      expect(reason(matchWith(`${format.toString(16).padStart(2, "0")}01ab`))).toBe("malformed");
  });

  test("decode: no bytes after format 0 in an unpadded MATCH", () => {
    expect(reason(matchWith("00"))).toBeUndefined();
    expect(reason(matchWith("0000"))).toBe("malformed");
  });

  test("encode: an offer out of bounds is refused before a byte is sealed", () => {
    expect(() => sealed(register({ offer: "" }))).toThrow(RangeError); // absent is no key, never empty
    expect(() => sealed(match({ partnerOffer: offerOf(MAX_OFFER_LEN + 1) }))).toThrow(RangeError);
    expect(() => sealed(register({ offer: offerOf(256) }))).toThrow(RangeError);
  });

  test("the schemas: hex of 1 to MAX_OFFER_LEN bytes; bytes of 1 to MAX_OFFER_LEN", () => {
    expect([1, MAX_OFFER_LEN].map((n) => v.is(Offer, offerOf(n)))).toEqual([true, true]);
    expect(["", offerOf(MAX_OFFER_LEN + 1), "abc", "AB", "zz"].map((h) => v.is(Offer, h))).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    const bytes = (n: number) => new Uint8Array(n);
    expect([0, 1, MAX_OFFER_LEN, MAX_OFFER_LEN + 1].map((n) => v.is(OfferBytes, bytes(n)))).toEqual([
      false,
      true,
      true,
      false,
    ]);
    expect(v.is(OfferBytes, "ab")).toBe(false);
  });

  test("a decoded offer too long for the schema is refused as the schema would (decodeBody alone reads it)", () => {
    const over = MAX_OFFER_LEN + 1;
    const none = toHex(encodeBody(match(), OVERHEAD).body);
    expect(() =>
      decodeBody(MessageType.match, fromHex(`${none.slice(0, -2)}01${over.toString(16)}${offerOf(over)}`)),
    ).toThrow(RangeError);
  });
});

describe("sizes: the server never amplifies, offers or not", () => {
  // The rule (README "Security model"): every server answer to a REGISTER is smaller than the REGISTER. A
  // MATCH carries the partner's offer to a peer whose own REGISTER may have had none, so the largest MATCH
  // with the largest offer must still fit under REGISTER_PADDED_LEN, which every REGISTER is padded to.
  test("the largest REGISTER with the largest offer still fits its padding", () => {
    const packet = sealed(largestRegister(offerOf(MAX_OFFER_LEN)));
    expect(packet.length).toBe(REGISTER_PADDED_LEN);
    // 40 envelope + 65 session + 1 + 8 + 1 + 8 * 20 candidates + 3 NAT + 17 cookie + 2 + 192 offer + 1 proxy
    // An overhead as large as the padding target leaves the padding out: the bytes the fields take.
    const used = encodeBody(largestRegister(offerOf(MAX_OFFER_LEN)), REGISTER_PADDED_LEN).body.length;
    expect(OVERHEAD + used).toBe(490);
  });

  test("the largest MATCH with the largest offer is smaller than any REGISTER, and within MAX_PACKET", () => {
    const largest = sealed(largestMatch(offerOf(MAX_OFFER_LEN)));
    // 40 envelope + 8 + 12 + 8 + 16 + 16 + 8 + 19 observed + 1 + 9 * 20 candidates + 2 + 3 + 2 + 192 offer
    // + 1 partner's proxy mode
    expect(largest.length).toBe(508);
    expect(largest.length).toBeLessThan(REGISTER_PADDED_LEN);
    expect(largest.length).toBeLessThanOrEqual(MAX_PACKET);
    expect(sealed(largestMatch()).length).toBe(508 - MAX_OFFER_LEN - 1);
  });

  test("MAX_OFFER_LEN is the largest multiple of 64 for which that holds", () => {
    const roomForOffer = REGISTER_PADDED_LEN - sealed(largestMatch()).length - 1; // the length byte
    expect(MAX_OFFER_LEN % 64).toBe(0);
    expect(MAX_OFFER_LEN).toBeLessThan(roomForOffer);
    expect(MAX_OFFER_LEN + 64).toBeGreaterThan(roomForOffer);
  });
});
