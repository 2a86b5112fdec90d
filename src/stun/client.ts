// STUN Binding client (RFC 8489 section 6.2): asks a STUN server which public address a UDP socket has.
import { formatEndpoint, isIP } from "../addr.ts";
import { Backoff } from "../backoff.ts";
import { Fail, type NetpunchError } from "../errors.ts";
import { type Clock, systemClock } from "../sys/clock.ts";
import { resolveServer } from "../sys/dns.ts";
import type { Random } from "../sys/random.ts";
import { settleOnce } from "../sys/settle.ts";
import type { DatagramHandler, ErrorHandler, TransportFactory } from "../transport/types.ts";
import { openUdp } from "../transport/udp.ts";
import type { Endpoint } from "../types.ts";
import { VERSION } from "../version.ts";
import {
  BINDING,
  decodeStun,
  encodeStun,
  isStun,
  newTransactionId,
  STUN_HEADER_LEN,
  TRANSACTION_ID_LEN,
} from "./codec.ts";
import { MIN_ANSWERED_REQUEST_LEN } from "./responder.ts";

/** RFC 8489 section 6.2.1: initial RTO 500 ms, doubled per retransmission, Rc = 7 requests, then Rm = 16 RTOs. */
const RTO_MS = 500;
const MAX_TRIES = 7;
const LAST_WAIT_MS = 16 * RTO_MS;
const STUN_RETRY = { firstMs: RTO_MS, factor: 2, maxMs: Number.POSITIVE_INFINITY, maxTries: MAX_TRIES };
/** Like netpunch's --server-timeout: a CLI user should not wait the RFC's full 39.5 s by default. */
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The request is padded with its SOFTWARE text (comprehension-optional, so every server, even an RFC 3489
 * one, accepts it; PADDING is comprehension-required and would earn a 420 from servers without RFC 5780)
 * to the size netpunch's own responder needs to answer without amplifying: header + SOFTWARE + FINGERPRINT.
 */
const SOFTWARE = `netpunch ${VERSION} (RFC 8489 STUN client)`.padEnd(
  MIN_ANSWERED_REQUEST_LEN - STUN_HEADER_LEN - 4 - 8,
);

/** What stunBindingOn needs of a socket the caller keeps open: send, and a way to see (and stop seeing) datagrams. */
export interface StunLink {
  send(data: Uint8Array, to: Endpoint): boolean;
  /** Adds a receiver of datagrams; returns the function that removes it again. */
  onDatagram(handler: DatagramHandler): () => void;
  /** Optional: socket errors, so an ICMP port unreachable is reported as such instead of as silence. */
  onError?(handler: ErrorHandler): () => void;
}

export interface StunTransactionOptions {
  /** A STUN server; a host name is resolved once. */
  server: Endpoint;
  /** Give up after this long; retransmissions stop earlier if it comes first. @default 10000 */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** For tests: the time and the timers. @default the system clock */
  clock?: Clock;
  /** For tests: the transaction id's bytes. @default crypto.getRandomValues */
  random?: Random;
}

export interface StunBindingOptions extends StunTransactionOptions {
  /** Local bind address. @default 0.0.0.0:0, or [::]:0 for an IPv6 server */
  local?: Endpoint;
  /** @default openUdp */
  transport?: TransportFactory;
}

export interface StunBindingResult {
  /** This socket's address as the server saw it (the NAT's public mapping). */
  mapped: Endpoint;
  /** Time from the last transmission to the answer; exact when the first request was answered. */
  rttMs: number;
  /** The socket's local address (host as bound, the port the OS gave). */
  local: Endpoint;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

const aborted = () => Fail.aborted("stunBinding()");

/**
 * Runs one Binding transaction over a socket the caller keeps open, e.g. to learn the public mapping of the
 * very socket it will punch from. The caller routes datagrams for which isStun() holds to the handler
 * registered through `link.onDatagram`.
 */
export async function stunBindingOn(
  link: StunLink,
  opts: StunTransactionOptions,
): Promise<Omit<StunBindingResult, "local">> {
  if (opts.signal?.aborted) throw aborted();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw Fail.notPositive("timeoutMs", timeoutMs);
  const server = await resolveServer(opts.server);
  if (opts.signal?.aborted) throw aborted();
  const where = formatEndpoint(server);
  const tid = opts.random ? opts.random.bytes(TRANSACTION_ID_LEN) : newTransactionId();
  // Retransmissions repeat the same bytes: RFC 8489 makes them the same transaction.
  const request = encodeStun({ cls: "request", transactionId: tid, software: SOFTWARE, fingerprint: true });
  const giveUpAt = Math.min(timeoutMs, RTO_MS * (2 ** (MAX_TRIES - 1) - 1) + LAST_WAIT_MS);

  const clock = opts.clock ?? systemClock;
  const onAbort = () => {
    throw aborted();
  };
  return settleOnce<Omit<StunBindingResult, "local">>({ clock, signal: opts.signal, onAbort }, (settle) => {
    const started = clock.now();
    let tries = 0;
    let sent = 0;
    let refused = 0;
    let lastSentAt = started;
    let cancelTimer: () => void = () => {};
    settle.defer(() => cancelTimer());
    const retry = new Backoff(STUN_RETRY);
    // Send times count from `started`, not from when a timer happened to fire: a late timer cannot drift.
    let nextSendAt = 0;

    const finish = (error: Error | undefined, result?: Omit<StunBindingResult, "local">) => {
      if (error) settle.reject(error);
      else if (result) settle.resolve(result);
    };

    const offData = link.onDatagram((data, from) => {
      if (settle.settled || !isStun(data)) return;
      const decoded = decodeStun(data);
      // A malformed or foreign message is not our answer; keep waiting for one that is.
      if (!decoded.ok || decoded.message.method !== BINDING || !sameBytes(decoded.message.transactionId, tid))
        return;
      const m = decoded.message;
      if (m.cls === "success") {
        const mapped = m.xorMappedAddress ?? m.mappedAddress;
        if (!mapped) {
          finish(Fail.stunRefused(where, "answered without a mapped address"));
          return;
        }
        finish(undefined, { mapped, rttMs: Math.round(clock.now() - lastSentAt) });
      } else if (m.cls === "error") {
        const code = m.error ? `${m.error.code} ${m.error.reason}`.trim() : "no ERROR-CODE";
        finish(
          Fail.stunRefused(
            where,
            `(answering from ${formatEndpoint(from)}) refused the Binding request: ${code} (it may want credentials)`,
          ),
        );
      }
    });
    settle.defer(offData);
    const offError = link.onError?.((code) => {
      if (code === "ECONNREFUSED") refused++;
    });
    if (offError) settle.defer(offError);

    const silent = (): NetpunchError => {
      const seconds = Math.round((clock.now() - started) / 100) / 10;
      if (sent === 0) return Fail.stunUnsendable(where);
      if (refused > 0) return Fail.stunPortClosed(server);
      return Fail.stunSilent(where, server.port, tries, seconds);
    };

    const transmit = () => {
      tries++;
      nextSendAt = retry.sent(nextSendAt);
      lastSentAt = clock.now();
      if (link.send(request, server)) sent++;
    };
    // Sends at 0, 500, 1500, 3500, ... ms (RFC 8489's schedule) until the next one would fall after giveUpAt.
    const schedule = () => {
      const elapsed = clock.now() - started;
      if (nextSendAt < giveUpAt) {
        cancelTimer = clock.setTimer(Math.max(0, nextSendAt - elapsed), () => {
          if (settle.settled) return;
          transmit();
          schedule();
        });
      } else {
        cancelTimer = clock.setTimer(Math.max(0, giveUpAt - elapsed), () => finish(silent()));
      }
    };

    transmit();
    schedule();
  });
}

/**
 * Opens a UDP socket, runs one Binding transaction against `server` and closes the socket again. The mapping
 * it reports belongs to that socket: bind `local` to the port you will use (and use it right away) if the
 * mapping is meant for another program.
 */
export async function stunBinding(opts: StunBindingOptions): Promise<StunBindingResult> {
  if (opts.signal?.aborted) throw aborted();
  const server = await resolveServer(opts.server);
  const local = opts.local ?? { host: isIP(server.host) === 6 ? "::" : "0.0.0.0", port: 0 };
  const receivers = new Set<DatagramHandler>();
  const errorReceivers = new Set<ErrorHandler>();
  const transport = await (opts.transport ?? openUdp)(
    local,
    (data, from) => {
      for (const r of receivers) r(data, from);
    },
    (code) => {
      for (const r of errorReceivers) r(code);
    },
  );
  try {
    const result = await stunBindingOn(
      {
        send: (data, to) => transport.send(data, to),
        onDatagram: (handler) => {
          receivers.add(handler);
          return () => receivers.delete(handler);
        },
        onError: (handler) => {
          errorReceivers.add(handler);
          return () => errorReceivers.delete(handler);
        },
      },
      { ...opts, server },
    );
    return { ...result, local: transport.local };
  } finally {
    transport.close();
  }
}
