import * as v from "valibot";
import { checkSameFamily, formatEndpoint, ipFamily, isIP, parseAddress } from "../addr.ts";
import { Fail, NetpunchError } from "../errors.ts";
import { deriveKey } from "../protocol/auth.ts";
import { SecureChannel } from "../protocol/channel.ts";
import { MAX_OFFER_LEN } from "../protocol/constants.ts";
import { CANDIDATE_KINDS } from "../protocol/kinds.ts";
import { type Message, OfferBytes, SessionName } from "../protocol/messages.ts";
import { derivePeerKey, macOffer, OFFER_MAC_LEN, openOffer } from "../protocol/peer-key.ts";
import { ReplayGuard } from "../protocol/replay.ts";
import { type Clock, systemClock } from "../sys/clock.ts";
import { resolveServerAll } from "../sys/dns.ts";
import { type Random, systemRandom, toHex } from "../sys/random.ts";
import { settleOnce } from "../sys/settle.ts";
import type { DatagramHandler, Transport, TransportFactory } from "../transport/types.ts";
import { freeUdpPort, openUdp } from "../transport/udp.ts";
import { openWsClient } from "../transport/ws-client.ts";
import { TO_SERVER } from "../transport/ws-frame.ts";
import type { CandidateKind, Endpoint, EventHandler, PunchResult, Role } from "../types.ts";
import { type InterfaceAddress, lanCandidates } from "./candidates.ts";
import { DEFAULT_PEER_TIMINGS, type PeerTimings } from "./config.ts";
import { type PeerAction, PeerMachine, type ProxyHandover } from "./machine.ts";
import { socketOf } from "./path.ts";
import { openTcpBridge, type TcpBridge } from "./tcp-bridge.ts";
import { answeredOverUdp, UdpFirst, udpFirstMs } from "./udp-first.ts";
import { wsWithUdp } from "./ws-udp-socket.ts";

export interface ConnectOptions {
  /**
   * The rendezvous server, "host:port" or an endpoint; or several, raced: the peer registers with every one
   * at once from its one socket and the first pair to get through wins (PeerMachine says how). A server whose
   * name does not resolve, of the other address family than the first one, or silent, costs nothing as long
   * as another answers; E_SERVER_SILENT (or E_RESOLVE) only when none does.
   */
  server: string | Endpoint | readonly (string | Endpoint)[];
  /** Local UDP address to punch from, e.g. ":10000"; the hook later binds the same port. @default ":0" (any free port) */
  local?: string | Endpoint;
  /** The shared secret: a string (its UTF-8 bytes) or the bytes of a secret file. */
  secret: string | Uint8Array;
  role: Role;
  /** Pairs meet by session name, so one server serves any number of pairs. @default "default" */
  session?: string;
  /** How long to wait for the partner, in ms. @default Infinity */
  timeoutMs?: number;
  /** Offer this host's interface addresses as candidates. @default true */
  lan?: boolean;
  /** A public address the gateway forwards to `local` (see mapPort): offered to the partner as a candidate. */
  mapped?: Endpoint;
  /**
   * Bytes for the partner (a hook's offer: a WireGuard public key and tunnel address, a certificate
   * fingerprint), 1 to MAX_OFFER_LEN (192) of them, carried in the authenticated rendezvous exchange and
   * handed to the partner as `PunchResult.partnerOffer`. Authenticated, not encrypted: anyone holding the
   * secret (the server operator too) can read and replace it, so offer public values only.
   */
  offer?: Uint8Array;
  /**
   * The pair key of a pair made by `netpunch pair` (32 bytes, shared by the two peers alone): the peers'
   * packets to each other (PING, PONG, CLOSE, DATA) are then sealed with a key derived from it, not with the
   * secret, and the offer carries its MAC (16 of its MAX_OFFER_LEN bytes), so someone holding only the
   * server's secret (its operator, another pair of the server) can neither punch with us nor change the
   * partner's offer: a partner's offer without the right MAC fails connect() with E_OFFER. The secret then
   * only admits the peer to the server. @default absent: the secret authenticates everything
   */
  pairKey?: Uint8Array;
  timings?: Partial<PeerTimings>;
  /**
   * Reach the server over a WebSocket instead of UDP, for a network that drops UDP: "ws://HOST:PORT" or
   * "wss://HOST:PORT", `ca` (PEM text) to trust a self-signed certificate. With `server` (the same server's
   * UDP address) as well, UDP comes first: the WebSocket is opened only when no REGISTERED came over UDP
   * within udpFirstMs (1.75 s: three REGISTERs, udp-first.ts), with a `server-fallback` event; a peer whose
   * UDP works never opens it. Over the WebSocket no
   * punch goes over TCP, so the pair goes straight to the server's relay, over the same WebSocket; the
   * result's RHOST:RPORT is a loopback UDP bridge to it (`local`'s port, or a free one, is where the tunnel
   * binds), which lives until `signal` aborts or the WebSocket closes.
   */
  serverTcp?: { url: string; ca?: string };
  /**
   * Proxy mode (src/proxy): the winning socket is handed over here, open, just before connect() resolves,
   * instead of being closed; whoever takes it closes it. With `serverTcp` it is the WebSocket with a UDP
   * socket beside it (`local`'s port) for direct paths (the pair is on the relay; no loopback bridge is
   * opened: startProxy carries the tunnel), and the result's RHOST:RPORT is our relay port on the server.
   * @default absent: closed, for the tunnel to bind
   */
  keepSocket?: (socket: PunchedSocket) => void;
  signal?: AbortSignal;
  onEvent?: EventHandler;
  /** For tests: a transport other than real UDP. */
  transport?: TransportFactory;
  /** For tests: how the WebSocket of `serverTcp` is opened (a simulation's stand-in). @default openWsClient */
  openWebSocket?: typeof openWsClient;
  /** For tests: the time and the timers (a simulation passes a fake clock). @default the system clock */
  clock?: Clock;
  /** For tests: ids, nonces and probe choices (a simulation passes a seeded one). @default node:crypto */
  random?: Random;
  /**
   * For tests: how a server's host name becomes addresses. Every address a name has is a server of its own
   * (registered with at once, as with repeated `server`). @default every A/AAAA record (sys/dns.ts)
   */
  resolve?: (addr: Endpoint) => Promise<Endpoint | readonly Endpoint[]>;
  /**
   * For tests: this host's interface addresses, offered as LAN candidates when `local` is a wildcard.
   * @default os.networkInterfaces()
   */
  interfaces?: () => InterfaceAddress[];
}

/** The socket that won, kept open for proxy mode's data plane, with what the proxy takes over of the pair. */
export interface PunchedSocket extends ProxyHandover {
  transport: Transport;
  /** Where the partner's packets go: its punched address, or our port at the server's relay. */
  remote: Endpoint;
  pairId: string;
  role: Role;
  /**
   * The key of the pair's own packets (DATA, PING, PONG): derived from the pair key when there is one, else
   * from the secret (then the same bytes as serverKey).
   */
  key: Uint8Array;
  /** The key of the packets to and from the server and its relay (RELAY_*), derived from the secret. */
  serverKey: Uint8Array;
  /** How the punch ended: straight to the partner, or through the server's relay (`remote` is then our port there). */
  path: "direct" | "relay";
  /**
   * The pair met over the WebSocket to the server (connect({ serverTcp })): `transport` sends to the server
   * and the pair's relay port over it (`path` is "relay") and anything else from a UDP socket beside it, so
   * `directTargets` may be probed (empty when that socket could not be opened). Absent: one UDP socket.
   */
  websocket?: true;
  /**
   * With `websocket`, when a UDP server was given too (connect({ server, serverTcp }) fell back): the pair's
   * relay port at that server's host, over UDP (`at`), which the proxy tries in the background from the UDP
   * socket (`send`: from it, whatever the address); once the relay has bound us there, `leaveWebSocket()`
   * sends everything from the UDP socket and closes the WebSocket.
   */
  udpRelay?: {
    at: Endpoint;
    send(data: Uint8Array, to: Endpoint): boolean;
    leaveWebSocket(): void;
  };
  /** Where the socket's datagrams go from now on; until this is called, they are dropped. */
  listen(handler: DatagramHandler): void;
}

function toEndpoint(
  x: string | Endpoint,
  what: string,
  allowEmptyHost: boolean,
): { host: string; port: number } {
  return typeof x === "string" ? parseAddress(x, what, { allowEmptyHost, allowPortZero: allowEmptyHost }) : x;
}

/**
 * Meets the partner through the server and punches a direct UDP path. Resolves once the path is proven both
 * ways and the socket is closed again (so a tunnel can bind the same port at once).
 * @example
 * const result = await connect({ server: "198.51.100.7:10001", local: ":10000", secret, role: "a" });
 * console.log(result.rhost, result.rport);
 */
export async function connect(opts: ConnectOptions): Promise<PunchResult> {
  const given = typeof opts.server === "string" || "host" in opts.server ? [opts.server] : opts.server;
  return opts.serverTcp && given.length > 0 ? connectUdpFirst(opts, opts.serverTcp) : connectOnce(opts);
}

/**
 * Both a UDP server and a WebSocket (udp-first.ts): the punch over UDP, and the WebSocket only when no
 * REGISTERED came over UDP in time (or the UDP attempt failed first); the UDP attempt is then aborted (its
 * socket closed, so the WebSocket's UDP socket beside it can take `local`'s port) and the WebSocket one runs.
 */
function connectUdpFirst(opts: ConnectOptions, ws: { url: string; ca?: string }): Promise<PunchResult> {
  const clock = opts.clock ?? systemClock;
  const emit = opts.onEvent ?? (() => {});
  const waitMs = udpFirstMs({ ...DEFAULT_PEER_TIMINGS, ...opts.timings });
  const first = new UdpFirst(clock.now(), waitMs);
  const udp = new AbortController();
  return new Promise<PunchResult>((resolve, reject) => {
    let cancel: () => void = () => {};
    const fallBack = (why: string) => {
      cancel();
      udp.abort();
      emit({ type: "server-fallback", url: ws.url, waitedMs: waitMs, why });
      connectOnce(opts).then(resolve, reject);
    };
    cancel = clock.setTimer(waitMs, () => {
      if (first.step(clock.now())) fallBack(`no REGISTERED in ${waitMs} ms`);
    });
    connectOnce({
      ...opts,
      serverTcp: undefined,
      signal: opts.signal ? AbortSignal.any([opts.signal, udp.signal]) : udp.signal,
      onEvent: (e) => {
        if (first.phase === "websocket") return; // the UDP attempt's last words, once it is given up
        if (answeredOverUdp(e)) {
          first.registered();
          cancel();
        }
        emit(e);
      },
    }).then(resolve, (err: unknown) => {
      if (udp.signal.aborted && !opts.signal?.aborted) return; // given up for the WebSocket
      if (!opts.signal?.aborted && first.step(clock.now(), true))
        return fallBack(err instanceof Error ? err.message : String(err));
      cancel();
      reject(err);
    });
  });
}

async function connectOnce(opts: ConnectOptions): Promise<PunchResult> {
  const session = opts.session ?? "default";
  const checked = v.safeParse(SessionName, session);
  if (!checked.success) {
    throw Fail.badSession(session, checked.issues[0].message);
  }
  // With a pair key the offer's MAC takes OFFER_MAC_LEN of the bytes an offer may have.
  const room = opts.pairKey ? MAX_OFFER_LEN - OFFER_MAC_LEN : MAX_OFFER_LEN;
  if (opts.offer !== undefined && (!v.is(OfferBytes, opts.offer) || opts.offer.length > room))
    throw Fail.badOffer(opts.offer instanceof Uint8Array ? opts.offer.length : undefined, room);
  const pairKey = opts.pairKey;
  if (pairKey !== undefined && (!(pairKey instanceof Uint8Array) || pairKey.length !== PAIR_KEY_LEN))
    throw Fail.badPairKey(pairKey instanceof Uint8Array ? pairKey.length : undefined, PAIR_KEY_LEN);
  const sent = opts.offer && pairKey ? macOffer(pairKey, session, opts.role, opts.offer) : opts.offer;
  const offer = sent ? toHex(sent) : undefined;
  const partnerRole: Role = opts.role === "a" ? "b" : "a";
  /** The partner's offer as the hook made it; with a pair key, only when its MAC is the partner's. */
  const partnerOffer = (hex: string | undefined): Uint8Array | undefined => {
    if (hex === undefined) return undefined;
    const bytes = fromHex(hex);
    if (!pairKey) return bytes;
    const opened = openOffer(pairKey, session, partnerRole, bytes);
    if (!opened) throw Fail.offerForged(session);
    return opened;
  };
  const given = typeof opts.server === "string" || "host" in opts.server ? [opts.server] : opts.server;
  // Parsed first, all of them: a malformed address is a mistake to report, not a server that is down.
  const parsed = given.map((x) => toEndpoint(x as string | Endpoint, "server address", false));
  const local = toEndpoint(opts.local ?? ":0", "local address", true);
  const tcp = opts.serverTcp && (await tcpServer(opts.serverTcp, opts.resolve ?? resolveServerAll));
  const servers = tcp ? [tcp.server] : await resolveServers(parsed, local, opts.resolve ?? resolveServerAll);
  // Over the WebSocket with a UDP server given too: its host is where the relay's port is tried over UDP.
  const udpServer =
    tcp && parsed.length > 0
      ? (await resolveServers(parsed, local, opts.resolve ?? resolveServerAll).catch(() => []))[0]
      : undefined;
  const server = servers[0] as Endpoint;
  const family = isIP(server.host) === 6 ? 6 : 4;
  const bindHost = local.host || (family === 6 ? "::" : "0.0.0.0");
  if (opts.signal?.aborted) throw aborted();

  const emit = opts.onEvent ?? (() => {});
  const factory = opts.transport ?? openUdp;
  const openMain: TransportFactory = tcp
    ? (_bind, onDatagram, onError) =>
        (opts.openWebSocket ?? openWsClient)({ ...tcp.options, server }, onDatagram, onError)
    : factory;
  const time = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  // Settles once: on the machine's done or fail, a socket error, or the caller's abort (the machine keeps every
  // deadline itself, so none is armed here).
  const onAbort = (): PunchResult => {
    throw aborted();
  };
  return settleOnce<PunchResult>({ clock: time, signal: opts.signal, onAbort }, (s) => {
    let machine: PeerMachine | undefined;
    let cancelTimer: () => void = () => {};
    let refused = 0; // ICMP port unreachable while registering: nothing listens on the server's port
    let heardAnything = false;
    // A punch over a WebSocket hands its connection to the tunnel's bridge, which outlives the punch.
    let bridge: TcpBridge | undefined;
    const key = deriveKey(opts.secret);
    // The pair's own packets: with the pair's key when there is one (peer-key.ts), chosen by type.
    const peerKey = pairKey ? derivePeerKey(pairKey) : key;
    // One guard for every socket of this peer, and every server's time (PeerMachine.clockOffset says why).
    const replay = new ReplayGuard();
    // Packets are sealed and checked in a server's time once it has told us the offset: each server's packets
    // in its own, each pair's in the time of the server that made the pair (the machine knows which).
    const clock = (peer: Endpoint, msg: Message) => time.now() + (machine?.clockOffset(peer, msg) ?? 0);
    // sockets[0] punches; sockets[1..] are the extra birthday sockets, opened on the machine's request.
    const sockets: SecureChannel[] = [];
    // Proxy mode: the socket kept open after the punch, and who reads it from then on.
    let kept: { index: number; handler?: DatagramHandler } | undefined;
    const newChannel = (index: number) =>
      new SecureChannel(
        key,
        {
          onFrame: (from, frame) => {
            heardAnything = true;
            if (!machine) return;
            apply(
              machine.step({
                type: "frame",
                now: time.now(),
                from,
                frame,
                path: { kind: "direct", socket: index },
              }),
            );
          },
          onDrop: (from, reason) => emit({ type: "dropped", from, reason }),
        },
        { replay, clock, exempt: checkedByMachine, randomBytes: (n) => random.bytes(n), peerKey },
      );
    const channel = newChannel(0);
    sockets.push(channel);
    const openExtra = async (count: number) => {
      const opened = await Promise.allSettled(
        Array.from({ length: count }, (_, i) => {
          const ch = newChannel(i + 1);
          return factory({ host: bindHost, port: 0 }, (data, from) => {
            if (kept?.index === i + 1) kept.handler?.(data, from);
            else if (!s.settled) ch.receive(data, from);
          }).then((t) => {
            ch.transport = t;
            return ch;
          });
        }),
      );
      for (const r of opened) {
        if (r.status !== "fulfilled") continue;
        if (s.settled) r.value.transport?.close();
        else sockets.push(r.value);
      }
      if (!s.settled && machine)
        apply(machine.step({ type: "sockets", now: time.now(), count: sockets.length - 1 }));
    };
    // With several servers a refusal does not say which one, and another may have been merely silent.
    const fail = (err: Error) =>
      s.reject(refused > 0 && !heardAnything && servers.length === 1 ? explainRefused(err, server) : err);
    // Cleanups run last first: goodbye to the server (an abort; a finished machine has nothing to say, and it
    // never waits for an answer), then the timer, then the sockets.
    s.defer(() => {
      for (const [i, ch] of sockets.entries())
        if (kept?.index !== i && !(bridge && ch === channel)) ch.transport?.close();
    });
    s.defer(() => cancelTimer());
    s.defer(() => {
      if (machine) apply({ actions: machine.leave(), wakeAt: undefined });
    });
    const apply = ({ actions, wakeAt }: { actions: PeerAction[]; wakeAt: number | undefined }) => {
      for (const a of actions) {
        if (a.kind === "send") {
          const nonce = a.nonce;
          (sockets[a.path ? socketOf(a.path) : 0] ?? channel).send(
            a.to,
            a.msg,
            undefined,
            nonce ? fromHex(nonce) : undefined,
          );
        } else if (a.kind === "event") emit(a.event);
        else if (a.kind === "fail") return fail(a.error);
        else if (a.kind === "open-sockets") void openExtra(a.count);
        else if (tcp)
          return void (opts.keepSocket ? handOverWs(a.outcome, opts.keepSocket) : bridgeTo(a.outcome));
        else {
          // The socket that won is the one the hook must bind: a birthday socket's port, not --local's.
          const winner = sockets[socketOf(a.outcome.path)] ?? channel;
          const t = winner.transport?.local ?? { host: bindHost, port: local.port };
          const result: PunchResult = {
            role: opts.role,
            session,
            laddr: formatEndpoint({ host: bindHost, port: t.port }),
            lhost: bindHost,
            lport: t.port,
            raddr: formatEndpoint(a.outcome.remote),
            rhost: a.outcome.remote.host,
            rport: a.outcome.remote.port,
            via: viaOf(a.outcome.kind),
            candidate: a.outcome.kind,
            rttMs: a.outcome.rttMs,
            publicAddr: a.outcome.publicAddr ? formatEndpoint(a.outcome.publicAddr) : "",
          };
          let theirs: Uint8Array | undefined;
          try {
            theirs = partnerOffer(a.outcome.partnerOffer);
          } catch (e) {
            return fail(e as Error);
          }
          if (theirs) result.partnerOffer = theirs;
          const handover = machine?.handover(a.outcome.pairId);
          if (opts.keepSocket && winner.transport && handover) {
            const k: { index: number; handler?: DatagramHandler } = { index: socketOf(a.outcome.path) };
            kept = k;
            opts.keepSocket({
              transport: winner.transport,
              remote: a.outcome.remote,
              pairId: a.outcome.pairId,
              role: opts.role,
              key: peerKey,
              serverKey: key,
              path: a.outcome.path.kind,
              ...handover,
              // A birthday socket reaches only the partner's one address it won on.
              directTargets: socketOf(a.outcome.path) === 0 ? handover.directTargets : [a.outcome.remote],
              listen: (handler) => {
                k.handler = handler;
              },
            });
          }
          s.resolve(result);
          emit({ type: "connected", result });
          return;
        }
      }
      if (s.settled) return;
      cancelTimer();
      const m = machine;
      if (wakeAt !== undefined && m)
        cancelTimer = time.setTimer(Math.max(0, wakeAt - time.now()), () =>
          apply(m.step({ type: "tick", now: time.now() })),
        );
    };

    /**
     * Proxy mode over a WebSocket: only the relay can have won. The proxy gets the WebSocket for the server
     * and the relay, and beside it a UDP socket (`local`'s port, or a free one) from which it probes the
     * partner's direct addresses and, once one is proven, carries the tunnel (ws-udp-socket.ts). Without
     * that socket (its port is taken) the proxy stays on the WebSocket relay.
     */
    const handOverWs = async (
      outcome: Extract<PeerAction, { kind: "done" }>["outcome"],
      keepSocket: (socket: PunchedSocket) => void,
    ) => {
      const ws = channel.transport;
      const handover = machine?.handover(outcome.pairId);
      if (outcome.path.kind !== "relay" || !ws || !handover) return; // nothing else is reachable over TCP
      const relay = outcome.path.relay;
      const k: { index: number; handler?: DatagramHandler } = { index: 0 };
      const udp = await factory({ host: bindHost, port: local.port }, (data, from) =>
        k.handler?.(data, from),
      ).catch(() => undefined);
      if (s.settled) return udp?.close();
      kept = k;
      const result: PunchResult = {
        role: opts.role,
        session,
        laddr: formatEndpoint({ host: bindHost, port: udp?.local.port ?? 0 }),
        lhost: bindHost,
        lport: udp?.local.port ?? 0,
        raddr: formatEndpoint(outcome.remote),
        rhost: outcome.remote.host,
        rport: outcome.remote.port,
        via: viaOf(outcome.kind),
        candidate: outcome.kind,
        rttMs: outcome.rttMs,
        publicAddr: "", // the server saw a WebSocket connection, not an address of ours
      };
      let theirs: Uint8Array | undefined;
      try {
        theirs = partnerOffer(outcome.partnerOffer);
      } catch (e) {
        udp?.close();
        return fail(e as Error);
      }
      if (theirs) result.partnerOffer = theirs;
      const both = udp ? wsWithUdp({ ws, udp, server, relay }) : undefined;
      keepSocket({
        transport: both ?? ws,
        remote: outcome.remote,
        pairId: outcome.pairId,
        role: opts.role,
        key: peerKey,
        serverKey: key,
        path: "relay",
        ...handover,
        directTargets: udp ? handover.directTargets : [],
        websocket: true,
        ...(both && udpServer
          ? {
              udpRelay: {
                at: { host: udpServer.host, port: relay.port },
                send: both.sendUdp,
                leaveWebSocket: both.leaveWebSocket,
              },
            }
          : {}),
        listen: (handler) => {
          k.handler = handler;
        },
      });
      s.resolve(result);
      emit({ type: "connected", result });
    };

    /** Over a WebSocket only the relay can have won: the tunnel gets a loopback bridge to it. */
    const bridgeTo = async (outcome: Extract<PeerAction, { kind: "done" }>["outcome"]) => {
      const ws = channel.transport;
      if (outcome.path.kind !== "relay" || !ws) return; // nothing else is reachable over TCP
      try {
        // Checked before the bridge is opened: a forged offer ends the punch with nothing left open.
        const theirs = partnerOffer(outcome.partnerOffer);
        const tunnelPort = local.port || (await freeUdpPort(LOOPBACK));
        const b = await openTcpBridge({ ws, relay: outcome.path.relay, tunnelPort, factory });
        if (s.settled) return b.close();
        bridge = b;
        opts.signal?.addEventListener("abort", () => b.close(), { once: true });
        const result: PunchResult = {
          role: opts.role,
          session,
          laddr: formatEndpoint({ host: LOOPBACK, port: tunnelPort }),
          lhost: LOOPBACK,
          lport: tunnelPort,
          raddr: formatEndpoint(b.local),
          rhost: b.local.host,
          rport: b.local.port,
          via: viaOf(outcome.kind),
          candidate: outcome.kind,
          rttMs: outcome.rttMs,
          publicAddr: "",
        };
        if (theirs) result.partnerOffer = theirs;
        s.resolve(result);
        emit({ type: "connected", result });
      } catch (e) {
        fail(e instanceof Error ? e : new Error(String(e)));
      }
    };

    openMain(
      { host: bindHost, port: local.port },
      (data, from) => {
        if (kept?.index === 0) kept.handler?.(data, from);
        else if (!s.settled) channel.receive(data, from);
        else bridge?.receive(data);
      },
      (code) => {
        if (code === "ECONNREFUSED") refused++;
        if (code === "ECONNRESET") bridge?.close(); // the WebSocket closed: the bridge has nowhere to go
      },
    ).then(
      (transport) => {
        if (s.settled) return transport.close();
        channel.transport = transport;
        if (!tcp) emit({ type: "listening", local: transport.local }); // a WebSocket has no UDP port
        machine = new PeerMachine({
          session,
          role: opts.role,
          peerId: toHex(random.bytes(8)),
          nonce: () => toHex(random.bytes(12)),
          random: () => random.float(),
          server: servers,
          localPort: transport.local.port,
          mapped: opts.mapped,
          offer,
          // Proxy mode is the socket kept: the partner must run it too (the server tells each the other's).
          proxy: opts.keepSocket !== undefined,
          lanCandidates:
            opts.lan === false || tcp
              ? []
              : lanCandidates({ port: transport.local.port, bindHost, server, family }, opts.interfaces?.()),
          timings: {
            ...(opts.keepSocket && !tcp ? PROXY_TIMINGS : {}),
            ...opts.timings,
            ...(tcp ? TCP_TIMINGS : {}),
            ...(opts.timeoutMs !== undefined ? { waitMs: opts.timeoutMs } : {}),
          },
        });
        apply(machine.step({ type: "start", now: time.now() }));
      },
      (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))),
    );
  });
}

const LOOPBACK = "127.0.0.1";

/** A pair key's bytes: 32, as `netpunch pair` makes it (src/pair/derive.ts, PAIR_KEY_BYTES). */
const PAIR_KEY_LEN = 32;

/**
 * Proxy mode asks for the relay at once, beside the punch: whichever path is proven first carries the tunnel
 * (the proxy moves it to a direct path proven later), and the relay stays bound to fall back to. An explicit
 * relayAfterMs still wins.
 */
const PROXY_TIMINGS: Partial<PeerTimings> = { relayAfterMs: 0 };

/**
 * Over a WebSocket no punch can succeed (nothing of ours goes out as UDP): ask for the relay at once and
 * open no birthday sockets.
 */
const TCP_TIMINGS: Partial<PeerTimings> = { relayAfterMs: 0, birthdaySockets: 0 };

/**
 * The server of a WebSocket URL, as the peer machine knows it: the URL's host, resolved, at port TO_SERVER
 * (ws-frame.ts: the rendezvous; relay ports are the other values).
 */
async function tcpServer(
  o: { url: string; ca?: string },
  resolve: Resolve,
): Promise<{ server: Endpoint; options: { url: string; ca?: string } }> {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw Fail.badServerUrl(o.url, "not a URL");
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:")
    throw Fail.badServerUrl(o.url, "not ws:// or wss://");
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  // The URL class leaves the scheme's default port (80, 443) out; only the host matters here anyway.
  const resolved = await resolve({ host, port: Number(url.port || (url.protocol === "wss:" ? 443 : 80)) });
  // One WebSocket connection: the name's first address (the TLS name check is the URL's, not the address's).
  const first = (Array.isArray(resolved) ? resolved[0] : resolved) as Endpoint | undefined;
  if (!first) throw Fail.unresolved(host);
  return { server: { host: first.host, port: TO_SERVER }, options: o };
}

type Resolve = (addr: Endpoint) => Promise<Endpoint | readonly Endpoint[]>;

/**
 * Resolves every server at once; each address a name has is a server (one name with a record per server).
 * An address given twice (two names, one host) is one server. One that does not resolve, or of another
 * address family than the socket (the local address's, else the first resolved server's: one socket serves
 * them all), is left out while another remains; with none left, the first one's own error (E_RESOLVE, or the
 * family mismatch).
 */
async function resolveServers(
  parsed: readonly Endpoint[],
  local: Endpoint,
  resolve: Resolve,
): Promise<Endpoint[]> {
  if (parsed.length === 0) throw Fail.noServer();
  const resolved = await Promise.allSettled(parsed.map((p) => resolve(p)));
  const seen = new Set<string>();
  const ok = resolved
    .flatMap((r) =>
      r.status === "fulfilled" ? (Array.isArray(r.value) ? r.value : [r.value as Endpoint]) : [],
    )
    .filter((e) => {
      const key = `${e.host}|${e.port}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  const first = resolved[0];
  if (ok.length === 0) throw first?.status === "rejected" ? first.reason : Fail.noServer();
  const head = ok[0] as Endpoint;
  const reachable = (e: Endpoint) => {
    try {
      checkSameFamily(local, e);
      return true;
    } catch {
      return false;
    }
  };
  // A wildcard --local binds in the first server's family (connect() picks "0.0.0.0" or "::" by it).
  const usable = ok.filter(
    (e) => reachable(e) && (local.host !== "" || ipFamily(e.host) === ipFamily(head.host)),
  );
  // Before any packet: a mismatch would only show as a silent server. (The head is usable unless it fails.)
  if (usable.length === 0) checkSameFamily(local, head);
  return usable;
}

/**
 * REGISTERED and PROBE_REPLY may come before our clock is aligned with the server's (REGISTERED is what
 * aligns it): the machine checks them against what it sent (the echo, the probe id) and takes each once.
 */
const checkedByMachine = (msg: Message): boolean => msg.type === "registered" || msg.type === "probeReply";

const fromHex = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, "hex"));

const viaOf = (kind: CandidateKind): PunchResult["via"] => CANDIDATE_KINDS[kind].via;

/** A closed port answers with ICMP; that is a clearer story than "no answer", so tell it. */
function explainRefused(err: Error, server: Endpoint): Error {
  if (!(err instanceof NetpunchError) || err.code !== "E_SERVER_SILENT") return err;
  return Fail.serverPortClosed(server);
}

const aborted = () => Fail.aborted("connect()");
