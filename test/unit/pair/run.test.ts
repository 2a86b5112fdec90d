// pair() (src/pair/run.ts) over a stand-in for connect(): a broker that meets two calls by session and hands
// each the other's offer, as the rendezvous MATCH does, optionally through a meddler that rewrites offers.
// The real connect() and server carry it in test/integration/pair.test.ts.
import { describe, expect, test } from "bun:test";
import { NetpunchError } from "../../../src/errors.ts";
import type { PairCode } from "../../../src/pair/code.ts";
import { pair } from "../../../src/pair/run.ts";
import type { ConnectOptions } from "../../../src/punch/connect.ts";
import type { PunchResult } from "../../../src/types.ts";

type Meddler = (session: string, from: "a" | "b", offer: Uint8Array) => Uint8Array;

function broker(meddle: Meddler = (_s, _f, o) => o) {
  const waiting = new Map<string, { role: string; offer: Uint8Array; resolve: (r: PunchResult) => void }>();
  const sessions: string[] = [];
  const connectFn = (o: ConnectOptions): Promise<PunchResult> =>
    new Promise((resolve, reject) => {
      const session = o.session as string;
      sessions.push(session);
      const offer = meddle(session, o.role, o.offer as Uint8Array);
      const other = waiting.get(session);
      const result = (partnerOffer: Uint8Array) => ({ role: o.role, session, partnerOffer }) as PunchResult;
      if (other && other.role !== o.role) {
        waiting.delete(session);
        other.resolve(result(offer) as PunchResult);
        resolve({ ...result(other.offer), role: o.role });
        return;
      }
      waiting.set(session, { role: o.role, offer, resolve: (r) => resolve({ ...r, role: o.role }) });
      if (Number.isFinite(o.timeoutMs))
        setTimeout(() => reject(new NetpunchError("E_TIMEOUT", "no partner")), o.timeoutMs);
    });
  return { connectFn, sessions };
}

const code: PairCode = { nameplate: 42, words: ["guitar", "meadow"] };
const rand = (n: number) => Uint8Array.from({ length: 32 }, (_, i) => (i * 13 + n) & 0xff);
const enc = (s: string) => new TextEncoder().encode(s);
const connect = { server: "127.0.0.1:1", secret: "x".repeat(32) };

async function both(codeB: PairCode, meddle?: Meddler, timeoutMs = 1000) {
  const { connectFn, sessions } = broker(meddle);
  const common = { connect, connectFn, timeoutMs, confirmTimeoutMs: 1000 };
  const [a, b] = await Promise.allSettled([
    pair({ ...common, role: "a", code, offer: enc("offer of a"), random32: rand(1) }),
    pair({ ...common, role: "b", code: codeB, offer: enc("offer of b"), random32: rand(2) }),
  ]);
  return { a, b, sessions };
}

const reasonOf = (r: PromiseSettledResult<unknown>): string =>
  r.status === "rejected"
    ? `${(r.reason as NetpunchError).code}:${(r.reason as NetpunchError).detail.reason}`
    : "ok";

describe("pair()", () => {
  test("the same code: both get the same pair key and each other's offer, through two sessions", async () => {
    const { a, b, sessions } = await both(code);
    if (a.status !== "fulfilled" || b.status !== "fulfilled") throw new Error("pairing failed");
    expect(Buffer.from(a.value.pairKey).equals(Buffer.from(b.value.pairKey))).toBe(true);
    expect(new TextDecoder().decode(a.value.partnerOffer)).toBe("offer of b");
    expect(new TextDecoder().decode(b.value.partnerOffer)).toBe("offer of a");
    expect(sessions[0]).toBe("pair-v1-42");
    expect(sessions[sessions.length - 1]).toBe("pair-v1-42-confirm");
  });

  test("a wrong code fails on both sides, in the confirmation", async () => {
    const { a, b } = await both({ nameplate: 42, words: ["guitar", "lemon"] });
    expect([reasonOf(a), reasonOf(b)]).toEqual(["E_PAIR:wrong-code", "E_PAIR:wrong-code"]);
  });

  test("a server that substitutes a tunnel offer makes both sides fail", async () => {
    const { a, b } = await both(code, (session, from, offer) => {
      if (session !== "pair-v1-42" || from !== "b") return offer;
      const out = Uint8Array.from(offer);
      out[out.length - 1] = (out.at(-1) ?? 0) ^ 1;
      return out;
    });
    expect([reasonOf(a), reasonOf(b)]).toEqual(["E_PAIR:wrong-code", "E_PAIR:wrong-code"]);
  });

  test("a server that forges a confirmation tag is refused", async () => {
    const { a, b } = await both(code, (session, from, offer) =>
      session === "pair-v1-42-confirm" && from === "a" ? new Uint8Array(offer.length) : offer,
    );
    expect(reasonOf(b)).toBe("E_PAIR:wrong-code");
    expect(reasonOf(a)).toBe("ok");
  });

  test("nobody with the code: a's code expires, b finds nobody waiting", async () => {
    const alone = broker();
    const common = { connect, connectFn: alone.connectFn, timeoutMs: 20 };
    const a = await pair({ ...common, role: "a", code, offer: enc("a"), random32: rand(1) }).catch((e) => e);
    const b = await pair({
      ...common,
      role: "b",
      code: { ...code, nameplate: 43 },
      offer: enc("b"),
      random32: rand(2),
    }).catch((e) => e);
    expect([a.detail.reason, b.detail.reason]).toEqual(["code-expired", "nobody-waiting"]);
    expect(b.message).toContain("43-");
  });
});
