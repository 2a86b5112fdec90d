// The server keeps each peer's mode (proxy or hand-off) with its registration and tells the partner in MATCH
// (`partnerProxy`), so a pair whose peers disagree fails on both sides before any tunnel starts. A record
// read back from Redis keeps the mode too.
import { describe, expect, test } from "bun:test";
import type { Match, Register } from "../../../src/protocol/messages.ts";
import type { ServerAction } from "../../../src/rendezvous/core.ts";
import { parseRecord, recordText } from "../../../src/rendezvous/record-schema.ts";
import { MemoryStore, type SessionRecord } from "../../../src/rendezvous/store.ts";
import type { Role } from "../../../src/types.ts";
import { frameOf, makeCore, registerWithCookie } from "../support.ts";

const A_ADDR = { host: "198.51.100.10", port: 40001 };
const B_ADDR = { host: "203.0.113.20", port: 40002 };

const register = (role: Role, proxy: boolean): Register => ({
  type: "register",
  session: "s1",
  role,
  peerId: role === "a" ? "aaaaaaaaaaaaaaaa" : "bbbbbbbbbbbbbbbb",
  candidates: [],
  ...(proxy ? { proxy: true } : {}),
});

/** Each MATCH in `out`'s partnerProxy, by the address it goes to (absent: "none"). */
function modes(out: ServerAction[]): Record<string, boolean | "none"> {
  const found: Record<string, boolean | "none"> = {};
  for (const a of out)
    if (a.kind === "send" && a.msg.type === "match")
      found[a.to.host] = "partnerProxy" in a.msg ? (a.msg as Match).partnerProxy === true : "none";
  return found;
}

async function paired(aProxy: boolean, bProxy: boolean) {
  const store = new MemoryStore();
  const core = makeCore({ store });
  await registerWithCookie(core, A_ADDR, register("a", aProxy), 0);
  const out = await registerWithCookie(core, B_ADDR, register("b", bProxy), 10);
  return { core, store, out };
}

describe("the server passes each peer's mode to its partner", () => {
  test.each([
    [true, true, { [A_ADDR.host]: true, [B_ADDR.host]: true }],
    [true, false, { [A_ADDR.host]: "none", [B_ADDR.host]: true }],
    [false, true, { [A_ADDR.host]: true, [B_ADDR.host]: "none" }],
    [false, false, { [A_ADDR.host]: "none", [B_ADDR.host]: "none" }],
  ] as const)("a proxy %p, b proxy %p: each MATCH carries the partner's", async (a, b, expected) => {
    const { out } = await paired(a, b);
    expect(modes(out)).toEqual(expected);
  });

  test("kept with the registration only in proxy mode; the latest REGISTER's mode counts", async () => {
    const store = new MemoryStore();
    const core = makeCore({ store });
    await registerWithCookie(core, A_ADDR, register("a", true), 0);
    expect((await store.get("s1"))?.slots.a?.proxy).toBe(true);
    // A keepalive from a peer that now runs without proxy mode takes it back.
    await registerWithCookie(core, A_ADDR, register("a", false), 15_000);
    const rec = await store.get("s1");
    expect(rec?.slots.a && "proxy" in rec.slots.a).toBe(false);
    const out = await registerWithCookie(core, B_ADDR, register("b", true), 15_010);
    expect(modes(out)).toEqual({ [A_ADDR.host]: true, [B_ADDR.host]: "none" });
  });

  test("retransmitted MATCHes and a pair made on first contact carry the mode too", async () => {
    const { core } = await paired(true, true);
    expect(modes(await core.tick(210))).toEqual({ [A_ADDR.host]: true, [B_ADDR.host]: true });
    const first = makeCore();
    await registerWithCookie(first, A_ADDR, register("a", true), 0);
    const out = await first.onFrame(B_ADDR, { ...frameOf(register("b", false)), fresh: true }, 10);
    expect(modes(out)).toEqual({ [A_ADDR.host]: "none", [B_ADDR.host]: true });
  });

  test("a shared store's record keeps the mode when read back (the Redis record schema)", async () => {
    const { store } = await paired(true, false);
    const snapshot = await store.get("s1");
    if (!snapshot) throw new Error("no record");
    // A snapshot is read-only; recordText takes a record as the store writes one.
    const rec = structuredClone(snapshot) as SessionRecord;
    const back = parseRecord(recordText(rec));
    expect(back?.slots.a?.proxy).toBe(true);
    expect(back?.slots.b && "proxy" in back.slots.b).toBe(false);
    // Anything but true is not a mode this netpunch wrote: the record is refused.
    const forged = recordText(rec).replace('"proxy":true', '"proxy":false');
    expect(parseRecord(forged)).toBeUndefined();
  });
});
