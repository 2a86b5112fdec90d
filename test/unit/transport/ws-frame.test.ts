import { describe, expect, test } from "bun:test";
import {
  frameWs,
  isSynthetic,
  syntheticEndpoint,
  TO_SERVER,
  unframeWs,
} from "../../../src/transport/ws-frame.ts";

describe("WebSocket framing", () => {
  test("a datagram round-trips with its port, its bytes unchanged", () => {
    const data = Uint8Array.from([0x4e, 0x50, 1, 2, 3]);
    const framed = frameWs(40_001, data);
    expect([...framed.subarray(0, 2)]).toEqual([0x9c, 0x41]);
    expect(unframeWs(framed)).toEqual({ port: 40_001, data });
    expect(unframeWs(frameWs(TO_SERVER, data))?.port).toBe(0);
  });

  test("a message with no datagram after the port is refused", () => {
    expect(unframeWs(new Uint8Array(2))).toBeUndefined();
    expect(unframeWs(new Uint8Array(1))).toBeUndefined();
  });

  test.each([-1, 65_536, 1.5])("port %p does not fit the field", (port) => {
    expect(() => frameWs(port, new Uint8Array(1))).toThrow(RangeError);
  });
});

describe("synthetic endpoints", () => {
  test("are in 240.0.0.0/4, one client's connections on one host, numbered by port", () => {
    const a1 = syntheticEndpoint("192.0.2.7", 1);
    const a2 = syntheticEndpoint("192.0.2.7", 2);
    const b = syntheticEndpoint("198.51.100.9", 1);
    expect(a1.host).toBe(a2.host);
    expect(a1.port).toBe(1);
    expect(b.host).not.toBe(a1.host);
    for (const e of [a1, b]) {
      const first = Number(e.host.split(".")[0]);
      expect(first >= 240 && first <= 255).toBe(true);
      expect(isSynthetic(e.host)).toBe(true);
    }
  });

  test.each(["192.0.2.7", "203.0.113.240", "198.18.0.1", "127.0.0.1", "::1", "2001:db8::24"])(
    "%s is a real address",
    (host) => expect(isSynthetic(host)).toBe(false),
  );
});
