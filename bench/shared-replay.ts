// What the replay window shared by servers on one Redis costs a packet, beside the in-memory window alone,
// measured in the same run against a real redis-server child on loopback: the local ReplayGuard's check (the
// baseline, what every packet pays), and the same check followed by the shared claim (SET NX PX), one packet
// at a time (what one packet waits: a round trip) and 128 in flight (what a busy server sustains: Bun's client
// pipelines them on one connection). Only authenticated, fresh packets other than PROBEs pay the claim.
// Usage: bun bench/shared-replay.ts [--seconds S]
import { parseArgs } from "node:util";
import { RedisClient } from "bun";
import { ReplayGuard } from "../src/protocol/replay.ts";
import { RedisNonces } from "../src/rendezvous/shared-nonces.ts";
import { startRedis, stopAllRedis } from "../test/support/redis.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "2" } } });
const SECONDS = Number(values.seconds);
/** Claims in flight at once for the throughput row: a server's receive queue holds many packets. */
const IN_FLIGHT = 128;

const redis = await startRedis();
const client = new RedisClient(redis.url);
await client.connect();
const nonces = new RedisNonces(client, "{bench}:");
let counter = 0;
const nextNonce = () => (counter++).toString(16).padStart(24, "0");

async function perSecond(step: () => Promise<void> | void, parallel = 1): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  const until = t0 + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < until) {
        await step();
        n++;
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

try {
  // No bound on the nonces held: at millions of checks a second the default bound would be reached, and the
  // overload answer is not what is measured. Each row its own window.
  const unbounded = () => new ReplayGuard({ maxEntries: Number.POSITIVE_INFINITY });
  let guard = unbounded();
  const local = await perSecond(() => {
    if (guard.check(nextNonce(), Date.now(), Date.now()) !== "ok") throw new Error("not accepted");
  });
  const shared = async () => {
    const nonce = nextNonce();
    if (guard.check(nonce, Date.now(), Date.now()) !== "ok") throw new Error("not accepted");
    if (!(await nonces.claim(nonce))) throw new Error("not claimed");
  };
  guard = unbounded();
  const oneByOne = await perSecond(shared);
  guard = unbounded();
  const pipelined = await perSecond(shared, IN_FLIGHT);
  const rows: [string, number][] = [
    ["local ReplayGuard.check (baseline)", local],
    ["+ shared claim, one at a time", oneByOne],
    [`+ shared claim, ${IN_FLIGHT} in flight`, pipelined],
  ];
  console.log(
    "accepted packets per second in this process (redis-server in another, on loopback; same run):",
  );
  for (const [name, rate] of rows)
    console.log(
      `  ${name.padEnd(40)} ${rate.toFixed(0).padStart(10)}  ${(local / rate).toFixed(1).padStart(7)}x the baseline's cost`,
    );
  console.log(`  one claim waits ${(1_000_000 / oneByOne).toFixed(0)} us (a loopback round trip to Redis)`);
} finally {
  client.close();
  await stopAllRedis();
}
