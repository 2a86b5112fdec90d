// The pairing handshake (src/pair/pake.ts): the same code gives both sides the same pair key and tags that
// check out; a wrong code, an altered or replayed message is caught on both sides and yields no key.
import { describe, expect, test } from "bun:test";
import { NetpunchError } from "../../../src/errors.ts";
import type { PairCode } from "../../../src/pair/code.ts";
import { checkConfirmation, finishPake, PAKE_VERSION, startPake } from "../../../src/pair/pake.ts";

const code: PairCode = { nameplate: 7, words: ["guitar", "meadow"] };
const seeded = (n: number) => Uint8Array.from({ length: 32 }, (_, i) => (i * 31 + n * 7 + 1) & 0xff);
const enc = (s: string) => new TextEncoder().encode(s);

function run(codeA: PairCode, codeB: PairCode) {
  const a = startPake({ role: "a", code: codeA, ad: enc("offer-a"), random32: seeded(1) });
  const b = startPake({ role: "b", code: codeB, ad: enc("offer-b"), random32: seeded(2) });
  return { a, b };
}

/** The pairing error's reason, or "none" when `fn` passes. */
function reason(fn: () => void): string {
  try {
    fn();
    return "none";
  } catch (e) {
    if (!(e instanceof NetpunchError)) throw e;
    expect(e.code).toBe("E_PAIR");
    return String(e.detail.reason);
  }
}

describe("the pairing handshake", () => {
  test("the same code: the same pair key and sid on both sides, both tags accepted, each sees the other's offer", () => {
    const { a, b } = run(code, code);
    const ka = finishPake(a.state, b.message);
    const kb = finishPake(b.state, a.message);
    expect(Buffer.from(ka.pairKey).toString("hex")).toBe(Buffer.from(kb.pairKey).toString("hex"));
    expect(ka.pairKey.length).toBe(32);
    expect(Buffer.from(ka.sid).equals(Buffer.from(kb.sid))).toBe(true);
    expect(reason(() => checkConfirmation(ka, kb.tag))).toBe("none");
    expect(reason(() => checkConfirmation(kb, ka.tag))).toBe("none");
    expect(new TextDecoder().decode(ka.partnerAd)).toBe("offer-b");
    expect(new TextDecoder().decode(kb.partnerAd)).toBe("offer-a");
  });

  test("the message is version, share and offer", () => {
    const { a } = run(code, code);
    expect(a.message[0]).toBe(PAKE_VERSION);
    expect(a.message.length).toBe(1 + 32 + "offer-a".length);
  });

  test.each([
    ["another word", { nameplate: 7, words: ["guitar", "meadows"] }],
    ["another number", { nameplate: 8, words: ["guitar", "meadow"] }],
    ["the words swapped", { nameplate: 7, words: ["meadow", "guitar"] }],
  ])("a wrong code (%s) fails on both sides and the pair keys differ", (_what, wrong) => {
    const { a, b } = run(code, wrong);
    const ka = finishPake(a.state, b.message);
    const kb = finishPake(b.state, a.message);
    expect(reason(() => checkConfirmation(ka, kb.tag))).toBe("wrong-code");
    expect(reason(() => checkConfirmation(kb, ka.tag))).toBe("wrong-code");
    expect(Buffer.from(ka.pairKey).equals(Buffer.from(kb.pairKey))).toBe(false);
  });

  test("a server that alters the offer (AD) in a message makes both sides fail", () => {
    const { a, b } = run(code, code);
    const altered = Uint8Array.from(a.message);
    altered[altered.length - 1] = (altered.at(-1) ?? 0) ^ 1; // another tunnel offer: a key substituted on the way
    const ka = finishPake(a.state, b.message);
    const kb = finishPake(b.state, altered);
    expect(reason(() => checkConfirmation(ka, kb.tag))).toBe("wrong-code");
    expect(reason(() => checkConfirmation(kb, ka.tag))).toBe("wrong-code");
  });

  test("a server that replaces a share with its own (one guess at the code) fails both sides", () => {
    const { a, b } = run(code, code);
    const mallory = startPake({
      role: "b",
      code: { nameplate: 7, words: ["guitar", "lemon"] },
      ad: enc("offer-b"),
      random32: seeded(9),
    });
    const ka = finishPake(a.state, mallory.message);
    const km = finishPake(mallory.state, a.message);
    expect(reason(() => checkConfirmation(ka, km.tag))).toBe("wrong-code");
    // and B, whose message never arrived, gets nothing that would pass either
    const kb = finishPake(b.state, a.message);
    expect(reason(() => checkConfirmation(ka, kb.tag))).toBe("wrong-code");
  });

  test("a replayed message of an earlier run does not pass: its tag is not the new run's", () => {
    const old = run(code, code);
    const oldKb = finishPake(old.b.state, old.a.message);
    const fresh = startPake({ role: "a", code, ad: enc("offer-a"), random32: seeded(5) });
    const ka = finishPake(fresh.state, old.b.message); // the server replays B's old message
    expect(reason(() => checkConfirmation(ka, oldKb.tag))).toBe("wrong-code");
  });

  test.each([
    ["missing", undefined],
    ["too short", Uint8Array.of(PAKE_VERSION, 1, 2)],
    ["another version", Uint8Array.of(PAKE_VERSION + 1, ...new Uint8Array(32))],
    ["the neutral element", Uint8Array.of(PAKE_VERSION, ...new Uint8Array(32))],
    ["a share that does not decode", Uint8Array.of(PAKE_VERSION, ...new Uint8Array(32).fill(0xff))],
  ])("a malformed partner message (%s) is refused", (_what, message) => {
    const { a } = run(code, code);
    expect(reason(() => finishPake(a.state, message))).toBe("bad-message");
  });

  test("no tag at all is a failed confirmation", () => {
    const { a, b } = run(code, code);
    expect(reason(() => checkConfirmation(finishPake(a.state, b.message), undefined))).toBe("wrong-code");
  });
});
