import * as v from "valibot";
import type { TunnelRow } from "./supervise-all.ts";

/** The status document's layout version: a client refuses a document of another version. */
export const STATUS_VERSION = 1;

/** The most a status document may be: 64 KiB is hundreds of tunnels, and bounds what a client reads. */
export const MAX_STATUS_BYTES = 64 * 1024;

/** What `netpunch up` answers on its status socket: every tunnel of its config. */
export interface StatusDocument {
  version: typeof STATUS_VERSION;
  /** The config's name (the socket is named after it). */
  config: string;
  pid: number;
  /** When the document was made (ms since the epoch). */
  now: number;
  tunnels: TunnelRow[];
}

/** The document of the config named `config` with these rows, as of `now`. */
export const statusDocument = (config: string, tunnels: TunnelRow[], now: number): StatusDocument => ({
  version: STATUS_VERSION,
  config,
  pid: process.pid,
  now,
  tunnels,
});

const Time = v.pipe(v.number(), v.finite());
const Count = v.pipe(v.number(), v.integer(), v.minValue(0));
const Text = v.pipe(v.string(), v.maxLength(4_000));
const ProxyPathSchema = v.picklist(["direct", "relay"]);

const RowSchema = v.object({
  name: Text,
  session: Text,
  role: v.picklist(["a", "b"]),
  state: v.picklist(["waiting", "punching", "up", "backing-off", "failed", "stopped"]),
  since: Time,
  path: v.optional(v.picklist(["lan", "direct", "predicted", "birthday", "relay", "ws-relay"])),
  local: v.optional(Text),
  remote: v.optional(Text),
  rttMs: v.optional(v.pipe(v.number(), v.finite(), v.minValue(0))),
  upSince: v.optional(Time),
  retryAt: v.optional(Time),
  rounds: Count,
  repunches: Count,
  lastError: v.optional(v.object({ code: Text, message: Text })),
  partnerKey: v.optional(Text),
  // Optional, so a document without it (an older `up`) still parses, and an older client ignores it.
  proxy: v.optional(
    v.object({
      packetsIn: Count,
      packetsOut: Count,
      bytesIn: Count,
      bytesOut: Count,
      moves: Count,
      // Optional too: an `up` from before the proxy moved between paths has none of them.
      path: v.optional(ProxyPathSchema),
      switches: v.optional(Count),
      lastSwitch: v.optional(v.object({ at: Time, to: ProxyPathSchema, reason: Text })),
      relayReady: v.optional(v.boolean()),
      websocket: v.optional(v.boolean()),
    }),
  ),
});

export const StatusDocumentSchema = v.object({
  version: v.literal(STATUS_VERSION),
  config: Text,
  pid: Count,
  now: Time,
  tunnels: v.array(RowSchema),
});

/** The document in `text`, or undefined when it is not JSON or not a status document of this version. */
export function parseStatusDocument(text: string): StatusDocument | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = v.safeParse(StatusDocumentSchema, json);
  return r.success ? (r.output as StatusDocument) : undefined;
}
