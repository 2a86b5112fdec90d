import { Reader, Writer } from "./bytes.ts";
import { MESSAGE_ROWS, MESSAGES, type WireRow } from "./message-table.ts";
import type { Message } from "./messages.ts";

/**
 * Message bodies <-> bytes, driven by the message table (message-table.ts): each field in its row's order,
 * then the row's padding. Pure; the envelope (header, tag) is packet.ts's job.
 */

const BY_CODE = new Map<number, [string, WireRow]>(
  MESSAGE_ROWS.map(([name, row]) => [row.code, [name, row]]),
);

/** Encodes a body. `packetOverhead` lets a padded message pad the whole packet, not just its body. */
export function encodeBody(msg: Message, packetOverhead: number): { type: number; body: Uint8Array } {
  const row: WireRow = MESSAGES[msg.type];
  const fields = msg as unknown as Record<string, unknown>;
  const w = new Writer();
  for (const [name, codec] of row.fields) codec.write(w, fields[name]);
  if (row.padTo !== undefined) w.padTo(row.padTo - packetOverhead);
  return { type: row.code, body: w.done() };
}

/** Decodes a body into an unchecked object; the caller validates it with MessageSchema. Throws on short input. */
export function decodeBody(type: number, body: Uint8Array): unknown {
  const found = BY_CODE.get(type);
  if (!found) throw new RangeError(`message type ${type}`);
  const [name, row] = found;
  const r = new Reader(body);
  const out: Record<string, unknown> = { type: name };
  // An absent optional field decodes to no key, so a message without it round-trips to itself.
  for (const [field, codec] of row.fields) {
    const value = codec.read(r);
    if (value !== undefined) out[field] = value;
  }
  row.check?.(out as never);
  // Padding must be zeros, and an unpadded body must end with its last field: every message has exactly one
  // encoding.
  if (row.padTo !== undefined ? !r.onlyZerosLeft() : r.remaining > 0) throw new RangeError("trailing bytes");
  return out;
}
