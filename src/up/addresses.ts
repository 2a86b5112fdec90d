import { type NetworkInterfaceInfo, networkInterfaces } from "node:os";
import { type Clock, every } from "../sys/clock.ts";

/**
 * How often the host's addresses are read. One getifaddrs() call, cheap; a move to another network (a new
 * DHCP lease, Wi-Fi to LTE) is then noticed within 2 s, well inside the 30 s a NAT keeps an idle UDP mapping.
 */
export const ADDRESS_POLL_MS = 2_000;

export type InterfaceTable = Record<string, NetworkInterfaceInfo[] | undefined>;

/**
 * The host's addresses that a punch depends on, sorted: every non-loopback address of every interface not
 * ignored. The tunnels' own interfaces must be ignored: their addresses come and go with the tunnel, and a
 * change there would re-punch the tunnel that caused it.
 */
export function addressSet(table: InterfaceTable, ignore: (name: string) => boolean = () => false): string[] {
  const out = new Set<string>();
  for (const [name, infos] of Object.entries(table)) {
    if (ignore(name)) continue;
    for (const info of infos ?? []) if (!info.internal) out.add(info.address);
  }
  return [...out].sort();
}

/** Whether two sorted address sets differ. Pure. */
export const addressesDiffer = (a: readonly string[], b: readonly string[]): boolean =>
  a.length !== b.length || a.some((x, i) => x !== b[i]);

export interface AddressWatcherOptions {
  clock: Clock;
  /** @default os.networkInterfaces */
  interfaces?: () => InterfaceTable;
  /** @default ADDRESS_POLL_MS */
  intervalMs?: number;
  /** Interfaces whose addresses do not count (the tunnels' own). @default none */
  ignore?: (name: string) => boolean;
}

export interface AddressWatcher {
  /** Calls `listener` after each change of the address set; returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
  close(): void;
}

/** Polls the host's addresses every `intervalMs` and tells the subscribers when the set changed. */
export function watchAddresses(o: AddressWatcherOptions): AddressWatcher {
  const read = o.interfaces ?? (networkInterfaces as () => InterfaceTable);
  const listeners = new Set<() => void>();
  const snapshot = (): string[] | undefined => {
    try {
      return addressSet(read(), o.ignore);
    } catch {
      return undefined; // an unreadable table this time: compare again at the next poll
    }
  };
  let last = snapshot() ?? [];
  const cancel = every(o.clock, o.intervalMs ?? ADDRESS_POLL_MS, () => {
    const now = snapshot();
    if (!now || !addressesDiffer(last, now)) return;
    last = now;
    for (const l of [...listeners]) {
      try {
        l();
      } catch {
        // one subscriber's throw must not keep the change from the others
      }
    }
  });
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close: cancel,
  };
}
