import { Fail, isNetpunchError } from "../errors.ts";
import { firstFailure, HEALTHY, type Health, reportsHealth } from "../metrics/health.ts";
import { deriveKey, deriveKeyV1 } from "../protocol/auth.ts";
import { SecureChannel } from "../protocol/channel.ts";
import type { Message, RelayOfferStatus } from "../protocol/messages.ts";
import type { Frame } from "../protocol/packet.ts";
import { DEFAULT_REPLAY_WINDOW_MS, ReplayGuard, type ReplayWindow } from "../protocol/replay.ts";
import { systemInterfaces } from "../punch/candidates.ts";
import { isStun } from "../stun/codec.ts";
import { stunAnswer } from "../stun/responder.ts";
import { type Clock, every, systemClock } from "../sys/clock.ts";
import { type Random, systemRandom, toHex } from "../sys/random.ts";
import { type Settler, settleOnce, sleep } from "../sys/settle.ts";
import { batchSends } from "../transport/batch.ts";
import { addressesFor, openPerAddress, ReplyRoutes } from "../transport/per-address.ts";
import type { Transport, TransportFactory } from "../transport/types.ts";
import { openUdp } from "../transport/udp.ts";
import { isSynthetic, TO_SERVER } from "../transport/ws-frame.ts";
import {
  openWsServer,
  type WsServer,
  type WsServerOptions,
  withWs,
  wsBridged,
} from "../transport/ws-server.ts";
import type { DropReason, Endpoint, EventHandler, NetpunchEvent, Role } from "../types.ts";
import {
  DEFAULT_LIMITS,
  DEFAULT_TIMINGS,
  RendezvousCore,
  type RendezvousLimits,
  type RendezvousTimings,
  type ServerAction,
} from "./core.ts";
import { CreditLedger } from "./credit.ts";
import { RelayManager } from "./relay.ts";
import { placeRelay, publicRelayHost, type RelayDirectory, SERVER_BEAT_MS } from "./relay-directory.ts";
import { DEFAULT_RELAY_LIMITS, type RelayLimits } from "./relay-session.ts";
import type { ServerBus } from "./server-bus.ts";
import type { SharedNonces } from "./shared-nonces.ts";
import { MemoryStore, type RendezvousStore } from "./store.ts";
import { checkTenants, type Keyed, TenantKeyring, type TenantOptions } from "./tenants.ts";

export interface ServeOptions {
  /** Where to listen, e.g. { host: "0.0.0.0", port: 10001 } or { host: "::", port: 10001 }. */
  listen: Endpoint;
  /** The shared secret: a string (its UTF-8 bytes) or the bytes of a secret file. Or `tenants`, not both. */
  secret?: string | Uint8Array;
  /**
   * A multi-tenant server (instead of `secret`): each tenant's peers use its own secret and meet only peers
   * of the same tenant; sessions, relays' keys, caps and cookies are the tenant's. `setTenants` replaces the
   * list while the server runs. At most MAX_TENANTS, each with its own secret (E_TENANTS otherwise).
   */
  tenants?: readonly TenantOptions[];
  /**
   * With `tenants`: each tenant's store, so one tenant's sessions are out of another's reach (RedisStore with
   * a prefix of the tenant's on a shared one). `store` is not used with tenants. @default a MemoryStore each
   */
  tenantStore?: (tenant: string) => RendezvousStore;
  signal?: AbortSignal;
  onEvent?: EventHandler;
  store?: RendezvousStore;
  /**
   * How servers sharing `store` hand each other packets for the peers each holds (a MATCH, an UNMATCH):
   * needed with a shared store (RedisBus with a RedisStore), pointless without one.
   */
  bus?: ServerBus;
  /**
   * The nonce memory of servers sharing `store` (RedisNonces): a packet one of them accepted is a replay
   * at every other. Asked only after this server's own window (`replay`) accepted the packet.
   */
  nonces?: SharedNonces;
  timings?: Partial<RendezvousTimings>;
  /**
   * The replay memory for the server's ports, and another for its relays. @default in-memory ReplayGuards;
   * servers that share a store share these too, so a packet one accepted is a replay at every other.
   */
  replay?: { rendezvous: ReplayWindow; relay: ReplayWindow };
  /** Caps on sessions, for the whole server and per source address. */
  limits?: Partial<RendezvousLimits>;
  /** A second UDP port on the same host, for NAT behaviour probing (serve --alt-port). */
  altPort?: number;
  /**
   * Answer standard STUN Binding requests (RFC 8489) on the server's ports, for ordinary STUN clients. Off by
   * default: STUN is unauthenticated, so anyone can make the server send an answer to a spoofed address
   * (never larger than the request, which must be padded to get one).
   */
  stun?: boolean;
  /**
   * Offer relays to pairs that cannot punch through (off unless given). `host`: the address peers held by
   * other servers are told to bind at, when this server opens a pair's relay (`relayDirectory`; behind a
   * NAT or on a wildcard `listen`, this host's public address). @default `listen.host` unless a wildcard
   */
  relay?: {
    maxSessions?: number;
    ports?: { low: number; high: number };
    host?: string;
  } & Partial<RelayLimits>;
  /**
   * Where each pair's one relay is, for servers sharing `store` (RedisRelayDirectory): the server that takes
   * a pair's first RELAY_REQUEST opens the relay, and every other offers that one (its `relay.host` and port)
   * to the peer it holds, so peers held by different servers meet at one relay.
   */
  relayDirectory?: RelayDirectory;
  /**
   * Also take peers over a WebSocket (plain, or over TLS with `tcp.tls`), for networks that drop UDP: the
   * same rendezvous and relays, each message one datagram (src/transport/ws-frame.ts). Off unless given.
   */
  tcp?: WsServerOptions;
  /** For tests: a transport other than real UDP. */
  transport?: TransportFactory;
  /** For tests: this host's addresses, which a wildcard `listen` binds one by one. @default the interfaces' */
  addresses?: () => string[];
  /** For tests: the time and the timers (a simulation passes a fake clock). @default the system clock */
  clock?: Clock;
  /** For tests: keys, pair ids and nonces (a simulation passes a seeded one). @default node:crypto */
  random?: Random;
}

export interface ServerStats {
  packetsIn: number;
  packetsOut: number;
  pairsMade: number;
  sessions: number;
  dropped: Partial<Record<DropReason, number>>;
  /** Relayed pairs open now, and bytes forwarded so far (0 without --relay). */
  relays: number;
  relayedBytes: number;
  /** STUN Binding requests answered (serve --stun). */
  stunAnswered: number;
  /** MATCHes sent again because a peer had not acknowledged its first (README step 2). */
  matchRetransmits: number;
  /** Relays opened so far, and requests refused by why (no --relay, every slot taken, the requester's limit). */
  relaysOpened: number;
  relaysRefused: Record<Exclude<RelayOfferStatus, "ok">, number>;
  /** Bytes relayed toward each role's peer (a's datagrams count toward b). */
  relayedBytesToward: Record<Role, number>;
  /** Nonces the replay windows hold now (ports and relays); undefined for a shared one that cannot say. */
  replayNonces?: number;
  /** A multi-tenant server's tenants (removed ones too, until their last session is gone), by name. */
  tenants?: Record<string, { sessions: number; pairsMade: number }>;
  /**
   * Ticks, counts and relay beats that could not reach the shared store (packets that could not are in
   * `dropped`); serve() always sets it.
   */
  storeFailures?: number;
}

export interface RendezvousServer {
  readonly local: Endpoint;
  /** Where the WebSocket listener listens (serve({ tcp })), its port chosen when 0 was asked. */
  readonly localTcp?: Endpoint;
  stats(): ServerStats;
  /**
   * A multi-tenant server's new tenant list (a reload): added tenants are admitted, removed ones' packets
   * refused from now on (what they hold runs out on its own), a changed secret or cap applies to the next
   * packet. Throws E_TENANTS and keeps the old list when the new one is not valid, or the server has none.
   */
  setTenants(tenants: readonly TenantOptions[]): TenantChanges;
  /**
   * Whether the server serves: not once it has closed, nor when one of its sockets is gone; a store that
   * can tell (HealthReporting: a shared store's PING) is asked too, each call. Never rejects.
   */
  health(): Promise<Health>;
  /** Stops listening and clears every timer; idempotent. */
  close(): void;
  /**
   * Settles when the server has closed (after close() or the signal aborts); rejects with the error when its
   * store failed, which closes it too.
   */
  readonly closed: Promise<void>;
}

/** What a reload changed, by tenant name (for the log: names only, never a secret). */
export interface TenantChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

/** One tenant's part of the server: its key, its store and core, its channel on each port. */
interface Tenant extends Keyed {
  /** "" for a server with one secret. */
  name: string;
  key: Uint8Array;
  secret: string | Uint8Array;
  store: RendezvousStore;
  core: RendezvousCore;
  main: SecureChannel;
  alt?: SecureChannel;
  /** Its caps as one string: a reload compares them to see whether they changed. */
  limitsKey: string;
  /** The relayed pairs this tenant may hold on this server at once, and the ones it holds (by pair id). */
  maxRelays: number;
  relayPairs: Set<string>;
  sessions: number;
  pairsMade: number;
  /** Counts asked of its store; the latest answer wins. */
  counts: number;
  ticking: boolean;
  /** Removed by a reload: its packets are refused, its ticks run until its last session is gone. */
  draining: boolean;
}

/** The server's event with the tenant it is about, for the events that carry one (types.ts). */
const withTenant = (e: NetpunchEvent, tenant: string): NetpunchEvent =>
  e.type.startsWith("server-") && ("session" in e || e.type === "server-limit")
    ? ({ ...e, tenant } as NetpunchEvent)
    : e;

const sameSecret = (x: string | Uint8Array, y: string | Uint8Array): boolean =>
  typeof x === "string" || typeof y === "string"
    ? x === y
    : x.length === y.length && x.every((b, i) => b === y[i]);

/**
 * A first REGISTER (no cookie yet) and a PROBE are delivered even when stale or replayed (flagged so): the
 * answer is then stateless and smaller, and a peer whose clock is off still gets the server's time in it.
 */
const stateless = (msg: Message): boolean =>
  (msg.type === "register" && msg.cookie === undefined) || msg.type === "probe";

/** MATCH retransmits start at 200 ms; a 100 ms tick keeps them on time. A tick costs what is due (store.due). */
const TICK_MS = 100;
/** 8 random bytes: servers sharing one store never draw the same id (a collision needs about 2^32 of them). */
const SERVER_ID_BYTES = 8;
/** @default 10_000: how often the credit ledger forgets silent addresses (cheap; memory only). */
const SWEEP_EVERY_MS = 10_000;
/** @default 120_000: an address silent this long has no session left (45 s TTL) and loses its credit. */
const CREDIT_IDLE_MS = 120_000;

/**
 * Runs a rendezvous server until `signal` aborts or `close()` is called.
 * @example
 * const ac = new AbortController();
 * const server = await serve({ listen: { host: "0.0.0.0", port: 10001 }, secret, signal: ac.signal });
 */
export async function serve(opts: ServeOptions): Promise<RendezvousServer> {
  const emit = opts.onEvent ?? (() => {});
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  const stats: ServerStats = {
    packetsIn: 0,
    packetsOut: 0,
    pairsMade: 0,
    sessions: 0,
    dropped: {},
    relays: 0,
    relayedBytes: 0,
    stunAnswered: 0,
    matchRetransmits: 0,
    relaysOpened: 0,
    relaysRefused: { off: 0, full: 0, limit: 0 },
    relayedBytesToward: { a: 0, b: 0 },
    storeFailures: 0,
  };
  // One secret or a tenant list: a server with one secret is a server with one tenant, named "".
  if ((opts.secret === undefined) === (opts.tenants === undefined)) throw Fail.secretOrTenants();
  const multi = opts.tenants !== undefined;
  // Servers sharing a store tell their pairs and peers apart by it: only a peer's holder sends to it.
  const serverId = toHex(random.bytes(SERVER_ID_BYTES));
  const timings = { ...DEFAULT_TIMINGS, ...opts.timings };
  // One replay window after start, nothing sealed before a restart can still look fresh.
  const announceAfter = clock.now() + DEFAULT_REPLAY_WINDOW_MS;
  const limitsOf = (t?: TenantOptions) => ({ ...DEFAULT_LIMITS, ...opts.limits, ...t?.limits });
  // A tenant's relay share defaults to every relay slot (no share of its own).
  const relayCapOf = (t?: TenantOptions) => t?.maxRelays ?? Number.POSITIVE_INFINITY;
  const capsKey = (t?: TenantOptions) => JSON.stringify([limitsOf(t), t?.maxRelays ?? null]);
  const ledger = new CreditLedger();

  // Settles once: on close(), on the signal's abort, or with the error of a store that failed.
  let settler: Settler<void> | undefined;
  const closed = settleOnce<void>({ signal: opts.signal }, (s) => {
    settler = s;
  });
  const close = () => settler?.resolve();
  const fail = (e: unknown) => settler?.reject(e);
  /** Undoes `fn` when the server closes; at once if closed already (aborted before serve(): no body ran). */
  const onClose = (fn: () => void) => (settler ? settler.defer(fn) : fn());
  const countDrop = (from: Endpoint, reason: DropReason) => {
    stats.dropped[reason] = (stats.dropped[reason] ?? 0) + 1;
    emit({ type: "dropped", from, reason });
  };
  /**
   * A store that cannot be reached (E_STORE: Redis down) costs only what needed it: the packet is dropped
   * and counted (its peer retransmits, and is served once the store is back), a tick is skipped (the due
   * times are in the records). Any other failure of the store is a bug or a broken store: it closes the server.
   */
  const storeFailed = (e: unknown, from?: Endpoint) => {
    if (!isNetpunchError(e) || e.code !== "E_STORE") return fail(e);
    if (from) countDrop(from, "store-down");
    else stats.storeFailures = (stats.storeFailures ?? 0) + 1;
  };

  /**
   * Each tenant's packet key, checked as a list (E_TENANTS) before any of it is used. A reload keeps the key
   * of a secret that did not change: a short secret's scrypt costs about 100 ms, on the event loop.
   */
  const keysOf = (list: readonly TenantOptions[], had?: Map<string, Tenant>): Uint8Array[] => {
    const keys = list.map((t) => {
      const before = had?.get(t.name);
      return before && sameSecret(before.secret, t.secret) ? before.key : deriveKey(t.secret);
    });
    checkTenants(list, keys);
    return keys;
  };
  const firstKeys = opts.tenants ? keysOf(opts.tenants) : [deriveKey(opts.secret ?? "")];
  // The relays' default key: a tenant's relay is opened with its tenant's (RelayManager.offer).
  const key = firstKeys[0] as Uint8Array;
  // First, so the relays' sockets can take their share of its messages; closed last (deferred first).
  let ws: WsServer | undefined;
  try {
    ws = opts.tcp ? openWsServer(opts.tcp) : undefined;
  } catch (e) {
    close();
    throw e;
  }
  if (ws) onClose(() => ws.close());
  const udpFactory = opts.transport ?? openUdp;
  const transportFactory = ws ? wsBridged(udpFactory, ws) : udpFactory;
  const relayReplay = opts.replay?.relay ?? new ReplayGuard();
  const relays = opts.relay
    ? new RelayManager({
        host: opts.listen.host,
        key,
        replay: relayReplay,
        transport: transportFactory,
        maxSessions: opts.relay.maxSessions ?? 16,
        ports: opts.relay.ports,
        limits: { ...DEFAULT_RELAY_LIMITS, ...opts.relay },
        onDrop: countDrop,
        clock,
        random,
      })
    : undefined;
  if (relays) onClose(() => relays.close());
  const relayHost = relays ? publicRelayHost(opts.listen.host, opts.relay?.host) : undefined;

  const send = (t: Tenant, to: Endpoint, msg: Message) => {
    const sent = t.main.send(to, msg, (bytes) => ledger.spend(to, bytes));
    if (sent) stats.packetsOut++;
    else countDrop(to, "no-credit");
  };

  /** The tenants by name, removed ones too while they drain; `keyring` holds the admitted ones. */
  const tenants = new Map<string, Tenant>();
  const keyring = new TenantKeyring<Tenant>();
  const admitted = () => [...tenants.values()].filter((t) => !t.draining);

  /**
   * `stats().sessions` is the stores' count, read again after a tick and after any packet the core reports
   * an event for (a session is made or ended only then), the latest read of each tenant's winning.
   */
  const recount = (t: Tenant) => {
    const asked = ++t.counts;
    t.store.count().then(
      (n) => {
        if (asked !== t.counts) return;
        t.sessions = n;
        // A removed tenant is forgotten once nothing of it is left to tick for.
        if (t.draining && n === 0 && tenants.get(t.name) === t) tenants.delete(t.name);
        stats.sessions = [...tenants.values()].reduce((sum, x) => sum + x.sessions, 0);
      },
      (e: unknown) => storeFailed(e),
    );
  };
  /** Carries out what the core decided, once its store has answered; a failing store closes the server. */
  const handle = (t: Tenant, decided: Promise<ServerAction[]>, tick = false, from?: Endpoint) =>
    decided.then(
      (actions) => {
        if (settler?.settled ?? true) return; // the store answered after close(): nothing more goes out
        // A tick sends a MATCH only to a peer that has not acknowledged the first one: a retransmission.
        if (tick)
          for (const a of actions) if (a.kind === "send" && a.msg.type === "match") stats.matchRetransmits++;
        run(t, actions);
        if (tick || actions.some((a) => a.kind === "event" && a.event.type !== "dropped")) recount(t);
      },
      (e: unknown) => storeFailed(e, from),
    );

  // Notices between servers name the tenant; a server with one secret leaves it out, as before tenants.
  const tenantTag = (t: Tenant) => (multi ? { tenant: t.name } : {});
  const run = (t: Tenant, actions: ServerAction[]) => {
    for (const a of actions) {
      if (a.kind === "event") {
        if (a.event.type === "server-pair") {
          stats.pairsMade++;
          t.pairsMade++;
        }
        if (a.event.type === "dropped") countDrop(a.event.from, a.event.reason);
        else emit(multi ? withTenant(a.event, t.name) : a.event);
      } else if (a.kind === "relay") {
        // The status tells the peer why there is no port (off, full, its limit), so it stops asking.
        const offer = (status: RelayOfferStatus, port = 0, host?: string) => {
          if (status !== "ok") stats.relaysRefused[status]++;
          const at = host === undefined ? {} : { host };
          send(t, a.reply, { type: "relayOffer", pairId: a.pairId, to: a.peerId, status, port, ...at });
        };
        const openHere =
          relays &&
          (async () => {
            // A tenant's share of this server's relays: a new pair beyond it is told the relay is full. The
            // slot is taken before the relay opens (a bind takes a moment), so that pairs asking at once
            // cannot all pass the check; a refusal gives it back.
            const had = t.relayPairs.has(a.pairId);
            if (!had && t.relayPairs.size >= t.maxRelays) return { status: "full" as const, port: 0 };
            t.relayPairs.add(a.pairId);
            const r = await relays
              .offer(a.pairId, a.peers, a.reply, routes.hostFor(a.reply), () => t.key)
              .catch((e: unknown) => {
                if (!had) t.relayPairs.delete(a.pairId);
                throw e;
              });
            if (r.status === "ok")
              emit({ type: "server-relay", pairId: a.pairId, port: r.port, ...tenantTag(t) });
            else if (!had) t.relayPairs.delete(a.pairId);
            return r;
          });
        // A peer over our WebSocket reaches only our relays (ws-frame.ts: a message names a port of ours).
        const onlyHere = isSynthetic(a.reply.host);
        placeRelay(
          {
            directory: opts.relayDirectory,
            serverId,
            relayHost,
            openHere,
            onlyHere,
            // A server that closes meanwhile reads its store no more.
            wait: (ms) => sleep(clock, ms).then(() => !(settler?.settled ?? true)),
          },
          a.pairId,
        ).then(
          (r) => {
            // No answer while another server still opens the pair's relay (after OPENING_POLLS reads of
            // its place): the peer asks again in 500 ms.
            if (r && !(settler?.settled ?? true)) offer(r.status, r.port, r.host);
          },
          (e: unknown) => storeFailed(e, a.reply),
        );
      } else if (a.kind === "notify") {
        opts.bus?.publish(a.server, {
          kind: "match",
          ...tenantTag(t),
          session: a.session,
          role: a.role,
          pairId: a.pairId,
        });
      } else if (
        a.via !== undefined &&
        opts.bus &&
        (a.msg.type === "unmatch" || a.msg.type === "partnerNat")
      ) {
        opts.bus.publish(a.via, { kind: "send", ...tenantTag(t), to: a.to, msg: a.msg });
      } else send(t, a.to, a.msg);
    }
  };

  const replay = opts.replay?.rendezvous ?? new ReplayGuard();
  /**
   * A tenant's channel for one of the server's ports: both take PROBEs (that is how a peer compares what each
   * sees); everything else is the main port's business. Credit is earned only by authenticated, fresh
   * packets, so a spoofed source earns nothing. Every tenant's channels share the replay memory.
   */
  const portChannel = (t: Tenant, port: "main" | "alt", oldKey: Uint8Array) =>
    new SecureChannel(
      t.key,
      {
        onFrame(from, frame) {
          if (frame.msg.type === "probe") {
            ledger.earn(from, frame.size, clock.now());
            return probe(t, from, frame.msg.probeId, frame.msg.fromOtherPort, port);
          }
          if (port !== "main") return countDrop(from, "unexpected");
          // Fresh here; with servers sharing a store it must be new to all of them too (one SET NX).
          if (!opts.nonces || !frame.fresh) return deliver(t, from, frame);
          opts.nonces.claim(frame.nonce).then(
            (isNew) => {
              if (settler?.settled ?? true) return;
              if (!isNew) {
                frame.fresh = false;
                if (!stateless(frame.msg)) return countDrop(from, "replay");
              }
              deliver(t, from, frame);
            },
            (e: unknown) => storeFailed(e, from),
          );
        },
        onDrop: countDrop,
      },
      { replay, exempt: stateless, oldKey, clock: () => clock.now(), randomBytes: (n) => random.bytes(n) },
    );
  /** An authenticated frame for the core: it earns its sender credit, then the core decides. */
  function deliver(t: Tenant, from: Endpoint, frame: Frame): void {
    ledger.earn(from, frame.size, clock.now());
    handle(t, t.core.onFrame(from, frame, clock.now()), false, from);
  }

  // The server's own ports, once open: a tenant added later gets channels on them at once.
  let transport: Transport | undefined;
  let altTransport: Transport | undefined;
  /** The channels of tenant `t` (again, after its secret changed), on the ports open now. */
  const openChannels = (t: Tenant) => {
    const oldKey = deriveKeyV1(t.secret);
    t.main = portChannel(t, "main", oldKey);
    t.main.transport = transport;
    if (opts.altPort !== undefined) {
      t.alt = portChannel(t, "alt", oldKey);
      t.alt.transport = altTransport;
    }
  };
  const makeTenant = (
    name: string,
    secret: string | Uint8Array,
    tenantKey: Uint8Array,
    o?: TenantOptions,
  ) => {
    const store = multi ? (opts.tenantStore?.(name) ?? new MemoryStore()) : (opts.store ?? new MemoryStore());
    const limits = limitsOf(o);
    const core = new RendezvousCore({
      store,
      randomHex: (n) => toHex(random.bytes(n)),
      // A new key every start: cookies, and so registrations, from before a restart are worthless after it.
      // One per tenant: a cookie one tenant's peer earned is worth nothing with another's session.
      cookieKey: random.bytes(32),
      timings,
      announceAfter,
      limits,
      altPort: opts.altPort,
      serverId,
    });
    const rest = { sessions: 0, pairsMade: 0, counts: 0, ticking: false, draining: false };
    const relayCap = { maxRelays: relayCapOf(o), relayPairs: new Set<string>() };
    // Its channels need the tenant itself (their handlers name it): openChannels adds them.
    const t = { name, key: tenantKey, secret, store, core, limitsKey: capsKey(o), ...relayCap, ...rest };
    openChannels(t as Tenant);
    return t as Tenant;
  };
  if (opts.tenants)
    opts.tenants.forEach((o, i) => {
      tenants.set(o.name, makeTenant(o.name, o.secret, firstKeys[i] as Uint8Array, o));
    });
  else tenants.set("", makeTenant("", opts.secret ?? "", key));
  keyring.set(admitted());
  /** Without tenants, the one channel opens every packet itself, as it always has (no lookup, no extra HMAC). */
  const only = multi ? undefined : tenants.get("");

  /**
   * A datagram for the server's port `port`: the tenant whose key it authenticates with opens it (again, in
   * its channel: one HMAC more per packet, against the tenant lookup's one per tenant for a forgery).
   */
  const receive = (port: "main" | "alt") => (data: Uint8Array, from: Endpoint) => {
    const t = only ?? keyring.find(data, from.host);
    if (!t) return countDrop(from, "bad-auth");
    (port === "main" ? t.main : t.alt)?.receive(data, from);
  };
  /** STUN (serve --stun) shares the port: its packets start with two zero bits and the magic cookie. */
  const stun = (data: Uint8Array, from: Endpoint, via: () => Transport | undefined): boolean => {
    if (!opts.stun || !isStun(data)) return false;
    const answer = stunAnswer(data, from); // never larger than the request, or nothing
    if (answer && via()?.send(answer, from)) stats.stunAnswered++;
    else countDrop(from, "malformed");
    return true;
  };
  // A wildcard listen binds each local address, so every answer leaves from the address the peer wrote to.
  const routes = new ReplyRoutes();
  const perAddress = {
    routes,
    addresses: opts.addresses ?? (() => addressesFor(opts.listen.host, systemInterfaces())),
    every: (ms: number, fn: () => void) => every(clock, ms, fn),
  };
  /** The server's own ports, which a health check looks at: closed under it, the server no longer serves. */
  const sockets: { what: string; transport: Transport }[] = [];
  const onMain = receive("main");
  const onAlt = receive("alt");
  // The second port answers only PROBEs: comparing what the two ports see tells a peer its NAT's behaviour.
  try {
    const main = await openPerAddress(
      udpFactory,
      opts.listen,
      (data, from) => {
        stats.packetsIn++;
        if (!stun(data, from, () => transport)) onMain(data, from);
      },
      perAddress,
    );
    // Replies of one event-loop turn leave in one sendMany (udp.ts: one sendmmsg).
    const batched = batchSends(main);
    transport = ws ? withWs(batched, TO_SERVER, ws) : batched;
    ws?.route(TO_SERVER, (data, from) => {
      stats.packetsIn++;
      onMain(data, from);
    });
    onClose(() => batched.close());
    sockets.push({ what: "UDP", transport: batched });
    if (opts.altPort) {
      const altOpened = await openPerAddress(
        udpFactory,
        { host: opts.listen.host, port: opts.altPort },
        (data, from) => {
          stats.packetsIn++;
          if (!stun(data, from, () => altTransport)) onAlt(data, from);
        },
        perAddress,
      );
      const altBatched = batchSends(altOpened);
      onClose(() => altBatched.close());
      altTransport = altBatched;
      sockets.push({ what: "alt-port UDP", transport: altBatched });
    }
    for (const t of tenants.values()) {
      t.main.transport = transport;
      if (t.alt) t.alt.transport = altTransport;
    }
  } catch (e) {
    close(); // closes what was opened
    throw e;
  }
  function probe(
    t: Tenant,
    from: Endpoint,
    probeId: number,
    fromOtherPort: boolean,
    on: "main" | "alt",
  ): void {
    const here = on === "main" || !t.alt ? t.main : t.alt;
    const there = on === "main" ? t.alt : t.main;
    const via = fromOtherPort && there ? there : here;
    const receivedOn = here.transport?.local.port ?? 0;
    const altPort = altTransport?.local.port ?? 0;
    const reply: Message = { type: "probeReply", probeId, observed: from, receivedOn, altPort };
    const sent = via.send(from, reply, (bytes) => ledger.spend(from, bytes));
    if (sent) stats.packetsOut++;
    else countDrop(from, "no-credit");
  }

  // Packets other servers hand over for the peers this one holds (of a tenant this one has).
  if (opts.bus) {
    try {
      const stop = await opts.bus.listen(serverId, (n) => {
        const t = tenants.get(n.tenant ?? "");
        if (!t) return;
        if (n.kind === "match") handle(t, t.core.onNotice(n.session, n.role, n.pairId, clock.now()));
        else send(t, n.to, n.msg);
      });
      onClose(stop);
    } catch (e) {
      close();
      throw e;
    }
  }

  // A server whose relays other servers' peers are sent to says it is up (relay-directory.ts), from the
  // start, so that a pair whose relay's server died is given another's relay soon, not in two minutes.
  const directory = relays && relayHost !== undefined ? opts.relayDirectory : undefined;
  let lastBeat = Number.NEGATIVE_INFINITY;
  const beat = (now: number) => {
    if (!directory || now - lastBeat < SERVER_BEAT_MS) return;
    lastBeat = now;
    directory.beat(serverId).catch((e: unknown) => storeFailed(e));
  };
  beat(clock.now());

  let lastSweep = clock.now();
  const stopTicks = every(clock, TICK_MS, () => {
    const now = clock.now();
    // A slow store skips ticks rather than piling them up; the next one catches up (the due times are in
    // the records).
    for (const t of tenants.values()) {
      if (t.ticking) continue;
      t.ticking = true;
      void handle(t, t.core.tick(now), true).finally(() => {
        t.ticking = false;
      });
    }
    beat(now);
    for (const pairId of relays?.tick(now) ?? []) {
      for (const t of tenants.values()) t.relayPairs.delete(pairId);
      emit({ type: "server-relay-closed", pairId });
    }
    if (now - lastSweep > SWEEP_EVERY_MS) {
      ledger.sweep(now, CREDIT_IDLE_MS);
      lastSweep = now;
    }
  });

  onClose(stopTicks);

  /** A reload: the new list is checked whole first (keysOf throws E_TENANTS), then applied. */
  const setTenants = (list: readonly TenantOptions[]): TenantChanges => {
    if (!multi) throw Fail.noTenantsToChange();
    const keys = keysOf(list, tenants);
    const changes: TenantChanges = { added: [], removed: [], changed: [] };
    const names = new Set(list.map((o) => o.name));
    for (const t of admitted())
      if (!names.has(t.name)) {
        t.draining = true;
        changes.removed.push(t.name);
        recount(t);
      }
    list.forEach((o, i) => {
      const k = keys[i] as Uint8Array;
      const had = tenants.get(o.name);
      if (!had || had.draining) {
        // A tenant removed and added back starts afresh: what it held drains on its own.
        tenants.set(o.name, makeTenant(o.name, o.secret, k, o));
        changes.added.push(o.name);
        return;
      }
      const limits = limitsOf(o);
      const limitsKey = capsKey(o);
      const rekeyed = !sameSecret(had.secret, o.secret);
      if (!rekeyed && limitsKey === had.limitsKey) return;
      if (rekeyed) {
        had.key = k;
        had.secret = o.secret;
        openChannels(had);
      }
      had.core.setLimits(limits);
      had.maxRelays = relayCapOf(o);
      had.limitsKey = limitsKey;
      changes.changed.push(o.name);
    });
    keyring.set(admitted());
    return changes;
  };

  return {
    local: (transport as Transport).local,
    ...(ws ? { localTcp: ws.local } : {}),
    stats: () => {
      // ReplayGuard says how many nonces it holds; a shared window may not (then the gauge is left out).
      const held = [replay, ...(relays ? [relayReplay] : [])].map((w) => (w as { size?: unknown }).size);
      const replayNonces = held.every((n) => typeof n === "number")
        ? held.reduce<number>((sum, n) => sum + (n as number), 0)
        : undefined;
      const perTenant = multi
        ? {
            tenants: Object.fromEntries(
              [...tenants.values()].map((t) => [t.name, { sessions: t.sessions, pairsMade: t.pairsMade }]),
            ),
          }
        : {};
      return {
        ...stats,
        dropped: { ...stats.dropped },
        relays: relays?.active ?? 0,
        relayedBytes: relays?.relayedBytes ?? 0,
        relaysOpened: relays?.opened ?? 0,
        relaysRefused: { ...stats.relaysRefused },
        relayedBytesToward: { ...(relays?.relayedBytesToward ?? stats.relayedBytesToward) },
        ...(replayNonces !== undefined ? { replayNonces } : {}),
        ...perTenant,
      };
    },
    health: () =>
      firstFailure([
        () => (settler?.settled !== false ? { ok: false, reason: "the server has stopped" } : HEALTHY),
        () => {
          const gone = sockets.find((s) => s.transport.open === false);
          return gone ? { ok: false, reason: `the ${gone.what} socket is closed` } : HEALTHY;
        },
        // The first store that can tell: every tenant's is on the same connection (one PING, not one each).
        () => {
          for (const t of tenants.values()) if (reportsHealth(t.store)) return t.store.health();
          return HEALTHY;
        },
      ]),
    close,
    closed,
    setTenants,
  };
}
