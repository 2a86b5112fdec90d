// The peer's side of offers, on a fake clock: every REGISTER of the run carries our offer (first contact,
// the answer to a challenge, retries, keepalives), and the partner's offer from the MATCH is the outcome's.
import { describe, expect, test } from "bun:test";
import type { Match, Message, Registered } from "../../../src/protocol/messages.ts";
import { type PeerAction, PeerMachine, type PunchOutcome } from "../../../src/punch/machine.ts";
import { frameOf } from "../support.ts";

const SERVER = { host: "198.51.100.7", port: 10001 };
const ME = "1111111111111111";
const PARTNER = "2222222222222222";
const PAIR = "00112233445566778899aabbccddeeff";
const MY_PUBLIC = { host: "198.51.100.10", port: 40001 };
const P_PUB = { host: "203.0.113.20", port: 40002 };
const COOKIE = "0123456789abcdef0123456789abcdef";
const OFFER = "0a0b0c0d";
const PARTNER_OFFER = "ff".repeat(192);

function peer(offer?: string) {
  let n = 0;
  const m = new PeerMachine({
    session: "s1",
    role: "b",
    peerId: ME,
    server: SERVER,
    lanCandidates: [],
    nonce: () => (++n).toString(16).padStart(24, "0"),
    ...(offer ? { offer } : {}),
  });
  const log: { t: number; a: PeerAction }[] = [];
  let wake: number | undefined;
  let lastNonce = "";
  const step = (input: Parameters<PeerMachine["step"]>[0]) => {
    const out = m.step(input);
    wake = out.wakeAt;
    for (const a of out.actions) {
      log.push({ t: input.now, a });
      if (a.kind === "send" && a.msg.type === "register" && a.nonce) lastNonce = a.nonce;
    }
  };
  /** Ticks at every wake up to `until`, then delivers `msg` (an answer echoes our last REGISTER). */
  const recv = (from: typeof SERVER, msg: Message, now: number) => {
    for (let guard = 0; wake !== undefined && wake < now && guard < 1_000; guard++)
      step({ type: "tick", now: wake });
    step({ type: "frame", now, from, frame: frameOf(msg) });
  };
  const registers = () =>
    log.flatMap(({ t, a }) => (a.kind === "send" && a.msg.type === "register" ? [{ t, msg: a.msg }] : []));
  const outcome = (): PunchOutcome | undefined =>
    log.flatMap(({ a }) => (a.kind === "done" ? [a.outcome] : []))[0];
  return { m, step, recv, registers, outcome, nonce: () => lastNonce };
}

const registered = (echo: string, status: Registered["status"]): Registered => ({
  type: "registered",
  echo,
  status,
  observed: MY_PUBLIC,
  serverTime: 0,
  cookie: COOKIE,
});
const match = (echo: string, partnerOffer?: string): Match => ({
  type: "match",
  to: ME,
  echo,
  serverTime: 0,
  cookie: COOKIE,
  pairId: PAIR,
  partnerId: PARTNER,
  observed: MY_PUBLIC,
  candidates: [{ kind: "public", ...P_PUB }],
  ...(partnerOffer ? { partnerOffer } : {}),
});

describe("our offer", () => {
  test("every REGISTER carries it: first contact, retries, the challenge's answer, keepalives", () => {
    const p = peer(OFFER);
    p.step({ type: "start", now: 0 });
    p.recv(SERVER, registered(p.nonce(), "challenge"), 300); // after one retry at 250 ms
    p.recv(SERVER, registered(p.nonce(), "waiting"), 330);
    p.recv(SERVER, registered("00".repeat(12), "waiting"), 31_000); // ticks through two keepalives first
    const sent = p.registers();
    expect(sent.map((r) => r.t)).toEqual([0, 250, 300, 15_330, 30_330]);
    expect(sent.map((r) => r.msg.type === "register" && r.msg.offer)).toEqual(Array(5).fill(OFFER));
  });

  test("without one, no REGISTER has an offer key", () => {
    const p = peer();
    p.step({ type: "start", now: 0 });
    p.recv(SERVER, registered(p.nonce(), "waiting"), 30);
    p.recv(SERVER, registered("00".repeat(12), "waiting"), 16_000);
    expect(p.registers().map((r) => "offer" in r.msg)).toEqual([false, false]);
  });
});

describe("the partner's offer", () => {
  /** Matched, then the partner's CLOSE on its public address proves the path: done. */
  function punched(partnerOffer?: string): PunchOutcome | undefined {
    const p = peer(OFFER);
    p.step({ type: "start", now: 0 });
    p.recv(SERVER, registered(p.nonce(), "waiting"), 30);
    p.recv(SERVER, match(p.nonce(), partnerOffer), 1_000);
    p.recv(P_PUB, { type: "close", pairId: PAIR, peerId: PARTNER, rttMs: 20 }, 1_020);
    return p.outcome();
  }

  test("is handed on with the outcome, exactly as the MATCH had it", () => {
    const outcome = punched(PARTNER_OFFER);
    expect(outcome?.remote).toEqual(P_PUB);
    expect(outcome?.partnerOffer).toBe(PARTNER_OFFER);
  });

  test("a MATCH without one: the outcome has no partnerOffer key", () => {
    const outcome = punched();
    expect(outcome?.remote).toEqual(P_PUB);
    expect(outcome && "partnerOffer" in outcome).toBe(false);
  });
});
