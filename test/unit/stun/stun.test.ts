import { afterEach, describe, expect, jest, test } from "bun:test";
import { crc32 as zlibCrc32 } from "node:zlib";
import { NetpunchError } from "../../../src/errors.ts";
import { stunBinding, stunBindingOn } from "../../../src/stun/client.ts";
import {
  BINDING,
  crc32,
  decodeStun,
  encodeStun,
  isStun,
  MAGIC_COOKIE,
  StunAttr,
  type StunDecodeResult,
  type StunMessage,
} from "../../../src/stun/codec.ts";
import { MIN_ANSWERED_REQUEST_LEN, stunAnswer } from "../../../src/stun/responder.ts";
import { ManualClock } from "../../../src/sys/clock.ts";
import { MemoryNetwork } from "../../../src/transport/memory.ts";
import type { DatagramHandler, ErrorHandler, TransportFactory } from "../../../src/transport/types.ts";
import { openUdp } from "../../../src/transport/udp.ts";
import type { Endpoint } from "../../../src/types.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

// RFC 5769 test vectors (section 2): the same transaction id in all three.
const RFC_TID = hex("b7e7a701 bc34d686 fa87dfae");
/** 2.1: request with SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT. */
const RFC_REQUEST = hex(`
  00010058 2112a442 b7e7a701 bc34d686 fa87dfae
  80220010 5354554e 20746573 7420636c 69656e74
  00240004 6e0001ff
  80290008 932ff9b1 51263b36
  00060009 6576746a 3a683676 59202020
  00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
  80280004 e57a3bcf`);
/** 2.2: IPv4 response, XOR-MAPPED-ADDRESS 192.0.2.1:32853 (SOFTWARE padded with spaces, which is allowed). */
const RFC_RESPONSE_V4 = hex(`
  0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  80280004 c07d4c96`);
/** 2.3: IPv6 response, XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853. */
const RFC_RESPONSE_V6 = hex(`
  01010048 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
  00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
  80280004 c8fb0b4c`);

function ok(r: StunDecodeResult): StunMessage {
  if (!r.ok) throw new Error(`rejected: ${r.reason}`);
  return r.message;
}
const reason = (b: Uint8Array): string => {
  const r = decodeStun(b);
  return r.ok ? "ok" : r.reason;
};

/** A header with the given body length, followed by `body`. */
function rawMessage(type: number, body: Uint8Array, tid = RFC_TID, lengthField = body.length): Uint8Array {
  const out = new Uint8Array(20 + body.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, type);
  v.setUint16(2, lengthField);
  v.setUint32(4, MAGIC_COOKIE);
  out.set(tid, 8);
  out.set(body, 20);
  return out;
}

/** Appends a raw attribute (and fixes the header length); for attributes the encoder cannot write. */
function withAttribute(msg: Uint8Array, type: number, value: Uint8Array): Uint8Array {
  const padded = (value.length + 3) & ~3;
  const out = new Uint8Array(msg.length + 4 + padded);
  out.set(msg);
  const v = new DataView(out.buffer);
  v.setUint16(msg.length, type);
  v.setUint16(msg.length + 2, value.length);
  out.set(value, msg.length + 4);
  v.setUint16(2, out.length - 20);
  return out;
}

describe("crc32", () => {
  test("the check value of CRC-32/ISO-HDLC and agreement with zlib", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 24;
    };
    for (let n = 0; n < 50; n++) {
      const data = Uint8Array.from({ length: n * 13 }, rnd);
      expect(crc32(data)).toBe(zlibCrc32(data));
    }
  });
});

describe("RFC 5769 test vectors", () => {
  test("sample request: fingerprint checks, ICE and auth attributes are reported as not understood", () => {
    const m = ok(decodeStun(RFC_REQUEST));
    expect([m.method, m.cls, m.software, m.fingerprint, m.size]).toEqual([
      BINDING,
      "request",
      "STUN test client",
      true,
      108,
    ]);
    expect(toHex(m.transactionId)).toBe(toHex(RFC_TID));
    // PRIORITY, USERNAME, MESSAGE-INTEGRITY are comprehension-required; ICE-CONTROLLED (0x8029) is not.
    expect(m.unknownRequired).toEqual([0x0024, 0x0006, 0x0008]);
  });

  test("sample IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853", () => {
    const m = ok(decodeStun(RFC_RESPONSE_V4));
    expect([m.cls, m.software, m.fingerprint]).toEqual(["success", "test vector", true]);
    expect(m.xorMappedAddress).toEqual({ host: "192.0.2.1", port: 32853 });
  });

  test("sample IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853", () => {
    const m = ok(decodeStun(RFC_RESPONSE_V6));
    expect(m.xorMappedAddress).toEqual({ host: "2001:db8:1234:5678:11:2233:4455:6677", port: 32853 });
  });

  test("our encoder writes the vectors' XOR-MAPPED-ADDRESS bytes exactly", () => {
    const v4 = encodeStun({
      cls: "success",
      transactionId: RFC_TID,
      xorMappedAddress: { host: "192.0.2.1", port: 32853 },
    });
    expect(toHex(v4.subarray(20))).toBe(toHex(RFC_RESPONSE_V4.subarray(36, 48)));
    const v6 = encodeStun({
      cls: "success",
      transactionId: RFC_TID,
      xorMappedAddress: { host: "2001:db8:1234:5678:11:2233:4455:6677", port: 32853 },
    });
    expect(toHex(v6.subarray(20))).toBe(toHex(RFC_RESPONSE_V6.subarray(36, 60)));
  });

  test("any flipped bit in a fingerprinted vector is caught", () => {
    for (const at of [0x1f, 0x28, 0x2f, RFC_RESPONSE_V4.length - 1]) {
      const bad = RFC_RESPONSE_V4.slice();
      bad[at] = (bad[at] ?? 0) ^ 0x01;
      expect(reason(bad)).toBe("bad-fingerprint");
    }
  });
});

describe("golden bytes", () => {
  test("a Binding request with SOFTWARE and FINGERPRINT", () => {
    const req = encodeStun({
      cls: "request",
      transactionId: RFC_TID,
      software: "STUN test client",
      fingerprint: true,
    });
    // Fingerprint cross-checked with zlib's CRC-32 when this was written.
    expect(toHex(req)).toBe(
      toHex(
        hex(`0001001c 2112a442 b7e7a701 bc34d686 fa87dfae
             80220010 5354554e 20746573 7420636c 69656e74
             80280004 cbd62af5`),
      ),
    );
  });

  test("a Binding success response: XOR-MAPPED-ADDRESS, SOFTWARE with zero padding, FINGERPRINT", () => {
    const res = encodeStun({
      cls: "success",
      transactionId: RFC_TID,
      xorMappedAddress: { host: "192.0.2.1", port: 32853 },
      software: "test vector",
      fingerprint: true,
    });
    expect(toHex(res)).toBe(
      toHex(
        hex(`01010024 2112a442 b7e7a701 bc34d686 fa87dfae
             00200008 0001a147 e112a643
             8022000b 74657374 20766563 746f7200
             80280004 ada11b1e`),
      ),
    );
    expect(((zlibCrc32(res.subarray(0, res.length - 8)) ^ 0x5354554e) >>> 0).toString(16)).toBe("ada11b1e");
  });
});

describe("round trips", () => {
  const tid = hex("000102030405060708090a0b");

  test("requests with SOFTWARE, PADDING of odd length and FINGERPRINT", () => {
    for (const padding of [0, 1, 5, 300]) {
      const b = encodeStun({
        cls: "request",
        transactionId: tid,
        software: "héllo ☃",
        padding,
        fingerprint: true,
      });
      expect(b.length % 4).toBe(0);
      const m = ok(decodeStun(b));
      expect([m.cls, m.method, m.software, m.paddingLength, m.fingerprint]).toEqual([
        "request",
        BINDING,
        "héllo ☃",
        padding,
        true,
      ]);
      expect(toHex(m.transactionId)).toBe(toHex(tid));
    }
  });

  test("responses with IPv4, IPv6 and IPv4-mapped addresses, ports 0 and 65535", () => {
    for (const ep of [
      { host: "198.51.100.7", port: 10000 },
      { host: "203.0.113.255", port: 0 },
      { host: "2001:db8::1", port: 65535 },
      { host: "::", port: 1 },
      { host: "::ffff:192.0.2.9", port: 3478 },
    ]) {
      const m = ok(decodeStun(encodeStun({ cls: "success", transactionId: tid, xorMappedAddress: ep })));
      expect(m.xorMappedAddress).toEqual(ep);
      expect(m.fingerprint).toBe(false);
    }
  });

  test("every class of every method survives the type-bit interleaving", () => {
    for (const method of [0x001, 0x003, 0x00f, 0x070, 0xf80, 0xfff]) {
      for (const cls of ["request", "indication", "success", "error"] as const) {
        const m = ok(decodeStun(encodeStun({ method, cls, transactionId: tid })));
        expect([m.method, m.cls]).toEqual([method, cls]);
      }
    }
    // The fixed values RFC 8489 gives for Binding.
    expect(toHex(encodeStun({ cls: "success", transactionId: tid }).subarray(0, 2))).toBe("0101");
    expect(toHex(encodeStun({ cls: "error", transactionId: tid }).subarray(0, 2))).toBe("0111");
    expect(toHex(encodeStun({ cls: "indication", transactionId: tid }).subarray(0, 2))).toBe("0011");
  });

  test("MAPPED-ADDRESS from an old server, and ERROR-CODE", () => {
    const mapped = rawMessage(0x0101, hex("00010008 0001 2a26 c0000207")); // 192.0.2.7:10790, not XORed
    expect(ok(decodeStun(mapped)).mappedAddress).toEqual({ host: "192.0.2.7", port: 10790 });
    const err = withAttribute(
      rawMessage(0x0111, new Uint8Array(0)),
      StunAttr.ErrorCode,
      Uint8Array.from([0, 0, 4, 20, ...new TextEncoder().encode("Unknown Attribute")]),
    );
    expect(ok(decodeStun(err)).error).toEqual({ code: 420, reason: "Unknown Attribute" });
  });

  test("the first of duplicate attributes counts; attributes after MESSAGE-INTEGRITY are ignored", () => {
    let b = encodeStun({
      cls: "success",
      transactionId: tid,
      xorMappedAddress: { host: "192.0.2.1", port: 1 },
    });
    b = withAttribute(b, StunAttr.Software, new TextEncoder().encode("first"));
    b = withAttribute(b, StunAttr.Software, new TextEncoder().encode("second"));
    expect(ok(decodeStun(b)).software).toBe("first");
    let c = encodeStun({ cls: "success", transactionId: tid });
    c = withAttribute(c, StunAttr.MessageIntegrity, new Uint8Array(20));
    c = withAttribute(c, StunAttr.Software, new TextEncoder().encode("after integrity"));
    const m = ok(decodeStun(c));
    expect(m.software).toBeUndefined();
    expect(m.unknownRequired).toEqual([StunAttr.MessageIntegrity]);
  });

  test("the encoder refuses programming errors", () => {
    expect(() => encodeStun({ cls: "request", transactionId: new Uint8Array(11) })).toThrow(RangeError);
    expect(() =>
      encodeStun({ cls: "success", transactionId: tid, xorMappedAddress: { host: "example.net", port: 1 } }),
    ).toThrow(TypeError);
    expect(() => encodeStun({ cls: "request", transactionId: tid, software: "x".repeat(128) })).toThrow(
      RangeError,
    );
  });
});

describe("isStun demultiplexes", () => {
  test("STUN yes; netpunch packets, short or foreign datagrams no", () => {
    expect(isStun(RFC_REQUEST)).toBe(true);
    expect(isStun(encodeStun({ cls: "request", transactionId: RFC_TID }))).toBe(true);
    const np = new Uint8Array(64);
    np.set([0x4e, 0x50, 1, 1]);
    np.set(RFC_REQUEST.subarray(4, 8), 4); // even with a cookie where STUN has one
    expect(isStun(np)).toBe(false);
    expect(isStun(RFC_REQUEST.subarray(0, 19))).toBe(false);
    const noCookie = RFC_REQUEST.slice();
    noCookie[5] = 0;
    expect(isStun(noCookie)).toBe(false);
    const topBit = RFC_REQUEST.slice();
    topBit[0] = 0x80;
    expect(isStun(topBit)).toBe(false);
  });
});

describe("bad input is rejected with a reason, never an exception", () => {
  const good = encodeStun({
    cls: "success",
    transactionId: RFC_TID,
    xorMappedAddress: { host: "192.0.2.1", port: 32853 },
    fingerprint: true,
  });

  test("short, wrong cookie, top bits set", () => {
    expect(reason(new Uint8Array(0))).toBe("too-short");
    expect(reason(good.subarray(0, 19))).toBe("too-short");
    const cookie = good.slice();
    cookie[4] = 0x22;
    expect(reason(cookie)).toBe("not-stun");
    const top = good.slice();
    top[0] = 0x41;
    expect(reason(top)).toBe("not-stun");
  });

  test("header length not a multiple of 4, or not the datagram size", () => {
    expect(reason(rawMessage(0x0001, new Uint8Array(8), RFC_TID, 6))).toBe("bad-length");
    expect(reason(good.subarray(0, good.length - 4))).toBe("bad-length"); // truncated
    const trailing = new Uint8Array(good.length + 4);
    trailing.set(good);
    expect(reason(trailing)).toBe("bad-length");
  });

  test("bad attribute lengths", () => {
    // Claims 8 bytes of value where only 4 follow.
    expect(reason(rawMessage(0x0101, hex("00200008 0001a147")))).toBe("bad-attribute-length");
    // Value of 5 needs 3 bytes of padding that are missing.
    expect(reason(rawMessage(0x0101, hex("80220005 61626364 65")))).toBe("bad-length");
    expect(reason(rawMessage(0x0101, hex("80220006 61626364")))).toBe("bad-attribute-length");
    // IPv4 family with 7 or 20 bytes, IPv6 family with 8.
    expect(reason(rawMessage(0x0101, hex("00200007 0001a147 e112a600")))).toBe("bad-attribute-length");
    expect(reason(rawMessage(0x0101, hex(`00200014 0001a147 ${"00".repeat(16)}`)))).toBe(
      "bad-attribute-length",
    );
    expect(reason(rawMessage(0x0101, hex("00200008 0002a147 e112a643")))).toBe("bad-attribute-length");
    expect(reason(rawMessage(0x0101, hex("00200002 0001 0000")))).toBe("bad-attribute-length");
    expect(reason(rawMessage(0x0101, hex("00200008 0003a147 e112a643")))).toBe("bad-address");
    // FINGERPRINT must have 4 bytes; SOFTWARE at most 763; ERROR-CODE at least 4.
    expect(reason(rawMessage(0x0101, hex("80280008 00000000 00000000")))).toBe("bad-attribute-length");
    expect(
      reason(withAttribute(rawMessage(0x0101, new Uint8Array(0)), StunAttr.Software, new Uint8Array(764))),
    ).toBe("bad-attribute-length");
    expect(reason(rawMessage(0x0111, hex("00090002 0400 0000")))).toBe("bad-attribute-length");
  });

  test("bad fingerprint, and a fingerprint that is not last", () => {
    const bad = good.slice();
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0x80;
    expect(reason(bad)).toBe("bad-fingerprint");
    const body = good.slice();
    body[27] = (body[27] ?? 0) ^ 0x01; // the mapped port
    expect(reason(body)).toBe("bad-fingerprint");
    expect(reason(withAttribute(good, StunAttr.Software, new TextEncoder().encode("late")))).toBe(
      "fingerprint-not-last",
    );
  });

  test("every truncation and thousands of random datagrams decode without throwing", () => {
    for (let n = 0; n < good.length; n++) expect(decodeStun(good.subarray(0, n)).ok).toBe(false);
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed >>> 24;
    };
    for (let i = 0; i < 3000; i++) {
      const body = Uint8Array.from({ length: (rnd() % 16) * 4 }, rnd);
      // Mostly well-formed attribute headers with random types and lengths, to get past the header checks.
      const msg = rawMessage(rnd() & 0x3f ? 0x0101 : rnd() * 256 + rnd(), body);
      expect(() => decodeStun(msg)).not.toThrow();
      expect(() => stunAnswer(msg, { host: "192.0.2.1", port: 1 })).not.toThrow();
    }
  });
});

describe("stunAnswer (responder)", () => {
  const from: Endpoint = { host: "198.51.100.7", port: 40000 };

  test("refuses a bare 20-byte request: the answer would be larger (amplification)", () => {
    const bare = encodeStun({ cls: "request", transactionId: RFC_TID });
    expect(bare.length).toBe(20);
    expect(stunAnswer(bare, from)).toBeUndefined();
    // With only a FINGERPRINT (28 bytes) the answer would be 40: still refused.
    expect(
      stunAnswer(encodeStun({ cls: "request", transactionId: RFC_TID, fingerprint: true }), from),
    ).toBeUndefined();
  });

  test("answers a padded request with a response no larger than it", () => {
    const req = encodeStun({ cls: "request", transactionId: RFC_TID, padding: 24, fingerprint: true });
    const answer = stunAnswer(req, from);
    if (!answer) throw new Error("no answer");
    expect(answer.length).toBeLessThanOrEqual(req.length);
    const m = ok(decodeStun(answer));
    expect([m.cls, m.method, m.fingerprint]).toEqual(["success", BINDING, true]);
    expect(toHex(m.transactionId)).toBe(toHex(RFC_TID));
    expect(m.xorMappedAddress).toEqual(from);
  });

  test("the boundary: a request exactly the answer's size is answered, 4 bytes less is not", () => {
    // Without FINGERPRINT an IPv4 answer is 20 + 12 = 32 bytes.
    const equal = encodeStun({ cls: "request", transactionId: RFC_TID, padding: 8 });
    expect(equal.length).toBe(32);
    expect(stunAnswer(equal, from)?.length).toBe(32);
    expect(
      stunAnswer(encodeStun({ cls: "request", transactionId: RFC_TID, padding: 4 }), from),
    ).toBeUndefined();
  });

  test("a request padded to MIN_ANSWERED_REQUEST_LEN is answered for IPv6 too; v4-mapped comes back as IPv4", () => {
    const req = encodeStun({
      cls: "request",
      transactionId: RFC_TID,
      software: "x".repeat(20),
      fingerprint: true,
    });
    expect(req.length).toBe(MIN_ANSWERED_REQUEST_LEN);
    const v6 = stunAnswer(req, { host: "2001:db8::7", port: 1 });
    expect(v6?.length).toBe(MIN_ANSWERED_REQUEST_LEN);
    expect(ok(decodeStun(v6 ?? new Uint8Array())).xorMappedAddress).toEqual({ host: "2001:db8::7", port: 1 });
    const mapped = stunAnswer(req, { host: "::ffff:192.0.2.44", port: 2 });
    expect(ok(decodeStun(mapped ?? new Uint8Array())).xorMappedAddress).toEqual({
      host: "192.0.2.44",
      port: 2,
    });
    // Without FINGERPRINT in the request there is none in the answer.
    const plain = stunAnswer(encodeStun({ cls: "request", transactionId: RFC_TID, padding: 40 }), from);
    expect(ok(decodeStun(plain ?? new Uint8Array())).fingerprint).toBe(false);
  });

  test("drops everything that is not a plain, valid Binding request", () => {
    const padded = { transactionId: RFC_TID, padding: 64 };
    expect(stunAnswer(encodeStun({ cls: "indication", ...padded }), from)).toBeUndefined();
    expect(stunAnswer(encodeStun({ cls: "success", ...padded }), from)).toBeUndefined();
    expect(stunAnswer(encodeStun({ cls: "error", ...padded }), from)).toBeUndefined();
    expect(stunAnswer(encodeStun({ cls: "request", method: 0x003, ...padded }), from)).toBeUndefined(); // TURN Allocate
    expect(stunAnswer(RFC_REQUEST, from)).toBeUndefined(); // USERNAME, MESSAGE-INTEGRITY: not implemented
    const changeRequest = withAttribute(encodeStun({ cls: "request", ...padded }), 0x0003, new Uint8Array(4));
    expect(stunAnswer(changeRequest, from)).toBeUndefined();
    const badFp = encodeStun({ cls: "request", ...padded, fingerprint: true });
    badFp[badFp.length - 1] = (badFp[badFp.length - 1] ?? 0) ^ 1;
    expect(stunAnswer(badFp, from)).toBeUndefined();
    expect(stunAnswer(new TextEncoder().encode(`NP${"x".repeat(100)}`), from)).toBeUndefined();
    expect(
      stunAnswer(encodeStun({ cls: "request", ...padded }), { host: "not-an-ip", port: 1 }),
    ).toBeUndefined();
  });

  test("unknown comprehension-optional attributes do not stop an answer", () => {
    const req = withAttribute(
      encodeStun({ cls: "request", transactionId: RFC_TID, padding: 40 }),
      0x8029,
      new Uint8Array(8),
    );
    expect(stunAnswer(req, from)).toBeDefined();
  });
});

describe("stunBinding over a memory network", () => {
  const SERVER: Endpoint = { host: "198.18.1.2", port: 3478 };
  const CLIENT: Endpoint = { host: "192.0.2.10", port: 5000 };

  afterEach(() => {
    jest.useRealTimers();
  });

  /** A network with netpunch's responder at SERVER; `answer` may replace it. */
  function setup(answer: (req: Uint8Array, from: Endpoint) => Uint8Array | undefined = stunAnswer) {
    const net = new MemoryNetwork();
    const server = net.bind(SERVER, (data, from) => {
      const a = answer(data, from);
      if (a) server.send(a, from);
    });
    const transport: TransportFactory = async (bind, onDatagram) => net.bind(bind, onDatagram);
    return { net, transport };
  }

  test("learns the mapped address; the request is padded with SOFTWARE, fingerprinted, and has no PADDING", async () => {
    const { net, transport } = setup();
    const r = await stunBinding({ server: SERVER, local: CLIENT, transport });
    expect(r.mapped).toEqual(CLIENT);
    expect(r.local).toEqual(CLIENT);
    expect(r.rttMs).toBeGreaterThanOrEqual(0);
    const req = net.sent[0]?.data ?? new Uint8Array();
    expect(req.length).toBeGreaterThanOrEqual(MIN_ANSWERED_REQUEST_LEN);
    const m = ok(decodeStun(req));
    expect(m.software).toStartWith("netpunch ");
    expect([m.fingerprint, m.paddingLength, m.unknownRequired]).toEqual([true, undefined, []]);
    expect(net.sent.length).toBe(2); // one request, one answer
  });

  test("retransmits the same request after 500 ms, then 1000 ms, and takes the answer to a later try", async () => {
    // A manual clock: the retransmission times are the client's own timers, exactly, whatever the machine's load.
    const clock = new ManualClock(0);
    const sends: { at: number; data: Uint8Array }[] = [];
    const { net, transport } = setup();
    net.drop = (rec) => {
      if (rec.to.port !== SERVER.port) return false;
      sends.push({ at: clock.now(), data: rec.data });
      return sends.length <= 2; // the first two requests are lost
    };
    let result: Awaited<ReturnType<typeof stunBinding>> | undefined;
    const done = stunBinding({ server: SERVER, local: CLIENT, transport, clock }).then((r) => {
      result = r;
    });
    // Bounded: each turn delivers what is in flight (microtasks), then moves to the next timer.
    for (let turn = 0; turn < 20 && !result; turn++) {
      await Bun.sleep(0);
      if (!result) clock.fireNext();
    }
    await done;
    expect(result?.mapped).toEqual(CLIENT);
    expect(sends.length).toBe(3);
    expect(toHex(sends[1]?.data ?? new Uint8Array())).toBe(toHex(sends[0]?.data ?? new Uint8Array()));
    expect(sends.map((x) => x.at)).toEqual([0, 500, 1500]);
  });

  test("a silent server: E_SERVER_SILENT within timeoutMs, with a hint", async () => {
    const { transport } = setup(() => undefined);
    const err = await stunBinding({ server: SERVER, local: CLIENT, transport, timeoutMs: 1600 }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(NetpunchError);
    expect(err.code).toBe("E_SERVER_SILENT");
    expect(err.message).toContain("after 3 tries"); // at 0, 500 and 1500 ms
    expect(err.message).toContain("198.18.1.2:3478");
    expect(err.hint).toContain("UDP port 3478");
  });

  test("RFC 8489's bound: at most 7 tries, failing 39.5 s after the first, even with a longer timeout", async () => {
    jest.useFakeTimers();
    const { net, transport } = setup(() => undefined);
    let error: unknown;
    const p = stunBinding({ server: SERVER, local: CLIENT, transport, timeoutMs: 600_000 }).catch((e) => {
      error = e;
    });
    for (let i = 0; i < 20 && net.sent.length === 0; i++) await Promise.resolve();
    expect(net.sent.length).toBe(1);
    jest.advanceTimersByTime(39_499);
    expect(net.sent.length).toBe(7);
    expect(error).toBeUndefined();
    jest.advanceTimersByTime(2);
    await p;
    expect((error as NetpunchError).message).toContain("after 7 tries (39.5 s)");
    jest.advanceTimersByTime(600_000);
    expect(net.sent.length).toBe(7);
  });

  test("an ICMP port unreachable is reported as a closed port, not as silence", async () => {
    const transport: TransportFactory = async (bind, _onDatagram, onError) => ({
      local: bind,
      send: () => {
        queueMicrotask(() => onError?.("ECONNREFUSED"));
        return true;
      },
      close: () => {},
    });
    const err = await stunBinding({ server: SERVER, local: CLIENT, transport, timeoutMs: 700 }).catch(
      (e) => e,
    );
    expect(err.code).toBe("E_SERVER_SILENT");
    expect(err.message).toContain("ICMP port unreachable");
  });

  test("an error response ends the transaction with its code; foreign transaction ids are ignored", async () => {
    const { transport } = setup((req) => {
      const m = decodeStun(req);
      if (!m.ok) return undefined;
      return withAttribute(
        encodeStun({ cls: "error", transactionId: m.message.transactionId }),
        StunAttr.ErrorCode,
        Uint8Array.from([0, 0, 4, 20, ...new TextEncoder().encode("Unknown Attribute")]),
      );
    });
    const err = await stunBinding({ server: SERVER, local: CLIENT, transport }).catch((e) => e);
    expect(err.code).toBe("E_STUN_REFUSED"); // it answered: not a silent server
    expect(err.message).toContain("420 Unknown Attribute");

    const other = setup(() =>
      encodeStun({
        cls: "success",
        transactionId: new Uint8Array(12),
        xorMappedAddress: { host: "192.0.2.66", port: 6 },
      }),
    );
    const silent = await stunBinding({
      server: SERVER,
      local: CLIENT,
      transport: other.transport,
      timeoutMs: 600,
    }).catch((e) => e);
    expect(silent.code).toBe("E_SERVER_SILENT");
  });

  test("falls back to MAPPED-ADDRESS from an old server", async () => {
    const { transport } = setup((req, from) => {
      const m = decodeStun(req);
      if (!m.ok) return undefined;
      const value = new Uint8Array(8);
      const v = new DataView(value.buffer);
      v.setUint16(0, 1);
      v.setUint16(2, from.port);
      value.set(from.host.split(".").map(Number), 4);
      return withAttribute(
        rawMessage(0x0101, new Uint8Array(0), m.message.transactionId),
        StunAttr.MappedAddress,
        value,
      );
    });
    expect((await stunBinding({ server: SERVER, local: CLIENT, transport })).mapped).toEqual(CLIENT);
  });

  test("an AbortSignal cancels, before and during the transaction", async () => {
    const { transport } = setup(() => undefined);
    const pre = await stunBinding({
      server: SERVER,
      local: CLIENT,
      transport,
      signal: AbortSignal.abort(),
    }).catch((e) => e);
    expect(pre.code).toBe("E_ABORTED");
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const during = await stunBinding({ server: SERVER, local: CLIENT, transport, signal: ac.signal }).catch(
      (e) => e,
    );
    expect(during.code).toBe("E_ABORTED");
  });

  test("stunBindingOn learns the mapping of a socket the caller keeps, sharing it with other traffic", async () => {
    const net = new MemoryNetwork();
    const server = net.bind(SERVER, (data, from) => {
      const a = stunAnswer(data, from);
      if (a) server.send(a, from);
    });
    const receivers = new Set<DatagramHandler>();
    const other: Uint8Array[] = [];
    const socket = net.bind(CLIENT, (data, from) => {
      if (!isStun(data)) other.push(data);
      else for (const r of receivers) r(data, from);
    });
    const r = await stunBindingOn(
      {
        send: (d, to) => socket.send(d, to),
        onDatagram: (h) => {
          receivers.add(h);
          return () => receivers.delete(h);
        },
      },
      { server: SERVER },
    );
    expect(r.mapped).toEqual(CLIENT);
    expect(receivers.size).toBe(0); // unsubscribed again
    socket.close();
  });
});

test("stunBinding against stunAnswer over real UDP on loopback", async () => {
  let errors: string[] = [];
  const onError: ErrorHandler = (code) => {
    errors = [...errors, code];
  };
  const server = await openUdp(
    { host: "127.0.0.1", port: 0 },
    (data, from) => {
      const a = stunAnswer(data, from);
      if (a) server.send(a, from);
    },
    onError,
  );
  try {
    const r = await stunBinding({
      server: server.local,
      local: { host: "127.0.0.1", port: 0 },
      timeoutMs: 3000,
    });
    expect(r.mapped).toEqual({ host: "127.0.0.1", port: r.local.port });
    expect(r.local.port).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  } finally {
    server.close();
  }
});
