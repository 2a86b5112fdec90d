import type { Datagram, Transport } from "./types.ts";

/**
 * @default 64 datagrams: a turn's replies go to the kernel in calls of at most this many, which bounds the
 * array built for each call and keeps a burst of replies from waiting on one long call.
 */
export const MAX_BATCH = 64;

/** A transport whose sends wait for the end of the event-loop turn; `flush` sends them at once. */
export interface BatchedTransport extends Transport {
  flush(): void;
}

/**
 * Gathers the datagrams sent during one event-loop turn (the answers to what one read of the socket
 * brought) into one `sendMany` call: one sendmmsg instead of a sendto each. A transport without sendMany is
 * returned as it is, sends unchanged. A batched send says true once queued, like a datagram the kernel took
 * and then lost: UDP promises no more. Close sends what is queued first.
 * @param defer runs its function once the current turn's I/O callbacks are over. @default setImmediate
 */
export function batchSends(
  t: Transport,
  defer: (fn: () => void) => void = (fn) => void setImmediate(fn),
): BatchedTransport {
  const sendMany = t.sendMany?.bind(t);
  if (!sendMany)
    return {
      local: t.local,
      send: (data, to) => t.send(data, to),
      close: () => t.close(),
      flush: () => {},
      get open() {
        return t.open;
      },
    };
  let queue: Datagram[] = [];
  let open = true;
  const flush = () => {
    if (queue.length === 0) return;
    const q = queue;
    queue = [];
    sendMany(q);
  };
  return {
    local: t.local,
    send(data, to) {
      if (!open) return false;
      queue.push({ data, to });
      if (queue.length === 1) defer(flush);
      else if (queue.length >= MAX_BATCH) flush();
      return true;
    },
    sendMany(datagrams) {
      flush(); // in order after what was queued
      return sendMany(datagrams);
    },
    flush,
    close() {
      flush();
      open = false;
      t.close();
    },
    get open() {
      return open && t.open !== false;
    },
  };
}
