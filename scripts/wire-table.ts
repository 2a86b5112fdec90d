// Renders README's wire tables from the message table (src/protocol/message-table.ts): the packet envelope
// with its type list and the bodies table for "Wire format (version 2)", and the relay messages table for
// "Relay fallback". test/unit/protocol/wire-table.test.ts checks that README contains them exactly, so after a
// change to the table, run this and paste its output over the old tables.
// Usage: bun scripts/wire-table.ts
import { HEADER_LEN, MAGIC, NONCE_LEN, TAG_LEN, VERSION } from "../src/protocol/constants.ts";
import { endpoint, nat, text, withNote } from "../src/protocol/fields.ts";
import { MESSAGE_ROWS, type WireRow, wireName } from "../src/protocol/message-table.ts";

/** A Markdown table with every column padded to its widest cell, as README's tables are laid out. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  for (const cell of rows.flat())
    if (cell.includes("|")) throw new Error(`a table cell cannot hold "|": ${cell}`);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Breaks prose at spaces into lines of at most `width`, as README's paragraphs are. */
export function wrap(prose: string, width = README_WIDTH): string {
  const lines: string[] = [];
  let line = "";
  for (const word of prose.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join("\n");
}
/** README's paragraphs wrap at the code's line width (biome.json), so the two read alike in an editor. */
const README_WIDTH = 110;

/** A message's body in words: its fields in wire order, then its padding and its note. */
export function describeBody(row: WireRow): string {
  const fields = row.fields.map(([, codec, label, note]) => {
    const words = codec.describe(label);
    return note ? withNote(words, note) : words;
  });
  const padding = row.padTo ? `; zero padding to ${row.padTo} bytes in all` : "";
  return `${fields.join(", ")}${padding}${row.note ? `; ${row.note}` : ""}`;
}

/** The envelope's timestamp: what is left of the header after magic, version, type and nonce. */
const TIMESTAMP_LEN = HEADER_LEN - MAGIC.length - 1 - 1 - NONCE_LEN;
const hexByte = (b: number) => `0x${b.toString(16).toUpperCase().padStart(2, "0")}`;

export function envelopeTable(): string {
  const types = MESSAGE_ROWS.map(([name, row]) => `${row.code} ${wireName(name)}`).join(", ");
  return markdownTable(
    ["bytes", "field"],
    [
      [`${MAGIC.length}`, `magic \`${String.fromCharCode(...MAGIC)}\` (${MAGIC.map(hexByte).join(" ")})`],
      ["1", `version, ${VERSION}`],
      ["1", `type: ${types}`],
      [
        `${TIMESTAMP_LEN}`,
        "the server's clock as the sender knows it, ms since the epoch, big-endian (a first REGISTER: the sender's own clock)",
      ],
      [`${NONCE_LEN}`, "random nonce"],
      ["n", "body (below)"],
      [`${TAG_LEN}`, "tag: HMAC-SHA256 over all the bytes before it, first 128 bits"],
    ],
  );
}

export function bodiesTable(): string {
  const legend =
    `Bodies (addresses are \`${endpoint.layout}\`; strings are \`${text.layout}\`; NAT behaviour is ` +
    `\`${nat.layout}\`):`;
  const rows = MESSAGE_ROWS.map(([name, row]) => [
    wireName(name),
    row.readme === "relay" ? "see [Relay fallback](#relay-fallback)" : describeBody(row),
  ]);
  return `${wrap(legend)}\n\n${markdownTable(["type", "body"], rows)}`;
}

export function relayTable(): string {
  const rows = MESSAGE_ROWS.filter(([, row]) => row.readme === "relay").map(([name, row]) => [
    wireName(name),
    describeBody(row),
  ]);
  return markdownTable(["message", "body"], rows);
}

if (import.meta.main) {
  console.log(`<!-- README "Wire format (version 2)" -->\n\n${envelopeTable()}\n\n${bodiesTable()}\n`);
  console.log(`<!-- README "Relay fallback" -->\n\n${relayTable()}`);
}
