// The server keeps each peer's offer with its registration (only when it made one) and hands it to the
// partner in MATCH: the first one, retransmissions, and the MATCH a crossing REGISTER is answered with.
import { describe, expect, test } from "bun:test";
import type { Match, Register } from "../../../src/protocol/messages.ts";
import type { ServerAction } from "../../../src/rendezvous/core.ts";
import { MemoryStore } from "../../../src/rendezvous/store.ts";
import type { Role } from "../../../src/types.ts";
import { frameOf, makeCore, registerWithCookie } from "../support.ts";

const A_ADDR = { host: "198.51.100.10", port: 40001 };
const B_ADDR = { host: "203.0.113.20", port: 40002 };
const A_ID = "aaaaaaaaaaaaaaaa";
const B_ID = "bbbbbbbbbbbbbbbb";
const A_OFFER = "a0".repeat(192);
const B_OFFER = "0b0b";

const register = (role: Role, offer?: string): Register => ({
  type: "register",
  session: "s1",
  role,
  peerId: role === "a" ? A_ID : B_ID,
  candidates: [],
  ...(offer ? { offer } : {}),
});

/** The MATCHes in `out`, by the address they go to. */
function matches(out: ServerAction[]): Map<string, Match> {
  const found = new Map<string, Match>();
  for (const a of out) if (a.kind === "send" && a.msg.type === "match") found.set(a.to.host, a.msg);
  return found;
}

function setup() {
  const store = new MemoryStore();
  const core = makeCore({ store });
  return { store, core };
}

describe("the server stores and forwards offers", () => {
  test("each MATCH carries the partner's offer, never the recipient's own", async () => {
    const { core } = setup();
    await registerWithCookie(core, A_ADDR, register("a", A_OFFER), 0);
    const m = matches(await registerWithCookie(core, B_ADDR, register("b", B_OFFER), 10));
    expect(m.get(A_ADDR.host)?.partnerOffer).toBe(B_OFFER);
    expect(m.get(B_ADDR.host)?.partnerOffer).toBe(A_OFFER);
  });

  test("kept with the registration only when made: a peer without one has no offer key at all", async () => {
    const { core, store } = setup();
    await registerWithCookie(core, A_ADDR, register("a", A_OFFER), 0);
    await registerWithCookie(core, B_ADDR, register("b"), 10);
    const rec = await store.get("s1");
    expect(rec?.slots.a?.offer).toBe(A_OFFER);
    expect(rec?.slots.b && "offer" in rec.slots.b).toBe(false);
  });

  test("one side offers: its partner gets it, its own MATCH has no partnerOffer", async () => {
    const { core } = setup();
    await registerWithCookie(core, A_ADDR, register("a"), 0);
    const m = matches(await registerWithCookie(core, B_ADDR, register("b", B_OFFER), 10));
    expect(m.get(A_ADDR.host)?.partnerOffer).toBe(B_OFFER);
    expect(m.get(B_ADDR.host) && "partnerOffer" in (m.get(B_ADDR.host) as Match)).toBe(false);
  });

  test("the latest REGISTER's offer counts: a keepalive with a new one replaces it, one without takes it back", async () => {
    const { core } = setup();
    await registerWithCookie(core, A_ADDR, register("a", A_OFFER), 0);
    const keepalive = async (offer: string | undefined, now: number) =>
      // A keepalive from the same address, with a cookie of its time (registerWithCookie fetches one).
      registerWithCookie(core, A_ADDR, register("a", offer), now);
    await keepalive("c0ffee", 15_000);
    let m = matches(await registerWithCookie(core, B_ADDR, register("b"), 15_010));
    expect(m.get(B_ADDR.host)?.partnerOffer).toBe("c0ffee");

    const again = setup().core;
    await registerWithCookie(again, A_ADDR, register("a", A_OFFER), 0);
    await registerWithCookie(again, A_ADDR, register("a"), 15_000);
    m = matches(await registerWithCookie(again, B_ADDR, register("b"), 15_010));
    expect(m.get(B_ADDR.host) && "partnerOffer" in (m.get(B_ADDR.host) as Match)).toBe(false);
  });

  test("retransmitted MATCHes carry the offer too, and so does the MATCH a crossing REGISTER gets", async () => {
    const { core } = setup();
    await registerWithCookie(core, A_ADDR, register("a", A_OFFER), 0);
    await registerWithCookie(core, B_ADDR, register("b", B_OFFER), 10);
    // Neither acknowledged: the first retransmission is due 200 ms later.
    const retry = matches(await core.tick(210));
    expect([retry.get(A_ADDR.host)?.partnerOffer, retry.get(B_ADDR.host)?.partnerOffer]).toEqual([
      B_OFFER,
      A_OFFER,
    ]);
    const crossing = matches(await registerWithCookie(core, A_ADDR, register("a", A_OFFER), 220));
    expect(crossing.get(A_ADDR.host)?.partnerOffer).toBe(B_OFFER);
  });

  test("a pair made on first contact (probation) carries the offers as well", async () => {
    const { core } = setup();
    await registerWithCookie(core, A_ADDR, register("a", A_OFFER), 0);
    // A fresh first REGISTER that completes the pair is announced at once, without its cookie round trip.
    const out = await core.onFrame(B_ADDR, { ...frameOf(register("b", B_OFFER)), fresh: true }, 10);
    const m = matches(out);
    expect([m.get(A_ADDR.host)?.partnerOffer, m.get(B_ADDR.host)?.partnerOffer]).toEqual([B_OFFER, A_OFFER]);
  });
});
