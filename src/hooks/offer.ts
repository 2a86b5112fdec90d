// A zero-config hook's offer: what one peer tells the other before their tunnel starts (a public key, a
// certificate fingerprint, a tunnel address), carried inside the authenticated rendezvous exchange. The
// bytes are UTF-8 JSON, an object whose "v" is the offer format's version and "hook" the hook that made it;
// the rest is the hook's own, checked on receipt by the hook's valibot schema. Pure.
import * as v from "valibot";
import { Fail } from "../errors.ts";

/** The offer format this netpunch writes and reads. A partner's other version is refused, never guessed at. */
export const OFFER_VERSION = 1;

/**
 * The most an offer may carry: the wire's bound on it (MAX_OFFER_LEN, 192, which keeps the largest MATCH
 * within a padded REGISTER so the server never amplifies). The largest this netpunch makes: OpenVPN's, 167
 * bytes (a 95-character fingerprint and an IPv4 address); WireGuard's with the longest IPv6 address, 135.
 */
export const OFFER_MAX_BYTES = 192;

/** The fields every offer has; the hook's own come beside them. */
const ENVELOPE = v.looseObject({ v: v.number(), hook: v.string() });

type Fields = Record<string, string | number>;

/** The offer's bytes: `{"v":1,"hook":HOOK,...fields}`. Throws when they exceed OFFER_MAX_BYTES (a hook's bug). */
export function encodeOffer(hook: string, fields: Fields): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify({ ...fields, v: OFFER_VERSION, hook }));
  if (bytes.length > OFFER_MAX_BYTES) throw Fail.offerTooLarge(hook, bytes.length, OFFER_MAX_BYTES);
  return bytes;
}

/**
 * The partner's offer for `hook`, checked against the hook's `schema` (over the whole object). Throws
 * E_OFFER when it is missing, larger than OFFER_MAX_BYTES, not JSON, made by another hook or in another
 * version, or does not fit the schema. `tunnel` names the tunnel in the message.
 */
export function decodeOffer<S extends v.GenericSchema>(
  bytes: Uint8Array | undefined,
  hook: string,
  tunnel: string,
  schema: S,
): v.InferOutput<S> {
  if (bytes === undefined || bytes.length === 0) throw Fail.offerMissing(hook, tunnel);
  if (bytes.length > OFFER_MAX_BYTES)
    throw Fail.offerMalformed(hook, tunnel, `${bytes.length} bytes, more than ${OFFER_MAX_BYTES}`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw Fail.offerMalformed(hook, tunnel, "not UTF-8 JSON");
  }
  const envelope = v.safeParse(ENVELOPE, json);
  if (!envelope.success) throw Fail.offerMalformed(hook, tunnel, "no version or hook name");
  if (envelope.output.hook !== hook) throw Fail.offerOtherHook(hook, tunnel, envelope.output.hook);
  if (envelope.output.v !== OFFER_VERSION)
    throw Fail.offerOtherVersion(hook, tunnel, envelope.output.v, OFFER_VERSION);
  const body = v.safeParse(schema, json);
  if (!body.success) {
    const issue = body.issues[0];
    const key = issue.path?.map((p) => String(p.key)).join(".");
    throw Fail.offerMalformed(hook, tunnel, key ? `${key}: ${issue.message}` : issue.message);
  }
  return body.output;
}
