// The per-address transport behind a wildcard listen (issue 9 item 2), over the memory network.
import { describe, expect, test } from "bun:test";
import { MemoryNetwork } from "../../../src/transport/memory.ts";
import { addressesFor, openPerAddress, ReplyRoutes } from "../../../src/transport/per-address.ts";
import type { Endpoint } from "../../../src/types.ts";

const PEER = { host: "203.0.113.50", port: 40000 };
const PEER6 = { host: "2001:db8::50", port: 40000 };

async function setup(addresses: string[], host = "0.0.0.0") {
  const net = new MemoryNetwork((fn) => fn());
  const factory = async (bind: Endpoint, on: (d: Uint8Array, f: Endpoint) => void) => net.bind(bind, on);
  const got: Endpoint[] = [];
  let rescan: () => void = () => {};
  const list = [...addresses];
  const t = await openPerAddress(factory, { host, port: 10001 }, (_d, from) => got.push(from), {
    addresses: () => list,
    routes: new ReplyRoutes(),
    every: (_ms, fn) => {
      rescan = fn;
      return () => {};
    },
  });
  return { net, t, got, list, rescan: () => rescan() };
}

describe("one socket per address behind a wildcard", () => {
  test("each peer is answered from the address it wrote to", async () => {
    const { net, t } = await setup(["198.51.100.7", "198.51.100.8"]);
    const peer = net.bind(PEER, () => {});
    peer.send(new Uint8Array([1]), { host: "198.51.100.8", port: 10001 });
    t.send(new Uint8Array([2]), PEER);
    expect(net.sent.at(-1)?.from).toEqual({ host: "198.51.100.8", port: 10001 });
    expect(t.local).toEqual({ host: "0.0.0.0", port: 10001 });
  });

  test("sendMany answers each peer from the address it wrote to, in order", async () => {
    const { net, t } = await setup(["198.51.100.7", "198.51.100.8"]);
    const peer = net.bind(PEER, () => {});
    const other = { host: "203.0.113.51", port: 40000 };
    net.bind(other, () => {});
    peer.send(new Uint8Array([1]), { host: "198.51.100.8", port: 10001 });
    const before = net.sent.length;
    const sent = t.sendMany?.([
      { data: new Uint8Array([2]), to: PEER },
      { data: new Uint8Array([3]), to: other },
      { data: new Uint8Array([4]), to: PEER },
    ]);
    expect(sent).toBe(3);
    const out = net.sent.slice(before).map((r) => [r.from.host, r.to.host]);
    expect(out).toEqual([
      ["198.51.100.8", PEER.host],
      ["198.51.100.8", PEER.host],
      ["198.51.100.7", other.host],
    ]);
  });

  test("a peer never heard from gets the first address of its family", async () => {
    const { net, t } = await setup(["198.51.100.7", "2001:db8::7"], "::");
    t.send(new Uint8Array([1]), PEER6);
    expect(net.sent.at(-1)?.from.host).toBe("2001:db8::7");
    t.send(new Uint8Array([1]), PEER);
    expect(net.sent.at(-1)?.from.host).toBe("198.51.100.7");
  });

  test("an address added later is bound at the next scan; a removed one is closed", async () => {
    const s = await setup(["198.51.100.7"]);
    s.list.push("198.51.100.9");
    s.rescan();
    await Bun.sleep(0);
    const peer = s.net.bind(PEER, () => {});
    peer.send(new Uint8Array([1]), { host: "198.51.100.9", port: 10001 });
    expect(s.got).toEqual([PEER]);
    s.list.splice(0, 1);
    s.rescan();
    await Bun.sleep(0);
    peer.send(new Uint8Array([1]), { host: "198.51.100.7", port: 10001 });
    expect(s.got).toEqual([PEER]); // nobody listens there any more
  });

  test("a specific listen address is bound as it is", async () => {
    const { net, t } = await setup(["198.51.100.7", "198.51.100.8"], "198.51.100.8");
    t.send(new Uint8Array([1]), PEER);
    expect(net.sent.at(-1)?.from.host).toBe("198.51.100.8");
  });

  test("the wildcard's addresses: 0.0.0.0 every IPv4 one; :: both families but no link-local", () => {
    const all = [
      { address: "127.0.0.1", family: "IPv4" },
      { address: "198.51.100.7", family: "IPv4" },
      { address: "::1", family: "IPv6" },
      { address: "fe80::1", family: "IPv6" },
      { address: "2001:db8::7", family: "IPv6" },
    ];
    expect(addressesFor("0.0.0.0", all)).toEqual(["127.0.0.1", "198.51.100.7"]);
    expect(addressesFor("::", all)).toEqual(["127.0.0.1", "198.51.100.7", "::1", "2001:db8::7"]);
  });

  test("routes are bounded: the least recently heard is forgotten first", () => {
    const r = new ReplyRoutes(2);
    r.note({ host: "198.18.0.1", port: 1 }, "a");
    r.note({ host: "198.18.0.2", port: 1 }, "b");
    r.note({ host: "198.18.0.1", port: 1 }, "a"); // heard again: now the newest
    r.note({ host: "198.18.0.3", port: 1 }, "c");
    expect(r.hostFor({ host: "198.18.0.2", port: 1 })).toBeUndefined();
    expect(r.hostFor({ host: "198.18.0.1", port: 1 })).toBe("a");
  });
});

describe("open: what a health check reads", () => {
  test("open while any address's socket is; closed once they all are, or once it is closed", async () => {
    const net = new MemoryNetwork((fn) => fn());
    const inner: ReturnType<MemoryNetwork["bind"]>[] = [];
    const factory = async (bind: Endpoint, on: (d: Uint8Array, f: Endpoint) => void) => {
      const s = net.bind(bind, on);
      inner.push(s);
      return s;
    };
    const o = { addresses: () => ["198.51.100.7", "198.51.100.8"], routes: new ReplyRoutes() };
    const t = await openPerAddress(factory, { host: "0.0.0.0", port: 10001 }, () => {}, o);
    expect(t.open).toBe(true);
    inner[0]?.close();
    expect(t.open).toBe(true); // a peer can still reach the other address
    inner[1]?.close();
    expect(t.open).toBe(false);
    const u = await openPerAddress(factory, { host: "0.0.0.0", port: 10002 }, () => {}, o);
    u.close();
    expect(u.open).toBe(false);
  });
});
