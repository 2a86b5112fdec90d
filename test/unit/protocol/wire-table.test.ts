// README's wire tables are rendered from the message table: a change to a message that README does not
// follow fails here. `bun scripts/wire-table.ts` prints the tables to paste.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  bodiesTable,
  describeBody,
  envelopeTable,
  markdownTable,
  relayTable,
  wrap,
} from "../../../scripts/wire-table.ts";
import { MESSAGES } from "../../../src/protocol/message-table.ts";

const README = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
const section = (heading: string) => {
  const start = README.indexOf(`\n### ${heading}\n`);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const end = README.indexOf("\n#", start + heading.length + 6);
  return README.slice(start, end);
};

describe("README's wire tables match the message table", () => {
  test('"Wire format (version 2)": the envelope with its type list', () => {
    expect(section("Wire format (version 2)")).toContain(envelopeTable());
  });

  test('"Wire format (version 2)": the bodies, with their legend', () => {
    expect(section("Wire format (version 2)")).toContain(bodiesTable());
  });

  test('"Relay fallback": the relay messages', () => {
    expect(section("Relay fallback")).toContain(relayTable());
  });
});

describe("rendering", () => {
  test("a table pads every column to its widest cell", () => {
    expect(markdownTable(["a", "bb"], [["ccc", "d"]])).toBe("| a   | bb |\n| --- | -- |\n| ccc | d  |");
  });

  test('a cell with "|" is refused rather than breaking the table', () => {
    expect(() => markdownTable(["a"], [["x|y"]])).toThrow();
  });

  test("prose wraps at spaces", () => {
    expect(wrap("aa bb cc", 5)).toBe("aa bb\ncc");
  });

  test("a body: fields with their notes, then padding, then the row's note", () => {
    expect(describeBody(MESSAGES.relayBind)).toBe(
      "pair id (16), peer id (8), token (16; all zero: none yet); zero padding to 128 bytes in all; " +
        "sent to the relay port",
    );
    expect(describeBody(MESSAGES.relayOffer)).toBe(
      "pair id (16), recipient's peer id (8), status u8 (0 ok, 1 off, 2 full, 3 limit), relay port u16 " +
        "(non-zero exactly when ok), relay host (family u8 4 or 6, then 4 or 16 bytes; family 0: the server's " +
        "own address; only when ok)",
    );
  });
});
