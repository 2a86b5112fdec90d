import type { Endpoint } from "../types.ts";

/** A bound datagram socket, as small as the core needs; udp.ts is the real one, memory.ts the test one. */
export interface Transport {
  readonly local: Endpoint;
  /** Best effort, like UDP itself: false (or a dropped packet) is not an error the caller can act on. */
  send(data: Uint8Array, to: Endpoint): boolean;
  /**
   * Sends several datagrams in one call (udp.ts: one sendmmsg), e.g. every reply of one event-loop turn;
   * returns how many went out. Optional: without it, send each one.
   */
  sendMany?(datagrams: readonly Datagram[]): number;
  /** Releases the port at once, so a hook can bind it. */
  close(): void;
  /** False once the socket is closed (a health check asks); absent where the transport cannot tell. */
  readonly open?: boolean;
  /**
   * True when send() is done with `data` once it returns (udp.ts: the kernel has copied it or dropped it), so
   * the caller may write its next datagram into the same buffer. Absent: a send may keep `data` for later (a
   * batch, a simulation's wire), and each datagram needs a buffer of its own.
   */
  readonly copiesOnSend?: boolean;
}

/** A datagram to send, and where to. */
export interface Datagram {
  data: Uint8Array;
  to: Endpoint;
}

export type DatagramHandler = (data: Uint8Array, from: Endpoint) => void;

/** Asynchronous socket errors, e.g. ECONNREFUSED when an ICMP port unreachable came back. */
export type ErrorHandler = (code: string) => void;

export type TransportFactory = (
  bind: Endpoint,
  onDatagram: DatagramHandler,
  onError?: ErrorHandler,
) => Promise<Transport>;
