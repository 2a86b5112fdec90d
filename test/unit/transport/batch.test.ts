import { describe, expect, test } from "bun:test";
import { batchSends, MAX_BATCH } from "../../../src/transport/batch.ts";
import type { Datagram, Transport } from "../../../src/transport/types.ts";

const TO = { host: "198.51.100.7", port: 40001 };
const d = (n: number) => new Uint8Array([n]);

/** A transport that records its calls; the deferred flushes run when the test says the turn is over. */
function setup(withMany = true) {
  const calls: (["send", number] | ["many", number[]] | ["close"])[] = [];
  const inner: Transport = {
    local: { host: "127.0.0.1", port: 10001 },
    send: (data) => {
      calls.push(["send", data[0] as number]);
      return true;
    },
    close: () => calls.push(["close"]),
    ...(withMany
      ? {
          sendMany: (ds: readonly Datagram[]) => {
            calls.push(["many", ds.map((x) => x.data[0] as number)]);
            return ds.length;
          },
        }
      : {}),
  };
  const later: (() => void)[] = [];
  const t = batchSends(inner, (fn) => later.push(fn));
  const endTurn = () => {
    for (const fn of later.splice(0)) fn();
  };
  return { t, calls, endTurn };
}

describe("batchSends", () => {
  test("the sends of one turn go out in one sendMany, in order, when the turn ends", () => {
    const { t, calls, endTurn } = setup();
    expect([t.send(d(1), TO), t.send(d(2), TO), t.send(d(3), TO)]).toEqual([true, true, true]);
    expect(calls).toEqual([]);
    endTurn();
    t.send(d(4), TO);
    endTurn();
    expect(calls).toEqual([
      ["many", [1, 2, 3]],
      ["many", [4]],
    ]);
  });

  test("a turn with more than MAX_BATCH sends is cut into calls of MAX_BATCH", () => {
    const { t, calls, endTurn } = setup();
    for (let i = 0; i < MAX_BATCH + 3; i++) t.send(d(i % 256), TO);
    endTurn();
    expect(calls.map((c) => (c[0] === "many" ? c[1].length : 0))).toEqual([MAX_BATCH, 3]);
  });

  test("close sends what is queued first; after it nothing is queued", () => {
    const { t, calls, endTurn } = setup();
    t.send(d(1), TO);
    t.close();
    expect(t.send(d(2), TO)).toBe(false);
    endTurn();
    expect(calls).toEqual([["many", [1]], ["close"]]);
  });

  test("a direct sendMany goes after what was queued", () => {
    const { t, calls } = setup();
    t.send(d(1), TO);
    t.sendMany?.([{ data: d(2), to: TO }]);
    expect(calls).toEqual([
      ["many", [1]],
      ["many", [2]],
    ]);
  });

  test("a transport without sendMany sends each datagram at once", () => {
    const { t, calls, endTurn } = setup(false);
    t.send(d(1), TO);
    expect(calls).toEqual([["send", 1]]);
    endTurn();
    t.close();
    expect(calls).toEqual([["send", 1], ["close"]]);
  });
});

describe("open: what a health check reads", () => {
  test.each([true, false])(
    "follows the inner socket, and is false once closed (sendMany: %p)",
    (withMany) => {
      let innerOpen = true;
      const inner: Transport = {
        local: TO,
        send: () => true,
        close: () => {
          innerOpen = false;
        },
        get open() {
          return innerOpen;
        },
        ...(withMany ? { sendMany: (ds: readonly Datagram[]) => ds.length } : {}),
      };
      const t = batchSends(inner, () => {});
      expect(t.open).toBe(true);
      innerOpen = false; // closed under it
      expect(t.open).toBe(false);
      innerOpen = true;
      t.close();
      expect(t.open).toBe(false);
    },
  );
});
