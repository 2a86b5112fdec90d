import { formatEndpoint } from "../addr.ts";
import type { Endpoint } from "../types.ts";
import type { DatagramHandler, Transport } from "./types.ts";

/** What a memory network recorded: every datagram sent, delivered or not, for assertions. */
export interface SentRecord {
  from: Endpoint;
  to: Endpoint;
  data: Uint8Array;
}

/**
 * An in-process datagram network for unit tests: delivery is synchronous unless a scheduler is given, and a
 * `drop` predicate stands in for NAT filtering or loss. Records what was sent instead of mocking.
 */
export class MemoryNetwork {
  readonly sent: SentRecord[] = [];
  private readonly sockets = new Map<string, DatagramHandler>();
  drop: (r: SentRecord) => boolean = () => false;

  constructor(private readonly schedule: (fn: () => void) => void = (fn) => queueMicrotask(fn)) {}

  /**
   * Delivers `data` to `to` as if `from` had sent it, whether or not anything is bound at `from`: a spoofed
   * source address, as any host on a network without source address validation can send.
   */
  inject(from: Endpoint, to: Endpoint, data: Uint8Array): void {
    const rec = { from, to, data: data.slice() };
    this.sent.push(rec);
    if (this.drop(rec)) return;
    this.schedule(() => this.sockets.get(formatEndpoint(to))?.(rec.data, from));
  }

  bind(local: Endpoint, onDatagram: DatagramHandler): Transport {
    const key = formatEndpoint(local);
    if (this.sockets.has(key)) throw new Error(`memory network: ${key} in use`);
    this.sockets.set(key, onDatagram);
    let open = true;
    return {
      local,
      send: (data, to) => {
        if (!open) return false;
        const rec = { from: local, to, data: data.slice() };
        this.sent.push(rec);
        if (this.drop(rec)) return true;
        this.schedule(() => this.sockets.get(formatEndpoint(to))?.(rec.data, local));
        return true;
      },
      close: () => {
        open = false;
        this.sockets.delete(key);
      },
    };
  }
}
