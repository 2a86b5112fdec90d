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
const BY_NAME = new Map<string, WireRow>(MESSAGE_ROWS);

/**
 * Writes a body at the writer's end and returns its type code. `packetOverhead` (the bytes of the packet
 * that are not body) lets a padded message pad the whole packet, not just its body.
 */
export function writeBody(w: Writer, msg: Message, packetOverhead: number): number {
  const row: WireRow = MESSAGES[msg.type];
  const fields = msg as unknown as Record<string, unknown>;
  const start = w.length;
  for (let i = 0; i < row.fields.length; i++) {
    const [name, codec] = row.fields[i] as WireRow["fields"][number];
    codec.write(w, fields[name]);
  }
  if (row.padTo !== undefined) w.padTo(start + row.padTo - packetOverhead);
  return row.code;
}

/** Encodes a body on its own (tests, the README's tables); seal() writes it in place with writeBody. */
export function encodeBody(msg: Message, packetOverhead: number): { type: number; body: Uint8Array } {
  const w = new Writer();
  const type = writeBody(w, msg, packetOverhead);
  return { type, body: w.done() };
}

/** Decodes a body into an unchecked object; the caller checks it with validMessage. Throws on short input. */
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

/**
 * Whether a decoded body is a message MessageSchema accepts: each field's `valid` (fields.ts), in place of a
 * generic schema walk per packet. Only for what decodeBody returned: it trusts the shape reading gives.
 */
export function validMessage(decoded: unknown): decoded is Message {
  const msg = decoded as Record<string, unknown>;
  const row = BY_NAME.get(msg.type as string);
  if (!row) return false;
  for (let i = 0; i < row.fields.length; i++) {
    const [name, codec] = row.fields[i] as WireRow["fields"][number];
    if (codec.valid !== undefined && !codec.valid(msg[name])) return false;
  }
  return true;
}
