import { describe, expect, test } from "bun:test";
import type { NetworkInterfaceInfo } from "node:os";
import { ManualClock } from "../../../src/sys/clock.ts";
import {
  ADDRESS_POLL_MS,
  addressesDiffer,
  addressSet,
  type InterfaceTable,
  watchAddresses,
} from "../../../src/up/addresses.ts";
import { T0 } from "./support.ts";

const v4 = (address: string, internal = false): NetworkInterfaceInfo => ({
  address,
  netmask: "255.255.255.0",
  family: "IPv4",
  mac: "00:00:00:00:00:00",
  internal,
  cidr: `${address}/24`,
});

describe("addressSet and addressesDiffer: the host's addresses a punch depends on", () => {
  test("loopback and ignored interfaces do not count; the rest sorted, each once", () => {
    const table: InterfaceTable = {
      lo: [v4("127.0.0.1", true)],
      eth0: [v4("198.51.100.20"), v4("192.0.2.7")],
      eth1: [v4("192.0.2.7")],
      "np-office": [v4("198.18.201.1")],
      none: undefined,
    };
    expect(addressSet(table, (n) => n.startsWith("np-"))).toEqual(["192.0.2.7", "198.51.100.20"]);
    expect(addressSet(table)).toEqual(["192.0.2.7", "198.18.201.1", "198.51.100.20"]);
  });

  test.each([
    [[], [], false],
    [["192.0.2.7"], ["192.0.2.7"], false],
    [["192.0.2.7"], ["192.0.2.8"], true],
    [["192.0.2.7"], ["192.0.2.7", "198.51.100.20"], true],
    [["192.0.2.7", "198.51.100.20"], ["192.0.2.7"], true],
  ])("addressesDiffer(%p, %p) is %p", (a, b, differ) => {
    expect(addressesDiffer(a, b)).toBe(differ);
  });
});

describe("watchAddresses: polls on the clock and tells each subscriber of a change", () => {
  test("a change is told once at the next poll; no change, or one on an ignored interface, is not", () => {
    const clock = new ManualClock(T0);
    let table: InterfaceTable = { eth0: [v4("198.51.100.20")] };
    const w = watchAddresses({ clock, interfaces: () => table, ignore: (n) => n === "np-office" });
    const told: number[] = [];
    w.subscribe(() => told.push(clock.now()));
    clock.advanceTo(T0 + 5 * ADDRESS_POLL_MS);
    expect(told).toEqual([]);
    table = { eth0: [v4("198.51.100.20")], "np-office": [v4("198.18.201.1")] };
    clock.advanceTo(T0 + 7 * ADDRESS_POLL_MS);
    expect(told).toEqual([]);
    table = { eth0: [v4("203.0.113.50")] };
    clock.advanceTo(T0 + 7 * ADDRESS_POLL_MS + 1);
    expect(told).toEqual([]);
    clock.advanceTo(T0 + 10 * ADDRESS_POLL_MS);
    expect(told).toEqual([T0 + 8 * ADDRESS_POLL_MS]);
    w.close();
    expect(clock.size).toBe(0);
  });

  test("an unsubscribed listener, a throwing listener and an unreadable table stop nothing", () => {
    const clock = new ManualClock(T0);
    let n = 0;
    const w = watchAddresses({
      clock,
      intervalMs: 1_000,
      interfaces: () => {
        n++;
        if (n === 2) throw new Error("EMFILE");
        return { eth0: [v4(`192.0.2.${n}`)] };
      },
    });
    const a: number[] = [];
    const b: number[] = [];
    const offA = w.subscribe(() => a.push(clock.now()));
    w.subscribe(() => {
      throw new Error("a buggy subscriber");
    });
    w.subscribe(() => b.push(clock.now()));
    clock.advanceTo(T0 + 1_000); // read 2 throws: no change told
    clock.advanceTo(T0 + 2_000); // read 3: 192.0.2.3, a change
    offA();
    clock.advanceTo(T0 + 3_000); // read 4: another change
    expect(a).toEqual([T0 + 2_000]);
    expect(b).toEqual([T0 + 2_000, T0 + 3_000]);
    w.close();
  });
});
