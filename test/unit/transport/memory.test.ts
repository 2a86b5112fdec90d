// MemoryNetwork, the plain in-process datagram network. The two-peers-and-a-server checks that used to
// drive a hand-written copy of serve() and connect() over it now run the real drivers: test/sim/.
import { describe, expect, test } from "bun:test";
import { MemoryNetwork } from "../../../src/transport/memory.ts";
import type { Endpoint } from "../../../src/types.ts";

const A_ADDR = { host: "203.0.113.10", port: 40001 };
const B_ADDR = { host: "198.18.0.20", port: 40002 };

describe("MemoryNetwork", () => {
  test("delivers to the bound address with the sender's address, and records every send", () => {
    const queue: (() => void)[] = [];
    const net = new MemoryNetwork((fn) => queue.push(fn));
    const got: [string, Endpoint][] = [];
    const a = net.bind(A_ADDR, () => {});
    net.bind(B_ADDR, (data, from) => got.push([new TextDecoder().decode(data), from]));
    const data = new TextEncoder().encode("hi");
    expect(a.send(data, B_ADDR)).toBe(true);
    data[0] = 0; // the record is a copy
    expect(got).toEqual([]); // not before the scheduler runs it
    for (const fn of queue) fn();
    expect(got).toEqual([["hi", A_ADDR]]);
    expect(net.sent).toHaveLength(1);
    expect(net.sent[0]?.from).toEqual(A_ADDR);
    expect(net.sent[0]?.to).toEqual(B_ADDR);
    expect(new TextDecoder().decode(net.sent[0]?.data)).toBe("hi");
  });

  test("the default scheduler delivers asynchronously (microtask)", async () => {
    const net = new MemoryNetwork();
    let got = 0;
    const a = net.bind(A_ADDR, () => {});
    net.bind(B_ADDR, () => got++);
    a.send(new Uint8Array([1]), B_ADDR);
    expect(got).toBe(0);
    await Promise.resolve();
    await Promise.resolve();
    expect(got).toBe(1);
  });

  test("drop predicate: recorded but not delivered; nobody bound: lost silently", () => {
    const queue: (() => void)[] = [];
    const net = new MemoryNetwork((fn) => queue.push(fn));
    let got = 0;
    const a = net.bind(A_ADDR, () => {});
    net.bind(B_ADDR, () => got++);
    net.drop = (r) => r.data[0] === 0xff;
    a.send(new Uint8Array([0xff]), B_ADDR);
    a.send(new Uint8Array([1]), B_ADDR);
    a.send(new Uint8Array([2]), { host: "192.0.2.99", port: 1 });
    for (const fn of queue) fn();
    expect(got).toBe(1);
    expect(net.sent).toHaveLength(3);
  });

  test("an address binds once; a closed transport sends nothing and frees its address", () => {
    const net = new MemoryNetwork(() => {});
    const a = net.bind(A_ADDR, () => {});
    expect(() => net.bind(A_ADDR, () => {})).toThrow("in use");
    a.close();
    expect(a.send(new Uint8Array([1]), B_ADDR)).toBe(false);
    expect(net.sent).toHaveLength(0);
    expect(() => net.bind(A_ADDR, () => {})).not.toThrow();
  });
});
