import { sameEndpoint } from "../addr.ts";
import { MAX_DATA_PAYLOAD, NONCE_LEN } from "../protocol/constants.ts";
import { DataCodec } from "../protocol/data.ts";
import type { Message } from "../protocol/messages.ts";
import { type Frame, open, seal } from "../protocol/packet.ts";
import { keyOfMessage, keyOfPacket, type PacketKeys } from "../protocol/peer-key.ts";
import { ReplayGuard } from "../protocol/replay.ts";
import type { PunchedSocket } from "../punch/connect.ts";
import { MAX_DIRECT_TARGETS } from "../punch/machine.ts";
import { RelayClient } from "../punch/relay-client.ts";
import { type Clock, systemClock } from "../sys/clock.ts";
import { type Random, systemRandom } from "../sys/random.ts";
import type { Transport, TransportFactory } from "../transport/types.ts";
import { freeUdpPort, openUdp } from "../transport/udp.ts";
import type { Endpoint } from "../types.ts";
import { type LinkCounters, type LinkTimings, ProxyLink } from "./link.ts";
import { PathChooser, type PathTimings, type ProxyPath, type SwitchRecord } from "./paths.ts";
import { RelayWatch, type RelayWatchTimings } from "./relay-watch.ts";
import { UdpReturn } from "./udp-return.ts";

/**
 * What the proxy tells its caller (the CLI logs them): a rebinding followed, a datagram refused, a move
 * between the direct path and the relay, the relay becoming ready (or given up) after the punch.
 */
export type ProxyEvent =
  | { type: "proxy-moved"; to: Endpoint }
  | { type: "proxy-dropped"; from: Endpoint; reason: string }
  | { type: "proxy-path"; path: ProxyPath; reason: string; at: number }
  | { type: "proxy-relay"; state: "ready" | "gave-up" | "rebinding" }
  /** The relay answered over UDP (udp-return.ts): the proxy left the WebSocket for `relay`. */
  | { type: "proxy-udp"; relay: Endpoint };

export interface ProxyOptions {
  /** The punched socket, from connect({ keepSocket }). */
  punched: PunchedSocket;
  /**
   * The address the tunnel program talks to netpunch on. @default "127.0.0.1" (a simulation passes the
   * host's own address: its internet has no loopback)
   */
  host?: string;
  /** The port the tunnel binds (LPORT). @default a free one on `host` */
  tunnelPort?: number;
  timings?: Partial<LinkTimings>;
  /** When to probe the direct path and switch (paths.ts). */
  pathTimings?: Partial<PathTimings>;
  /** How the relay is watched, and when it counts as lost (relay-watch.ts). */
  relayWatch?: Partial<RelayWatchTimings>;
  onEvent?: (e: ProxyEvent) => void;
  /** For tests: the loopback socket's transport. @default real UDP */
  transport?: TransportFactory;
  /** For tests: the keepalive timer and the seal's timestamp. @default the system clock */
  clock?: Clock;
  /** For tests: the nonces. @default node:crypto */
  random?: Random;
}

/** A running proxy: what the tunnel is told, and how to stop it. */
export interface RunningProxy {
  /** netpunch's loopback address: the tunnel sends here (the result's RHOST/RPORT). */
  readonly local: Endpoint;
  /** The tunnel's own address (the result's LPORT, on the same host): the only source taken in. */
  readonly tunnel: Endpoint;
  /** Where the partner's DATA goes now: its direct address (moves with a NAT rebinding), or our relay port. */
  readonly remote: Endpoint;
  /** The path that carries the tunnel now. */
  readonly path: ProxyPath;
  /** Moves between the direct path and the relay so far, and the last one (when, where to, why). */
  readonly switches: number;
  readonly lastSwitch: SwitchRecord | undefined;
  /** Whether the relay is bound on both sides (there is somewhere to fall back to). */
  readonly relayReady: boolean;
  /**
   * Whether the relay is reached over the WebSocket to the server (connect({ serverTcp })): until the relay
   * answers over UDP (with a UDP server given too), when the proxy leaves the WebSocket.
   */
  readonly websocket: boolean;
  /** Packets and bytes each way, keepalives, replays and moves (for status). */
  readonly counters: Readonly<LinkCounters>;
  /** Closes both sockets and the timer; idempotent. */
  close(): void;
}

/**
 * Proxy mode's data plane: the tunnel's datagrams from `tunnel` to our loopback port go to the partner as
 * sealed DATA over the punched socket; the partner's DATA, authenticated and checked by the link (pair,
 * sender, window), goes to the tunnel as its bare payload, whichever path it came on. Beside it the path
 * upkeep: a keepalive (DATA without payload) when nothing else has gone out for `keepaliveMs`; PINGs of our
 * pair to the partner's direct addresses (on the relay: to find a direct path; on it: to notice its death),
 * the partner's PINGs answered with a PONG of the same size, only when authenticated, fresh and of our pair;
 * the PathChooser (paths.ts) moving the tunnel between direct and relay; the relay's binding finished (if
 * the punch left it half done) and kept alive while unused. Anything else (a late CLOSE, a server's packet,
 * a forgery) is dropped: it never reaches the tunnel and is never answered.
 * @example
 * let punched: PunchedSocket | undefined;
 * const result = await connect({ ...opts, keepSocket: (s) => { punched = s; } });
 * const proxy = await startProxy({ punched: punched! });
 * // the tunnel binds 127.0.0.1:proxy.tunnel.port and sends to proxy.local
 */
export async function startProxy(o: ProxyOptions): Promise<RunningProxy> {
  const clock = o.clock ?? systemClock;
  const random = o.random ?? systemRandom;
  const host = o.host ?? "127.0.0.1";
  const { punched } = o;
  const emit = o.onEvent ?? (() => {});
  const startedAt = clock.now();
  const onRelay = punched.path === "relay";
  const link = new ProxyLink(
    onRelay ? undefined : punched.remote,
    punched.pairId,
    punched.role,
    startedAt,
    o.timings,
  );
  // The relay client the punch left, if any: ready, or still asking or binding (driven on below). A punch
  // that proved a direct path before its first tick asked for none: ask now (the server still knows the
  // pair for a minute).
  let relaySetup =
    punched.relay ??
    (punched.relayAllowed && !onRelay
      ? new RelayClient(punched.server, {
          session: punched.session,
          pairId: punched.pairId,
          peerId: punched.peerId,
        })
      : undefined);
  // Kept once ready: it binds again if the relay stops forwarding for us.
  let relayClient: RelayClient | undefined;
  let setupStartedAt = startedAt;
  // Watches the relay once it is ready (relay-watch.ts).
  let watch: RelayWatch | undefined;
  if (relaySetup?.phase === "ready" || onRelay) {
    link.relay = relaySetup?.endpoint ?? punched.remote;
    relayClient = relaySetup;
    relaySetup = undefined;
    watch = new RelayWatch(startedAt, o.relayWatch);
  } else if (relaySetup?.phase === "refused") relaySetup = undefined;
  const chooser = new PathChooser(
    onRelay ? "relay" : "direct",
    link.relay !== undefined,
    startedAt,
    o.pathTimings,
  );
  // The partner's direct addresses to probe, and those its PINGs came from (at most MAX_DIRECT_TARGETS).
  const targets: Endpoint[] = punched.directTargets.slice(0, MAX_DIRECT_TARGETS);
  // On the WebSocket with a UDP server given too: the relay's UDP port tried in the background.
  const udpRelay = punched.websocket ? punched.udpRelay : undefined;
  let udpReturn = udpRelay
    ? new UdpReturn(udpRelay.at, { pairId: punched.pairId, peerId: punched.peerId })
    : undefined;
  let onWebSocket = punched.websocket === true;
  // The partner's PINGs, PONGs and the relay's answers are checked for freshness and replay, in the pair's time.
  const guard = new ReplayGuard({ maxEntries: CONTROL_NONCES });
  /** No new binding attempt before this, after one that failed; the pause doubles per failure. */
  let rebindAfter = startedAt;
  let rebindPause = link.timings.relaySetupMs;
  let tunnelPort = o.tunnelPort;
  try {
    tunnelPort ??= await freeUdpPort(host);
  } catch (e) {
    punched.transport.close();
    throw e;
  }
  const tunnel = { host, port: tunnelPort };
  let closed = false;
  let cancelTimer: () => void = () => {};

  /** Where DATA goes now: the relay while it carries the tunnel, else the partner's direct address. */
  const target = (): Endpoint =>
    (chooser.current === "relay" ? (link.relay ?? link.remote) : (link.remote ?? link.relay)) ??
    punched.remote;

  const keys: PacketKeys = { peer: punched.key, server: punched.serverKey };
  // DATA sealed and opened in place (protocol/data.ts): the same bytes and verdicts as seal()/open(); sealed
  // into one reused buffer when the socket is done with a datagram once send() returns (real UDP).
  const dataCodec = new DataCodec(punched.key, link.pairId, link.role);
  const reuse = punched.transport.copiesOnSend === true;
  const sendData = (payload: Uint8Array) => {
    const now = clock.now();
    const seq = link.send(payload.length, now);
    punched.transport.send(dataCodec.seal(payload, seq, now, random.bytes(NONCE_LEN), reuse), target());
  };

  const viaSocket = (data: Uint8Array, to: Endpoint) => punched.transport.send(data, to);
  /**
   * A control packet (PING, PONG, the relay's), sealed in the pair's server's time like the punch's; `send`:
   * another way out than the punched socket (the UDP socket beside a WebSocket).
   */
  const sendControl = (msg: Message, to: Endpoint, send = viaSocket) => {
    const timestamp = clock.now() + punched.clockOffsetMs;
    send(seal(keyOfMessage(keys, msg), msg, { timestamp, nonce: random.bytes(NONCE_LEN) }), to);
  };
  const ping = (seq: number): Message => ({ type: "ping", pairId: link.pairId, peerId: punched.peerId, seq });

  /** Probes go to the direct address in use while it answers, else to every address the partner may be at. */
  const probeTargets = (): Endpoint[] => {
    if (chooser.directAlive && link.remote) return [link.remote];
    const all = link.remote ? [link.remote, ...targets] : targets;
    return all.filter((e, i) => all.findIndex((x) => sameEndpoint(x, e)) === i).slice(0, MAX_DIRECT_TARGETS);
  };

  const decide = (now: number) => {
    const sw = chooser.step(now);
    if (!sw) return;
    emit({ type: "proxy-path", path: sw.to, reason: sw.reason, at: sw.at });
  };

  /** The relay is somewhere to fall back to while bound and answering. */
  const relayUsable = () => link.relay !== undefined && watch !== undefined && !watch.lost && !relaySetup;

  const relayReady = (client: RelayClient, ep: Endpoint, now: number) => {
    link.relay = ep;
    relayClient = client;
    relaySetup = undefined;
    if (watch) watch.reset(now);
    else watch = new RelayWatch(now, o.relayWatch);
    rebindPause = link.timings.relaySetupMs;
    chooser.setRelayReady(true);
    emit({ type: "proxy-relay", state: "ready" });
  };

  const gaveUp = (now: number) => {
    relaySetup = undefined;
    rebindAfter = now + rebindPause;
    rebindPause = Math.min(rebindPause * 2, MAX_REBIND_PAUSE_MS);
    chooser.setRelayReady(relayUsable());
    emit({ type: "proxy-relay", state: "gave-up" });
  };

  /** The relay's probes; once they go unanswered, bind again (our NAT may have given us a new port). */
  const tickRelay = (now: number) => {
    if (!watch || !link.relay) return;
    watch.step(now);
    if (watch.lost && !relaySetup && relayClient && now >= rebindAfter) {
      relaySetup = relayClient;
      setupStartedAt = now;
      emit({ type: "proxy-relay", state: "rebinding" });
      for (const step of relayClient.rebind(now)) sendControl(step.msg, step.to);
    }
    chooser.setRelayReady(relayUsable());
    if (now >= watch.nextProbeAt(chooser.current === "relay"))
      sendControl(ping(watch.probeSent(now)), link.relay);
  };

  const tick = () => {
    const now = clock.now();
    if (relaySetup) {
      if (now - setupStartedAt >= link.timings.relaySetupMs) gaveUp(now);
      else {
        const steps = relaySetup.phase === "idle" ? relaySetup.start(now) : relaySetup.tick(now);
        for (const step of steps) sendControl(step.msg, step.to);
      }
    }
    if (now >= chooser.nextProbeAt()) {
      const msg = ping(chooser.probeSent(now));
      for (const to of probeTargets()) sendControl(msg, to);
    }
    tickRelay(now);
    const bind = udpRelay && udpReturn?.tick(now);
    if (udpRelay && bind) sendControl(bind, udpRelay.at, udpRelay.send);
    decide(now);
    if (link.keepaliveDue(now)) sendData(EMPTY);
  };

  // One timer, armed for the earliest of what is due; traffic only moves the keepalive's time (the timer
  // then finds it not due and re-arms), so the data path never touches the timer.
  const arm = () => {
    cancelTimer();
    const setupAt = relaySetup
      ? Math.min(relaySetup.wakeAt(), setupStartedAt + link.timings.relaySetupMs)
      : Infinity;
    const watchAt = watch ? watch.wakeAt(chooser.current === "relay") : Infinity;
    const rebindAt = watch?.lost && !relaySetup && relayClient ? rebindAfter : Infinity;
    const returnAt = udpReturn?.wakeAt() ?? Infinity;
    const at = Math.min(link.keepaliveAt(), chooser.wakeAt(), setupAt, watchAt, rebindAt, returnAt);
    cancelTimer = clock.setTimer(Math.max(0, at - clock.now()), () => {
      if (closed) return;
      tick();
      arm();
    });
  };

  let loopback: Transport;
  try {
    loopback = await (o.transport ?? openUdp)({ host, port: 0 }, (data, from) => {
      if (closed) return;
      // Only the tunnel's own socket: another local program cannot send through the punched path.
      if (from.port !== tunnel.port || from.host !== tunnel.host)
        return emit({ type: "proxy-dropped", from, reason: "not-the-tunnel" });
      // Larger would not fit one UDP datagram once sealed (the partner could not receive it whole).
      if (data.length > MAX_DATA_PAYLOAD) return emit({ type: "proxy-dropped", from, reason: "too-large" });
      sendData(data);
    });
  } catch (e) {
    punched.transport.close();
    throw e;
  }

  /** Any packet but DATA: opened by the generic codec, then handled as control traffic. */
  const onPacket = (data: Uint8Array, from: Endpoint) => {
    // PING and PONG are the pair's (its own key); the relay's answers the server's.
    const opened = open(keyOfPacket(keys, data), data);
    if (!opened.ok) return emit({ type: "proxy-dropped", from, reason: opened.reason });
    // (Never a DATA: its type byte sent it to the DataCodec.)
    onControl(opened.frame.msg, opened.frame, from);
  };

  /** A PING, PONG or relay answer that authenticated: fresh, of our pair, from whom it must be; else dropped. */
  const onControl = (msg: Message, frame: Frame, from: Endpoint) => {
    const now = clock.now();
    const fromRelay = link.relay !== undefined && sameEndpoint(from, link.relay);
    if (msg.type === "ping" || msg.type === "pong") {
      if (msg.pairId !== link.pairId || msg.peerId !== punched.partnerId)
        return emit({ type: "proxy-dropped", from, reason: "control" });
      const fresh = guard.check(frame.nonce, frame.timestamp, now + punched.clockOffsetMs);
      if (fresh !== "ok") return emit({ type: "proxy-dropped", from, reason: fresh });
      if (msg.type === "ping") {
        // The same size back, to where it came from, once per fresh PING: nothing to amplify.
        sendControl({ type: "pong", pairId: link.pairId, peerId: punched.peerId, seq: msg.seq }, from);
        if (fromRelay) return;
        // The partner probes us straight: the path may just have opened; answer it with our own probe.
        if (!targets.some((t) => sameEndpoint(t, from)) && targets.length < MAX_DIRECT_TARGETS)
          targets.push({ host: from.host, port: from.port });
        chooser.nudge();
        return arm();
      }
      if (fromRelay) {
        if (watch?.answered(msg.seq)) chooser.setRelayReady(relayUsable());
        return;
      }
      if (!probeTargets().some((t) => sameEndpoint(t, from))) return;
      if (!chooser.answered(msg.seq, now)) return;
      // The first direct address that answers is the partner's, until a rebinding moves it.
      if (!chooser.directAlive || !link.remote) link.remote = { host: from.host, port: from.port };
      decide(now);
      return arm();
    }
    const setup = relaySetup;
    const back = udpReturn;
    if (
      back &&
      udpRelay &&
      !setup &&
      (msg.type === "relayChallenge" || msg.type === "relayBound") &&
      sameEndpoint(from, back.relay)
    ) {
      const fresh = guard.check(frame.nonce, frame.timestamp, now + punched.clockOffsetMs);
      if (fresh !== "ok") return emit({ type: "proxy-dropped", from, reason: fresh });
      if (msg.type === "relayChallenge") {
        const echo = back.onChallenge(msg);
        if (echo) sendControl(echo, back.relay, udpRelay.send);
      } else if (back.onBound(msg.ready)) leaveWebSocket(back.relay, now);
      return arm();
    }
    if (setup && (msg.type === "relayOffer" || msg.type === "relayChallenge" || msg.type === "relayBound")) {
      const expected = msg.type === "relayOffer" ? punched.server : setup.endpoint;
      if (!expected || !sameEndpoint(from, expected))
        return emit({ type: "proxy-dropped", from, reason: "control" });
      const fresh = guard.check(frame.nonce, frame.timestamp, now + punched.clockOffsetMs);
      if (fresh !== "ok") return emit({ type: "proxy-dropped", from, reason: fresh });
      if (msg.type === "relayOffer")
        for (const step of setup.onOffer(msg, now)) sendControl(step.msg, step.to);
      else if (msg.type === "relayChallenge")
        for (const step of setup.onChallenge(msg, now)) sendControl(step.msg, step.to);
      else if (setup.onBound(msg.ready) && setup.endpoint) relayReady(setup, setup.endpoint, now);
      if (setup.phase === "refused") gaveUp(now);
      return arm();
    }
    emit({ type: "proxy-dropped", from, reason: "control" });
  };

  /** The relay forwards to our UDP address now: everything goes over UDP, the WebSocket is closed. */
  const leaveWebSocket = (relay: Endpoint, now: number) => {
    udpRelay?.leaveWebSocket();
    udpReturn = undefined;
    onWebSocket = false;
    link.relay = relay;
    watch?.reset(now);
    chooser.setRelayReady(relayUsable());
    // The tunnel itself moves only when it rides the relay (on the direct path, its fallback moves).
    if (chooser.current === "relay") chooser.counted({ to: "relay", reason: LEFT_WEBSOCKET }, now);
    emit({ type: "proxy-udp", relay });
  };

  punched.listen((data, from) => {
    if (closed) return;
    // Control traffic (PING, PONG, a late CLOSE, a server's packet) is told apart by its type byte.
    const opened = dataCodec.open(data);
    if (opened === "other") return onPacket(data, from);
    if (opened !== "ok") return emit({ type: "proxy-dropped", from, reason: opened });
    const { payload } = dataCodec;
    const verdict = link.receiveData(dataCodec.ourPair, dataCodec.from, dataCodec.seq, payload.length, from);
    if (!verdict.deliver) return emit({ type: "proxy-dropped", from, reason: verdict.reason });
    if (verdict.moved) emit({ type: "proxy-moved", to: verdict.moved });
    if (verdict.learned && !targets.some((t) => sameEndpoint(t, from)) && targets.length < MAX_DIRECT_TARGETS)
      targets.push({ host: from.host, port: from.port });
    if (payload.length > 0) loopback.send(payload, tunnel);
  });
  arm();

  return {
    local: { host, port: loopback.local.port },
    tunnel,
    get remote() {
      return target();
    },
    get path() {
      return chooser.current;
    },
    get switches() {
      return chooser.switches;
    },
    get lastSwitch() {
      return chooser.last;
    },
    get relayReady() {
      return chooser.relayReady;
    },
    get websocket() {
      return onWebSocket;
    },
    counters: link.counters,
    close() {
      if (closed) return;
      closed = true;
      cancelTimer();
      loopback.close();
      punched.transport.close();
    },
  };
}

/**
 * @default 4_096 nonces of the partner's control packets remembered (ReplayGuard's three 10 s generations):
 * the partner's probes come at most a few a second, so this is room for ten times that.
 */
const CONTROL_NONCES = 4_096;
/**
 * @default 600_000: the longest pause between attempts to bind a relay that stopped answering (the server
 * may be gone for good): 30 s of BINDs every 250 ms, then 30 s, 60 s, ... up to 10 minutes of quiet.
 */
const MAX_REBIND_PAUSE_MS = 600_000;

const EMPTY = new Uint8Array(0);

/** The switch record of the move from the WebSocket relay to the same relay over UDP (status's `reason`). */
const LEFT_WEBSOCKET = "the relay answers over UDP: left the WebSocket";
