import * as v from "valibot";
import { isIP, normalizeHost } from "../addr.ts";
import { Fail } from "../errors.ts";
import type { RelayOfferStatus } from "../protocol/messages.ts";
import { type Clock, systemClock } from "../sys/clock.ts";
import { type RedisCommands, SETTLE_PLACE, TAKE_OVER_PLACE } from "./redis-scripts.ts";

/**
 * Where a pair's one relay is, when several servers share a store: the server that took the pair's first
 * RELAY_REQUEST opens it and says so here; every other server offers that relay (its host and port) to the
 * peer it holds, so both peers bind at one relay wherever each registered. `port` 0 with status ok: being
 * opened right now. A refusal (full, limit) is recorded too, so the partner hears the same answer instead
 * of opening a second relay it would wait at alone.
 */
export interface RelayPlace {
  /** The id of the server that holds the relay (RendezvousCore's serverId). */
  server: string;
  /** The address the peers bind at: that server's public relay host (`serve --relay-host`). */
  host: string;
  port: number;
  status: RelayOfferStatus;
}

export interface RelayDirectory {
  /**
   * Claims the pair's relay for `mine` if no server did, or if the server that did is gone (no beat for
   * SERVER_ALIVE_TTL_MS); otherwise the claim made before (ours untouched).
   */
  claim(pairId: string, mine: RelayPlace): Promise<RelayPlace | undefined>;
  /** The pair's relay, if a server that is up claimed it (for a server without relays of its own). */
  find(pairId: string): Promise<RelayPlace | undefined>;
  /** The relay is open (its port), or refused: what the partner's server will offer. Only while it is ours. */
  settle(pairId: string, place: RelayPlace): Promise<void>;
  /** Server `server` is up, and its relays with it: every SERVER_BEAT_MS from a server that opens relays. */
  beat(server: string): Promise<void>;
}

/**
 * @default 2 minutes: a pair's RELAY_REQUESTs all come within its punch (punchMs, 10 s, from the MATCH; the
 * relay is asked for after relayAfterMs, 3 s), with room for a peer's slow retries. A pair that punches again
 * later (a new MATCH) has a new pair id, so an expired place is never needed again. A place whose server is
 * gone does not wait for this: another server takes it over once the server's beat has lapsed (below).
 */
export const RELAY_PLACE_TTL_MS = 120_000;

/** @default 1_000 ms: how often a server that opens relays says it is up (one SET of a key of its own). */
export const SERVER_BEAT_MS = 1_000;
/**
 * @default 3_000 ms: a server whose last beat is older is gone, and another server takes its pairs' relays
 * over. Three beats: one or two late (a slow Redis round trip, a busy event loop) do not make a live server
 * look dead. A pair whose relay's server died is then given a relay by a server that is up about 3 s later
 * (its peer asks every 500 ms), inside the punch (10 s, the relay asked for after 3 s) instead of the
 * place's two minutes.
 */
export const SERVER_ALIVE_TTL_MS = 3_000;

const PlaceSchema = v.object({
  server: v.string(),
  host: v.pipe(v.string(), v.ip()),
  port: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)),
  status: v.picklist(["ok", "off", "full", "limit"]),
});

/** A value read back from Redis is checked before it names an address peers are sent to. */
function parsePlace(raw: unknown): RelayPlace | undefined {
  if (typeof raw !== "string") return undefined;
  try {
    const r = v.safeParse(PlaceSchema, JSON.parse(raw));
    return r.success ? r.output : undefined;
  } catch {
    return undefined;
  }
}

/**
 * In Redis: SET NX GET claims and reads in one command (Redis 7.0 takes NX with GET); a place whose server
 * has no beat key (`alive:ID`, SERVER_ALIVE_TTL_MS) is taken over by a script that checks it is unchanged;
 * settling is a script that writes only the settling server's own place.
 */
export class RedisRelayDirectory implements RelayDirectory {
  constructor(
    private readonly redis: RedisCommands,
    private readonly prefix = "{netpunch}:",
    private readonly ttlMs = RELAY_PLACE_TTL_MS,
    private readonly aliveMs = SERVER_ALIVE_TTL_MS,
  ) {}

  private key(pairId: string): string {
    return `${this.prefix}relay:${pairId}`;
  }
  private aliveKey(server: string): string {
    return `${this.prefix}alive:${server}`;
  }

  async claim(pairId: string, mine: RelayPlace): Promise<RelayPlace | undefined> {
    const text = JSON.stringify(mine);
    // The claimant's own beat goes with its claim: a server that claims before its first tick is not gone.
    const [before] = await Promise.all([
      this.redis.send("SET", [this.key(pairId), text, "NX", "GET", "PX", String(this.ttlMs)]),
      this.beat(mine.server),
    ]);
    if (before === null || before === undefined) return undefined;
    const place = parsePlace(before);
    // A value that does not parse (another version's, damaged) is as good as a claim being made: no answer
    // now, the peer asks again, and the key expires.
    if (!place) return { ...mine, server: "", port: 0, status: "ok" };
    if (place.server === mine.server || (await this.isUp(place.server))) return place;
    // Its server is gone, and its relay with it: this server takes the pair, unless another did first.
    const now = await TAKE_OVER_PLACE.run(
      this.redis,
      [this.key(pairId)],
      [String(before), text, String(this.ttlMs)],
    );
    if (now === null || now === undefined) return undefined;
    return parsePlace(now) ?? { ...mine, server: "", port: 0, status: "ok" };
  }

  async find(pairId: string): Promise<RelayPlace | undefined> {
    const place = parsePlace(await this.redis.send("GET", [this.key(pairId)]));
    return place && (await this.isUp(place.server)) ? place : undefined;
  }

  async settle(pairId: string, place: RelayPlace): Promise<void> {
    await SETTLE_PLACE.run(
      this.redis,
      [this.key(pairId)],
      [place.server, JSON.stringify(place), String(this.ttlMs)],
    );
  }

  async beat(server: string): Promise<void> {
    await this.redis.send("SET", [this.aliveKey(server), "1", "PX", String(this.aliveMs)]);
  }

  private async isUp(server: string): Promise<boolean> {
    return Number(await this.redis.send("EXISTS", [this.aliveKey(server)])) === 1;
  }
}

/**
 * Servers in one process (tests, the simulation): a map that forgets no place (fine for a test's length),
 * and each server's last beat in `clock`'s time, with the same rule for a server that is gone.
 */
export class MemoryRelayDirectory implements RelayDirectory {
  private readonly places = new Map<string, RelayPlace>();
  private readonly beats = new Map<string, number>();
  private readonly clock: Clock;
  private readonly aliveMs: number;
  constructor(o: { clock?: Clock; aliveMs?: number } = {}) {
    this.clock = o.clock ?? systemClock;
    this.aliveMs = o.aliveMs ?? SERVER_ALIVE_TTL_MS;
  }
  private isUp(server: string): boolean {
    const at = this.beats.get(server);
    return at !== undefined && this.clock.now() - at < this.aliveMs;
  }
  async claim(pairId: string, mine: RelayPlace): Promise<RelayPlace | undefined> {
    await this.beat(mine.server);
    const before = this.places.get(pairId);
    if (before && (before.server === mine.server || this.isUp(before.server))) return before;
    this.places.set(pairId, mine);
    return undefined;
  }
  async find(pairId: string): Promise<RelayPlace | undefined> {
    const place = this.places.get(pairId);
    return place && this.isUp(place.server) ? place : undefined;
  }
  async settle(pairId: string, place: RelayPlace): Promise<void> {
    if (this.places.get(pairId)?.server === place.server) this.places.set(pairId, place);
  }
  async beat(server: string): Promise<void> {
    this.beats.set(server, this.clock.now());
  }
}

/**
 * @default 10 ms: while another server opens the pair's relay (its place says port 0: it claimed the pair and
 * has yet to bind the port and settle, one store round trip), this server reads the place again this often,
 * and the peer it holds is offered the port once it is there instead of asking again 500 ms later. Both
 * peers ask at the same moment (proxy mode asks at the MATCH), so one of the two servers usually finds the
 * other's claim still opening.
 */
export const OPENING_POLL_MS = 10;
/**
 * @default 10: reads per request, 100 ms in all, enough for a store 40 ms away; beyond that the peer's own
 * retry. It bounds what one request costs the store: 10 reads (GET and EXISTS each), once per 500 ms retry.
 */
export const OPENING_POLLS = 10;

/** The answer a server gives one RELAY_REQUEST: an offer, or none yet (the relay is being opened elsewhere). */
export type RelayAnswer = { status: RelayOfferStatus; port: number; host?: string } | undefined;

/**
 * Where this request's relay is, deciding it when no server has: 1. no directory (one server): here.
 * 2. Nobody claimed the pair: this server claims it, opens its relay, and records the port (or the
 * refusal); a server with no relay host to record only opens its own. 3. This server holds the claim: its relay again (Relays.offer gives the same port, with its
 * admission checks for this peer). 4. Another server holds it: its host and port; while it is still
 * opening, the place read again (OPENING_POLLS times, OPENING_POLL_MS apart, with `wait`) until it has a port,
 * then no answer (the peer asks again every 500 ms); its refusal if it refused.
 */
export async function placeRelay(
  o: {
    directory: RelayDirectory | undefined;
    serverId: string;
    /** This server's public relay host; undefined: this server has no relays (or none other servers may name). */
    relayHost: string | undefined;
    /** Opens (or finds) this server's relay for the pair; undefined when this server has none. */
    openHere: (() => Promise<{ status: RelayOfferStatus; port: number }>) | undefined;
    /**
     * The requester reaches only this server's relays (a peer over this server's WebSocket): a relay another
     * server opened is no use to it, so it gets one here even then (its partner is not told of it).
     */
    onlyHere?: boolean;
    /**
     * Waits `ms` (on the server's clock) between reads of a place being opened, and says whether to read on
     * (false: the server is closing); without it, no second read.
     */
    wait?: (ms: number) => Promise<boolean>;
  },
  pairId: string,
): Promise<RelayAnswer> {
  const { directory, openHere } = o;
  if (!directory) return openHere ? openHere() : { status: "off", port: 0 };
  const canHost = openHere !== undefined && o.relayHost !== undefined;
  const mine: RelayPlace = { server: o.serverId, host: o.relayHost ?? "", port: 0, status: "ok" };
  const found = canHost ? await directory.claim(pairId, mine) : await directory.find(pairId);
  if (found === undefined) {
    // No host other servers' peers could be told: a relay here for this peer alone, as with one server.
    if (!canHost) return openHere ? openHere() : { status: "off", port: 0 };
    let opened: { status: RelayOfferStatus; port: number };
    try {
      opened = await openHere();
    } catch {
      opened = { status: "full", port: 0 };
    }
    await directory.settle(pairId, { ...mine, port: opened.port, status: opened.status });
    return opened;
  }
  if (openHere && (found.server === o.serverId || o.onlyHere)) return openHere();
  let place = found;
  for (let i = 0; place.status === "ok" && place.port === 0 && o.wait && i < OPENING_POLLS; i++) {
    if (!(await o.wait(OPENING_POLL_MS))) return undefined;
    const now = await directory.find(pairId);
    // Gone (its server died mid-opening, or the value is not one we read): the peer's next request claims it.
    if (!now) return undefined;
    place = now;
  }
  if (place.status !== "ok") return { status: place.status, port: 0 };
  if (place.port === 0) return undefined;
  return { status: "ok", port: place.port, host: place.host };
}

/** A wildcard listen names no address: other servers' peers cannot be told one. */
const WILDCARDS = new Set(["", "0.0.0.0", "::"]);

/**
 * The address peers held by other servers bind at for this server's relays: the one given, an IP literal,
 * else the listen address unless it is a wildcard (then this server's relays serve only its own peers).
 */
export function publicRelayHost(listenHost: string, given: string | undefined): string | undefined {
  if (given !== undefined) {
    if (isIP(given) === 0 || WILDCARDS.has(given)) throw Fail.badRelayHost(given);
    return normalizeHost(given);
  }
  return WILDCARDS.has(listenHost) ? undefined : normalizeHost(listenHost);
}
