import { describe, expect, test } from "bun:test";
import { REGISTER_PADDED_LEN } from "../../../src/protocol/constants.ts";
import { seal } from "../../../src/protocol/packet.ts";
import { CreditLedger } from "../../../src/rendezvous/credit.ts";
import { KEY, nonceBytes, TS } from "../support.ts";

const A = { host: "198.51.100.10", port: 40000 };
const A_OTHER_PORT = { host: "198.51.100.10", port: 40001 };
const B = { host: "2001:db8::b", port: 40000 };

describe("CreditLedger", () => {
  test("an unknown address has nothing to spend", () => {
    const l = new CreditLedger();
    expect(l.balance(A)).toBe(0);
    expect(l.spend(A, 1)).toBe(false);
    expect(l.spend(A, 0)).toBe(false);
  });

  test("cannot spend more than was earned; a refused spend costs nothing", () => {
    const l = new CreditLedger();
    l.earn(A, 100, 0);
    expect(l.spend(A, 60)).toBe(true);
    expect(l.balance(A)).toBe(40);
    expect(l.spend(A, 41)).toBe(false);
    expect(l.balance(A)).toBe(40);
    expect(l.spend(A, 40)).toBe(true);
    expect(l.balance(A)).toBe(0);
    expect(l.spend(A, 1)).toBe(false);
  });

  test("credit is per address and port", () => {
    const l = new CreditLedger();
    l.earn(A, 100, 0);
    l.earn(B, 7, 0);
    expect(l.balance(A_OTHER_PORT)).toBe(0);
    expect(l.spend(A_OTHER_PORT, 1)).toBe(false);
    expect(l.spend(B, 8)).toBe(false);
    expect(l.spend(B, 7)).toBe(true);
    expect(l.balance(A)).toBe(100);
  });

  test("earnings add up to the cap and no further", () => {
    const l = new CreditLedger(1000);
    l.earn(A, 600, 0);
    l.earn(A, 300, 1);
    expect(l.balance(A)).toBe(900);
    l.earn(A, 600, 2);
    expect(l.balance(A)).toBe(1000);
    expect(l.spend(A, 1001)).toBe(false);
    expect(l.spend(A, 1000)).toBe(true);
  });

  test("the default cap is 8192 bytes", () => {
    const l = new CreditLedger();
    for (let i = 0; i < 100; i++) l.earn(A, REGISTER_PADDED_LEN, i);
    expect(l.balance(A)).toBe(8192);
  });

  test("sweep forgets addresses idle for longer than idleMs, keeps the rest", () => {
    const l = new CreditLedger();
    l.earn(A, 100, 0);
    l.earn(B, 100, 50);
    l.sweep(110, 60);
    expect(l.balance(A)).toBe(0);
    expect(l.spend(A, 1)).toBe(false);
    expect(l.balance(B)).toBe(100);
    l.sweep(110 + 0, 60); // B: idle exactly 60 is not "longer than"
    expect(l.balance(B)).toBe(100);
    l.sweep(111, 60);
    expect(l.balance(B)).toBe(0);
  });

  test("earning again refreshes an address against the sweep", () => {
    const l = new CreditLedger();
    l.earn(A, 100, 0);
    l.earn(A, 1, 100);
    l.sweep(150, 60);
    expect(l.balance(A)).toBe(101);
  });

  test("one REGISTER pays for the REGISTERED it gets, but not for a flood of them", () => {
    const l = new CreditLedger();
    l.earn(A, REGISTER_PADDED_LEN, 0);
    // The challenge a first REGISTER gets: the largest REGISTERED for a v4 address.
    const registered = seal(
      KEY,
      {
        type: "registered",
        echo: "000000000000000000000000",
        status: "challenge",
        observed: A,
        serverTime: TS,
        cookie: "00".repeat(16),
        altPort: 10002,
      },
      { timestamp: TS, nonce: nonceBytes() },
    );
    let sent = 0;
    while (sent < 100 && l.spend(A, registered.length)) sent++;
    expect(sent).toBe(Math.floor(REGISTER_PADDED_LEN / registered.length));
    expect(sent * registered.length).toBeLessThanOrEqual(REGISTER_PADDED_LEN);
  });
});

describe("CreditLedger sweep over many addresses", () => {
  test("forgets exactly the addresses idle longer than idleMs, across sweeps and refreshes", () => {
    const l = new CreditLedger();
    const addr = (i: number) => ({ host: `198.18.${i >> 8}.${i & 255}`, port: 40000 });
    // 300 addresses heard at 0..2990 ms, every tenth heard again at 5000 ms.
    for (let i = 0; i < 300; i++) l.earn(addr(i), 10, i * 10);
    for (let i = 0; i < 300; i += 10) l.earn(addr(i), 10, 5_000);
    l.sweep(3_000, 1_500); // idle longer than 1.5 s: heard before 1.5 s and not again
    const kept = (i: number) => l.balance(addr(i)) > 0;
    for (let i = 0; i < 300; i++) expect([i, kept(i)]).toEqual([i, i % 10 === 0 || i * 10 >= 1_500]);
    l.sweep(6_500, 1_500); // only the refreshed ones, heard at 5 s, are left
    for (let i = 0; i < 300; i++) expect([i, kept(i)]).toEqual([i, i % 10 === 0]);
    expect(l.balance(addr(10))).toBe(20);
  });
});
