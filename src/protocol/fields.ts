import { isIP } from "../addr.ts";
import type { Endpoint } from "../types.ts";
import type { Reader, Writer } from "./bytes.ts";
import { MAX_DATA_PAYLOAD, MAX_OFFER_LEN, OfferFormat } from "./constants.ts";
import { bytesToIp, ipToBytes } from "./ip.ts";
import { ANNOUNCED_KINDS, kindCode, kindOfCode, WIRE_KINDS, type WireKind } from "./kinds.ts";
import type { NatInfo } from "./messages.ts";

/**
 * The field codecs message bodies are made of (message-table.ts lists each message's fields). A read throws
 * (RangeError, ShortRead) on bytes no encoder writes, and the packet is dropped. Reading does not check what
 * a value means; `valid` does, after (body.ts's validMessage), and accepts exactly what the field's valibot
 * schema in messages.ts accepts of a decoded value (a test holds the two to that), at a fraction of the cost.
 */
export interface FieldCodec<T> {
  write(w: Writer, value: T): void;
  read(r: Reader): T;
  /** Whether a value this codec read is one the message schema accepts. Absent: every readable value is. */
  valid?(value: T): boolean;
  /** The README's words for a field of this codec called `label`, e.g. "alt port u16". */
  describe(label: string): string;
  /** How a compound field is laid out, for the README's legend above the bodies table. */
  layout?: string;
}

/** Adds `extra` inside a trailing parenthesis, or in a new one: "token (16; all zero: none)". */
export const withNote = (text: string, extra: string): string =>
  text.endsWith(")") ? `${text.slice(0, -1)}; ${extra})` : `${text} (${extra})`;

/** The same codec, with a narrower `valid` (what one message's schema asks of that field). */
export const refine = <T>(codec: FieldCodec<T>, valid: (value: T) => boolean): FieldCodec<T> => ({
  ...codec,
  valid,
});

/** Unsigned big-endian integers, written and read by the Writer/Reader method of their name. */
const unsigned = (size: "u8" | "u16" | "u32"): FieldCodec<number> => ({
  write: (w, v) => void w[size](v),
  read: (r) => r[size](),
  describe: (label) => `${label} ${size}`,
});
export const u8 = unsigned("u8");
export const u16 = unsigned("u16");
export const u32 = unsigned("u32");
/** Big-endian; only values up to 2^53 survive, so larger ones are refused (ms timestamps fit). */
export const u64: FieldCodec<number> = {
  write: (w, v) => void w.u64(v),
  read: (r) => r.u64(),
  valid: (v) => v <= Number.MAX_SAFE_INTEGER,
  describe: (label) => `${label} u64`,
};

/**
 * The rest of the packet, as it is: a tunnel's datagram (DATA's payload). Read as a view of the packet, no
 * copy; it must be the last field.
 */
export const rest: FieldCodec<Uint8Array> = {
  write: (w, v) => void w.bytes(v),
  read: (r) => r.bytes(r.remaining),
  valid: (v) => v.length <= MAX_DATA_PAYLOAD,
  describe: (label) => `${label} (the rest)`,
};

/** `n` raw bytes carried as lowercase hex: ids, nonces, cookies, tokens. */
export const hex = (n: number): FieldCodec<string> => ({
  write: (w, v) => void w.hex(v),
  read: (r) => r.hex(n),
  describe: (label) => `${label} (${n})`,
});

const utf8 = new TextDecoder("utf-8", { fatal: true });
/** A string of at most 255 UTF-8 bytes after its length byte; bytes that are not UTF-8 are refused. */
export const text: FieldCodec<string> = {
  write: (w, v) => void w.text(v),
  read: (r) => utf8.decode(r.bytes(r.u8())),
  describe: (label) => label,
  layout: "length u8, UTF-8",
};

/** One ASCII character as one byte, one of `chars`. */
export const char = <T extends string>(chars: readonly T[]): FieldCodec<T> => ({
  write: (w, v) => void w.u8(v.charCodeAt(0)),
  read: (r) => String.fromCharCode(r.u8()) as T,
  valid: (v) => chars.includes(v),
  describe: (label) => `${label} (${chars.map((c) => `\`${c}\``).join("/")})`,
});

/** A boolean as one byte, 0 or 1; any other value is refused, so a flag has one encoding. */
export const flag: FieldCodec<boolean> = {
  write: (w, v) => void w.u8(v ? 1 : 0),
  read: (r) => {
    const b = r.u8();
    if (b > 1) throw new RangeError(`flag ${b}`);
    return b === 1;
  },
  describe: (label) => `${label} u8 (0 or 1)`,
};

/**
 * A mode that is on, as one byte 1; wrapped in `optional` with a zero byte, so 0 is "off" and any other
 * value is refused: the flag has one encoding, and "off" is no key at all.
 */
export const on: FieldCodec<true> = {
  write: (w) => void w.u8(1),
  read: (r) => {
    const b = r.u8();
    if (b !== 1) throw new RangeError(`mode flag ${b}`);
    return true;
  },
  describe: (label) => `${label} u8 (1)`,
};

/**
 * One byte naming one of `names`: the first has code `first`, the next `first + 1`, and so on. The codes are
 * written out in the message table, not taken from the schema's picklist, so reordering a schema never
 * changes the wire.
 */
export const enumOf = <T extends string>(names: readonly T[], first: number): FieldCodec<T> => ({
  write: (w, v) => void w.u8(first + names.indexOf(v)),
  read: (r) => {
    const code = r.u8();
    const name = names[code - first];
    if (name === undefined) throw new RangeError(`enum code ${code}`);
    return name;
  },
  describe: (label) => `${label} u8 (${names.map((n, i) => `${first + i} ${n}`).join(", ")})`,
});

/**
 * An address: family (4 or 6), 4 or 16 address bytes, port u16. Port 0 is refused; the host is always an IP
 * literal, as bytesToIp writes one.
 */
export const endpoint: FieldCodec<Endpoint> = {
  write: (w, ep) => {
    if (!writeIpv4(w, ep.host)) w.u8(isIP(ep.host)).bytes(ipToBytes(ep.host));
    w.u16(ep.port);
  },
  read: (r) => {
    const family = r.u8();
    if (family !== 4 && family !== 6) throw new RangeError(`address family ${family}`);
    const host = bytesToIp(r.bytes(family === 4 ? 4 : 16));
    return { host, port: r.u16() };
  },
  valid: (ep) => ep.port !== 0,
  describe: (label) => label,
  layout: "family (4|6), 4 or 16 address bytes, port u16",
};

/** An IP address without a port: family (4 or 6), then 4 or 16 address bytes. */
export const ipHost: FieldCodec<string> = {
  write: (w, host) => void w.u8(isIP(host)).bytes(ipToBytes(host)),
  read: (r) => {
    const family = r.u8();
    if (family !== 4 && family !== 6) throw new RangeError(`address family ${family}`);
    return bytesToIp(r.bytes(family === 4 ? 4 : 16));
  },
  valid: (host) => isIP(host) !== 0,
  describe: (label) => `${label} (family u8 4 or 6, then 4 or 16 bytes)`,
};

/** Mapping codes from 1; 0 is "not probed yet" (see optionalNat). */
const NAT_MAPPINGS = ["none", "independent", "sequential", "random"] as const;
const FIRST_NAT_CODE = 1;

/** NAT behaviour in 3 bytes: the mapping code, then the step as a signed 16-bit number. */
export const nat: FieldCodec<NatInfo> = {
  write: (w, n) => void w.u8(FIRST_NAT_CODE + NAT_MAPPINGS.indexOf(n.mapping)).u16(n.step & 0xffff),
  read: (r) => {
    const code = r.u8();
    const raw = r.u16();
    if (code === 0) throw new RangeError("NAT info is required");
    const mapping = NAT_MAPPINGS[code - FIRST_NAT_CODE];
    if (mapping === undefined) throw new RangeError(`nat code ${code}`);
    return { mapping, step: raw >= 0x8000 ? raw - 0x10000 : raw };
  },
  describe: (label) => label,
  layout: `mapping u8 (${NAT_MAPPINGS.map((m, i) => `${FIRST_NAT_CODE + i} ${m}`).join(", ")}), step i16`,
};

/**
 * A candidate of one of `kinds` (kinds.ts): its kind's wire code, then its address. REGISTER and MATCH share
 * the bytes; each lists only the kinds it may carry, and its schema refuses the others.
 */
export function candidateOf<K extends WireKind>(kinds: readonly K[]): FieldCodec<Endpoint & { kind: K }> {
  return {
    write: (w, c) => {
      w.u8(kindCode(c.kind));
      endpoint.write(w, c);
    },
    read: (r) => {
      const code = r.u8();
      // An unknown code decodes to a kind the schema refuses, so the packet is dropped as malformed.
      const kind = (kindOfCode(code) ?? `unknown-${code}`) as K;
      return { kind, ...endpoint.read(r) };
    },
    valid: (c) => (kinds as readonly WireKind[]).includes(c.kind) && c.port !== 0,
    describe: (label) => `${label} (kind u8: ${kinds.map((k) => `${kindCode(k)} ${k}`).join(", ")}; address)`,
  };
}
/** What MATCH hands out: every kind that travels. */
export const candidate = candidateOf(WIRE_KINDS);
/** What a peer announces about itself in REGISTER. */
export const announcedCandidate = candidateOf(ANNOUNCED_KINDS);

/** A count u8, then that many items; a list of fewer than `min` or more than `max` items is refused. */
export const list = <T>(item: FieldCodec<T>, bounds: { min?: number; max: number }): FieldCodec<T[]> => ({
  write: (w, items) => {
    w.u8(items.length);
    for (const it of items) item.write(w, it);
  },
  read: (r) => Array.from({ length: r.u8() }, () => item.read(r)),
  valid: (items) =>
    items.length >= (bounds.min ?? 0) &&
    items.length <= bounds.max &&
    (item.valid === undefined || items.every((it) => item.valid?.(it))),
  describe: (label) => `count u8, ${item.describe(label)}`,
});

/** `n` hex bytes after a length byte that must say `n`: a length 0 can then stand for "none" (optional). */
export const hexWithLength = (n: number): FieldCodec<string> => ({
  write: (w, v) => void w.u8(n).hex(v),
  read: (r) => {
    const len = r.u8();
    if (len !== n) throw new RangeError(`length ${len}`);
    return r.hex(n);
  },
  describe: (label) => `${label} (length u8 ${n}, then ${n} bytes)`,
});

/**
 * A hook's offer (README "Wire format"): its format byte (OfferFormat.opaque), a length u8 of 1 to
 * MAX_OFFER_LEN, then that many bytes, carried as hex as every other binary field is. Wrapped in `optional`
 * with a zero first byte, so format 0 is "no offer". Any other format, a length out of bounds or bytes
 * missing are refused: the packet is dropped as malformed, never handed on as something it is not.
 */
export const offer: FieldCodec<string> = {
  write: (w, v) => {
    // connect() refuses such an offer first; a wrapped length byte would make a packet of another meaning.
    if (v.length < 2 || v.length > 2 * MAX_OFFER_LEN) throw new RangeError(`offer of ${v.length / 2} bytes`);
    w.u8(OfferFormat.opaque)
      .u8(v.length >> 1)
      .hex(v);
  },
  read: (r) => {
    const format = r.u8();
    if (format !== OfferFormat.opaque) throw new RangeError(`offer format ${format}`);
    const len = r.u8();
    if (len < 1 || len > MAX_OFFER_LEN) throw new RangeError(`offer length ${len}`);
    return r.hex(len);
  },
  valid: (v) => v.length >= 2 && v.length <= 2 * MAX_OFFER_LEN,
  describe: (label) =>
    `${label} (format u8 ${OfferFormat.opaque}, length u8 1-${MAX_OFFER_LEN}, then the hook's bytes)`,
};

/**
 * How an absent optional field is written: `size` zero bytes. It is read as absent when its first `lead`
 * bytes are zero (the rest of the `size` are skipped); `doc` says so in the README.
 */
export interface Absent {
  size: number;
  lead: number;
  doc: string;
}
/** Absent is the value's all-zero encoding, which no present value has (port 0, an all-zero token). */
export const allZeros = (size: number, doc: string): Absent => ({ size, lead: size, doc });
/** Absent is a zero first byte (a family, a length, a code) that no present value starts with. */
export const zeroFirstByte = (size: number, doc: string): Absent => ({ size, lead: 1, doc });

/** A field that may be absent: `absent` says how an absent one is written; it decodes to no key at all. */
export const optional = <T>(codec: FieldCodec<T>, absent: Absent): FieldCodec<T | undefined> => ({
  write: (w, v) => {
    if (v === undefined) w.zeros(absent.size);
    else codec.write(w, v);
  },
  read: (r) => {
    if (!r.zerosAhead(absent.lead)) return codec.read(r);
    r.bytes(absent.size);
    return undefined;
  },
  valid: (v) => v === undefined || codec.valid === undefined || codec.valid(v),
  describe: (label) => withNote(codec.describe(label), absent.doc),
});

const DOT = 0x2e;
const DIGIT_0 = 0x30;
const IPV4_OCTETS = 4;
/**
 * Writes family 4 and the 4 bytes of a dotted quad as isIP() takes one (0-255, no leading zeros), straight
 * into the writer: the reply path's common case, without the strings and arrays ipToBytes makes. False, and
 * nothing written, for anything else (IPv6, or not an address: the caller's slow path sorts it out).
 */
function writeIpv4(w: Writer, host: string): boolean {
  if (host.length > 15) return false; // "255.255.255.255"
  let octets = 0;
  let value = 0;
  let digits = 0;
  let packed = 0;
  for (let i = 0; i <= host.length; i++) {
    const c = i < host.length ? host.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (digits === 0 || value > 255 || octets === IPV4_OCTETS) return false;
      packed = packed * 256 + value;
      octets++;
      value = 0;
      digits = 0;
    } else if (c >= DIGIT_0 && c <= DIGIT_0 + 9) {
      if (digits > 0 && value === 0) return false; // a leading zero
      value = value * 10 + (c - DIGIT_0);
      if (++digits > 3) return false;
    } else return false;
  }
  if (octets !== IPV4_OCTETS) return false;
  w.u8(4).u32(packed);
  return true;
}
