import type { Endpoint } from "../types.ts";
import { DeadlineIndex } from "./deadlines.ts";

/**
 * @default 1000 ms: an address moves between the sweep's buckets at most once a second, however many packets
 * it sends (the sweep stays exact: it checks the time of each address it reads).
 */
const TOUCH_BUCKET_MS = 1000;

/**
 * The ledger's key for an address: unique (no IP address contains "/"), and cheaper than formatEndpoint,
 * which asks whether the host is IPv6; it runs on every packet in and out.
 */
const keyOf = (a: Endpoint): string => `${a.host}/${a.port}`;

/**
 * Anti-amplification ledger: an address earns credit only with authenticated, fresh packets and every byte
 * the server sends it spends that credit. So the server never sends an address more bytes than it received
 * from it, even when the source address was spoofed (spoofed packets fail authentication and earn nothing).
 */
export class CreditLedger {
  private readonly credit = new Map<string, { bytes: number; touched: number }>();
  /** Addresses by when they were last heard, so a sweep reads only the silent ones. */
  private readonly byTouch = new DeadlineIndex((k) => this.credit.get(k)?.touched, TOUCH_BUCKET_MS);

  /** @param cap bytes an address can save up; bounds how long a burst of pushes can be. */
  constructor(private readonly cap = 8192) {}

  earn(addr: Endpoint, bytes: number, now: number): void {
    const key = keyOf(addr);
    const entry = this.credit.get(key);
    this.byTouch.move(key, entry?.touched, now);
    if (!entry) this.credit.set(key, { bytes: Math.min(this.cap, bytes), touched: now });
    else {
      entry.bytes = Math.min(this.cap, entry.bytes + bytes);
      entry.touched = now;
    }
  }

  /** Spends `bytes` if the address has them; false means the send must not happen. */
  spend(addr: Endpoint, bytes: number): boolean {
    const entry = this.credit.get(keyOf(addr));
    if (!entry || entry.bytes < bytes) return false;
    entry.bytes -= bytes;
    return true;
  }

  balance(addr: Endpoint): number {
    return this.credit.get(keyOf(addr))?.bytes ?? 0;
  }

  /** Forgets addresses silent for `idleMs`, so memory follows live peers only. */
  sweep(now: number, idleMs: number): void {
    for (const key of this.byTouch.due(now - idleMs)) {
      const touched = this.credit.get(key)?.touched;
      if (touched === undefined || now - touched <= idleMs) continue; // idle exactly idleMs is kept
      this.byTouch.move(key, touched, undefined);
      this.credit.delete(key);
    }
  }
}
