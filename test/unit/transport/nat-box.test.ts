import { describe, expect, test } from "bun:test";
import { seededRandom } from "../../../src/sys/random.ts";
import { type NatBehaviour, type NatOptions, NatTable } from "../../../src/transport/nat-box.ts";

const INSIDE = { host: "198.19.1.10", port: 40_000 };
const SERVER = { host: "198.18.0.1", port: 10_001 };
const SERVER_ALT = { host: "198.18.0.1", port: 10_002 };
const OTHER = { host: "198.18.9.9", port: 10_001 };

const table = (o: NatOptions = {}) => new NatTable("198.18.1.1", o, seededRandom(1));

describe("NatTable", () => {
  test.each<[NatBehaviour, boolean, boolean]>([
    // mapping, same port toward the server's other port, same port toward another host
    ["endpoint-independent", true, true],
    ["address-dependent", true, false],
    ["address-and-port-dependent", false, false],
  ])("mapping %s: same port to the alt port %p, to another host %p", (mapping, samePort, sameHost) => {
    const t = table({ mapping, portPreservation: false });
    const first = t.outbound(INSIDE, SERVER, 0).port;
    expect(t.outbound(INSIDE, SERVER_ALT, 0).port === first).toBe(samePort);
    expect(t.outbound(INSIDE, OTHER, 0).port === first).toBe(sameHost);
    expect(t.outbound(INSIDE, SERVER, 0).port).toBe(first); // one destination, one mapping
  });

  test.each<[NatBehaviour, boolean, boolean]>([
    // filtering, an answer from the server's other port passes, one from another host passes
    ["endpoint-independent", true, true],
    ["address-dependent", true, false],
    ["address-and-port-dependent", false, false],
  ])("filtering %s: from the alt port %p, from another host %p", (filtering, fromAlt, fromOther) => {
    const t = table({ filtering });
    const { port } = t.outbound(INSIDE, SERVER, 0);
    expect(t.inbound(SERVER, port, 0)).toEqual(INSIDE);
    expect(t.inbound(SERVER_ALT, port, 0) !== undefined).toBe(fromAlt);
    expect(t.inbound(OTHER, port, 0) !== undefined).toBe(fromOther);
  });

  test("port preservation keeps the inside port while it is free; sequential allocation counts up", () => {
    const t = table({ mapping: "address-and-port-dependent", allocation: "sequential" });
    const first = t.outbound(INSIDE, SERVER, 0).port;
    expect(first).toBe(INSIDE.port);
    const second = t.outbound(INSIDE, SERVER_ALT, 0).port;
    expect(t.outbound(INSIDE, OTHER, 0).port).toBe(second + 1);
  });

  test("an unanswered mapping expires after 30 s, an answered one after 120 s; flush forgets all", () => {
    const t = table({ portPreservation: false });
    const { port } = t.outbound(INSIDE, SERVER, 0);
    expect(t.inbound(SERVER, port, 30_000)).toEqual(INSIDE); // answered at 30 s: now 120 s from here
    expect(t.inbound(SERVER, port, 150_000)).toEqual(INSIDE);
    expect(t.inbound(SERVER, port, 270_001)).toBeUndefined();
    const again = t.outbound(INSIDE, SERVER, 270_001).port;
    expect(t.outbound(INSIDE, SERVER, 300_002).port).not.toBe(again); // unanswered: gone after 30 s
    t.flush();
    expect(t.size).toBe(0);
  });
});
