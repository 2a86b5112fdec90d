// UDP first, then the WebSocket: how long REGISTERED is waited for (from the REGISTER schedule), and the
// decision on a fake clock: each transition once, and a peer registered over UDP never falls back.
import { describe, expect, test } from "bun:test";
import { DEFAULT_PEER_TIMINGS } from "../../../src/punch/config.ts";
import { answeredOverUdp, UdpFirst, udpFirstMs } from "../../../src/punch/udp-first.ts";
import type { NetpunchEvent } from "../../../src/types.ts";

const T0 = 1_700_000_000_000;

describe("udpFirstMs", () => {
  test.each([
    [250, 2_000, 1_750], // the default: waits of 250, 500, 1,000 ms
    [100, 2_000, 700],
    [500, 800, 2_100], // 500, 800 (capped), 800
  ])("REGISTER retries from %p ms, at most %p: %p ms", (registerRetryMs, registerRetryMaxMs, ms) => {
    expect(udpFirstMs({ registerRetryMs, registerRetryMaxMs })).toBe(ms);
  });

  test("the default is when the third retransmission would go out", () => {
    expect(udpFirstMs(DEFAULT_PEER_TIMINGS)).toBe(250 + 500 + 1_000);
  });
});

describe("UdpFirst", () => {
  test("no REGISTERED: falls back at the deadline, once", () => {
    const f = new UdpFirst(T0, 1_750);
    expect(f.wakeAt()).toBe(T0 + 1_750);
    expect(f.step(T0 + 1_749)).toBe(false);
    expect(f.phase).toBe("udp");
    expect(f.step(T0 + 1_750)).toBe(true);
    expect(f.phase).toBe("websocket");
    expect(f.step(T0 + 5_000)).toBe(false);
    expect(f.step(T0 + 5_000, true)).toBe(false);
    expect(f.wakeAt()).toBe(Number.POSITIVE_INFINITY);
  });

  test("the UDP attempt failed before the deadline (ICMP port unreachable): falls back at once", () => {
    const f = new UdpFirst(T0, 1_750);
    expect(f.step(T0 + 300, true)).toBe(true);
    expect(f.phase).toBe("websocket");
  });

  test("REGISTERED over UDP: never the WebSocket, not at the deadline, not when the punch fails later", () => {
    const f = new UdpFirst(T0, 1_750);
    f.registered();
    expect(f.phase).toBe("registered");
    expect(f.step(T0 + 1_750)).toBe(false);
    expect(f.step(T0 + 60_000, true)).toBe(false);
    expect(f.wakeAt()).toBe(Number.POSITIVE_INFINITY);
  });

  test("a REGISTERED after the fallback changes nothing", () => {
    const f = new UdpFirst(T0, 1_750);
    f.step(T0 + 1_750);
    f.registered();
    expect(f.phase).toBe("websocket");
  });
});

describe("answeredOverUdp", () => {
  const server = { host: "198.51.100.7", port: 10001 };
  test.each([
    [{ type: "registered", publicAddr: server, server }, true],
    [{ type: "waiting", session: "s", server }, true],
    [{ type: "matched", candidates: [] }, true],
    [{ type: "role-busy", session: "s", role: "a" }, true],
    [{ type: "listening", local: server }, false],
    [{ type: "server-silent", tries: 3, server }, false],
    [{ type: "dropped", from: server, reason: "bad-auth" }, false],
  ] as const)("%o: %p", (e, answered) => {
    expect(answeredOverUdp(e as NetpunchEvent)).toBe(answered);
  });
});
