// The rule that gives a pair one relay across servers (placeRelay), on both directories: in memory, and in a
// real redis-server child (one per file, a fresh key prefix per test).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import type { RelayOfferStatus } from "../../../src/protocol/messages.ts";
import {
  MemoryRelayDirectory,
  OPENING_POLL_MS,
  OPENING_POLLS,
  placeRelay,
  publicRelayHost,
  RELAY_PLACE_TTL_MS,
  RedisRelayDirectory,
  type RelayDirectory,
} from "../../../src/rendezvous/relay-directory.ts";
import { ManualClock } from "../../../src/sys/clock.ts";
import { type RedisChild, startRedis, stopAllRedis } from "../../support/redis.ts";

let redis: RedisChild;
let client: RedisClient;
let n = 0;
beforeAll(async () => {
  redis = await startRedis();
  client = new RedisClient(redis.url);
  await client.connect();
});
afterAll(async () => {
  client?.close();
  await stopAllRedis();
});

const FIXTURES: [string, () => RelayDirectory][] = [
  ["MemoryRelayDirectory", () => new MemoryRelayDirectory()],
  ["RedisRelayDirectory", () => new RedisRelayDirectory(client, `{r${++n}}:`)],
];

const PAIR = "00112233445566778899aabbccddeeff";
const ONE = { id: "s1", host: "198.51.100.1" };
const TWO = { id: "s2", host: "198.51.100.2" };

const THREE = { id: "s3", host: "198.51.100.3" };

/** A server's view: its id, its relay host, and a relay that opens at `port` (or refuses), counting opens. */
function server(
  s: { id: string; host: string },
  directory: RelayDirectory,
  port = 40_000,
  status: RelayOfferStatus = "ok",
) {
  const opened: number[] = [];
  const ask = () =>
    placeRelay(
      {
        directory,
        serverId: s.id,
        relayHost: s.host,
        openHere: async () => {
          opened.push(port);
          return status === "ok" ? { status, port } : { status, port: 0 };
        },
      },
      PAIR,
    );
  return { ask, opened };
}

for (const [name, fresh] of FIXTURES)
  describe(`placeRelay on ${name}: one relay per pair`, () => {
    test("no directory (one server): its own relay, no host", async () => {
      const r = await placeRelay(
        {
          directory: undefined,
          serverId: ONE.id,
          relayHost: ONE.host,
          openHere: async () => ({ status: "ok", port: 40_000 }),
        },
        PAIR,
      );
      expect(r).toEqual({ status: "ok", port: 40_000 });
    });

    test("the first server asked opens the relay; the partner's server offers that host and port, opening none", async () => {
      const dir = fresh();
      const one = server(ONE, dir, 40_000);
      const two = server(TWO, dir, 41_000);
      expect(await one.ask()).toEqual({ status: "ok", port: 40_000 });
      expect(await two.ask()).toEqual({ status: "ok", port: 40_000, host: ONE.host });
      // Asked again (the peer's retry), each gives the same answer, and the relay is not opened elsewhere.
      expect(await two.ask()).toEqual({ status: "ok", port: 40_000, host: ONE.host });
      expect(await one.ask()).toEqual({ status: "ok", port: 40_000 });
      expect([one.opened.length, two.opened]).toEqual([2, []]);
    });

    test("while the owner is still opening it: no answer yet (the peer asks again)", async () => {
      const dir = fresh();
      await dir.claim(PAIR, { server: ONE.id, host: ONE.host, port: 0, status: "ok" });
      const two = server(TWO, dir);
      expect(await two.ask()).toBeUndefined();
      expect(two.opened).toEqual([]);
    });

    test("while the owner is still opening it, with a wait: the place read again until the port is there", async () => {
      const dir = fresh();
      const claim = { server: ONE.id, host: ONE.host, port: 0, status: "ok" as const };
      await dir.claim(PAIR, claim);
      const waits: number[] = [];
      const ask = () =>
        placeRelay(
          {
            directory: dir,
            serverId: TWO.id,
            relayHost: TWO.host,
            openHere: async () => ({ status: "ok", port: 41_000 }),
            wait: async (ms) => {
              waits.push(ms);
              // The owner settles during the third wait: the fourth read finds the port.
              if (waits.length === 3) await dir.settle(PAIR, { ...claim, port: 40_000 });
              return true;
            },
          },
          PAIR,
        );
      expect(await ask()).toEqual({ status: "ok", port: 40_000, host: ONE.host });
      expect(waits).toEqual([OPENING_POLL_MS, OPENING_POLL_MS, OPENING_POLL_MS]);
    });

    test("still opening after OPENING_POLLS reads: no answer (the peer asks again); nothing opened here", async () => {
      const dir = fresh();
      await dir.claim(PAIR, { server: ONE.id, host: ONE.host, port: 0, status: "ok" });
      let waits = 0;
      const opened: number[] = [];
      const r = await placeRelay(
        {
          directory: dir,
          serverId: TWO.id,
          relayHost: TWO.host,
          openHere: async () => {
            opened.push(41_000);
            return { status: "ok", port: 41_000 };
          },
          wait: async () => {
            waits++;
            return true;
          },
        },
        PAIR,
      );
      expect([r, waits, opened]).toEqual([undefined, OPENING_POLLS, []]);
    });

    test("while the owner is still opening it and this server closes: no more reads, no answer", async () => {
      const dir = fresh();
      const claim = { server: ONE.id, host: ONE.host, port: 0, status: "ok" as const };
      await dir.claim(PAIR, claim);
      let waits = 0;
      const r = await placeRelay(
        {
          directory: dir,
          serverId: TWO.id,
          relayHost: TWO.host,
          openHere: async () => ({ status: "ok", port: 41_000 }),
          wait: async () => {
            // Closed during the first wait; the owner settles meanwhile, which a further read would find.
            await dir.settle(PAIR, { ...claim, port: 40_000 });
            return ++waits < 1;
          },
        },
        PAIR,
      );
      expect([r, waits]).toEqual([undefined, 1]);
    });

    test("a refusal is recorded: the partner's server gives the same one", async () => {
      const dir = fresh();
      const one = server(ONE, dir, 0, "full");
      const two = server(TWO, dir);
      expect(await one.ask()).toEqual({ status: "full", port: 0 });
      expect(await two.ask()).toEqual({ status: "full", port: 0 });
      expect(two.opened).toEqual([]);
    });

    test("a relay that throws while opening is a refusal (full), recorded", async () => {
      const dir = fresh();
      const r = await placeRelay(
        {
          directory: dir,
          serverId: ONE.id,
          relayHost: ONE.host,
          openHere: () => Promise.reject(new Error("bind")),
        },
        PAIR,
      );
      expect(r).toEqual({ status: "full", port: 0 });
      expect(await dir.find(PAIR)).toEqual({ server: ONE.id, host: ONE.host, port: 0, status: "full" });
    });

    test("a server without relays (or without a host others can be told) claims nothing: another's relay, or off", async () => {
      const dir = fresh();
      const bare = () =>
        placeRelay({ directory: dir, serverId: TWO.id, relayHost: undefined, openHere: undefined }, PAIR);
      expect(await bare()).toEqual({ status: "off", port: 0 });
      expect(await dir.find(PAIR)).toBeUndefined();
      await server(ONE, dir).ask();
      expect(await bare()).toEqual({ status: "ok", port: 40_000, host: ONE.host });
    });
  });

/**
 * A directory and a way to let time pass for it: the memory one on a fake clock; the Redis one with a short
 * beat lifetime (Redis expires keys in its own time), waited for.
 */
const ALIVE_MS = 300;
const LIVENESS: [string, () => { dir: RelayDirectory; pass: (ms: number) => Promise<void> }][] = [
  [
    "MemoryRelayDirectory (fake clock)",
    () => {
      const clock = new ManualClock(1_000_000);
      return {
        dir: new MemoryRelayDirectory({ clock, aliveMs: ALIVE_MS }),
        pass: async (ms) => clock.advanceTo(clock.now() + ms),
      };
    },
  ],
  [
    "RedisRelayDirectory (real Redis)",
    () => ({
      dir: new RedisRelayDirectory(client, `{r${++n}}:`, RELAY_PLACE_TTL_MS, ALIVE_MS),
      pass: (ms) => Bun.sleep(ms),
    }),
  ],
];
/** Past a beat's lifetime, with room for Redis's expiry (it checks keys when they are read). */
const GONE_MS = ALIVE_MS + 100;

for (const [name, fresh] of LIVENESS)
  describe(`placeRelay on ${name}: a relay's server that is gone`, () => {
    test("stops beating: the partner's server takes the pair over, opens its own relay, and a third offers that one", async () => {
      const { dir, pass } = fresh();
      const one = server(ONE, dir, 40_000);
      const two = server(TWO, dir, 41_000);
      expect(await one.ask()).toEqual({ status: "ok", port: 40_000 });
      expect(await two.ask()).toEqual({ status: "ok", port: 40_000, host: ONE.host });
      await pass(GONE_MS); // server 1 dies: no more beats
      expect(await two.ask()).toEqual({ status: "ok", port: 41_000 });
      expect(two.opened).toEqual([41_000]);
      expect(await server(THREE, dir).ask()).toEqual({ status: "ok", port: 41_000, host: TWO.host });
      // Server 1 was only slow, and settles late: the place stays server 2's.
      await dir.settle(PAIR, { server: ONE.id, host: ONE.host, port: 40_000, status: "ok" });
      expect((await dir.find(PAIR))?.server).toBe(TWO.id);
    });

    test("beats on: its relay is offered however long the pair asks", async () => {
      const { dir, pass } = fresh();
      const one = server(ONE, dir, 40_000);
      const two = server(TWO, dir, 41_000);
      await one.ask();
      for (let i = 0; i < 4; i++) {
        await pass(ALIVE_MS / 2);
        await dir.beat(ONE.id);
      }
      expect(await two.ask()).toEqual({ status: "ok", port: 40_000, host: ONE.host });
      expect(two.opened).toEqual([]);
    });

    test("died while opening it (port 0): the partner's server stops waiting and opens its own", async () => {
      const { dir, pass } = fresh();
      await dir.claim(PAIR, { server: ONE.id, host: ONE.host, port: 0, status: "ok" });
      const two = server(TWO, dir, 41_000);
      expect(await two.ask()).toBeUndefined();
      await pass(GONE_MS);
      expect(await two.ask()).toEqual({ status: "ok", port: 41_000 });
    });

    test("a server without relays no longer names a gone server's relay: off, as with no claim", async () => {
      const { dir, pass } = fresh();
      await server(ONE, dir, 40_000).ask();
      const bare = () =>
        placeRelay({ directory: dir, serverId: THREE.id, relayHost: undefined, openHere: undefined }, PAIR);
      expect(await bare()).toEqual({ status: "ok", port: 40_000, host: ONE.host });
      await pass(GONE_MS);
      expect(await bare()).toEqual({ status: "off", port: 0 });
    });

    test("two servers take over at once: one relay, the other waits for it", async () => {
      const { dir, pass } = fresh();
      await server(ONE, dir, 40_000).ask();
      await pass(GONE_MS);
      const [two, three] = [server(TWO, dir, 41_000), server(THREE, dir, 42_000)];
      await Promise.all([two.ask(), three.ask()]);
      expect([...two.opened, ...three.opened]).toHaveLength(1);
      const holder = two.opened.length ? TWO : THREE;
      expect(await dir.find(PAIR)).toMatchObject({ server: holder.id, status: "ok" });
    });
  });

describe("placeRelay: the exceptions", () => {
  const open = (port: number) => async () => ({ status: "ok" as const, port });

  test("a peer that reaches only this server's relays (WebSocket) gets one here even when another server holds the pair's", async () => {
    const dir = new MemoryRelayDirectory();
    await server(ONE, dir, 40_000).ask();
    const r = await placeRelay(
      { directory: dir, serverId: TWO.id, relayHost: TWO.host, openHere: open(41_000), onlyHere: true },
      PAIR,
    );
    expect(r).toEqual({ status: "ok", port: 41_000 });
    // The pair's place is still server 1's: its partner is told of that one.
    expect((await dir.find(PAIR))?.server).toBe(ONE.id);
  });

  test("a WebSocket peer first: its server claims the pair, so the partner's server offers that relay", async () => {
    const dir = new MemoryRelayDirectory();
    const first = await placeRelay(
      { directory: dir, serverId: ONE.id, relayHost: ONE.host, openHere: open(40_000), onlyHere: true },
      PAIR,
    );
    expect(first).toEqual({ status: "ok", port: 40_000 });
    expect(await server(TWO, dir).ask()).toEqual({ status: "ok", port: 40_000, host: ONE.host });
  });

  test("a server with relays but no host to record opens its own and claims nothing", async () => {
    const dir = new MemoryRelayDirectory();
    const r = await placeRelay(
      { directory: dir, serverId: ONE.id, relayHost: undefined, openHere: open(40_000) },
      PAIR,
    );
    expect(r).toEqual({ status: "ok", port: 40_000 });
    expect(await dir.find(PAIR)).toBeUndefined();
  });
});

describe("RedisRelayDirectory", () => {
  test("a place expires with the pair's punch (PX), and a value that does not parse is a claim being made", async () => {
    const dir = new RedisRelayDirectory(client, `{r${++n}}:`);
    await dir.claim(PAIR, { server: ONE.id, host: ONE.host, port: 0, status: "ok" });
    const ttl = Number(await client.send("PTTL", [`{r${n}}:relay:${PAIR}`]));
    expect(ttl).toBeGreaterThan(RELAY_PLACE_TTL_MS - 10_000);
    expect(ttl).toBeLessThanOrEqual(RELAY_PLACE_TTL_MS);
    await client.send("SET", [
      `{r${n}}:relay:${PAIR}`,
      '{"server":"s1","host":"not an address","port":1,"status":"ok"}',
    ]);
    expect(await dir.find(PAIR)).toBeUndefined();
    expect(await server(TWO, dir).ask()).toBeUndefined();
  });
});

describe("publicRelayHost", () => {
  test("the host given, else the listen address unless it is a wildcard", () => {
    expect(publicRelayHost("0.0.0.0", "203.0.113.5")).toBe("203.0.113.5");
    expect(publicRelayHost("198.51.100.1", undefined)).toBe("198.51.100.1");
    expect(publicRelayHost("0.0.0.0", undefined)).toBeUndefined();
    expect(publicRelayHost("::", undefined)).toBeUndefined();
    expect(publicRelayHost("::", "2001:DB8::5")).toBe("2001:db8::5");
  });

  test("a host that is no one IP address is E_ADDRESS", () => {
    for (const bad of ["relay.example", "0.0.0.0", "::", "198.51.100.1:3478"])
      expect(() => publicRelayHost("0.0.0.0", bad)).toThrow(/relay host/);
  });
});
