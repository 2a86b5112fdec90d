import { Fail } from "../errors.ts";
import type { Health, HealthReporting } from "../metrics/health.ts";
import { type Clock, systemClock } from "../sys/clock.ts";
import { parseHeldPair, parseRecord, recordText } from "./record-schema.ts";
import { COMPARE_AND_SET, type RedisCommands, SWEEP } from "./redis-scripts.ts";
import { SessionQueue } from "./session-queue.ts";
import {
  KEEP,
  type RecentPair,
  type RendezvousStore,
  type SessionChange,
  type SessionRecord,
  type Snapshot,
} from "./store.ts";

export interface RedisStoreOptions {
  /**
   * What every key starts with; servers sharing a store use the same. The braces are a Redis Cluster hash
   * tag: every key lands in one slot, so the scripts may touch several. @default "{netpunch}:"
   */
  prefix?: string;
  /** The servers' time, which `until` and `now` are in (for how long Redis keeps a mark). @default the system clock */
  clock?: Clock;
}

/**
 * @default 60_000 ms beyond `until`: Redis drops a finished-peer mark or a remembered pair by itself this
 * long after it expired, whether or not a server sweeps, even if the servers' clocks and Redis's differ by
 * up to this much. `isDone` and `recentPair` compare `until` with the caller's `now`, so the margin never
 * lets an expired one count.
 */
const EXPIRY_MARGIN_MS = 60_000;
/**
 * @default 16 tries: an update retries only when another server changed the same session between its read
 * and its write (this server's own updates of a session take turns); two servers hold a session's two peers,
 * so two conflicts in a row are already rare.
 */
const MAX_UPDATE_TRIES = 16;
/**
 * @default 1_000 ms: the server's tick (100 ms) asks for a sweep every time; Redis expires the keys by
 * itself, and isDone/recentPair compare `until`, so freeing the indexes a second late changes nothing and
 * spares two scripts in every tick but one in ten.
 */
const SWEEP_EVERY_MS = 1_000;

const hostsOf = (rec: Snapshot<SessionRecord> | undefined): string[] =>
  rec ? [rec.slots.a?.addr.host, rec.slots.b?.addr.host].flatMap((h) => (h === undefined ? [] : [h])) : [];
/** A sorted set's score for wakeAt: Redis writes infinities as -inf and +inf. */
const score = (n: number): string =>
  n === Number.NEGATIVE_INFINITY ? "-inf" : n === Infinity ? "+inf" : String(n);

/**
 * The rendezvous state in Redis, shared by every server given the same Redis and prefix. A session is one
 * string (its record as JSON, checked with valibot when read back); a sorted set by `wakeAt` says what is due;
 * a set names the sessions and a hash counts registrations per host, both kept by the script that writes a
 * record. `update` reads, runs `fn`, and writes with a compare-and-set script: it retries when another server
 * wrote the session in between (this server's own updates of a session take turns, so they never conflict).
 * Finished-peer marks and remembered pairs are keys that Redis expires shortly after their `until`, with a
 * sorted set by `until` so that `sweep` frees them exactly as the memory store does.
 *
 * A record that is not valid (not JSON, or not of the record's shape) is taken as absent: the next update
 * replaces it, and `corrupt` counts it.
 */
export class RedisStore implements RendezvousStore, HealthReporting {
  private readonly p: string;
  private readonly clock: Clock;
  private readonly queue = new SessionQueue();
  /** Records read back that were not valid, since the start. */
  corrupt = 0;
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly redis: RedisCommands,
    opts: RedisStoreOptions = {},
  ) {
    this.p = opts.prefix ?? "{netpunch}:";
    this.clock = opts.clock ?? systemClock;
  }

  private key(kind: "s" | "done" | "pair", id: string): string {
    return `${this.p}${kind}:${id}`;
  }
  private get keys() {
    return {
      wake: `${this.p}wake`,
      names: `${this.p}sessions`,
      hosts: `${this.p}hosts`,
      doneUntil: `${this.p}done-until`,
      pairsUntil: `${this.p}pairs-until`,
    };
  }

  private parse(text: unknown): SessionRecord | undefined {
    if (typeof text !== "string") return undefined;
    const rec = parseRecord(text);
    if (!rec) this.corrupt++;
    return rec;
  }

  /** For /healthz (serve --metrics): Redis answers a PING, or the reason it does not (E_STORE's message). */
  async health(): Promise<Health> {
    await this.redis.send("PING", []);
    return { ok: true };
  }

  async get(session: string): Promise<Snapshot<SessionRecord> | undefined> {
    return this.parse(await this.redis.send("GET", [this.key("s", session)]));
  }

  update(
    session: string,
    fn: (current: SessionRecord | undefined) => SessionChange,
  ): Promise<Snapshot<SessionRecord> | undefined> {
    return this.queue.run(session, () => this.compareAndSet(session, fn));
  }

  private async compareAndSet(
    session: string,
    fn: (current: SessionRecord | undefined) => SessionChange,
  ): Promise<Snapshot<SessionRecord> | undefined> {
    const k = this.keys;
    for (let tries = 1; tries <= MAX_UPDATE_TRIES; tries++) {
      const text = await this.redis.send("GET", [this.key("s", session)]);
      const expected = typeof text === "string" ? text : "";
      const before = this.parse(text);
      const next = fn(before && (this.parse(text) as SessionRecord)); // fn gets a copy of its own
      if (next === KEEP) return before;
      const after = next === undefined ? "" : recordText(next);
      const wakeAt = next?.wakeAt === undefined ? "" : score(next.wakeAt);
      const old = hostsOf(before);
      const written = await COMPARE_AND_SET.run(
        this.redis,
        [this.key("s", session), k.wake, k.names, k.hosts],
        [session, expected, after, wakeAt, String(old.length), ...old, ...hostsOf(next)],
      );
      if (written === 1) return after === "" ? undefined : this.parse(after);
    }
    throw Fail.storeConflict(session, MAX_UPDATE_TRIES);
  }

  async sessions(): Promise<[string, Snapshot<SessionRecord>][]> {
    const names = (await this.redis.send("SMEMBERS", [this.keys.names])) as string[];
    if (names.length === 0) return [];
    const texts = (await this.redis.send(
      "MGET",
      names.map((n) => this.key("s", n)),
    )) as (string | null)[];
    const out: [string, Snapshot<SessionRecord>][] = [];
    names.forEach((name, i) => {
      const rec = this.parse(texts[i]);
      if (rec) out.push([name, rec]);
    });
    return out;
  }

  async due(now: number): Promise<string[]> {
    return (await this.redis.send("ZRANGEBYSCORE", [this.keys.wake, "-inf", score(now)])) as string[];
  }

  async count(): Promise<number> {
    return Number(await this.redis.send("SCARD", [this.keys.names]));
  }

  async addressCount(host: string): Promise<number> {
    return Number((await this.redis.send("HGET", [this.keys.hosts, host])) ?? 0);
  }

  /** How long Redis keeps a key that counts until `until` (in the servers' time). */
  private ttl(until: number): string {
    return String(Math.max(0, Math.ceil(until - this.clock.now())) + EXPIRY_MARGIN_MS);
  }

  async markDone(peerId: string, until: number): Promise<void> {
    await Promise.all([
      this.redis.send("SET", [this.key("done", peerId), String(until), "PX", this.ttl(until)]),
      this.redis.send("ZADD", [this.keys.doneUntil, String(until), peerId]),
    ]);
  }

  async isDone(peerId: string, now: number): Promise<boolean> {
    const until = await this.redis.send("GET", [this.key("done", peerId)]);
    return typeof until === "string" && Number(until) > now;
  }

  async rememberPair(pairId: string, pair: RecentPair, until: number): Promise<void> {
    const text = JSON.stringify({ until, pair });
    await Promise.all([
      this.redis.send("SET", [this.key("pair", pairId), text, "PX", this.ttl(until)]),
      this.redis.send("ZADD", [this.keys.pairsUntil, String(until), pairId]),
    ]);
  }

  async recentPair(pairId: string, now: number): Promise<Snapshot<RecentPair> | undefined> {
    const text = await this.redis.send("GET", [this.key("pair", pairId)]);
    if (typeof text !== "string") return undefined;
    const held = parseHeldPair(text);
    if (!held) this.corrupt++;
    return held && held.until > now ? held.pair : undefined;
  }

  async sweep(now: number): Promise<void> {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    const k = this.keys;
    await Promise.all([
      SWEEP.run(this.redis, [k.doneUntil], [String(now), `${this.p}done:`]),
      SWEEP.run(this.redis, [k.pairsUntil], [String(now), `${this.p}pair:`]),
    ]);
  }
}
