/**
 * Bounds-checked big-endian reader and growable writer; a short read throws, and the caller drops the packet.
 * A Writer can be reset and reused (seal() keeps one), so writing a packet allocates nothing.
 */
export class Writer {
  private buf: Uint8Array;
  private len = 0;

  /** @param capacity bytes to start with; it grows as needed (256: most packets fit without growing) */
  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  /** Forgets what was written, keeping the buffer. */
  reset(): this {
    this.len = 0;
    return this;
  }
  u8(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    this.ensure(2);
    this.buf[this.len++] = (v >> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
    return this;
  }
  u32(v: number): this {
    return this.u16(Math.floor(v / 0x10000)).u16(v & 0xffff);
  }
  u64(v: number): this {
    return this.u32(Math.floor(v / 0x100000000)).u32(v >>> 0);
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  /** `n` zero bytes (a reused buffer holds old bytes, so they are written, not skipped). */
  zeros(n: number): this {
    if (n <= 0) return this;
    this.ensure(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
    return this;
  }
  /**
   * Hex text as bytes, decoded in place. As Buffer.from(h, "hex") does, it stops at the first pair that is
   * not hex, so an unchecked message seals exactly as it always did (open then refuses it).
   */
  hex(h: string): this {
    const pairs = h.length >> 1;
    this.ensure(pairs);
    for (let i = 0; i < pairs; i++) {
      const hi = hexDigit(h.charCodeAt(2 * i));
      const lo = hexDigit(h.charCodeAt(2 * i + 1));
      if (hi < 0 || lo < 0) break;
      this.buf[this.len++] = (hi << 4) | lo;
    }
    return this;
  }
  /** Text as UTF-8 after its length byte (the length wraps at 256, as u8 does). */
  text(t: string): this {
    let ascii = true;
    for (let i = 0; i < t.length && ascii; i++) ascii = t.charCodeAt(i) < 0x80;
    if (!ascii) {
      const bytes = utf8.encode(t);
      return this.u8(bytes.length).bytes(bytes);
    }
    // ASCII (every valid session name) is its own UTF-8: one byte per character, no encoder.
    this.u8(t.length);
    this.ensure(t.length);
    for (let i = 0; i < t.length; i++) this.buf[this.len++] = t.charCodeAt(i);
    return this;
  }
  /** Zero-pads up to `total` bytes in all. */
  padTo(total: number): this {
    return this.zeros(total - this.len);
  }
  get length(): number {
    return this.len;
  }
  /** What was written so far, as a view of the buffer: valid until the next write or reset. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
  /** A copy of what was written, with `extra` more bytes after it (zeros) for the caller to fill. */
  done(extra = 0): Uint8Array {
    const out = new Uint8Array(this.len + extra);
    out.set(this.buf.subarray(0, this.len));
    return out;
  }
}

const utf8 = new TextEncoder();
const ZERO = 0x30;
const LOWER_A = 0x61;
const UPPER_A = 0x41;
/** The value of one hex digit's character code, or -1. */
function hexDigit(c: number): number {
  if (c >= ZERO && c <= ZERO + 9) return c - ZERO;
  if (c >= LOWER_A && c <= LOWER_A + 5) return c - LOWER_A + 10;
  if (c >= UPPER_A && c <= UPPER_A + 5) return c - UPPER_A + 10;
  return -1;
}

export class ShortRead extends Error {}

export class Reader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  private take(n: number): Uint8Array {
    if (this.pos + n > this.buf.length)
      throw new ShortRead(`need ${n} bytes at ${this.pos}, have ${this.buf.length - this.pos}`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u8(): number {
    return this.take(1)[0] ?? 0;
  }
  u16(): number {
    return this.u8() * 0x100 + this.u8();
  }
  u32(): number {
    return this.u16() * 0x10000 + this.u16();
  }
  u64(): number {
    return this.u32() * 0x100000000 + this.u32();
  }
  bytes(n: number): Uint8Array {
    return this.take(n);
  }
  hex(n: number): string {
    const view = this.take(n);
    // A Buffer over the same memory: Buffer.from(view) would copy the bytes first.
    return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString("hex");
  }
  /** Whether the next `n` bytes are all zero, without consuming them; fewer than `n` left throws, as a read does. */
  zerosAhead(n: number): boolean {
    if (this.pos + n > this.buf.length)
      throw new ShortRead(`need ${n} bytes at ${this.pos}, have ${this.buf.length - this.pos}`);
    for (let i = this.pos; i < this.pos + n; i++) if (this.buf[i] !== 0) return false;
    return true;
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  /** Padding must be zeros, so a packet has exactly one valid encoding. */
  onlyZerosLeft(): boolean {
    for (let i = this.pos; i < this.buf.length; i++) if (this.buf[i] !== 0) return false;
    return true;
  }
}
