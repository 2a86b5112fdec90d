// Proxy mode travels in REGISTER (the peer's own, `proxy`) and MATCH (the partner's, `partnerProxy`): one
// byte after the offer, 1 for proxy mode, 0 (no key) for the hand-off; any other value is refused.
import { describe, expect, test } from "bun:test";
import { encodeBody } from "../../../src/protocol/body.ts";
import { HEADER_LEN, MessageType, REGISTER_PADDED_LEN, TAG_LEN } from "../../../src/protocol/constants.ts";
import type { Match, Message, Register } from "../../../src/protocol/messages.ts";
import { open, seal } from "../../../src/protocol/packet.ts";
import { craft, fromHex, KEY, nonceBytes, TS, toHex } from "../support.ts";

const PEER = "0123456789abcdef";
const OVERHEAD = HEADER_LEN + TAG_LEN;

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
  echo: "a1a2a3a4a5a6a7a8a9aaabac",
  serverTime: TS,
  cookie: "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf",
  pairId: "00112233445566778899aabbccddeeff",
  partnerId: "fedcba9876543210",
  observed: { host: "198.51.100.23", port: 40001 },
  candidates: [{ kind: "public", host: "203.0.113.9", port: 40000 }],
  ...extra,
});

const reopened = (msg: Message) => {
  const r = open(KEY, seal(KEY, msg, { timestamp: TS, nonce: nonceBytes() }));
  return r.ok ? r.frame.msg : r.reason;
};
const body = (msg: Message) => toHex(encodeBody(msg, OVERHEAD).body);

describe("proxy mode on the wire", () => {
  test.each([
    ["REGISTER in proxy mode", register({ proxy: true })],
    ["REGISTER in proxy mode with an offer", register({ proxy: true, offer: "0a0b" })],
    ["MATCH with a partner in proxy mode", match({ partnerProxy: true })],
    ["MATCH with an offer and a partner in proxy mode", match({ partnerOffer: "ff", partnerProxy: true })],
  ] as [string, Message][])("%s round-trips", (_name, msg) => {
    expect(reopened(msg)).toEqual(msg);
  });

  test("hand-off mode is no key at all, both ways", () => {
    expect(reopened(register())).toEqual(register());
    expect(reopened(match())).toEqual(match());
    expect("proxy" in (reopened(register()) as object)).toBe(false);
    expect("partnerProxy" in (reopened(match()) as object)).toBe(false);
  });

  test("REGISTER: the byte after the offer is 1; in hand-off mode it is padding, the same bytes as before", () => {
    const withOffer = body(register({ offer: "0a0b0c", proxy: true }));
    // session 6, role 1, peer id 8, no candidates 1, NAT 3, no cookie 1, then offer 1 + 1 + 3
    expect(withOffer.slice(2 * 20, 2 * 26)).toBe("01030a0b0c01");
    expect(/^0*$/.test(withOffer.slice(2 * 26))).toBe(true);
    expect(withOffer.length / 2 + OVERHEAD).toBe(REGISTER_PADDED_LEN);
    const plain = body(register({ proxy: true }));
    expect(plain.slice(2 * 20, 2 * 22)).toBe("0001"); // no offer, proxy mode
    expect(body(register())).toBe(`${plain.slice(0, 2 * 21)}00${plain.slice(2 * 22)}`);
  });

  test("MATCH: its last byte is the partner's mode", () => {
    expect(body(match({ partnerProxy: true })).slice(-4)).toBe("0001");
    expect(body(match()).slice(-4)).toBe("0000");
  });

  test("any other value of the byte is refused as malformed", () => {
    const none = body(match());
    for (const b of ["02", "80", "ff"]) {
      const packet = craft({ type: MessageType.match, body: fromHex(`${none.slice(0, -2)}${b}`) });
      const r = open(KEY, packet);
      expect(r.ok ? "ok" : r.reason).toBe("malformed");
    }
    const reg = body(register());
    const bad = craft({
      type: MessageType.register,
      body: fromHex(`${reg.slice(0, 2 * 21)}02${reg.slice(2 * 22)}`),
    });
    const r = open(KEY, bad);
    expect(r.ok ? "ok" : r.reason).toBe("malformed");
  });
});
