// The Redis link against a real redis-server child: it fails fast and says "down" once while Redis is gone,
// "back" once when it returns, and its subscriptions work again; its errors never show the password.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { RedisClient } from "bun";
import type { NetpunchError } from "../../../src/errors.ts";
import { RedisLink } from "../../../src/rendezvous/redis-link.ts";
import { type RedisChild, startRedis, stopAllRedis } from "../../support/redis.ts";

let redis: RedisChild;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(stopAllRedis);

/** Polls `ok` every 20 ms for at most `ms`. */
async function until(ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(20);
  }
}

test("Redis unreachable at start: E_STORE naming the redacted URL, never the password", async () => {
  const port = redis.port + 1 === 65536 ? redis.port - 1 : redis.port + 1; // nothing listens there
  const link = new RedisLink({
    url: `redis://:hunter2@127.0.0.1:${port}/0`,
    where: `redis://:***@127.0.0.1:${port}/0`,
  });
  const e = (await link.connect().catch((x: unknown) => x)) as NetpunchError;
  link.close();
  expect([e.code, e.exitCode]).toEqual(["E_STORE", 1]);
  expect(e.message).toContain(`redis://:***@127.0.0.1:${port}/0 cannot be reached`);
  expect(`${e.message} ${e.hint}`).not.toContain("hunter2");
});

test("down once, back once, and the subscription delivers again after Redis restarts", async () => {
  const states: boolean[] = [];
  const link = new RedisLink({
    url: redis.url,
    where: redis.url,
    onState: (up) => states.push(up),
    reconnectMs: 50,
  });
  await link.connect();
  const heard: string[] = [];
  await link.subscribe("ch", (m) => heard.push(m));
  await link.publish("ch", "before");
  await until(() => heard.length === 1);

  await redis.stop();
  // Every command while it is down fails at once with E_STORE; the owner hears "down" once.
  for (let i = 0; i < 5; i++) {
    const e = (await link.send("PING", []).catch((x: unknown) => x)) as NetpunchError;
    expect(e.code).toBe("E_STORE");
  }
  expect(states).toEqual([false]);
  expect(link.takeStats()).toMatchObject({ up: false, errors: 5 });

  await redis.start();
  await until(() => states.length === 2);
  expect(states).toEqual([false, true]);
  expect(await link.send("PING", [])).toBe("PONG");
  // Published by another client: the link's own subscription was made again, once.
  const other = new RedisClient(redis.url);
  await other.connect();
  await other.publish("ch", "after");
  await other.publish("ch", "end");
  // Messages arrive in order on one connection: a second copy of "after" would come before "end".
  await until(() => heard.includes("end"));
  expect(heard).toEqual(["before", "after", "end"]);
  other.close();
  link.close();
});
