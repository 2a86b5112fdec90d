import * as v from "valibot";
import { EndpointSchema, PartnerNatSchema, UnmatchSchema } from "../protocol/messages.ts";
import type { RedisLink } from "./redis-link.ts";

/**
 * What one server asks of another that shares its store: only the server holding a peer can reach it
 * through its NAT, so the server that pairs it (or undoes its pair) hands the packet over. `match`: send your
 * peer `role` its MATCH (you build it: your cookie, your time); `send`: send this message to that address.
 */
export const NoticeSchema = v.variant("kind", [
  v.object({
    kind: v.literal("match"),
    /** A multi-tenant server's tenant the notice is for (its session is that tenant's); absent without tenants. */
    tenant: v.optional(v.string()),
    session: v.string(),
    role: v.picklist(["a", "b"]),
    pairId: v.string(),
  }),
  v.object({
    kind: v.literal("send"),
    tenant: v.optional(v.string()),
    to: EndpointSchema,
    msg: v.variant("type", [UnmatchSchema, PartnerNatSchema]),
  }),
]);
export type Notice = v.InferOutput<typeof NoticeSchema>;

/**
 * Servers sharing a store talk through this: pub/sub, no polling. Delivery is at most once: a notice to a
 * server that is gone is lost, and the peer it was for hears from whichever server its next REGISTER reaches.
 */
export interface ServerBus {
  /** Hands `notice` to server `server`; never throws (a failure is the bus's to report). */
  publish(server: string, notice: Notice): void;
  /** Delivers the notices for server `server` to `onNotice` until the returned function is called. */
  listen(server: string, onNotice: (notice: Notice) => void): Promise<() => void>;
}

/** Servers in one process (tests, the simulation): notices are delivered in a later turn, as over a network. */
export class MemoryBus implements ServerBus {
  private readonly listeners = new Map<string, (notice: Notice) => void>();

  publish(server: string, notice: Notice): void {
    const copy = structuredClone(notice);
    queueMicrotask(() => this.listeners.get(server)?.(copy));
  }

  async listen(server: string, onNotice: (notice: Notice) => void): Promise<() => void> {
    this.listeners.set(server, onNotice);
    return () => this.listeners.delete(server);
  }
}

/**
 * Over Redis pub/sub: one channel per server, named by its id under the store's prefix. A notice read back
 * is checked with valibot (input at an edge); one that is not of the shape is counted and dropped.
 */
export class RedisBus implements ServerBus {
  /** Notices that failed to go out (Redis down) or came in malformed, since the start. */
  failures = 0;

  constructor(
    private readonly link: Pick<RedisLink, "publish" | "subscribe">,
    private readonly prefix = "{netpunch}:",
  ) {}

  private channel(server: string): string {
    return `${this.prefix}server:${server}`;
  }

  publish(server: string, notice: Notice): void {
    this.link.publish(this.channel(server), JSON.stringify(notice)).catch(() => {
      this.failures++;
    });
  }

  async listen(server: string, onNotice: (notice: Notice) => void): Promise<() => void> {
    let on = true;
    await this.link.subscribe(this.channel(server), (text) => {
      if (!on) return;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const r = v.safeParse(NoticeSchema, json);
      if (r.success) onNotice(r.output);
      else this.failures++;
    });
    return () => {
      on = false;
    };
  }
}
