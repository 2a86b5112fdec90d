import { describe, expect, test } from "bun:test";
import { DEFAULT_LINK_TIMINGS, ProxyLink } from "../../../src/proxy/link.ts";

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
});
