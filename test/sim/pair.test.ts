// pair() through the real serve() and connect()s on the simulated internet: across NATs, a symmetric pair
// through the relay, a wrong code caught on both sides, and a code nobody waits for.
import { afterEach, describe, expect, test } from "bun:test";
import type { NetpunchError } from "../../src/errors.ts";
import type { PairCode } from "../../src/pair/code.ts";
import { type Paired, pair } from "../../src/pair/run.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import { SECRET, SERVER, type Side, Sim } from "./world.ts";

let server: RendezvousServer | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

const code: PairCode = { nameplate: 7, words: ["guitar", "meadow"] };
const enc = (s: string) => new TextEncoder().encode(s);

/** Both sides' outcomes: the Paired, or the error's code and reason. */
async function pairAcross(sides: [Side, Side], codeB: PairCode = code, timeoutMs = 60_000) {
  const sim = new Sim(3);
  server = await sim.serve();
  const hosts = [sim.place(1, sides[0]).host, sim.place(2, sides[1]).host];
  const outcome: (Paired | string | undefined)[] = [undefined, undefined];
  (["a", "b"] as const).forEach((role, i) => {
    const host = hosts[i] as (typeof hosts)[number];
    pair({
      connect: {
        server: SERVER,
        secret: SECRET,
        transport: host.transport,
        interfaces: host.interfaces,
        clock: sim.clock,
        random: sim.random(),
      },
      role,
      code: i === 0 ? code : codeB,
      offer: enc(`offer of ${role}`),
      random32: sim.random().bytes(32),
      timeoutMs,
    }).then(
      (p) => {
        outcome[i] = p;
      },
      (e: NetpunchError) => {
        outcome[i] = `${e.code}:${e.detail.reason ?? e.message}`;
      },
    );
  });
  await sim.runUntil(() => outcome.every((o) => o !== undefined), 180_000);
  return outcome;
}

describe("pair() on the simulated internet", () => {
  test.each([
    ["nat", "nat"],
    ["symmetric", "nat"],
    ["symmetric", "symmetric"],
  ] as [Side, Side][])("%s / %s: the same pair key and each other's offer", async (sa, sb) => {
    const [a, b] = await pairAcross([sa, sb]);
    if (typeof a !== "object" || typeof b !== "object") throw new Error(`not paired: ${a} / ${b}`);
    expect(Buffer.from(a.pairKey).equals(Buffer.from(b.pairKey))).toBe(true);
    expect(new TextDecoder().decode(a.partnerOffer)).toBe("offer of b");
    expect(new TextDecoder().decode(b.partnerOffer)).toBe("offer of a");
  });

  test("a wrong code: both sides fail in the confirmation", async () => {
    expect(await pairAcross(["nat", "nat"], { nameplate: 7, words: ["guitar", "lemon"] })).toEqual([
      "E_PAIR:wrong-code",
      "E_PAIR:wrong-code",
    ]);
  });

  test("another number: nobody meets; a's code expires and b finds nobody", async () => {
    expect(await pairAcross(["nat", "nat"], { nameplate: 8, words: code.words }, 30_000)).toEqual([
      "E_PAIR:code-expired",
      "E_PAIR:nobody-waiting",
    ]);
  });
});
