// The message table drives the codec: these check the table itself (codes, schemas, fields, padding) and the
// field codecs it is made of. The golden bytes in codec.test.ts pin what the table encodes.
import { describe, expect, test } from "bun:test";
import { decodeBody, encodeBody } from "../../../src/protocol/body.ts";
import { Reader, Writer } from "../../../src/protocol/bytes.ts";
import { HEADER_LEN, MessageType, TAG_LEN } from "../../../src/protocol/constants.ts";
import {
  allZeros,
  char,
  enumOf,
  type FieldCodec,
  flag,
  hex,
  hexWithLength,
  nat,
  optional,
  u16,
  zeroFirstByte,
} from "../../../src/protocol/fields.ts";
import { MESSAGE_ROWS, MESSAGES, wireName } from "../../../src/protocol/message-table.ts";
import { MessageSchema } from "../../../src/protocol/messages.ts";
import { fromHex, toHex } from "../support.ts";

const OVERHEAD = HEADER_LEN + TAG_LEN;

describe("one row per message", () => {
  test("every message type has a row with its MessageType code, and no code is used twice", () => {
    expect(Object.keys(MESSAGES).sort()).toEqual(Object.keys(MessageType).sort());
    for (const [name, row] of MESSAGE_ROWS) expect(row.code).toBe(MessageType[name]);
    expect(new Set(MESSAGE_ROWS.map(([, row]) => row.code)).size).toBe(MESSAGE_ROWS.length);
  });

  test("the rows are in code order", () => {
    const codes = MESSAGE_ROWS.map(([, row]) => row.code);
    expect(codes).toEqual([...codes].sort((a, b) => a - b));
  });

  test("each row's schema is the one MessageSchema checks that type with", () => {
    for (const option of MessageSchema.options)
      expect(MESSAGES[option.entries.type.literal].schema).toBe(option as never);
  });

  test.each(MESSAGE_ROWS)("%s: its fields are exactly its schema's, each once", (_name, row) => {
    const names = row.fields.map(([field]) => field);
    const entries = Object.keys((row.schema as unknown as { entries: object }).entries);
    expect(new Set(names).size).toBe(names.length);
    expect([...names, "type"].sort()).toEqual(entries.sort());
  });

  test("the padded messages, and to how many bytes", () => {
    const padded = MESSAGE_ROWS.flatMap(([name, row]) => (row.padTo ? [[name, row.padTo]] : []));
    expect(padded).toEqual([
      ["register", 512],
      ["probe", 96],
      ["relayRequest", 128],
      ["relayBind", 128],
      ["natUpdate", 96],
    ]);
  });

  test("README names", () => {
    expect(["register", "matchAck", "probeReply", "relayChallenge"].map((n) => wireName(n as never))).toEqual(
      ["REGISTER", "MATCH_ACK", "PROBE_REPLY", "RELAY_CHALLENGE"],
    );
  });

  test("a padded body fills the packet; a body of an unpadded one may not be followed by zeros", () => {
    const bind = encodeBody({ type: "relayBind", pairId: "00".repeat(16), peerId: "11".repeat(8) }, OVERHEAD);
    expect(bind.body.length + OVERHEAD).toBe(MESSAGES.relayBind.padTo);
    expect(decodeBody(bind.type, bind.body)).toEqual({
      type: "relayBind",
      pairId: "00".repeat(16),
      peerId: "11".repeat(8),
    });
    const unmatch = encodeBody({ type: "unmatch", to: "11".repeat(8), pairId: "00".repeat(16) }, OVERHEAD);
    expect(() => decodeBody(unmatch.type, new Uint8Array([...unmatch.body, 0]))).toThrow(RangeError);
  });

  test("a code with no row is refused", () => {
    for (const code of [0, 18, 19, 21, 255])
      expect(() => decodeBody(code, new Uint8Array(40))).toThrow(/type/);
  });
});

describe("field codecs", () => {
  const bytes = <T>(codec: FieldCodec<T>, value: T) => {
    const w = new Writer();
    codec.write(w, value);
    return toHex(w.done());
  };
  const read = <T>(codec: FieldCodec<T>, hexBytes: string) => {
    const r = new Reader(fromHex(hexBytes));
    const value = codec.read(r);
    return { value, left: r.remaining };
  };

  test.each([
    ["an absent alt port is 0000", optional(u16, allZeros(2, "")), undefined, "0000"],
    ["a present alt port", optional(u16, allZeros(2, "")), 10002, "2712"],
    ["absent NAT info is three zeros", optional(nat, zeroFirstByte(3, "")), undefined, "000000"],
    ["a step of -2 is 0xfffe", nat, { mapping: "sequential", step: -2 }, "03fffe"],
    [
      "an absent cookie is its zero length",
      optional(hexWithLength(2), zeroFirstByte(1, "")),
      undefined,
      "00",
    ],
    ["a cookie after its length", optional(hexWithLength(2), zeroFirstByte(1, "")), "c0c1", "02c0c1"],
    ["statuses count from `first`", enumOf(["x", "y"], 1), "y", "02"],
    ["a role is its ASCII byte", char(["a", "b"]), "b", "62"],
    ["true is 01", flag, true, "01"],
  ] as [string, FieldCodec<unknown>, unknown, string][])("%s", (_name, codec, value, wire) => {
    expect(bytes(codec, value)).toBe(wire);
    expect(read(codec, wire)).toEqual({ value, left: 0 });
  });

  test("absent reads skip the whole absent encoding, decided by its lead bytes", () => {
    // NAT code 0 is "unknown" whatever the step bytes say, as version 2 always read it.
    expect(read(optional(nat, zeroFirstByte(3, "")), "00ffff")).toEqual({ value: undefined, left: 0 });
    expect(read(optional(u16, allZeros(2, "")), "0001")).toEqual({ value: 1, left: 0 });
    expect(read(optional(hex(2), allZeros(2, "")), "0000ff")).toEqual({ value: undefined, left: 1 });
  });

  test.each([
    ["a flag of 2", flag, "02"],
    ["an enum code below the first", enumOf(["x"], 1), "00"],
    ["an enum code past the last", enumOf(["x"], 1), "02"],
    ["required NAT info that is absent", nat, "000000"],
    ["a NAT code past random", nat, "050000"],
    ["a cookie length other than its size", hexWithLength(2), "01c0"],
    ["an optional field cut short", optional(u16, allZeros(2, "")), "00"],
  ] as [string, FieldCodec<unknown>, string][])("refused: %s", (_name, codec, wire) => {
    expect(() => read(codec, wire)).toThrow();
  });
});
