import type { DropReason, Role } from "../types.ts";
import { tagInto, verifyTagAt } from "./auth.ts";
import { Writer } from "./bytes.ts";
import { HEADER_LEN, MAGIC, MAX_DATA_PACKET, MessageType, NONCE_LEN, TAG_LEN, VERSION } from "./constants.ts";

/**
 * DATA, proxy mode's one message per tunnel datagram, sealed and opened without the generic codec: the same
 * bytes as seal() of a Data message and the same verdicts as open(), at a fraction of the cost (no Writer
 * copy, no Reader, no hex text, no message object; bench/proxy-seal.ts). A test holds both to that, byte for
 * byte and refusal for refusal. Layout (message-table.ts's row):
 *   header (24) | pair id (16) | sender's role (1) | seq u64 BE (8) | payload | tag (16)
 */

/** Where DATA's fields sit in the packet. */
const PAIR_AT = HEADER_LEN;
const PAIR_LEN = 16;
const ROLE_AT = PAIR_AT + PAIR_LEN;
const SEQ_AT = ROLE_AT + 1;
const PAYLOAD_AT = SEQ_AT + 8;
/** The shortest packet open() reads a header from: header and tag, no body. */
const MIN_PACKET = HEADER_LEN + TAG_LEN;
const A = 0x61; // "a"
const B = 0x62; // "b"
/**
 * @default 262_144 bytes per slab: 178 DATA of a 1400-byte datagram, so a new slab (zeroed by the engine) is
 * one allocation per 178 packets, and a slab a single queued packet still holds is a quarter of a MiB.
 */
const SLAB_BYTES = 262_144;
/** @default 2048 bytes: the reused buffer's first size, a DATA of any datagram under a 1500-byte MTU. */
const SCRATCH_BYTES = 2048;
const PAIR_HEX = /^[0-9a-f]{32}$/;

/** What open() of a DATA gives the caller, or why it refused; "other": not DATA, for the generic open(). */
export type DataVerdict = "ok" | "other" | DropReason;

/**
 * The DATA of one pair under one key. seal() is for our side (`role`); after an "ok" open(), the fields
 * below describe the packet opened, until the next open (the payload is a view of that packet).
 * @example
 * const codec = new DataCodec(key, pairId, "a");
 * socket.send(codec.seal(datagram, seq, Date.now(), random.bytes(NONCE_LEN)), partner);
 * if (codec.open(packet) === "ok" && codec.ourPair) deliver(codec.payload);
 */
export class DataCodec {
  /** The body's bytes before the sequence number, exactly as the generic codec writes `pairId` and `role`. */
  private readonly prefix: Uint8Array;
  private scratch = new Uint8Array(0);
  private slab = new Uint8Array(0);
  private slabUsed = 0;
  /** Our pair id's bytes, when it is one a decoded packet can equal (32 lowercase hex digits). */
  private readonly pair: Uint8Array | undefined;

  /** Whether the packet opened is of our pair (open() itself refuses nothing for it: the link does). */
  ourPair = false;
  from: Role = "a";
  seq = 0;
  timestamp = 0;
  payload: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly key: Uint8Array,
    pairId: string,
    role: Role,
  ) {
    // The generic codec's own writes (hex stops at a pair that is not hex, a role is its first char), so
    // even a pair id no server hands out seals as seal() would seal it.
    this.prefix = new Writer(PAIR_LEN + 1).hex(pairId).u8(role.charCodeAt(0)).done();
    this.pair = PAIR_HEX.test(pairId) ? this.prefix.subarray(0, PAIR_LEN) : undefined;
  }

  /**
   * The DATA packet carrying `payload`: the bytes of seal(key, { type: "data", pairId, from: role, seq,
   * payload }, { timestamp, nonce }), written straight into the packet returned and tagged in place.
   * @param reuse the packet may be the same memory as the last one sealed (valid until the next seal): for a
   * transport that is done with a datagram when send() returns (Transport.copiesOnSend). A fresh buffer per
   * datagram, even a slab's, costs the sender's GC more than the HMAC (a large typed array is memory the
   * engine counts toward its next collection). @default false: each packet is memory of its own
   */
  seal(payload: Uint8Array, seq: number, timestamp: number, nonce: Uint8Array, reuse = false): Uint8Array {
    if (nonce.length !== NONCE_LEN) throw new RangeError(`nonce must be ${NONCE_LEN} bytes`);
    const seqAt = HEADER_LEN + this.prefix.length;
    const signed = seqAt + 8 + payload.length;
    const p = reuse ? this.scratchOf(signed + TAG_LEN) : this.claim(signed + TAG_LEN);
    p[0] = MAGIC[0];
    p[1] = MAGIC[1];
    p[2] = VERSION;
    p[3] = MessageType.data;
    putU64(p, 4, timestamp);
    p.set(nonce, 12);
    p.set(this.prefix, HEADER_LEN);
    putU64(p, seqAt, seq);
    p.set(payload, seqAt + 8);
    tagInto(this.key, p, signed);
    return p;
  }

  /** The first `n` bytes of the one buffer reused for every packet (grown when a packet is larger). */
  private scratchOf(n: number): Uint8Array {
    if (this.scratch.length < n) this.scratch = new Uint8Array(Math.max(n, SCRATCH_BYTES));
    return this.scratch.subarray(0, n);
  }

  /**
   * `n` bytes of the current slab, never handed out before: a packet is a view into a slab, not a buffer of
   * its own, so sealing allocates no memory per packet; once a slab is used up the next one is fresh, and
   * an old one lives on while a packet in it is still queued somewhere (a batch, a simulation's wire).
   */
  private claim(n: number): Uint8Array {
    if (this.slabUsed + n > this.slab.length) {
      this.slab = new Uint8Array(Math.max(SLAB_BYTES, n));
      this.slabUsed = 0;
    }
    const p = this.slab.subarray(this.slabUsed, this.slabUsed + n);
    this.slabUsed += n;
    return p;
  }

  /**
   * Opens a packet whose type byte says DATA ("other" for any other: the caller uses open()), refusing
   * exactly what open(key, packet) refuses, for the same reason, in the same order: size and magic
   * ("malformed"), then the tag ("bad-auth"), the version ("bad-version"), then the body ("malformed": too
   * short, a role not "a" or "b", a sequence number past 2^53). Nothing allocated but the payload's view.
   * Version 1's key is not tried (the proxy's open() is given none).
   */
  open(packet: Uint8Array): DataVerdict {
    const len = packet.length;
    if (len < 4 || packet[3] !== MessageType.data) return "other";
    if (len < MIN_PACKET || len > MAX_DATA_PACKET) return "malformed";
    if (packet[0] !== MAGIC[0] || packet[1] !== MAGIC[1]) return "malformed";
    const signed = len - TAG_LEN;
    if (!verifyTagAt(this.key, packet, signed)) return "bad-auth";
    if (packet[2] !== VERSION) return "bad-version";
    if (signed < PAYLOAD_AT) return "malformed";
    const role = packet[ROLE_AT];
    if (role !== A && role !== B) return "malformed";
    const seq = getU64(packet, SEQ_AT);
    if (seq > Number.MAX_SAFE_INTEGER) return "malformed";
    this.from = role === A ? "a" : "b";
    this.seq = seq;
    this.timestamp = getU64(packet, 4);
    this.ourPair = this.pair !== undefined && samePair(packet, this.pair);
    this.payload = packet.subarray(PAYLOAD_AT, signed);
    return "ok";
  }
}

function samePair(packet: Uint8Array, pair: Uint8Array): boolean {
  for (let i = 0; i < PAIR_LEN; i++) if (packet[PAIR_AT + i] !== pair[i]) return false;
  return true;
}

/** Writer.u32's arithmetic at `at`, so any number writes the bytes the Writer would. */
function putU32(b: Uint8Array, at: number, v: number): void {
  const hi = Math.floor(v / 0x10000);
  const lo = v & 0xffff;
  b[at] = (hi >> 8) & 0xff;
  b[at + 1] = hi & 0xff;
  b[at + 2] = (lo >> 8) & 0xff;
  b[at + 3] = lo & 0xff;
}
/** Writer.u64's: the high 32 bits, then the low. */
function putU64(b: Uint8Array, at: number, v: number): void {
  putU32(b, at, Math.floor(v / 0x100000000));
  putU32(b, at + 4, v >>> 0);
}
/** Reader.u64's: exact up to 2^53, as open() reads it. */
function getU64(b: Uint8Array, at: number): number {
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < 4; i++) {
    hi = hi * 0x100 + (b[at + i] ?? 0);
    lo = lo * 0x100 + (b[at + 4 + i] ?? 0);
  }
  return hi * 0x100000000 + lo;
}
