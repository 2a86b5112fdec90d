import { RedisClient } from "bun";
import { Fail } from "../errors.ts";
import { type Clock, systemClock } from "../sys/clock.ts";
import type { RedisCommands } from "./redis-scripts.ts";
import { probeTls, tlsDiagnosis } from "./redis-tls.ts";

export interface RedisLinkOptions {
  /** The URL with its password, for the client only: never logged, never in an error. */
  url: string;
  /** The same URL with the password redacted: what errors and logs name. */
  where: string;
  /**
   * PEM text of the CA certificate(s) Redis's certificate must chain to, for a rediss:// URL: trusted
   * instead of the system's CAs (a private CA). The certificate must also name the URL's host or IP.
   * @default the system's CAs
   */
  ca?: string;
  /** Called when the link goes down (with why) and when it is back: once per change, never per command. */
  onState?: (up: boolean, why?: string) => void;
  clock?: Clock;
  /** @default 1_000 ms: how often a link that is down tries to connect again. */
  reconnectMs?: number;
}

/** What the store's commands cost since the last `takeStats`: for serve --stats-interval. */
export interface StoreStats {
  ops: number;
  errors: number;
  /** Mean and worst time from sending a command to its answer, in ms (0 without commands). */
  meanMs: number;
  maxMs: number;
  up: boolean;
}

/**
 * @default 2_000 ms: Redis answers on a LAN in well under a millisecond; a connection that takes this long
 * is down as far as a peer's retransmitting REGISTER is concerned.
 */
const CONNECT_TIMEOUT_MS = 2_000;
const DEFAULT_RECONNECT_MS = 1_000;
/** Redis's own default (redis.conf `port 6379`), which a URL without a port means. */
const REDIS_DEFAULT_PORT = 6379;

const isConnectionError = (e: unknown): boolean =>
  String((e as { code?: unknown })?.code ?? "").startsWith("ERR_REDIS_CONNECTION") ||
  /connection|ECONNREFUSED|closed/i.test(String((e as Error)?.message));

/**
 * One Redis connection for commands and another for pub/sub (a subscribed connection takes no other
 * command), both reconnected by this link, not by the client: while Redis is down a command fails at once
 * (no offline queue: a peer's REGISTER is retransmitted anyway, a queued one would be answered late), the
 * owner hears "down" once and "up" once it is back, and the subscriptions are made again.
 */
export class RedisLink implements RedisCommands {
  private readonly client: RedisClient;
  private sub: RedisClient | undefined;
  private readonly subs = new Map<string, (message: string) => void>();
  private readonly clock: Clock;
  private down: string | undefined;
  private retry: (() => void) | undefined;
  private closed = false;
  /** A failed first connection is connect()'s rejection to report, not an outage of a store that was up. */
  private connectedOnce = false;
  private stats = { ops: 0, errors: 0, totalMs: 0, maxMs: 0 };
  private readonly tls: boolean;

  constructor(private readonly o: RedisLinkOptions) {
    this.clock = o.clock ?? systemClock;
    this.tls = new URL(o.url).protocol === "rediss:";
    // Bun's client would do TLS for a redis:// URL given a CA: the scheme alone says whether it is TLS.
    if (o.ca !== undefined && !this.tls) throw Fail.storeCaWithoutTls(o.where);
    this.client = new RedisClient(o.url, this.clientOptions());
    // A connection that drops while idle is noticed too, not only by the next command. A close reported
    // late, for an attempt that failed before the one that connected, is not a loss.
    this.client.onclose = (e) => {
      if (!this.client.connected) this.lost(e?.message ?? "connection closed");
    };
  }

  private clientOptions() {
    // rediss:// verifies Redis's certificate (against `ca`, else the system's CAs) and its host name; the
    // pub/sub connection (duplicate()) takes the same options.
    const tls = this.o.ca !== undefined ? { tls: { ca: this.o.ca } } : {};
    return { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: CONNECT_TIMEOUT_MS, ...tls };
  }

  /**
   * The first connection: rejects with E_STORE naming the redacted URL when Redis cannot be reached, saying
   * which when it is TLS's doing (a certificate not trusted, a scheme that does not match the port).
   */
  async connect(): Promise<void> {
    try {
      await this.client.connect();
      this.connectedOnce = true;
    } catch (e) {
      // Redis answered (a password refused, say): its own words say it all, and no handshake is needed.
      if (!isConnectionError(e)) throw Fail.storeDown(this.o.where, (e as Error).message, e, "start");
      const u = new URL(this.o.url);
      const host = u.hostname.replace(/^\[|\]$/g, "");
      const probe = await probeTls(host, Number(u.port || REDIS_DEFAULT_PORT), this.o.ca);
      throw (
        tlsDiagnosis(this.o.where, this.tls, probe, e) ??
        Fail.storeDown(this.o.where, (e as Error).message, e, "start")
      );
    }
  }

  get up(): boolean {
    return this.down === undefined;
  }

  async send(command: string, args: string[]): Promise<unknown> {
    if (this.down !== undefined) {
      this.stats.errors++;
      throw Fail.storeDown(this.o.where, this.down);
    }
    const t0 = performance.now();
    try {
      const out = await this.client.send(command, args);
      const ms = performance.now() - t0;
      this.stats.ops++;
      this.stats.totalMs += ms;
      this.stats.maxMs = Math.max(this.stats.maxMs, ms);
      return out;
    } catch (e) {
      // NOSCRIPT is the script cache's miss after a Redis restart, answered at once with EVAL: not a failure.
      if (!String((e as Error)?.message).startsWith("NOSCRIPT")) this.stats.errors++;
      if (!isConnectionError(e)) throw e;
      this.lost((e as Error).message);
      throw Fail.storeDown(this.o.where, (e as Error).message, e);
    }
  }

  /** Listens on a channel from a connection of its own, made on first use and remade after every outage. */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    this.subs.set(channel, listener);
    if (!this.sub) {
      this.sub = await this.client.duplicate();
      const sub = this.sub;
      sub.onclose = (e) => {
        if (!sub.connected) this.lost(e?.message ?? "connection closed");
      };
    }
    await this.sub.subscribe(channel, listener);
  }

  async publish(channel: string, message: string): Promise<number> {
    return Number(await this.send("PUBLISH", [channel, message]));
  }

  takeStats(): StoreStats {
    const s = this.stats;
    this.stats = { ops: 0, errors: 0, totalMs: 0, maxMs: 0 };
    return {
      ops: s.ops,
      errors: s.errors,
      meanMs: s.ops ? s.totalMs / s.ops : 0,
      maxMs: s.maxMs,
      up: this.up,
    };
  }

  close(): void {
    this.closed = true;
    this.retry?.();
    this.client.close();
    this.sub?.close();
  }

  private lost(why: string): void {
    if (this.down !== undefined || this.closed || !this.connectedOnce) return;
    this.down = why;
    this.o.onState?.(false, why);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.retry = this.clock.setTimer(
      this.o.reconnectMs ?? DEFAULT_RECONNECT_MS,
      () => {
        void this.reconnect();
      },
      { unref: true },
    );
  }

  private async reconnect(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.client.connected) await this.client.connect();
      // The subscriptions are made again from scratch: a connection that dropped has lost them (Redis keeps
      // none for it), and Bun's client keeps its listeners, so subscribing without unsubscribing first would
      // deliver every notice twice.
      if (this.sub) {
        if (!this.sub.connected) await this.sub.connect();
        for (const [channel, listener] of this.subs) {
          await this.sub.unsubscribe(channel);
          await this.sub.subscribe(channel, listener);
        }
      }
      await this.client.send("PING", []);
    } catch {
      return this.scheduleReconnect();
    }
    if (this.closed) return;
    this.down = undefined;
    this.o.onState?.(true);
  }
}
