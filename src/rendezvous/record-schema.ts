import * as v from "valibot";
import { ANNOUNCED_KINDS } from "../protocol/kinds.ts";
import { EndpointSchema, NatSchema } from "../protocol/messages.ts";
import type { RecentPair, SessionRecord } from "./store.ts";

/**
 * The store's records as text, for a store outside this process (Redis): what comes back is input at an
 * edge, so it is checked with valibot before the core sees it, like a packet off the wire. Ids are checked
 * as non-empty strings only: the core wrote them, and a record that is well formed but wrong is the store's
 * trust problem, not a parser's.
 */
const Id = v.pipe(v.string(), v.minLength(1));
const Time = v.number();
/** JSON has no Infinity: a record due at once (no slot left) carries wakeAt -Infinity, written as a string. */
const WakeAt = v.union([
  v.number(),
  v.pipe(
    v.picklist(["-Infinity", "Infinity"]),
    v.transform((s) => Number(s)),
  ),
]);
const RetrySchema = v.object({ at: Time, delayMs: Time });
const RoleFlags = v.object({ a: v.boolean(), b: v.boolean() });

const RegistrationSchema = v.object({
  peerId: Id,
  addr: EndpointSchema,
  candidates: v.array(
    v.object({
      host: EndpointSchema.entries.host,
      port: EndpointSchema.entries.port,
      kind: v.picklist(ANNOUNCED_KINDS),
    }),
  ),
  nat: v.optional(NatSchema),
  offer: v.optional(v.string()),
  proxy: v.optional(v.literal(true)),
  server: v.optional(Id),
  lastSeen: Time,
  echo: v.string(),
  unresponsive: v.optional(v.boolean()),
  proven: v.boolean(),
});

export const SessionRecordSchema = v.object({
  slots: v.object({ a: v.optional(RegistrationSchema), b: v.optional(RegistrationSchema) }),
  wakeAt: v.optional(WakeAt),
  pair: v.optional(
    v.object({
      pairId: Id,
      owner: Id,
      acked: RoleFlags,
      createdAt: Time,
      retry: v.object({ a: RetrySchema, b: RetrySchema }),
    }),
  ),
});

export const RecentPairSchema = v.object({
  session: v.string(),
  peers: v.object({ a: Id, b: Id }),
  addrs: v.object({ a: EndpointSchema, b: EndpointSchema }),
  servers: v.optional(v.object({ a: v.optional(Id), b: v.optional(Id) })),
});

/** A record as JSON text; wakeAt's infinities as strings (JSON.stringify would make them null). */
export const recordText = (rec: SessionRecord): string =>
  JSON.stringify(rec, (k, value) =>
    k === "wakeAt" && typeof value === "number" && !Number.isFinite(value) ? String(value) : value,
  );

/** Parses and checks `text`; undefined when it is not JSON or not of the schema's shape. */
function parsed<S extends v.GenericSchema>(schema: S, text: string): v.InferOutput<S> | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = v.safeParse(schema, json);
  return r.success ? r.output : undefined;
}

/** Drops the keys valibot's optional entries leave as undefined: records are stored without them. */
function compact<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(compact) as T;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(value)) if (x !== undefined) out[k] = compact(x);
  return out as T;
}

export const parseRecord = (text: string): SessionRecord | undefined => {
  const rec = parsed(SessionRecordSchema, text);
  return rec && (compact(rec) as SessionRecord);
};

/** A remembered pair as the store keeps it: with its `until`. */
const HeldPairSchema = v.object({ until: Time, pair: RecentPairSchema });

export const parseHeldPair = (text: string): { until: number; pair: RecentPair } | undefined => {
  const held = parsed(HeldPairSchema, text);
  return held && { until: held.until, pair: compact(held.pair) };
};
