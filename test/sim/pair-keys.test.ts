// A pair made by `netpunch pair` (issue 15) through the real serve() and connect()s: its peers punch with
// the pair's own key, whichever path wins; an insider holding the server's secret but not the pair key
// cannot punch with either peer; a server that changes an offer on the way makes both refuse it (E_OFFER).
import { afterEach, describe, expect, test } from "bun:test";
import type { NetpunchError } from "../../src/errors.ts";
import { deriveKey } from "../../src/protocol/auth.ts";
import { NONCE_LEN } from "../../src/protocol/constants.ts";
import { open, seal } from "../../src/protocol/packet.ts";
import type { ConnectOptions } from "../../src/punch/connect.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import type { TransportFactory } from "../../src/transport/types.ts";
import type { PunchResult } from "../../src/types.ts";
import { expectPair } from "./support.ts";
import { SECRET, type Side, Sim } from "./world.ts";

let server: RendezvousServer | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

const PAIR_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + 3) & 0xff);
const A_OFFER = Uint8Array.from({ length: 49 }, (_, i) => i + 1);
const B_OFFER = Uint8Array.from({ length: 49 }, (_, i) => 100 + i);
/** Bounds every run: a punch that cannot succeed ends by its punch timeout and the wait, well within it. */
const RUN_LIMIT_MS = 120_000;
/** Long enough for the partner to come and the punch (10 s) and the relay to have been tried. */
const WAIT_MS = 40_000;

const offerOf = (r: PunchResult | undefined) => (r?.partnerOffer ? [...r.partnerOffer] : undefined);

describe("two peers with the pair key", () => {
  test.each([
    ["nat", "nat", "direct"],
    ["symmetric", "symmetric", "relay"],
  ] as [Side, Side, PunchResult["via"]][])(
    "%s / %s: punch over %s, each gets the other's offer",
    async (sa, sb, via) => {
      const sim = new Sim(3);
      server = await sim.serve();
      const a = sim.place(1, sa);
      const b = sim.place(2, sb);
      const pa = sim.connect(a.host, "a", { pairKey: PAIR_KEY, offer: A_OFFER });
      const pb = sim.connect(b.host, "b", { pairKey: PAIR_KEY, offer: B_OFFER });
      await sim.runUntil(() => pa.done && pb.done, RUN_LIMIT_MS);
      const [ra, rb] = await expectPair(sim, [pa, pb], [a, b], via);
      // The hook's bytes, the MAC taken off.
      expect(offerOf(ra)).toEqual([...B_OFFER]);
      expect(offerOf(rb)).toEqual([...A_OFFER]);
    },
  );
});

describe("an insider with the server's secret and not the pair key", () => {
  test("takes b's role: no punch either way; a drops its PINGs and PONGs as bad-auth", async () => {
    const sim = new Sim(5);
    server = await sim.serve();
    const a = sim.place(1, "nat");
    const x = sim.place(2, "nat");
    const timings = { relay: false };
    const pa = sim.connect(a.host, "a", { pairKey: PAIR_KEY, timeoutMs: WAIT_MS, timings });
    const px = sim.connect(x.host, "b", { timeoutMs: WAIT_MS, timings });
    await sim.runUntil(() => pa.done && px.done, RUN_LIMIT_MS);
    expect(pa.result).toBeUndefined();
    expect(px.result).toBeUndefined();
    // Matched by the server (it admits both), then nothing authenticates between them.
    expect(sim.serverEvents.some((e) => e.type === "server-pair")).toBe(true);
    const badAuth = (events: typeof pa.events) =>
      events.filter((e) => e.type === "dropped" && e.reason === "bad-auth").length;
    expect(badAuth(pa.events)).toBeGreaterThan(0);
    expect(badAuth(px.events)).toBeGreaterThan(0);
    expect(pa.events.some((e) => e.type === "connected")).toBe(false);
  });
});

describe("a server that changes an offer on the way", () => {
  /** Every MATCH with an offer leaves with the offer's first byte flipped, sealed again with the secret. */
  const tamper =
    (counter: { altered: number }) =>
    (f: TransportFactory): TransportFactory =>
    async (bind, onDatagram, onError) => {
      const key = deriveKey(SECRET);
      const t = await f(bind, onDatagram, onError);
      return {
        get local() {
          return t.local;
        },
        send(data, to) {
          const opened = open(key, data);
          if (!opened.ok || opened.frame.msg.type !== "match" || !opened.frame.msg.partnerOffer)
            return t.send(data, to);
          const m = opened.frame.msg;
          const hex = m.partnerOffer as string;
          const flipped = (Number.parseInt(hex.slice(0, 2), 16) ^ 1).toString(16).padStart(2, "0");
          counter.altered++;
          const nonce = Uint8Array.from(Buffer.from(opened.frame.nonce, "hex"));
          if (nonce.length !== NONCE_LEN) throw new Error("nonce");
          const msg = { ...m, partnerOffer: flipped + hex.slice(2) };
          return t.send(seal(key, msg, { timestamp: opened.frame.timestamp, nonce }), to);
        },
        close: () => t.close(),
      };
    };

  test("both peers refuse the changed offer with E_OFFER (no tunnel starts on it)", async () => {
    const sim = new Sim(7);
    const counter = { altered: 0 };
    server = await sim.serve({}, tamper(counter));
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    const pa = sim.connect(a.host, "a", { pairKey: PAIR_KEY, offer: A_OFFER });
    const pb = sim.connect(b.host, "b", { pairKey: PAIR_KEY, offer: B_OFFER });
    await sim.runUntil(() => pa.done && pb.done, RUN_LIMIT_MS);
    expect(counter.altered).toBeGreaterThan(0);
    expect([pa.result, pb.result]).toEqual([undefined, undefined]);
    expect([(pa.error as NetpunchError).code, (pb.error as NetpunchError).code]).toEqual([
      "E_OFFER",
      "E_OFFER",
    ]);
  });

  test("without a pair key the same change goes through (what the MAC is for)", async () => {
    const sim = new Sim(7);
    const counter = { altered: 0 };
    server = await sim.serve({}, tamper(counter));
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    const pa = sim.connect(a.host, "a", { offer: A_OFFER });
    const pb = sim.connect(b.host, "b", { offer: B_OFFER });
    await sim.runUntil(() => pa.done && pb.done, RUN_LIMIT_MS);
    expect(counter.altered).toBeGreaterThan(0);
    const changed = [...B_OFFER];
    changed[0] = (changed[0] ?? 0) ^ 1;
    expect(offerOf(pa.result)).toEqual(changed);
  });
});

describe("refused before any packet", () => {
  test.each([
    [
      "an offer with no room left for the MAC",
      { pairKey: PAIR_KEY, offer: new Uint8Array(177) },
      "177 bytes; an offer is 1 to 176 bytes",
    ],
    [
      "a pair key of 16 bytes",
      { pairKey: new Uint8Array(16) },
      "the pair key is 16 bytes; a pair key is 32 bytes",
    ],
  ] as [string, Partial<ConnectOptions>, string][])("%s: E_USAGE", async (_name, o, said) => {
    const sim = new Sim(1);
    server = await sim.serve();
    const a = sim.place(1, "nat");
    const pa = sim.connect(a.host, "a", o);
    await sim.runUntil(() => pa.done, 1_000);
    const e = pa.error as NetpunchError;
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toContain(said);
    expect(sim.net.trace.filter((r) => r.what === "send")).toEqual([]);
  });

  test("an offer of 176 bytes with the pair key goes (192 with its MAC), and arrives whole", async () => {
    const sim = new Sim(2);
    server = await sim.serve();
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    const big = Uint8Array.from({ length: 176 }, (_, i) => i);
    const pa = sim.connect(a.host, "a", { pairKey: PAIR_KEY, offer: big });
    const pb = sim.connect(b.host, "b", { pairKey: PAIR_KEY });
    await sim.runUntil(() => pa.done && pb.done, RUN_LIMIT_MS);
    expect(offerOf(pb.result)).toEqual([...big]);
  });
});
