// The peer's side of the mode check, on a fake clock: every REGISTER says whether we run proxy mode, and a
// MATCH whose partner runs the other mode fails the peer at once (E_MODE_MISMATCH, saying which side runs
// proxy mode), before any PING, after acknowledging the MATCH and with a LEAVE that undoes the pair.
import { describe, expect, test } from "bun:test";
import type { NetpunchError } from "../../../src/errors.ts";
import type { Match, Message, Registered } from "../../../src/protocol/messages.ts";
import { type PeerAction, PeerMachine } from "../../../src/punch/machine.ts";
import { frameOf } from "../support.ts";

const SERVER = { host: "198.51.100.7", port: 10001 };
const ME = "1111111111111111";
const PAIR = "00112233445566778899aabbccddeeff";
const MY_PUBLIC = { host: "198.51.100.10", port: 40001 };
const P_PUB = { host: "203.0.113.20", port: 40002 };
const COOKIE = "0123456789abcdef0123456789abcdef";

function peer(proxy: boolean) {
  let n = 0;
  const m = new PeerMachine({
    session: "s1",
    role: "a",
    peerId: ME,
    server: SERVER,
    lanCandidates: [],
    nonce: () => (++n).toString(16).padStart(24, "0"),
    ...(proxy ? { proxy: true } : {}),
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
    return out;
  };
  const recv = (msg: Message, now: number) => {
    for (let guard = 0; wake !== undefined && wake < now && guard < 1_000; guard++)
      step({ type: "tick", now: wake });
    return step({ type: "frame", now, from: SERVER, frame: frameOf(msg) });
  };
  const sent = () => log.flatMap(({ a }) => (a.kind === "send" ? [a.msg] : []));
  return { m, step, recv, sent, nonce: () => lastNonce };
}

const registered = (echo: string): Registered => ({
  type: "registered",
  echo,
  status: "waiting",
  observed: MY_PUBLIC,
  serverTime: 0,
  cookie: COOKIE,
});
const match = (echo: string, partnerProxy: boolean): Match => ({
  type: "match",
  to: ME,
  echo,
  serverTime: 0,
  cookie: COOKIE,
  pairId: PAIR,
  partnerId: "2222222222222222",
  observed: MY_PUBLIC,
  candidates: [{ kind: "public", ...P_PUB }],
  ...(partnerProxy ? { partnerProxy: true } : {}),
});

/** Registered and waiting, then the server's MATCH with a partner of mode `partner`. */
function matched(ours: boolean, partner: boolean) {
  const p = peer(ours);
  p.step({ type: "start", now: 0 });
  p.recv(registered(p.nonce()), 30);
  const before = p.sent().length;
  const out = p.recv(match(p.nonce(), partner), 1_000);
  return { p, out, after: p.sent().slice(before) };
}

describe("proxy mode in the rendezvous", () => {
  test.each([true, false])("proxy %p: every REGISTER says so (in hand-off mode, no key)", (proxy) => {
    const p = peer(proxy);
    p.step({ type: "start", now: 0 });
    p.recv(registered(p.nonce()), 30);
    p.recv(registered("00".repeat(12)), 16_000); // ticks through a keepalive first
    const registers = p.sent().filter((m) => m.type === "register");
    expect(registers.length).toBe(2);
    expect(registers.map((r) => (r.type === "register" ? r.proxy : "?"))).toEqual(
      proxy ? [true, true] : [undefined, undefined],
    );
  });

  test.each([
    [true, "this peer (role a) runs proxy mode and its partner (role b) does not"],
    [false, "the partner (role b) runs proxy mode and this peer (role a) does not"],
  ])("ours %p, the partner's the other: fails at once, saying who runs proxy mode", (ours, says) => {
    const { out, after } = matched(ours, !ours);
    const fails = out.actions.flatMap((a) => (a.kind === "fail" ? [a.error as NetpunchError] : []));
    expect(fails.map((e) => e.code)).toEqual(["E_MODE_MISMATCH"]);
    expect(fails[0]?.message).toContain(says);
    expect(fails[0]?.message).toContain('session "s1"');
    expect(fails[0]?.hint).toBe("run both peers of the session in proxy mode, or neither");
    expect(fails[0]?.detail).toEqual({ proxy: ours, partnerRole: "b" });
    // The MATCH is acknowledged, the pair undone with LEAVE, and nothing goes to the partner.
    expect(after.map((m) => m.type)).toEqual(["matchAck", "leave", "leave", "leave"]);
    expect(out.wakeAt).toBeUndefined();
  });

  test.each([true, false])("both %p: the punch starts (PINGs to the partner)", (mode) => {
    const { out, after } = matched(mode, mode);
    expect(out.actions.some((a) => a.kind === "fail")).toBe(false);
    expect(after[0]?.type).toBe("matchAck");
    expect(after.filter((m) => m.type === "ping").length).toBeGreaterThan(0);
  });
});

describe("proxy mode's handover", () => {
  test("never lists a WebSocket peer's synthetic address (240.0.0.0/4) as a direct target", () => {
    const p = peer(true);
    p.step({ type: "start", now: 0 });
    p.recv(registered(p.nonce()), 30);
    const lan = { kind: "lan" as const, host: "192.0.2.30", port: 40003 };
    p.recv(
      { ...match(p.nonce(), true), candidates: [{ kind: "public", host: "248.1.2.3", port: 1 }, lan] },
      1_000,
    );
    const targets = p.m.handover(PAIR)?.directTargets;
    expect(targets).toEqual([{ host: "192.0.2.30", port: 40003 }]);
  });
});
