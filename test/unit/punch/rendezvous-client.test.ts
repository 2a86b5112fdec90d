// The rendezvous client on its own, on a fake clock: REGISTER and its answers, the MATCH checks that decide
// whether a pair starts, and UNMATCH.
import { describe, expect, test } from "bun:test";
import type { Match, Registered } from "../../../src/protocol/messages.ts";
import { DEFAULT_PEER_TIMINGS } from "../../../src/punch/config.ts";
import { type RendezvousAction, RendezvousClient } from "../../../src/punch/rendezvous-client.ts";

const SERVER = { host: "198.51.100.7", port: 10001 };
const ME = "1111111111111111";
const PAIR = "aa".repeat(16);
const MY_PUBLIC = { host: "198.51.100.10", port: 40001 };

function client() {
  let n = 0;
  const c = new RendezvousClient(
    {
      session: "s1",
      role: "a",
      peerId: ME,
      server: SERVER,
      lanCandidates: [],
      localPort: 10000,
      random: () => 0.5,
      nonce: () => (++n).toString(16).padStart(24, "0"),
    },
    DEFAULT_PEER_TIMINGS,
  );
  return c;
}

const nonceOf = (actions: RendezvousAction[]): string => {
  const a = actions.find((x) => x.kind === "send" && x.msg.type === "register");
  if (a?.kind !== "send" || !a.nonce) throw new Error("no REGISTER");
  return a.nonce;
};
const registered = (echo: string): Registered => ({
  type: "registered",
  echo,
  status: "waiting",
  observed: MY_PUBLIC,
  serverTime: 0,
  cookie: "cc".repeat(16),
});
const match = (echo: string, pairId = PAIR): Match => ({
  type: "match",
  to: ME,
  echo,
  serverTime: 0,
  cookie: "cc".repeat(16),
  pairId,
  partnerId: "2222222222222222",
  observed: MY_PUBLIC,
  candidates: [],
});
const types = (actions: RendezvousAction[]) =>
  actions.map((a) => (a.kind === "send" ? a.msg.type : a.kind === "event" ? a.event.type : a.kind));

describe("RendezvousClient", () => {
  test("REGISTERED echoing our REGISTER: clock offset, registered, waiting; a second copy is refused", () => {
    const c = client();
    const echo = nonceOf(c.start(0));
    expect(types(c.onRegistered(SERVER, registered(echo), 100))).toEqual(["clock", "registered", "waiting"]);
    expect(c.phase).toBe("waiting");
    expect(c.publicAddr).toEqual(MY_PUBLIC);
    expect(types(c.onRegistered(SERVER, registered(echo), 110))).toEqual(["dropped"]);
  });

  test("a fresh MATCH starts a pair once; its retransmission is only acknowledged; another pair is refused", () => {
    const c = client();
    const echo = nonceOf(c.start(0));
    c.onRegistered(SERVER, registered(echo), 100);
    const first = c.onMatch(SERVER, match(echo), 200, false);
    expect([first.fresh, types(first.actions)]).toEqual([true, ["clock", "matchAck"]]);
    expect(c.phase).toBe("matched");
    const again = c.onMatch(SERVER, match(echo), 300, true);
    expect([again.fresh, types(again.actions)]).toEqual([false, ["matchAck"]]);
    const other = c.onMatch(SERVER, match(echo, "bb".repeat(16)), 300, false);
    expect([other.fresh, types(other.actions)]).toEqual([false, ["dropped"]]);
  });

  test("UNMATCH: waiting again with a fresh REGISTER, and that pair's late MATCH never starts it again", () => {
    const c = client();
    const echo = nonceOf(c.start(0));
    c.onRegistered(SERVER, registered(echo), 100);
    c.onMatch(SERVER, match(echo), 200, false);
    const back = c.unmatched(PAIR, 1600);
    expect(types(back)).toEqual(["partner-lost", "register"]);
    expect(c.phase).toBe("waiting");
    expect(c.onMatch(SERVER, match(nonceOf(back)), 1700, false).fresh).toBe(false);
  });

  test("LEAVE only once the server has answered: before, it never heard of us", () => {
    const c = client();
    const echo = nonceOf(c.start(0));
    expect(c.leave()).toEqual([]);
    c.onRegistered(SERVER, registered(echo), 100);
    expect(types(c.leave())).toEqual(["leave", "leave", "leave"]);
  });
});
