import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { normalizeHost } from "../../../src/addr.ts";
import { encodeBody } from "../../../src/protocol/body.ts";
import {
  HEADER_LEN,
  MAX_PACKET,
  MessageType,
  REGISTER_PADDED_LEN,
  RELAY_PADDED_LEN,
  TAG_LEN,
} from "../../../src/protocol/constants.ts";
import { bytesToIp, ipToBytes } from "../../../src/protocol/ip.ts";
import type { Match, Message } from "../../../src/protocol/messages.ts";
import { open, seal } from "../../../src/protocol/packet.ts";
import {
  concat,
  craft,
  fromHex,
  KEY,
  KEY_V1,
  nonceBytes,
  retag,
  TS,
  toHex,
  unsignedPart,
} from "../support.ts";

const PAIR = "00112233445566778899aabbccddeeff";
const PEER = "0123456789abcdef";
const PARTNER = "fedcba9876543210";
const ECHO = "a1a2a3a4a5a6a7a8a9aaabac";
const COOKIE = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
const TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f";

const sealed = (msg: Message, nonceStart = 0, timestamp = TS) =>
  seal(KEY, msg, { timestamp, nonce: nonceBytes(nonceStart) });

function reason(packet: Uint8Array, oldKey?: Uint8Array): string {
  const r = open(KEY, packet, oldKey);
  return r.ok ? "ok" : r.reason;
}

/** Seals a message that the schemas would refuse: seal itself does not validate, open must. */
const sealUnchecked = (msg: unknown) => sealed(msg as Message);

function v4Candidates(n: number): Match["candidates"] {
  return Array.from(
    { length: n },
    (_, i) => ({ kind: i === 0 ? "public" : "lan", host: `203.0.113.${i + 1}`, port: 40000 + i }) as const,
  );
}

describe("round trip", () => {
  const cases: [string, Message][] = [
    [
      "register, v4 candidates",
      {
        type: "register",
        session: "lab-1",
        role: "a",
        peerId: PEER,
        candidates: [{ kind: "lan", host: "192.0.2.10", port: 10000 }],
      },
    ],
    [
      "register, v6 candidates",
      {
        type: "register",
        session: "x",
        role: "b",
        peerId: PEER,
        candidates: [
          { kind: "lan", host: "2001:db8::10", port: 1 },
          { kind: "lan", host: "2001:db8:1:2:3:4:5:6", port: 65535 },
        ],
      },
    ],
    [
      "register, no candidates",
      { type: "register", session: "default", role: "a", peerId: PEER, candidates: [] },
    ],
    [
      "register, 8 candidates and a 64-char session",
      {
        type: "register",
        session: "s".repeat(64),
        role: "b",
        peerId: PEER,
        candidates: Array.from({ length: 8 }, (_, i) => ({
          kind: "lan",
          host: `2001:db8::${i + 1}`,
          port: 10000 + i,
        })),
      },
    ],
    [
      "register, every allowed session character",
      { type: "register", session: "Az09._@:+-", role: "a", peerId: PEER, candidates: [] },
    ],
    [
      "register, with a cookie",
      { type: "register", session: "lab-1", role: "a", peerId: PEER, candidates: [], cookie: COOKIE },
    ],
    [
      "register, with NAT info, a mapped port and a cookie",
      {
        type: "register",
        session: "lab-1",
        role: "b",
        peerId: PEER,
        candidates: [
          { kind: "mapped", host: "198.51.100.9", port: 61000 },
          { kind: "lan", host: "192.0.2.10", port: 10000 },
        ],
        nat: { mapping: "sequential", step: -2 },
        cookie: COOKIE,
      },
    ],
    [
      "registered, v4",
      {
        type: "registered",
        echo: ECHO,
        status: "waiting",
        observed: { host: "198.51.100.23", port: 40001 },
        serverTime: TS,
        cookie: COOKIE,
      },
    ],
    [
      "registered, v6, with the alt port",
      {
        type: "registered",
        echo: "000000000000000000000000",
        status: "challenge",
        observed: { host: "2001:db8::7", port: 40000 },
        serverTime: 0,
        cookie: COOKIE,
        altPort: 10002,
      },
    ],
    ...(["busy", "full", "limit"] as const).map((status): [string, Message] => [
      `registered, status ${status}`,
      {
        type: "registered",
        echo: ECHO,
        status,
        observed: { host: "198.51.100.23", port: 40001 },
        serverTime: Number.MAX_SAFE_INTEGER,
        cookie: COOKIE,
      },
    ]),
    [
      "match, v4, 9 candidates",
      {
        type: "match",
        to: PEER,
        echo: ECHO,
        serverTime: TS,
        cookie: COOKIE,
        pairId: PAIR,
        partnerId: PARTNER,
        observed: { host: "198.51.100.23", port: 40001 },
        candidates: v4Candidates(9),
      },
    ],
    [
      "match, v6",
      {
        type: "match",
        to: PEER,
        echo: ECHO,
        serverTime: TS,
        cookie: COOKIE,
        pairId: PAIR,
        partnerId: PARTNER,
        observed: { host: "2001:db8::1", port: 2 },
        candidates: [
          { kind: "public", host: "2001:db8:ffff::1", port: 40000 },
          { kind: "lan", host: "::1", port: 10000 },
          { kind: "lan", host: "198.18.0.5", port: 10000 },
        ],
      },
    ],
    ["matchAck", { type: "matchAck", session: "lab-1", pairId: PAIR, peerId: PEER }],
    ["ping, seq 0", { type: "ping", pairId: PAIR, peerId: PEER, seq: 0 }],
    ["pong, seq 2^32-1", { type: "pong", pairId: PAIR, peerId: PEER, seq: 0xffffffff }],
    ["close", { type: "close", pairId: PAIR, peerId: PEER, rttMs: 123456 }],
    ["data, keepalive", { type: "data", pairId: PAIR, from: "a", seq: 0, payload: new Uint8Array(0) }],
    [
      "data, payload",
      { type: "data", pairId: PAIR, from: "b", seq: 2 ** 40 + 7, payload: Uint8Array.of(9, 0, 255) },
    ],
    ["partnerNat", { type: "partnerNat", to: PEER, pairId: PAIR, nat: { mapping: "random", step: 977 } }],
    ["unmatch", { type: "unmatch", to: PEER, pairId: PAIR }],
    ["relayRequest", { type: "relayRequest", session: "lab-1", pairId: PAIR, peerId: PEER }],
    ["relayOffer, ok", { type: "relayOffer", pairId: PAIR, to: PEER, status: "ok", port: 40000 }],
    [
      "relayOffer, ok, another server's relay",
      { type: "relayOffer", pairId: PAIR, to: PEER, status: "ok", port: 40000, host: "2001:db8::7" },
    ],
    ["relayOffer, full", { type: "relayOffer", pairId: PAIR, to: PEER, status: "full", port: 0 }],
    ["relayBind, no token", { type: "relayBind", pairId: PAIR, peerId: PEER }],
    ["relayBind, token", { type: "relayBind", pairId: PAIR, peerId: PEER, token: TOKEN }],
    ["relayChallenge", { type: "relayChallenge", pairId: PAIR, token: TOKEN }],
    ["relayBound", { type: "relayBound", pairId: PAIR, ready: false }],
  ];

  for (const [name, msg] of cases) {
    test(name, () => {
      const packet = sealed(msg, 7, TS + 1);
      const r = open(KEY, packet);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.frame.msg).toEqual(msg);
      expect(r.frame.timestamp).toBe(TS + 1);
      expect(r.frame.nonce).toBe(toHex(nonceBytes(7)));
      expect(r.frame.size).toBe(packet.length);
      expect(packet[3]).toBe(MessageType[msg.type]);
    });
  }

  test("IPv6 endpoints come back in RFC 5952 form", () => {
    const msg: Message = {
      type: "registered",
      echo: "000000000000000000000000",
      status: "waiting",
      observed: { host: "2001:0DB8:0000:0000:0001:0000:0000:0001", port: 9 },
      serverTime: TS,
      cookie: COOKIE,
    };
    const r = open(KEY, sealed(msg));
    expect(r.ok && r.frame.msg.type === "registered" && r.frame.msg.observed.host).toBe("2001:db8::1:0:0:1");
  });

  test("the timestamp is a full 64-bit big-endian field", () => {
    const ts = 2 ** 40 + 5;
    const packet = sealed({ type: "ping", pairId: PAIR, peerId: PEER, seq: 1 }, 0, ts);
    expect(toHex(packet.subarray(4, 12))).toBe("0000010000000005");
    const r = open(KEY, packet);
    expect(r.ok && r.frame.timestamp).toBe(ts);
  });

  test("seal refuses a nonce of the wrong length", () => {
    expect(() =>
      seal(
        KEY,
        { type: "ping", pairId: PAIR, peerId: PEER, seq: 1 },
        { timestamp: TS, nonce: new Uint8Array(11) },
      ),
    ).toThrow(RangeError);
  });
});

describe("golden bytes", () => {
  // Computed once from the implementation (wire version 2) and checked field by field against the documented
  // layout: "NP" | version 2 | type | timestamp u64 BE | nonce | body | HMAC-SHA256-128. A change here is a
  // wire-format change. The tags also pin the key: deriveKey("test-secret") (scrypt, then HKDF "v2" info).
  test("PING", () => {
    const packet = sealed({ type: "ping", pairId: PAIR, peerId: PEER, seq: 42 });
    expect(toHex(packet)).toBe(
      "4e50" + // magic "NP"
        "02" + // version
        "05" + // type ping
        "0000018bcfe56800" + // 1_700_000_000_000 ms
        "000102030405060708090a0b" + // nonce
        "00112233445566778899aabbccddeeff" + // pairId
        "0123456789abcdef" + // peerId
        "0000002a" + // seq 42
        "cafdbb7b3b2829997afabbc8dd866a20", // tag
    );
  });

  test("REGISTERED with a v6 address", () => {
    const packet = sealed({
      type: "registered",
      echo: ECHO,
      status: "challenge",
      observed: { host: "2001:db8::7", port: 40000 },
      serverTime: TS,
      cookie: COOKIE,
    });
    expect(toHex(packet)).toBe(
      "4e5002020000018bcfe56800000102030405060708090a0b" +
        "a1a2a3a4a5a6a7a8a9aaabac" + // echo
        "01" + // status challenge
        "06" +
        "20010db8000000000000000000000007" +
        "9c40" + // family 6, address, port 40000
        "0000018bcfe56800" + // serverTime 1_700_000_000_000 ms
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf" + // cookie
        "0000" + // no alt port
        "ce20bcf35a8bb9bbf6ba7dfcb6b0ff44",
    );
  });

  test("UNMATCH", () => {
    const packet = sealed({ type: "unmatch", to: PEER, pairId: PAIR });
    expect(toHex(packet)).toBe(
      "4e5002100000018bcfe56800000102030405060708090a0b" + // version 2, type 16
        "0123456789abcdef" + // to
        "00112233445566778899aabbccddeeff" + // pairId
        "6b87674bd9076b5cc838b6c3abc90a46",
    );
  });

  /** The golden REGISTERs: lab-1, role a, a LAN candidate in each family. */
  const labRegister: Message = {
    type: "register",
    session: "lab-1",
    role: "a",
    peerId: PEER,
    candidates: [
      { kind: "lan", host: "192.0.2.10", port: 10000 },
      { kind: "lan", host: "2001:db8::10", port: 10000 },
    ],
  };

  test("REGISTER (512 bytes: prefix and digest)", () => {
    const packet = sealed(labRegister);
    expect(packet.length).toBe(512);
    expect(toHex(packet.subarray(0, 80))).toBe(
      "4e5002010000018bcfe56800000102030405060708090a0b" +
        "05" +
        "6c61622d31" + // session "lab-1"
        "61" + // role 'a'
        "0123456789abcdef" +
        "02" + // two candidates
        "01" + // kind 1: lan
        "04" +
        "c000020a" +
        "2710" + // 192.0.2.10:10000
        "01" + // kind 1: lan
        "06" +
        "20010db8000000000000000000000010" +
        "2710" + // [2001:db8::10]:10000
        "000000" + // NAT unknown (code 0, step 0)
        "00" + // cookie length 0: first contact
        "0000000000000000", // the first 8 bytes of zero padding
    );
    expect(createHash("sha256").update(packet).digest("hex")).toBe(
      "1608457698b818aef37bf7f134b7edecfe7af07bf422acd38bd9f6333b53015a",
    );
  });

  test("REGISTER with the server's cookie (512 bytes: prefix and digest)", () => {
    const packet = sealed({ ...labRegister, cookie: COOKIE } as Message);
    expect(packet.length).toBe(512);
    expect(toHex(packet.subarray(0, 100))).toBe(
      "4e5002010000018bcfe56800000102030405060708090a0b" +
        "056c61622d31" + // session "lab-1"
        "61" + // role 'a'
        "0123456789abcdef" +
        "02" + // two candidates
        "01" + // kind 1: lan
        "04c000020a2710" + // 192.0.2.10:10000
        "01" + // kind 1: lan
        "0620010db8000000000000000000000010" +
        "2710" + // [2001:db8::10]:10000
        "000000" + // NAT unknown
        "10" + // cookie length 16
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf" + // cookie
        "000000000000000000000000", // the first 12 bytes of zero padding
    );
    expect(createHash("sha256").update(packet).digest("hex")).toBe(
      "99064f9a23a9c0906854f1a2125cd62aac7e4cde5b5d6b546385c7e2f1d028ac",
    );
  });
});

describe("golden bytes: relay bodies", () => {
  // Bodies only (encodeBody), so they do not depend on the header's version byte. A change here is a
  // wire-format change.
  const body = (msg: Message) => toHex(encodeBody(msg, HEADER_LEN + TAG_LEN).body);
  const padding = (used: number) => "00".repeat(RELAY_PADDED_LEN - HEADER_LEN - TAG_LEN - used);

  test("RELAY_OFFER: pairId | to | status | port | host (family 0: none)", () => {
    expect(body({ type: "relayOffer", pairId: PAIR, to: PEER, status: "ok", port: 40000 })).toBe(
      `${PAIR}${PEER}00${"9c40"}00`,
    );
    // Another server's relay: family 4 and its address, or family 6 and 16 bytes.
    expect(
      body({ type: "relayOffer", pairId: PAIR, to: PEER, status: "ok", port: 40000, host: "198.51.100.7" }),
    ).toBe(`${PAIR}${PEER}00${"9c40"}04c6336407`);
    expect(
      body({ type: "relayOffer", pairId: PAIR, to: PEER, status: "ok", port: 40000, host: "2001:db8::7" }),
    ).toBe(`${PAIR}${PEER}00${"9c40"}0620010db8${"00".repeat(11)}07`);
    const codes = (["off", "full", "limit"] as const).map((status) =>
      body({ type: "relayOffer", pairId: PAIR, to: PEER, status, port: 0 }).slice(48, 50),
    );
    expect(codes).toEqual(["01", "02", "03"]);
  });

  test("RELAY_BIND: pairId | peerId | token (zeros: none) | zero padding to RELAY_PADDED_LEN", () => {
    expect(body({ type: "relayBind", pairId: PAIR, peerId: PEER })).toBe(
      `${PAIR}${PEER}${"00".repeat(16)}${padding(40)}`,
    );
    expect(body({ type: "relayBind", pairId: PAIR, peerId: PEER, token: TOKEN })).toBe(
      `${PAIR}${PEER}${TOKEN}${padding(40)}`,
    );
  });

  test("RELAY_CHALLENGE: pairId | token, type 20", () => {
    const enc = encodeBody({ type: "relayChallenge", pairId: PAIR, token: TOKEN }, HEADER_LEN + TAG_LEN);
    expect([enc.type, toHex(enc.body)]).toEqual([20, `${PAIR}${TOKEN}`]);
  });

  test("RELAY_OFFER with a port but no ok, ok without a port, a host without ok, or an unknown status: malformed", () => {
    const offer = (status: number, port: number, host = "00") =>
      craft({
        type: MessageType.relayOffer,
        body: fromHex(
          `${PAIR}${PEER}${status.toString(16).padStart(2, "0")}${port.toString(16).padStart(4, "0")}${host}`,
        ),
      });
    expect(reason(offer(0, 40000))).toBe("ok");
    expect(reason(offer(0, 40000, "04c6336407"))).toBe("ok");
    expect(reason(offer(2, 40000))).toBe("malformed");
    expect(reason(offer(0, 0))).toBe("malformed");
    expect(reason(offer(4, 0))).toBe("malformed");
    expect(reason(offer(2, 0, "04c6336407"))).toBe("malformed");
    expect(reason(offer(0, 40000, "05c6336407"))).toBe("malformed");
  });
});

describe("sizes: the server never amplifies", () => {
  test("REGISTER is padded to exactly REGISTER_PADDED_LEN, from the smallest to the largest", () => {
    expect(REGISTER_PADDED_LEN).toBe(512);
    const smallest = sealed({ type: "register", session: "a", role: "a", peerId: PEER, candidates: [] });
    const largest = sealed({
      type: "register",
      session: "s".repeat(64),
      role: "b",
      peerId: PEER,
      candidates: Array.from({ length: 8 }, (_, i) => ({
        kind: "mapped" as const,
        host: `2001:db8:ffff:ffff:ffff:ffff:ffff:${i + 1}`,
        port: 65535,
      })),
    });
    expect(smallest.length).toBe(REGISTER_PADDED_LEN);
    expect(largest.length).toBe(REGISTER_PADDED_LEN);
    expect(open(KEY, largest).ok).toBe(true);
  });

  test("every server reply is smaller than a REGISTER", () => {
    const replies: Message[] = [
      {
        type: "registered",
        echo: "000000000000000000000000",
        status: "challenge",
        observed: { host: "198.51.100.23", port: 40001 },
        serverTime: TS,
        cookie: COOKIE,
      },
      {
        type: "registered",
        echo: "000000000000000000000000",
        status: "waiting",
        observed: { host: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", port: 40001 },
        serverTime: TS,
        cookie: COOKIE,
        altPort: 10002,
      },
      {
        type: "match",
        to: PEER,
        echo: ECHO,
        serverTime: TS,
        cookie: COOKIE,
        pairId: PAIR,
        partnerId: PARTNER,
        observed: { host: "198.51.100.23", port: 40001 },
        candidates: v4Candidates(9),
      },
      {
        type: "match",
        to: PEER,
        echo: ECHO,
        serverTime: TS,
        cookie: COOKIE,
        pairId: PAIR,
        partnerId: PARTNER,
        observed: { host: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", port: 40001 },
        candidates: Array.from({ length: 9 }, (_, i) => ({
          kind: "lan" as const,
          host: `2001:db8:ffff:ffff:ffff:ffff:ffff:${i + 1}`,
          port: 65535,
        })),
        altPort: 10002,
        partnerNat: { mapping: "random", step: 977 },
      },
      { type: "partnerNat", to: PEER, pairId: PAIR, nat: { mapping: "random", step: 977 } },
      { type: "unmatch", to: PEER, pairId: PAIR },
    ];
    for (const msg of replies) {
      const packet = sealed(msg);
      expect(open(KEY, packet).ok).toBe(true);
      expect(packet.length).toBeLessThan(REGISTER_PADDED_LEN);
    }
  });
});

describe("rejected packets", () => {
  const ping = sealed({ type: "ping", pairId: PAIR, peerId: PEER, seq: 42 });

  test("empty and shorter than header + tag: malformed", () => {
    expect(reason(new Uint8Array(0))).toBe("malformed");
    expect(reason(ping.subarray(0, HEADER_LEN + TAG_LEN - 1))).toBe("malformed");
  });

  test("truncated without a new tag: bad-auth", () => {
    for (let len = HEADER_LEN + TAG_LEN; len < ping.length; len++)
      expect(reason(ping.subarray(0, len))).toBe("bad-auth");
  });

  test("truncated body with a valid tag: malformed", () => {
    const unsigned = unsignedPart(ping);
    for (let len = HEADER_LEN; len < unsigned.length; len++)
      expect(reason(retag(unsigned.subarray(0, len)))).toBe("malformed");
    const reg = unsignedPart(
      sealed({
        type: "register",
        session: "lab-1",
        role: "a",
        peerId: PEER,
        candidates: [{ kind: "lan", host: "2001:db8::10", port: 10000 }],
      }),
    );
    // Cut in the middle of the v6 candidate (the padding is gone too).
    expect(reason(retag(reg.subarray(0, HEADER_LEN + 1 + 5 + 1 + 8 + 1 + 10)))).toBe("malformed");
  });

  test("trailing garbage after the body, with a valid tag: malformed", () => {
    expect(reason(retag(new Uint8Array([...unsignedPart(ping), 0x01])))).toBe("malformed");
    expect(reason(retag(new Uint8Array([...unsignedPart(ping), 0, 0, 0xff])))).toBe("malformed");
  });

  test("trailing bytes after the tag: bad-auth", () => {
    expect(reason(new Uint8Array([...ping, 0]))).toBe("bad-auth");
  });

  test("non-zero REGISTER padding, with a valid tag: malformed", () => {
    const reg = unsignedPart(
      sealed({ type: "register", session: "lab-1", role: "a", peerId: PEER, candidates: [] }),
    );
    for (const at of [HEADER_LEN + 20, reg.length - 1]) {
      const bad = reg.slice();
      bad[at] = 0x80;
      expect(reason(retag(bad))).toBe("malformed");
    }
    expect(reason(retag(reg))).toBe("ok");
  });

  test("wrong magic: malformed, before authentication", () => {
    for (const magic of [
      [0x4e, 0x51],
      [0x00, 0x50],
      [0x50, 0x4e],
    ] as const) {
      const forged = ping.slice();
      forged[0] = magic[0];
      forged[1] = magic[1];
      expect(reason(forged)).toBe("malformed");
      // Even correctly tagged, another magic is not ours.
      expect(
        reason(craft({ magic, type: MessageType.ping, body: unsignedPart(ping).subarray(HEADER_LEN) })),
      ).toBe("malformed");
    }
  });

  test("authenticated but version 3: bad-version; version 3 with a broken tag: bad-auth", () => {
    const v3 = unsignedPart(ping).slice();
    v3[2] = 3;
    expect(reason(retag(v3))).toBe("bad-version");
    expect(reason(new Uint8Array([...v3, ...ping.subarray(ping.length - TAG_LEN)]))).toBe("bad-auth");
    expect(
      reason(craft({ version: 0, type: MessageType.ping, body: unsignedPart(ping).subarray(HEADER_LEN) })),
    ).toBe("bad-version");
  });

  test("a version 1 packet with the right secret: old-version given the old key, else bad-auth", () => {
    const body = unsignedPart(ping).subarray(HEADER_LEN);
    const v1 = craft({ version: 1, type: MessageType.ping, body }, KEY_V1);
    expect(reason(v1, KEY_V1)).toBe("old-version");
    expect(reason(v1)).toBe("bad-auth"); // without the old key it cannot be told from a forgery
    // Only a version 1 header under the old key's tag counts; anything else is a forgery.
    const wrongKeyV1 = craft({ version: 1, type: MessageType.ping, body }, KEY.slice().reverse());
    expect(reason(wrongKeyV1, KEY_V1)).toBe("bad-auth");
    expect(reason(craft({ version: 2, type: MessageType.ping, body }, KEY_V1), KEY_V1)).toBe("bad-auth");
    expect(reason(craft({ version: 3, type: MessageType.ping, body }, KEY_V1), KEY_V1)).toBe("bad-auth");
    // The new key and the old one are not the same key.
    expect(toHex(KEY_V1)).not.toBe(toHex(KEY));
  });

  test("oversize: MAX_PACKET is accepted, one byte more is not, even with a valid tag", () => {
    expect(MAX_PACKET).toBe(1200);
    const reg = unsignedPart(
      sealed({ type: "register", session: "lab-1", role: "a", peerId: PEER, candidates: [] }),
    );
    const max = new Uint8Array(MAX_PACKET - TAG_LEN);
    max.set(reg);
    expect(reason(retag(max))).toBe("ok");
    const over = new Uint8Array(MAX_PACKET + 1 - TAG_LEN);
    over.set(reg);
    expect(reason(retag(over))).toBe("malformed");
  });

  test("unknown message type: malformed", () => {
    for (const type of [0, 14, 17, 255]) // 17: the first type after UNMATCH (16)
      expect(reason(craft({ type, body: new Uint8Array(40) }))).toBe("malformed");
  });

  test("bad address family: malformed", () => {
    const reg = sealed({
      type: "registered",
      echo: "000000000000000000000000",
      status: "waiting",
      observed: { host: "198.51.100.23", port: 40001 },
      serverTime: TS,
      cookie: COOKIE,
    });
    const bad = unsignedPart(reg).slice();
    const familyAt = HEADER_LEN + 12 + 1; // after the echo and the status
    expect(bad[familyAt]).toBe(4);
    bad[familyAt] = 5;
    expect(reason(retag(bad))).toBe("malformed");
  });

  test("unknown candidate kind code in MATCH: malformed", () => {
    const match = unsignedPart(
      sealed({
        type: "match",
        to: PEER,
        echo: ECHO,
        serverTime: TS,
        cookie: COOKIE,
        pairId: PAIR,
        partnerId: PARTNER,
        observed: { host: "198.51.100.23", port: 40001 },
        candidates: v4Candidates(1),
      }),
    ).slice();
    const kindAt = HEADER_LEN + 8 + 12 + 8 + 16 + 16 + 8 + 7 + 1; // to, echo, serverTime, cookie, pairId, partnerId, observed, count
    expect(match[kindAt]).toBe(2); // public
    match[kindAt] = 9; // 1 lan, 2 public, 3 mapped; nothing else
    expect(reason(retag(match))).toBe("malformed");
  });

  test("a session that is not UTF-8: malformed", () => {
    const ack = unsignedPart(sealed({ type: "matchAck", session: "ab", pairId: PAIR, peerId: PEER })).slice();
    ack[HEADER_LEN + 1] = 0xff;
    expect(reason(retag(ack))).toBe("malformed");
  });
});

describe("invalid fields are refused by the schemas", () => {
  const register = {
    type: "register",
    session: "lab-1",
    role: "a",
    peerId: PEER,
    candidates: [{ kind: "lan", host: "192.0.2.10", port: 10000 }],
  };

  test("the valid baseline opens", () => {
    expect(reason(sealUnchecked(register))).toBe("ok");
  });

  test("port 0", () => {
    expect(
      reason(sealUnchecked({ ...register, candidates: [{ kind: "lan", host: "192.0.2.10", port: 0 }] })),
    ).toBe("malformed");
    expect(
      reason(
        sealUnchecked({
          type: "registered",
          echo: "000000000000000000000000",
          status: "waiting",
          observed: { host: "198.51.100.23", port: 0 },
          serverTime: TS,
          cookie: COOKIE,
        }),
      ),
    ).toBe("malformed");
    expect(
      reason(
        sealUnchecked({
          type: "match",
          to: PEER,
          echo: ECHO,
          serverTime: TS,
          cookie: COOKIE,
          pairId: PAIR,
          partnerId: PARTNER,
          observed: { host: "198.51.100.23", port: 1 },
          candidates: [{ kind: "public", host: "203.0.113.1", port: 0 }],
        }),
      ),
    ).toBe("malformed");
  });

  test('role "c"', () => {
    expect(reason(sealUnchecked({ ...register, role: "c" }))).toBe("malformed");
    expect(reason(sealUnchecked({ ...register, role: "A" }))).toBe("malformed");
  });

  test("session with spaces, empty, or longer than 64 characters", () => {
    expect(reason(sealUnchecked({ ...register, session: "lab 1" }))).toBe("malformed");
    expect(reason(sealUnchecked({ ...register, session: "" }))).toBe("malformed");
    expect(reason(sealUnchecked({ ...register, session: "s".repeat(65) }))).toBe("malformed");
    expect(reason(sealUnchecked({ ...register, session: "s".repeat(64) }))).toBe("ok");
    expect(reason(sealUnchecked({ type: "matchAck", session: "a/b", pairId: PAIR, peerId: PEER }))).toBe(
      "malformed",
    );
  });

  test("10 MATCH candidates (9 is the most), and none", () => {
    const match = {
      type: "match",
      to: PEER,
      echo: ECHO,
      serverTime: TS,
      cookie: COOKIE,
      pairId: PAIR,
      partnerId: PARTNER,
      observed: { host: "198.51.100.23", port: 40001 },
    };
    expect(reason(sealUnchecked({ ...match, candidates: v4Candidates(9) }))).toBe("ok");
    expect(reason(sealUnchecked({ ...match, candidates: v4Candidates(10) }))).toBe("malformed");
    expect(reason(sealUnchecked({ ...match, candidates: [] }))).toBe("malformed");
  });

  test("a REGISTER announcing a public candidate (only the server says what it saw)", () => {
    const claim = [{ kind: "public" as const, host: "203.0.113.99", port: 40000 }];
    expect(reason(sealUnchecked({ ...register, candidates: claim as never }))).toBe("malformed");
    const mapped = [{ kind: "mapped" as const, host: "203.0.113.99", port: 40000 }];
    expect(reason(sealUnchecked({ ...register, candidates: mapped }))).toBe("ok");
  });
  test("9 REGISTER candidates (8 is the most)", () => {
    const nine = Array.from({ length: 9 }, (_, i) => ({
      kind: "lan" as const,
      host: `192.0.2.${i + 1}`,
      port: 10000,
    }));
    expect(reason(sealUnchecked({ ...register, candidates: nine }))).toBe("malformed");
    expect(reason(sealUnchecked({ ...register, candidates: nine.slice(0, 8) }))).toBe("ok");
  });
});

// Bugs found by review, each pinned by a test that failed before its fix.
test("regression: an IPv4-mapped IPv6 address survives the wire as something normalizeHost unwraps", () => {
  const back = bytesToIp(ipToBytes("::ffff:192.0.2.1"));
  expect(back).toBe("::ffff:192.0.2.1");
  expect(normalizeHost(back)).toBe("192.0.2.1");
});

test("regression: trailing zero bytes after a body other than REGISTER are malformed", () => {
  const { body } = encodeBody(
    { type: "ping", pairId: "ab".repeat(16), peerId: "cd".repeat(8), seq: 1 },
    HEADER_LEN + TAG_LEN,
  );
  const ok = craft({ type: MessageType.ping, body });
  expect(open(KEY, ok).ok).toBe(true);
  const padded = craft({ type: MessageType.ping, body: concat(body, new Uint8Array(4)) });
  expect(open(KEY, padded)).toEqual({ ok: false, reason: "malformed" });
});
