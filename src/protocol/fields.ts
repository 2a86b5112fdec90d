import { isIP } from "node:net";
import type { Endpoint } from "../types.ts";
import type { Reader, Writer } from "./bytes.ts";
import { bytesToIp, ipToBytes } from "./ip.ts";
import { ANNOUNCED_KINDS, kindCode, kindOfCode, WIRE_KINDS, type WireKind } from "./kinds.ts";
import type { NatInfo } from "./messages.ts";

/**
 * The field codecs message bodies are made of (message-table.ts lists each message's fields). Reading does
 * not validate what a field means, only that its bytes can be read: the valibot schema checks the decoded
 * message after. A read throws (RangeError, ShortRead) on bytes no encoder writes, and the packet is dropped.
 */
export interface FieldCodec<T> {
  write(w: Writer, value: T): void;
  read(r: Reader): T;
  /** The README's words for a field of this codec called `label`, e.g. "alt port u16". */
  describe(label: string): string;
  /** How a compound field is laid out, for the README's legend above the bodies table. */
  layout?: string;
}

/** Adds `extra` inside a trailing parenthesis, or in a new one: "token (16; all zero: none)". */
export const withNote = (text: string, extra: string): string =>
  text.endsWith(")") ? `${text.slice(0, -1)}; ${extra})` : `${text} (${extra})`;

/** An unsigned big-endian integer, written and read by the Writer/Reader method of its name. */
const uint = (bits: 8 | 16 | 32 | 64): FieldCodec<number> => {
  const method = `u${bits}` as const;
  return {
    write: (w, v) => void w[method](v),
    read: (r) => r[method](),
    describe: (label) => `${label} ${method}`,
  };
};
export const u8 = uint(8);
export const u16 = uint(16);
export const u32 = uint(32);
/** Big-endian; only values up to 2^53 survive, which the schemas enforce (ms timestamps fit). */
export const u64 = uint(64);

/** `n` raw bytes carried as lowercase hex: ids, nonces, cookies, tokens. */
export const hex = (n: number): FieldCodec<string> => ({
  write: (w, v) => void w.hex(v),
  read: (r) => r.hex(n),
  describe: (label) => `${label} (${n})`,
});

/** A string of at most 255 UTF-8 bytes after its length byte; bytes that are not UTF-8 are refused. */
export const text: FieldCodec<string> = {
  write: (w, v) => {
    const bytes = new TextEncoder().encode(v);
    w.u8(bytes.length).bytes(bytes);
  },
  read: (r) => new TextDecoder("utf-8", { fatal: true }).decode(r.bytes(r.u8())),
  describe: (label) => label,
  layout: "length u8, UTF-8",
};

/** One ASCII character as one byte, one of `chars` (the schema checks which). */
export const char = <T extends string>(chars: readonly T[]): FieldCodec<T> => ({
  write: (w, v) => void w.u8(v.charCodeAt(0)),
  read: (r) => String.fromCharCode(r.u8()) as T,
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

/** An address: family (4 or 6), 4 or 16 address bytes, port u16. */
export const endpoint: FieldCodec<Endpoint> = {
  write: (w, ep) => void w.u8(isIP(ep.host)).bytes(ipToBytes(ep.host)).u16(ep.port),
  read: (r) => {
    const family = r.u8();
    if (family !== 4 && family !== 6) throw new RangeError(`address family ${family}`);
    const host = bytesToIp(r.bytes(family === 4 ? 4 : 16));
    return { host, port: r.u16() };
  },
  describe: (label) => label,
  layout: "family (4|6), 4 or 16 address bytes, port u16",
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
    describe: (label) => `${label} (kind u8: ${kinds.map((k) => `${kindCode(k)} ${k}`).join(", ")}; address)`,
  };
}
/** What MATCH hands out: every kind that travels. */
export const candidate = candidateOf(WIRE_KINDS);
/** What a peer announces about itself in REGISTER. */
export const announcedCandidate = candidateOf(ANNOUNCED_KINDS);

/** A count u8, then that many items (the schema bounds the count). */
export const list = <T>(item: FieldCodec<T>): FieldCodec<T[]> => ({
  write: (w, items) => {
    w.u8(items.length);
    for (const it of items) item.write(w, it);
  },
  read: (r) => Array.from({ length: r.u8() }, () => item.read(r)),
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
    if (v === undefined) w.bytes(new Uint8Array(absent.size));
    else codec.write(w, v);
  },
  read: (r) => {
    if (!r.zerosAhead(absent.lead)) return codec.read(r);
    r.bytes(absent.size);
    return undefined;
  },
  describe: (label) => withNote(codec.describe(label), absent.doc),
});
