// makeOffer -> (punch) -> checkPartnerOffer -> runHooks with fake hooks: which hook offers, the pin on first
// use and its refusal later, and the state directory and tunnel reaching the hooks' contexts.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ParsedArgs } from "citty";
import { createConsola } from "consola";
import * as v from "valibot";
import { NetpunchError } from "../../../src/errors.ts";
import type { AnyHook, HookContext, OfferContext } from "../../../src/hooks/hook.ts";
import { checkPartnerOffer, makeOffer, runHooks } from "../../../src/hooks/lifecycle.ts";
import { loadHook } from "../../../src/hooks/load.ts";
import { decodeOffer, encodeOffer } from "../../../src/hooks/offer.ts";
import { pinnedFingerprint } from "../../../src/hooks/pins.ts";
import { checkHookOptions } from "../../../src/hooks/run.ts";
import { sampleResult } from "../../support/result.ts";

const logger = createConsola({ level: -999 });
const signal = new AbortController().signal;
const parsed = { _: [] } as unknown as ParsedArgs;
const TUNNEL = "home/office";
const made: string[] = [];
const freshState = () => {
  const dir = mkdtempSync(join(tmpdir(), "netpunch-offers-"));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A hook that offers `key` and reads the partner's key as its fingerprint. */
function keyed(
  name: string,
  key: string | undefined,
  seen: { offer?: OfferContext; run?: HookContext } = {},
) {
  const hook: AnyHook = {
    name,
    description: name,
    offer(ctx) {
      seen.offer = ctx;
      return key === undefined ? undefined : encodeOffer(name, { key });
    },
    partnerFingerprint: (bytes, tunnel) =>
      decodeOffer(bytes, name, tunnel, v.object({ key: v.string() })).key,
    run(_r, ctx) {
      seen.run = ctx;
    },
  };
  return hook;
}

const withPartner = (key: string, hook = "fake") =>
  sampleResult({ partnerOffer: encodeOffer(hook, { key }) });

async function punchWith(state: string, ours: AnyHook[], partnerKey: string) {
  const prepared = checkHookOptions(ours, parsed, []);
  const offering = await makeOffer(prepared, { logger, signal, stateDir: state, tunnel: TUNNEL });
  const result = withPartner(partnerKey);
  const pin = checkPartnerOffer(offering, result, { logger, stateDir: state, tunnel: TUNNEL });
  await runHooks(prepared, result, { logger, signal, stateDir: state, tunnel: TUNNEL });
  return { offering, pin };
}

describe("offers in the hooks' lifecycle", () => {
  test("the offering hook's bytes go out; the partner's key is pinned on first use, then matches", async () => {
    const state = freshState();
    const seen: { offer?: OfferContext; run?: HookContext } = {};
    const first = await punchWith(state, [keyed("fake", "OURS", seen)], "THEIRS");
    expect(new TextDecoder().decode(first.offering?.bytes)).toBe('{"key":"OURS","v":1,"hook":"fake"}');
    expect(first.pin).toBe("first-use");
    expect(pinnedFingerprint(state, TUNNEL)).toBe("THEIRS");
    expect([seen.offer?.stateDir, seen.offer?.tunnel, seen.run?.stateDir, seen.run?.tunnel]).toEqual([
      state,
      TUNNEL,
      state,
      TUNNEL,
    ]);
    expect((await punchWith(state, [keyed("fake", "OURS")], "THEIRS")).pin).toBe("same");
  });

  test("another partner key later is refused before any hook runs", async () => {
    const state = freshState();
    await punchWith(state, [keyed("fake", "OURS")], "THEIRS");
    const seen: { run?: HookContext } = {};
    const e = await punchWith(state, [keyed("fake", "OURS", seen)], "IMPOSTOR").catch((x) => x);
    expect(e).toBeInstanceOf(NetpunchError);
    expect((e as NetpunchError).code).toBe("E_PIN_MISMATCH");
    expect(seen.run).toBeUndefined();
  });

  test("a partner without an offer, or with another hook's, is E_OFFER and pins nothing", async () => {
    const state = freshState();
    const prepared = checkHookOptions([keyed("fake", "OURS")], parsed, []);
    const o = { logger, signal, stateDir: state, tunnel: TUNNEL };
    const offering = await makeOffer(prepared, o);
    const codeOf = (f: () => unknown) => {
      try {
        f();
        return "none";
      } catch (e) {
        return (e as NetpunchError).code;
      }
    };
    expect(codeOf(() => checkPartnerOffer(offering, sampleResult({}), o))).toBe("E_OFFER");
    expect(codeOf(() => checkPartnerOffer(offering, withPartner("K", "other"), o))).toBe("E_OFFER");
    expect(pinnedFingerprint(state, TUNNEL)).toBeUndefined();
  });

  test("no hook offering (keys by hand): no offer, nothing checked, the partner's offer ignored", async () => {
    const state = freshState();
    const prepared = checkHookOptions([keyed("fake", undefined)], parsed, []);
    const offering = await makeOffer(prepared, { logger, signal, stateDir: state, tunnel: TUNNEL });
    expect(offering).toBeUndefined();
    expect(checkPartnerOffer(offering, withPartner("X"), { logger, stateDir: state, tunnel: TUNNEL })).toBe(
      undefined,
    );
    expect(pinnedFingerprint(state, TUNNEL)).toBeUndefined();
  });

  test("two hooks offering is a usage error: one punch carries one offer", async () => {
    const prepared = checkHookOptions([keyed("one", "A"), keyed("two", "B")], parsed, []);
    const e = await makeOffer(prepared, { logger, signal, stateDir: freshState(), tunnel: TUNNEL }).catch(
      (x) => x,
    );
    expect((e as NetpunchError).code).toBe("E_USAGE");
    expect((e as NetpunchError).message).toContain('"one" and "two"');
  });

  test("a hook's offer that throws a plain error is reported as that hook's E_HOOK", async () => {
    const broken: AnyHook = {
      name: "broken",
      description: "x",
      offer() {
        throw new Error("no entropy");
      },
      run() {},
    };
    const prepared = checkHookOptions([broken], parsed, []);
    const e = await makeOffer(prepared, { logger, signal, stateDir: freshState(), tunnel: TUNNEL }).catch(
      (x) => x,
    );
    expect((e as NetpunchError).code).toBe("E_HOOK");
    expect((e as NetpunchError).message).toBe('hook "broken" could not make its offer: no entropy');
  });
});

test("a hook's partnerFingerprint that throws a plain error is that hook's E_HOOK", async () => {
  const hook: AnyHook = {
    ...keyed("fake", "OURS"),
    partnerFingerprint() {
      throw new Error("cannot parse");
    },
  };
  const o = { logger, signal, stateDir: freshState(), tunnel: TUNNEL };
  const offering = await makeOffer(checkHookOptions([hook], parsed, []), o);
  expect(() => checkPartnerOffer(offering, withPartner("K"), o)).toThrow(
    `hook "fake" could not read the partner's offer: cannot parse`,
  );
});

describe("a hook file that offers", () => {
  const hookFile = (body: string) => {
    const file = join(freshState(), "hook.ts");
    writeFileSync(file, `export default { name: "mine", description: "d", run() {}, ${body} };\n`);
    return file;
  };

  test("loads with offer and partnerFingerprint", async () => {
    const hook = await loadHook(hookFile("offer() {}, partnerFingerprint() { return 'x'; }"), {
      builtins: [],
    });
    expect(typeof hook.offer).toBe("function");
  });

  test("is refused with offer but no partnerFingerprint: nothing would be pinned", async () => {
    await expect(loadHook(hookFile("offer() {}"), { builtins: [] })).rejects.toThrow(
      "offer needs partnerFingerprint",
    );
  });
});
