// The peer machine's fallbacks on a fake clock: NAT probing, birthday probing from both sides, and the relay
// at once when both NATs are symmetric.
import { describe, expect, test } from "bun:test";
import type { Match, Message, NatInfo } from "../../../src/protocol/messages.ts";
import { UNANSWERED_BUDGET } from "../../../src/punch/budget.ts";
import { DEFAULT_PEER_TIMINGS } from "../../../src/punch/config.ts";
import { type PeerAction, PeerMachine } from "../../../src/punch/machine.ts";
import { socketOf } from "../../../src/punch/path.ts";
import type { Endpoint } from "../../../src/types.ts";
import { frameOf, prng } from "../support.ts";

const SERVER = { host: "198.18.1.2", port: 10001 };
const ALT = { host: "198.18.1.2", port: 10002 };
const PAIR = "ab".repeat(16);
const PARTNER = "22".repeat(8);
const P_PUB = { host: "198.18.3.2", port: 10000 };
const MINE = { host: "198.18.2.2", port: 40000 };
const ME = "11".repeat(8);
const COOKIE = "cc".repeat(16);

function peer() {
  let nonces = 0;
  const m = new PeerMachine({
    session: "s",
    role: "a",
    peerId: ME,
    server: SERVER,
    lanCandidates: [],
    localPort: 10000,
    random: prng(3),
    nonce: () => (++nonces).toString(16).padStart(24, "0"),
  });
  const log: { t: number; a: PeerAction }[] = [];
  let wake: number | undefined;
  const step = (input: Parameters<PeerMachine["step"]>[0]) => {
    const out = m.step(input);
    wake = out.wakeAt;
    for (const a of out.actions) log.push({ t: input.now, a });
    return out.actions;
  };
  const recv = (from: Endpoint, msg: Message, now: number, socket = 0) =>
    step({ type: "frame", now, from, frame: frameOf(msg), path: { kind: "direct", socket } });
  const runUntil = (until: number) => {
    for (let guard = 0; wake !== undefined && wake <= until && guard < 10_000; guard++)
      step({ type: "tick", now: wake });
  };
  const sends = (type: Message["type"]) =>
    log.flatMap(({ t, a }) =>
      a.kind === "send" && a.msg.type === type
        ? [{ t, to: { host: a.to.host, port: a.to.port }, msg: a.msg, socket: a.path ? socketOf(a.path) : 0 }]
        : [],
    );
  const events = () => log.flatMap(({ a }) => (a.kind === "event" ? [a.event] : []));
  /** The nonce of the last REGISTER sent: what the server's answers echo. */
  const lastRegisterNonce = () => {
    const regs = log.flatMap(({ a }) =>
      a.kind === "send" && a.msg.type === "register" && a.nonce ? [a.nonce] : [],
    );
    const last = regs.at(-1);
    if (!last) throw new Error("no REGISTER sent yet");
    return last;
  };
  /** The id of the last PROBE sent: a PROBE_REPLY must claim it. */
  const lastProbeId = () => {
    const last = sends("probe").at(-1)?.msg;
    if (last?.type !== "probe") throw new Error("no PROBE sent yet");
    return last.probeId;
  };
  return { m, step, recv, runUntil, sends, events, log, lastRegisterNonce, lastProbeId };
}

/** The server's MATCH, bound to us and to our last REGISTER. */
function matchFor(p: ReturnType<typeof peer>, extra: Partial<Match> = {}): Message {
  return {
    type: "match",
    to: ME,
    echo: p.lastRegisterNonce(),
    serverTime: 0,
    cookie: "00".repeat(16),
    pairId: PAIR,
    partnerId: PARTNER,
    observed: MINE,
    candidates: [{ kind: "public", ...P_PUB }],
    ...extra,
  };
}

/** Registered (the server announces its alt port), our probe answered with `viaAlt`, then matched. */
function matched(p: ReturnType<typeof peer>, viaAlt: Endpoint, partnerNat?: NatInfo) {
  matchedWith(p, viaAlt, partnerNat ? { partnerNat } : {});
}

/** As matched, with any MATCH fields replaced (an insider's forged MATCH). */
function matchedWith(p: ReturnType<typeof peer>, viaAlt: Endpoint, extra: Partial<Match>) {
  p.step({ type: "start", now: 0 });
  p.recv(
    SERVER,
    {
      type: "registered",
      echo: p.lastRegisterNonce(),
      status: "waiting",
      observed: MINE,
      serverTime: 10,
      cookie: COOKIE,
      altPort: ALT.port,
    },
    10,
  );
  expect(p.sends("probe").map((s) => s.to)).toEqual([ALT]);
  p.recv(
    ALT,
    {
      type: "probeReply",
      probeId: p.lastProbeId(),
      observed: viaAlt,
      receivedOn: ALT.port,
      altPort: ALT.port,
    },
    20,
  );
  p.recv(SERVER, matchFor(p, extra), 1000);
}

test("symmetric us, easy partner: 256 extra sockets PING the partner; the socket that wins is the result", () => {
  const p = peer();
  matched(p, { ...MINE, port: 51234 }, { mapping: "independent", step: 0 });
  expect(p.events()).toContainEqual({ type: "nat", nat: { mapping: "random", step: 11234 } });
  expect(p.log.map(({ a }) => a)).toContainEqual({ kind: "open-sockets", count: 256 });
  p.step({ type: "sockets", now: 1010, count: 3 });
  const fromExtra = p.sends("ping").filter((s) => s.socket > 0);
  expect(fromExtra.map((s) => [s.socket, s.to])).toEqual([
    [1, P_PUB],
    [2, P_PUB],
    [3, P_PUB],
  ]);
  const won = fromExtra[1];
  if (won?.msg.type !== "ping") throw new Error("no ping from socket 2");
  p.recv(P_PUB, { type: "pong", pairId: PAIR, peerId: PARTNER, seq: won.msg.seq }, 1030, 2);
  p.recv(P_PUB, { type: "close", pairId: PAIR, peerId: PARTNER, rttMs: 20 }, 1040, 2);
  const done = p.log.find(({ a }) => a.kind === "done")?.a;
  expect(done?.kind === "done" && [done.outcome.path, done.outcome.kind]).toEqual([
    { kind: "direct", socket: 2 },
    "birthday",
  ]);
  expect(p.sends("close").filter((s) => s.socket !== 2)).toEqual([]); // CLOSE goes out of the winning socket
});

test("easy us, symmetric partner: PINGs to 2,048 distinct ports of its IP, 64 per tick; a hit is a birthday path", () => {
  const p = peer();
  matched(p, MINE, { mapping: "random", step: 999 });
  expect(p.events()).toContainEqual(expect.objectContaining({ type: "strategy", strategy: "easy" }));
  p.runUntil(1000 + 60 * 40);
  const sprayed = p.sends("ping").filter((s) => s.to.host === P_PUB.host && s.to.port !== P_PUB.port);
  expect(sprayed.length).toBe(2048);
  expect(new Set(sprayed.map((s) => s.to.port)).size).toBe(2048);
  expect(
    Math.max(...Object.values(Object.groupBy(sprayed, (s) => String(s.t))).map((g) => g?.length ?? 0)),
  ).toBe(64);
  const hit = sprayed[700];
  if (hit?.msg.type !== "ping") throw new Error("no spray");
  p.recv(hit.to, { type: "pong", pairId: PAIR, peerId: PARTNER, seq: hit.msg.seq }, 5000);
  expect(p.events()).toContainEqual({
    type: "punch-ok",
    from: hit.to,
    kind: "birthday",
    rttMs: 5000 - hit.t,
  });
});

test("both symmetric: straight to the relay, no birthday probing", () => {
  const p = peer();
  matched(p, { ...MINE, port: 51234 }, { mapping: "random", step: 5 });
  expect(p.sends("relayRequest").map((s) => s.t)).toEqual([1000]);
  expect(p.log.map(({ a }) => a.kind)).not.toContain("open-sockets");
});

test("the relay path: offer, challenge answered at once, bound, then the relay is a candidate", () => {
  const p = peer();
  const me = "11".repeat(8);
  const RELAY = { host: SERVER.host, port: 20000 };
  matched(p, { ...MINE, port: 51234 }, { mapping: "random", step: 5 });
  const offer = { type: "relayOffer", pairId: PAIR, to: me, status: "ok", port: RELAY.port } as const;
  p.recv(SERVER, { ...offer, to: PARTNER }, 1010); // the partner's copy: not for us
  p.recv(SERVER, { ...offer, pairId: "cd".repeat(16) }, 1010); // another pair's
  expect(p.sends("relayBind")).toEqual([]);
  p.recv(SERVER, offer, 1020);
  expect(p.sends("relayBind").map((s) => [s.t, s.to, s.msg])).toEqual([
    [1020, RELAY, { type: "relayBind", pairId: PAIR, peerId: me }],
  ]);
  const token = "5a".repeat(16);
  p.recv(RELAY, { type: "relayChallenge", pairId: PAIR, token }, 1030);
  expect(p.sends("relayBind").map((s) => [s.t, s.msg])).toEqual([
    [1020, { type: "relayBind", pairId: PAIR, peerId: me }],
    [1030, { type: "relayBind", pairId: PAIR, peerId: me, token }],
  ]);
  p.recv(RELAY, { type: "relayBound", pairId: PAIR, ready: true }, 1040);
  expect(p.events()).toContainEqual({ type: "relay", state: "ready", relay: RELAY });
  expect(p.sends("ping")).toContainEqual(
    expect.objectContaining({ t: 1040, to: expect.objectContaining({ port: RELAY.port }) }),
  );
});

test("a PONG through the relay proves the relay path: CLOSE and the result go by the relay", () => {
  const p = peer();
  const me = "11".repeat(8);
  const RELAY = { host: SERVER.host, port: 20000 };
  const viaRelay = { kind: "relay", relay: RELAY } as const;
  matched(p, { ...MINE, port: 51234 }, { mapping: "random", step: 5 });
  p.recv(SERVER, { type: "relayOffer", pairId: PAIR, to: me, status: "ok", port: RELAY.port }, 1020);
  p.recv(RELAY, { type: "relayBound", pairId: PAIR, ready: true }, 1040);
  const ping = p.log.find(
    ({ a }) => a.kind === "send" && a.msg.type === "ping" && a.to.port === RELAY.port,
  )?.a;
  if (ping?.kind !== "send" || ping.msg.type !== "ping") throw new Error("no PING to the relay");
  expect(ping.path).toEqual(viaRelay);
  // The driver only knows the socket; that the PONG came from our relay port, the machine knows.
  p.recv(RELAY, { type: "pong", pairId: PAIR, peerId: PARTNER, seq: ping.msg.seq }, 1060);
  p.runUntil(5_000);
  const closes = p.log.flatMap(({ a }) => (a.kind === "send" && a.msg.type === "close" ? [a] : []));
  expect(closes.length).toBeGreaterThan(0);
  expect(closes.filter((a) => a.to.port !== RELAY.port || a.path?.kind !== "relay")).toEqual([]);
  const done = p.log.find(({ a }) => a.kind === "done")?.a;
  expect(done?.kind === "done" && [done.outcome.kind, done.outcome.path, done.outcome.rttMs]).toEqual([
    "relay",
    viaRelay,
    20,
  ]);
});

test.each([
  ["off", "start it with serve --relay"],
  ["full", "every slot is taken"],
  ["limit", "already holds its share"],
] as const)("a %s RELAY_OFFER is reported as such, and in E_PUNCH_FAILED", (status, note) => {
  const p = peer();
  matched(p, { ...MINE, port: 51234 }, { mapping: "random", step: 5 });
  p.recv(SERVER, { type: "relayOffer", pairId: PAIR, to: "11".repeat(8), status, port: 0 }, 1010);
  expect(p.events()).toContainEqual({ type: "relay", state: status });
  p.runUntil(12_000);
  const failed = p.log.find(({ a }) => a.kind === "fail")?.a;
  expect(failed?.kind === "fail" ? failed.error.message : "no failure").toContain(note);
});

test("the partner's behaviour learned mid-punch (PARTNER_NAT) starts the matching strategy; ours goes out as NAT_UPDATE", () => {
  const p = peer();
  p.step({ type: "start", now: 0 });
  // The second peer: MATCH first (with the alt port), our probe answer after it.
  p.recv(SERVER, matchFor(p, { altPort: ALT.port }), 100);
  p.recv(
    ALT,
    { type: "probeReply", probeId: p.lastProbeId(), observed: MINE, receivedOn: ALT.port, altPort: ALT.port },
    120,
  );
  expect(p.sends("natUpdate").map((s) => s.msg)).toEqual([
    {
      type: "natUpdate",
      session: "s",
      pairId: PAIR,
      peerId: "11".repeat(8),
      nat: { mapping: "independent", step: 0 },
    },
  ]);
  expect(p.events().map((e) => e.type)).not.toContain("strategy");
  // A PARTNER_NAT for someone else is ignored; ours starts the strategy.
  p.recv(SERVER, { type: "partnerNat", to: PARTNER, pairId: PAIR, nat: { mapping: "random", step: 3 } }, 150);
  expect(p.events().map((e) => e.type)).not.toContain("strategy");
  p.recv(SERVER, { type: "partnerNat", to: ME, pairId: PAIR, nat: { mapping: "random", step: 3 } }, 200);
  expect(p.events()).toContainEqual(expect.objectContaining({ type: "strategy", strategy: "easy" }));
});

// Issue 8 item 1: however the spray is triggered, an address that never answers gets a bounded amount. An
// insider (who holds the secret) forges a MATCH naming a victim as the partner; without the secret a MATCH
// is refused outright, and plain punching stays within UNANSWERED_BUDGET (security-peer.test.ts). A birthday
// strategy adds its one allowance (sprayCount) on top, never more, however many sockets PING the victim
// (without the budget the birthday sockets alone send it over 5,000).
describe("an insider's MATCH naming a victim: the budget bounds every strategy", () => {
  const VICTIM_IP = "192.0.2.99";
  const toVictim = (p: ReturnType<typeof peer>) =>
    p.sends("ping").filter((s) => s.to.host === VICTIM_IP).length;
  const lie = (partnerNat?: NatInfo): Partial<Match> => ({
    candidates: [{ kind: "public", host: VICTIM_IP, port: 5000 }],
    ...(partnerNat ? { partnerNat } : {}),
  });
  const bound = UNANSWERED_BUDGET + DEFAULT_PEER_TIMINGS.sprayCount;

  test.each([
    ["easy us, the MATCH says nothing of the partner's NAT (the spray after sprayAfterMs)", MINE, undefined],
    ["easy us, the MATCH says the partner is symmetric", MINE, { mapping: "random", step: 7 } as NatInfo],
    [
      "symmetric us, the MATCH says the partner is easy (256 sockets every 500 ms)",
      { ...MINE, port: 51234 },
      { mapping: "independent", step: 0 } as NatInfo,
    ],
  ] as const)(
    "%s: more than plain punching, never more than UNANSWERED_BUDGET + sprayCount",
    (_, via, nat) => {
      const p = peer();
      matchedWith(p, via, lie(nat));
      if (p.log.some(({ a }) => a.kind === "open-sockets"))
        p.step({ type: "sockets", now: 1010, count: DEFAULT_PEER_TIMINGS.birthdaySockets });
      p.runUntil(30_000);
      const sent = toVictim(p);
      expect(sent).toBeGreaterThan(UNANSWERED_BUDGET); // the strategy did start: the bound is what held it
      expect(sent).toBeLessThanOrEqual(bound);
    },
  );
});
