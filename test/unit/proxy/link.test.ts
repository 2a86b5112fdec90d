import { describe, expect, test } from "bun:test";
import { DataCodec } from "../../../src/protocol/data.ts";
import { open, seal } from "../../../src/protocol/packet.ts";
import { DEFAULT_LINK_TIMINGS, ProxyLink, type ReceiveVerdict } from "../../../src/proxy/link.ts";
import type { Endpoint } from "../../../src/types.ts";
import { KEY, nonceBytes, prng } from "../support.ts";

const PAIR = "00112233445566778899aabbccddeeff";
const PARTNER = { host: "203.0.113.20", port: 40000 };
const REBOUND = { host: "203.0.113.20", port: 41234 };
const T = 1_000_000;
const data = (seq: number, payload = Uint8Array.of(1, 2), from: "a" | "b" = "b", pairId = PAIR) => ({
  pairId,
  from,
  seq,
  payload,
});

describe("ProxyLink", () => {
  test("sequence numbers count from 0 per link; counters keep payloads and keepalives apart", () => {
    const l = new ProxyLink(PARTNER, PAIR, "a", T);
    expect([l.send(100, T), l.send(0, T + 1), l.send(50, T + 2)]).toEqual([0, 1, 2]);
    expect(l.counters).toMatchObject({ packetsOut: 2, bytesOut: 150, keepalivesOut: 1 });
  });

  test("the keepalive is due keepaliveMs after the last send, whatever it was; not before", () => {
    const l = new ProxyLink(PARTNER, PAIR, "a", T);
    const k = DEFAULT_LINK_TIMINGS.keepaliveMs;
    expect(k).toBe(15_000);
    expect(l.keepaliveAt()).toBe(T + k);
    expect(l.keepaliveDue(T + k - 1)).toBe(false);
    l.send(10, T + 5_000);
    expect(l.keepaliveAt()).toBe(T + 5_000 + k);
    expect(l.keepaliveDue(T + k)).toBe(false);
    expect(l.keepaliveDue(T + 5_000 + k)).toBe(true);
    expect(new ProxyLink(PARTNER, PAIR, "a", T, { keepaliveMs: 2_000 }).keepaliveAt()).toBe(T + 2_000);
  });

  test("the partner's DATA is delivered once; a replay, our own role and another pair are not", () => {
    const l = new ProxyLink(PARTNER, PAIR, "a", T);
    expect(l.receive(data(0), PARTNER)).toEqual({ deliver: true });
    expect(l.receive(data(0), PARTNER)).toEqual({ deliver: false, reason: "replay" });
    expect(l.receive(data(1, undefined, "a"), PARTNER)).toEqual({ deliver: false, reason: "reflected" });
    expect(l.receive(data(1, undefined, "b", "ff".repeat(16)), PARTNER)).toEqual({
      deliver: false,
      reason: "foreign-pair",
    });
    expect(l.counters).toMatchObject({ packetsIn: 1, bytesIn: 2, replays: 1 });
  });

  test("the newest DATA from a new address moves the path (a NAT rebinding); a late one does not move it back", () => {
    const l = new ProxyLink(PARTNER, PAIR, "a", T);
    expect(l.receive(data(4), PARTNER)).toEqual({ deliver: true });
    expect(l.receive(data(5, new Uint8Array(0)), REBOUND)).toEqual({ deliver: true, moved: REBOUND });
    expect(l.remote).toEqual(REBOUND);
    // seq 3 was sent before the rebinding and arrives late from the old address: delivered, path stays.
    expect(l.receive(data(3), PARTNER)).toEqual({ deliver: true });
    expect(l.remote).toEqual(REBOUND);
    // A replayed copy of the newest from the old address moves nothing either.
    expect(l.receive(data(5), PARTNER)).toEqual({ deliver: false, reason: "replay" });
    expect(l.remote).toEqual(REBOUND);
    expect(l.counters.moves).toBe(1);
  });

  test("DATA through DataCodec and receiveData: the verdicts, counters and path of open() and receive()", () => {
    // A seeded stream as a path delivers it: in order, reordered, replayed, from the relay, from a new port,
    // of another pair, reflected, corrupted. Two links, one fed each way, must agree on every packet.
    const RELAY = { host: "198.51.100.7", port: 3478 };
    const froms: Endpoint[] = [PARTNER, PARTNER, PARTNER, REBOUND, RELAY];
    const r = prng(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
    const viaGeneric = new ProxyLink(PARTNER, PAIR, "a", T);
    const viaCodec = new ProxyLink(PARTNER, PAIR, "a", T);
    viaGeneric.relay = RELAY;
    viaCodec.relay = RELAY;
    const codec = new DataCodec(KEY, PAIR, "a");
    const verdicts = new Set<string>();
    let top = 0;
    for (let i = 0; i < 3000; i++) {
      // Mostly new numbers (now and then a jump past a whole window); some from the last few thousand (late
      // or replayed), a few from far back (stale).
      const x = r();
      const jump = r() < 0.01 ? 5000 : 1;
      if (x < 0.6) top += jump;
      const seq =
        x < 0.6 ? top : x < 0.95 ? Math.max(0, top - Math.floor(r() * 5000)) : Math.floor(r() * top);
      const msg = {
        type: "data" as const,
        pairId: r() < 0.05 ? "ff".repeat(16) : PAIR,
        from: r() < 0.05 ? ("a" as const) : ("b" as const),
        seq,
        payload: new Uint8Array(Math.floor(r() * 3)),
      };
      const packet = seal(KEY, msg, { timestamp: T + i, nonce: nonceBytes(i) });
      if (r() < 0.05) {
        const at = Math.floor(r() * packet.length);
        packet[at] = (packet[at] ?? 0) ^ (1 << Math.floor(r() * 8));
      }
      const from = pick(froms);
      const opened = open(KEY, packet);
      const want: ReceiveVerdict | string =
        !opened.ok || opened.frame.msg.type !== "data"
          ? opened.ok
            ? "other"
            : opened.reason
          : viaGeneric.receive(opened.frame.msg, from);
      // As the driver does: what is not DATA by its type byte goes to open() (a flipped type byte, here).
      const o = codec.open(packet);
      const other = o === "other" ? open(KEY, packet) : undefined;
      const got: ReceiveVerdict | string =
        o === "ok"
          ? viaCodec.receiveData(codec.ourPair, codec.from, codec.seq, codec.payload.length, from)
          : other
            ? other.ok
              ? "other"
              : other.reason
            : o;
      expect(got).toEqual(want);
      verdicts.add(
        typeof got === "string" ? got : got.deliver ? (got.moved ? "moved" : "deliver") : got.reason,
      );
    }
    expect(viaCodec.counters).toEqual(viaGeneric.counters);
    expect(viaCodec.remote).toEqual(viaGeneric.remote);
    // The stream reached every verdict there is.
    for (const v of [
      "deliver",
      "moved",
      "replay",
      "stale",
      "foreign-pair",
      "reflected",
      "bad-auth",
      "malformed",
    ])
      expect(verdicts).toContain(v);
  });
});
