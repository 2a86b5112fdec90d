import { MAX_DATA_PAYLOAD, NONCE_LEN } from "../protocol/constants.ts";
import type { Data } from "../protocol/messages.ts";
import { open, seal } from "../protocol/packet.ts";
import type { PunchedSocket } from "../punch/connect.ts";
import { type Clock, systemClock } from "../sys/clock.ts";
import { type Random, systemRandom } from "../sys/random.ts";
import type { Transport, TransportFactory } from "../transport/types.ts";
import { freeUdpPort, openUdp } from "../transport/udp.ts";
import type { Endpoint } from "../types.ts";
import { type LinkCounters, type LinkTimings, ProxyLink } from "./link.ts";

/** What the proxy tells its caller (the CLI logs them): a rebinding followed, a datagram refused. */
export type ProxyEvent =
  | { type: "proxy-moved"; to: Endpoint }
  | { type: "proxy-dropped"; from: Endpoint; reason: string };

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
  /** Where the partner is now (moves with a NAT rebinding). */
  readonly remote: Endpoint;
  /** Packets and bytes each way, keepalives, replays and moves (for status, later). */
  readonly counters: Readonly<LinkCounters>;
  /** Closes both sockets and the timer; idempotent. */
  close(): void;
}

/**
 * Proxy mode's data plane: the tunnel's datagrams from `tunnel` to our loopback port go to the partner as
 * sealed DATA over the punched socket; the partner's DATA, authenticated and checked by the link (pair,
 * sender, window), goes to the tunnel as its bare payload. Anything else on the punched socket (a late
 * PING or CLOSE, a server's packet, a forgery) is dropped: it never reaches the tunnel and is never answered.
 * A keepalive (DATA without payload) goes out when nothing else has for `keepaliveMs`.
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
  const link = new ProxyLink(punched.remote, punched.pairId, punched.role, clock.now(), o.timings);
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

  const sendData = (payload: Uint8Array) => {
    const now = clock.now();
    const msg: Data = {
      type: "data",
      pairId: link.pairId,
      from: link.role,
      seq: link.send(payload.length, now),
      payload,
    };
    punched.transport.send(
      seal(punched.key, msg, { timestamp: now, nonce: random.bytes(NONCE_LEN) }),
      link.remote,
    );
  };

  // One timer, armed for the keepalive's time; traffic only moves that time, it does not re-arm the timer.
  const arm = () => {
    cancelTimer = clock.setTimer(Math.max(0, link.keepaliveAt() - clock.now()), () => {
      if (closed) return;
      if (link.keepaliveDue(clock.now())) sendData(EMPTY);
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

  punched.listen((data, from) => {
    if (closed) return;
    const opened = open(punched.key, data);
    if (!opened.ok) return emit({ type: "proxy-dropped", from, reason: opened.reason });
    const msg = opened.frame.msg;
    // Control traffic (a late PING, PONG or CLOSE of the punch, a server's packet) is told apart by its type.
    if (msg.type !== "data") return emit({ type: "proxy-dropped", from, reason: "control" });
    const verdict = link.receive(msg, from);
    if (!verdict.deliver) return emit({ type: "proxy-dropped", from, reason: verdict.reason });
    if (verdict.moved) emit({ type: "proxy-moved", to: verdict.moved });
    if (msg.payload.length > 0) loopback.send(msg.payload, tunnel);
  });
  arm();

  return {
    local: { host, port: loopback.local.port },
    tunnel,
    get remote() {
      return link.remote;
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

const EMPTY = new Uint8Array(0);
