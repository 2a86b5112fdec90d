/** Bounds-checked big-endian reader and growable writer; a short read throws, and the caller drops the packet. */
export class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  u8(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    return this.u8(v >> 8).u8(v);
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
  hex(h: string): this {
    return this.bytes(Uint8Array.from(Buffer.from(h, "hex")));
  }
  padTo(total: number): this {
    while (this.len < total) this.u8(0);
    return this;
  }
  get length(): number {
    return this.len;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
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
    return Buffer.from(this.take(n)).toString("hex");
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
