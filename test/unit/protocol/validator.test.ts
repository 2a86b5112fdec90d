// open() checks decoded messages with the fields' own `valid` (body.ts validMessage) instead of a valibot
// safeParse per packet. These hold the two to the same verdict on every message type and on seeded random
// mutations of their bytes, so the fast check accepts exactly what the schema did.
import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { decodeBody, encodeBody, validMessage } from "../../../src/protocol/body.ts";
import { HEADER_LEN, MessageType, TAG_LEN } from "../../../src/protocol/constants.ts";
import { type Message, MessageSchema } from "../../../src/protocol/messages.ts";
import { open } from "../../../src/protocol/packet.ts";
import { craft, KEY, prng } from "../support.ts";

const PAIR = "00112233445566778899aabbccddeeff";
const PEER = "0123456789abcdef";
const ECHO = "a1a2a3a4a5a6a7a8a9aaabac";
const COOKIE = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
const TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f";
const NAT = { mapping: "sequential", step: -2 } as const;

/** At least one vector per message type, with the optional fields both absent and present. */
const VECTORS: Message[] = [
  {
    type: "register",
    session: "lab-1",
    role: "a",
    peerId: PEER,
    candidates: [{ kind: "lan", host: "192.0.2.10", port: 1 }],
  },
  {
    type: "register",
    session: "Az09._@:+-",
    role: "b",
    peerId: PEER,
    candidates: [
      { kind: "mapped", host: "198.51.100.9", port: 61000 },
      { kind: "lan", host: "2001:db8::10", port: 65535 },
    ],
    nat: NAT,
    cookie: COOKIE,
  },
  {
    type: "registered",
    echo: ECHO,
    status: "waiting",
    observed: { host: "198.51.100.23", port: 40001 },
    serverTime: 1_700_000_000_000,
    cookie: COOKIE,
    altPort: 10002,
  },
  {
    type: "match",
    to: PEER,
    echo: ECHO,
    serverTime: 0,
    cookie: COOKIE,
    pairId: PAIR,
    partnerId: PEER,
    observed: { host: "198.51.100.23", port: 1 },
    candidates: [
      { kind: "public", host: "203.0.113.9", port: 2 },
      { kind: "mapped", host: "203.0.113.10", port: 3 },
      { kind: "lan", host: "::ffff:192.0.2.1", port: 4 },
    ],
    altPort: 1,
    partnerNat: { mapping: "random", step: 977 },
  },
  {
    type: "register",
    session: "lab-1",
    role: "a",
    peerId: PEER,
    candidates: [],
    cookie: COOKIE,
    offer: "00ff10",
  },
  {
    type: "match",
    to: PEER,
    echo: ECHO,
    serverTime: 1,
    cookie: COOKIE,
    pairId: PAIR,
    partnerId: PEER,
    observed: { host: "198.51.100.23", port: 1 },
    candidates: [{ kind: "public", host: "203.0.113.9", port: 2 }],
    partnerOffer: "0a",
  },
  { type: "matchAck", session: "lab-1", pairId: PAIR, peerId: PEER },
  { type: "ping", pairId: PAIR, peerId: PEER, seq: 0 },
  { type: "pong", pairId: PAIR, peerId: PEER, seq: 0xffffffff },
  { type: "close", pairId: PAIR, peerId: PEER, rttMs: 12 },
  { type: "data", pairId: PAIR, from: "a", seq: 0, payload: new Uint8Array(0) },
  { type: "data", pairId: PAIR, from: "b", seq: 2 ** 40, payload: Uint8Array.of(1, 2, 3) },
  { type: "probe", probeId: 7, fromOtherPort: true },
  { type: "probeReply", probeId: 7, observed: { host: "198.51.100.1", port: 9 }, receivedOn: 1, altPort: 0 },
  { type: "relayRequest", session: "s", pairId: PAIR, peerId: PEER },
  { type: "relayOffer", pairId: PAIR, to: PEER, status: "ok", port: 40000 },
  { type: "relayOffer", pairId: PAIR, to: PEER, status: "limit", port: 0 },
  { type: "relayBind", pairId: PAIR, peerId: PEER },
  { type: "relayBind", pairId: PAIR, peerId: PEER, token: TOKEN },
  { type: "relayBound", pairId: PAIR, ready: true },
  { type: "natUpdate", session: "lab-1", pairId: PAIR, peerId: PEER, nat: NAT },
  { type: "partnerNat", to: PEER, pairId: PAIR, nat: NAT },
  { type: "unmatch", to: PEER, pairId: PAIR },
  { type: "leave", session: "lab-1", role: "b", peerId: PEER },
  { type: "relayChallenge", pairId: PAIR, token: TOKEN },
];

/** The verdict of the old path (decode, then valibot) and of the new one (decode, then validMessage). */
function verdicts(type: number, body: Uint8Array): { schema: boolean; fast: boolean } | undefined {
  let decoded: unknown;
  try {
    decoded = decodeBody(type, body);
  } catch {
    return undefined; // unreadable: dropped before either check
  }
  return { schema: v.safeParse(MessageSchema, decoded).success, fast: validMessage(decoded) };
}

const bodyOf = (msg: Message) => encodeBody(msg, HEADER_LEN + TAG_LEN);
/** Bytes a mutation writes: the edges of each field's range, and anything at all. */
const INTERESTING = [0, 1, 2, 3, 4, 6, 8, 9, 10, 0x20, 0x2f, 0x3a, 0x40, 0x61, 0x62, 0x63, 0x7f, 0x80, 0xff];

describe("validMessage agrees with MessageSchema", () => {
  test("every message type has a vector, and every vector is valid to both", () => {
    expect([...new Set(VECTORS.map((m) => m.type as string))].sort()).toEqual(
      Object.keys(MessageType).sort(),
    );
    for (const msg of VECTORS) {
      const { type, body } = bodyOf(msg);
      expect({ msg, ...verdicts(type, body) }).toEqual({ msg, schema: true, fast: true });
    }
  });

  test("values only the schema refused: port 0, role, session, counts, a u64 above 2^53", () => {
    const refused: Message[] = [
      {
        ...(VECTORS[0] as Extract<Message, { type: "register" }>),
        candidates: [{ kind: "lan", host: "192.0.2.1", port: 0 }],
      },
      { type: "leave", session: "lab-1", role: "c" as "a", peerId: PEER },
      { type: "matchAck", session: "", pairId: PAIR, peerId: PEER },
      { type: "matchAck", session: "a b", pairId: PAIR, peerId: PEER },
      { type: "matchAck", session: "s".repeat(65), pairId: PAIR, peerId: PEER },
      { type: "matchAck", session: "é", pairId: PAIR, peerId: PEER },
      {
        ...(VECTORS[0] as Extract<Message, { type: "register" }>),
        candidates: Array.from({ length: 9 }, (_, i) => ({
          kind: "lan" as const,
          host: `192.0.2.${i + 1}`,
          port: 1,
        })),
      },
      { ...(VECTORS[3] as Extract<Message, { type: "match" }>), candidates: [] },
      { ...(VECTORS[2] as Extract<Message, { type: "registered" }>), serverTime: 2 ** 60 },
      {
        type: "probeReply",
        probeId: 7,
        observed: { host: "198.51.100.1", port: 9 },
        receivedOn: 0,
        altPort: 0,
      },
    ];
    for (const msg of refused) {
      const { type, body } = bodyOf(msg);
      expect({ msg, ...verdicts(type, body) }).toEqual({ msg, schema: false, fast: false });
    }
  });

  test("random mutations of every vector (seeded): the same verdict, both ways, on each", () => {
    const rand = prng(11);
    const pick = (n: number) => Math.floor(rand() * n);
    let accepted = 0;
    let refused = 0;
    const ROUNDS = 3000;
    for (const msg of VECTORS) {
      const { type, body } = bodyOf(msg);
      for (let round = 0; round < ROUNDS; round++) {
        const m = body.slice();
        const edits = 1 + pick(3);
        for (let e = 0; e < edits; e++) {
          const at = pick(m.length);
          m[at] = rand() < 0.5 ? (INTERESTING[pick(INTERESTING.length)] ?? 0) : pick(256);
        }
        const got = verdicts(type, m);
        if (!got) continue;
        if (got.fast !== got.schema)
          throw new Error(`${msg.type}: ${Buffer.from(m).toString("hex")} ${JSON.stringify(got)}`);
        if (got.schema) accepted++;
        else refused++;
      }
    }
    // Both verdicts must be well represented, or the comparison proves little.
    expect(accepted).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(1000);
  });

  test("open() refuses as malformed exactly the mutations the schema refused", () => {
    const rand = prng(12);
    for (const msg of VECTORS) {
      const { type, body } = bodyOf(msg);
      for (let round = 0; round < 200; round++) {
        const m = body.slice();
        m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
        const got = verdicts(type, m);
        const r = open(KEY, craft({ type, body: m }));
        expect(r.ok ? "ok" : r.reason).toBe(got?.schema ? "ok" : "malformed");
      }
    }
  });
});
