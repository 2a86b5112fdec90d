// Offers through the real serve() and two real connect()s: each peer's bytes reach the other's PunchResult
// exactly, whichever path wins, and the server still never sends an address more than it received.
import { afterEach, describe, expect, test } from "bun:test";
import { NetpunchError } from "../../src/errors.ts";
import { MAX_OFFER_LEN } from "../../src/protocol/constants.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import type { PunchResult } from "../../src/types.ts";
import { expectNoAmplification, expectPair } from "./support.ts";
import { MASQUERADE, type Placed, type Side, Sim } from "./world.ts";

let server: RendezvousServer | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

/** `n` bytes that differ from any other offer here: each byte its index plus `salt`. */
const bytes = (n: number, salt: number) => Uint8Array.from({ length: n }, (_, i) => (i + salt) & 0xff);
/** The largest offer each side may make: MATCH is then at its largest too. */
const A_OFFER = bytes(MAX_OFFER_LEN, 1);
const B_OFFER = bytes(44, 200);

async function pair(
  sides: [Side, Side],
  offers: [Uint8Array | undefined, Uint8Array | undefined],
  o: { seed?: number; bAfterMs?: number; loss?: number } = {},
) {
  const sim = new Sim(o.seed ?? 1);
  const link = o.loss ? { loss: o.loss } : {};
  sim.serverLink = link;
  server = await sim.serve();
  const a = sim.place(1, sides[0], link);
  const b = sim.place(2, sides[1], link);
  const pa = sim.connect(a.host, "a", offers[0] ? { offer: offers[0] } : {});
  if (o.bAfterMs) await sim.run(o.bAfterMs);
  const pb = sim.connect(b.host, "b", offers[1] ? { offer: offers[1] } : {});
  await sim.runUntil(() => pa.done && pb.done, 120_000);
  return { sim, a, b, pa, pb };
}

const offerOf = (r: PunchResult) => (r.partnerOffer ? [...r.partnerOffer] : undefined);

describe("each peer gets the partner's offer, exactly", () => {
  test.each([
    ["nat", "nat", "direct"],
    ["symmetric", "nat", "birthday"],
    ["symmetric", "symmetric", "relay"],
  ] as [Side, Side, PunchResult["via"]][])("%s / %s: %s", async (sa, sb, via) => {
    const { sim, a, b, pa, pb } = await pair([sa, sb], [A_OFFER, B_OFFER]);
    const [ra, rb] = await expectPair(sim, [pa, pb], [a, b], via);
    expect(offerOf(ra)).toEqual([...B_OFFER]);
    expect(offerOf(rb)).toEqual([...A_OFFER]);
    expectNoAmplification(sim.net.trace);
  });

  test("on one LAN", async () => {
    const sim = new Sim(1);
    server = await sim.serve();
    const gw = sim.net.nat("198.18.1.1", MASQUERADE);
    const place = (ip: string): Placed => ({
      host: sim.net.host(ip, { behind: gw }),
      publicIp: gw.publicIp,
      lanIp: ip,
      gateway: gw,
    });
    const [a, b] = [place("198.19.1.10"), place("198.19.1.11")];
    const pa = sim.connect(a.host, "a", { offer: A_OFFER });
    const pb = sim.connect(b.host, "b", { offer: B_OFFER });
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    const [ra, rb] = await expectPair(sim, [pa, pb], [a, b], "lan");
    expect([offerOf(ra), offerOf(rb)]).toEqual([[...B_OFFER], [...A_OFFER]]);
  });

  test("a partner that waited through keepalives still hands over its offer", async () => {
    const { sim, a, b, pa, pb } = await pair(["nat", "nat"], [A_OFFER, B_OFFER], { bAfterMs: 40_000 });
    const [ra, rb] = await expectPair(sim, [pa, pb], [a, b], "direct");
    expect([offerOf(ra), offerOf(rb)]).toEqual([[...B_OFFER], [...A_OFFER]]);
    expectNoAmplification(sim.net.trace);
  });
});

describe("only one side offers", () => {
  test.each([
    ["a", 0],
    ["b", 40_000],
  ])(
    "the offer of %s (b after %d ms) reaches the other; the one who offers gets none",
    async (who, after) => {
      const offers: [Uint8Array | undefined, Uint8Array | undefined] =
        who === "a" ? [A_OFFER, undefined] : [undefined, A_OFFER];
      const { sim, a, b, pa, pb } = await pair(["nat", "nat"], offers, { bAfterMs: after });
      const [ra, rb] = await expectPair(sim, [pa, pb], [a, b], "direct");
      const [offerer, other] = who === "a" ? [ra, rb] : [rb, ra];
      expect(offerOf(other)).toEqual([...A_OFFER]);
      expect("partnerOffer" in offerer).toBe(false);
      // The peer without an offer is sent the largest MATCH, paid for by its own REGISTERs alone.
      expectNoAmplification(sim.net.trace);
    },
  );

  test("neither: no partnerOffer on either side", async () => {
    const { sim, a, b, pa, pb } = await pair(["nat", "nat"], [undefined, undefined]);
    const [ra, rb] = await expectPair(sim, [pa, pb], [a, b], "direct");
    expect(["partnerOffer" in ra, "partnerOffer" in rb]).toEqual([false, false]);
  });
});

describe("under loss, the largest MATCH stays paid for", () => {
  // 10.56% a link is 20% a datagram over two links, as in rendezvous.test.ts; the MATCH to the peer without
  // an offer is at its largest, so its retransmissions spend that peer's credit fastest.
  test.each(Array.from({ length: 10 }, (_, i) => i + 1))("seed %d", async (seed) => {
    const { sim, a, b, pa, pb } = await pair(["public", "public"], [undefined, A_OFFER], {
      seed,
      loss: 1 - Math.sqrt(0.8),
    });
    const [ra] = await expectPair(sim, [pa, pb], [a, b], "direct");
    expect(offerOf(ra)).toEqual([...A_OFFER]);
    expectNoAmplification(sim.net.trace);
  });
});

describe("refused before any packet", () => {
  test.each([
    ["empty", new Uint8Array(0), "0 bytes"],
    ["one byte too many", bytes(MAX_OFFER_LEN + 1, 0), `${MAX_OFFER_LEN + 1} bytes`],
    ["not bytes", "a string" as unknown as Uint8Array, "not a Uint8Array"],
  ])("%s", async (_name, offer, said) => {
    const sim = new Sim(1);
    server = await sim.serve();
    const a = sim.place(1, "nat");
    const pa = sim.connect(a.host, "a", { offer });
    await sim.runUntil(() => pa.done, 1_000);
    expect(pa.error).toBeInstanceOf(NetpunchError);
    const e = pa.error as NetpunchError;
    expect([e.code, e.message]).toEqual([
      "E_USAGE",
      `the offer for the partner is ${said}; an offer is 1 to ${MAX_OFFER_LEN} bytes`,
    ]);
    expect(sim.net.trace.filter((r) => r.what === "send")).toEqual([]);
  });
});
