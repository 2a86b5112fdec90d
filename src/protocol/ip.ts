import { isIP } from "../addr.ts";

/** IP literal <-> bytes, so the wire format carries 4 or 16 bytes instead of text. */
export function ipToBytes(host: string): Uint8Array {
  const family = isIP(host);
  if (family === 4) return Uint8Array.from(host.split(".").map(Number));
  if (family !== 6) throw new TypeError(`not an IP literal: ${host}`);
  let text = host.toLowerCase();
  const out = new Uint8Array(16);
  // An embedded dotted quad (::ffff:1.2.3.4) fills the last four bytes.
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  let tailBytes: number[] = [];
  if (tail.includes(".")) {
    tailBytes = tail.split(".").map(Number);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head = "", rest] = text.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const restGroups = rest === undefined || rest === "" ? [] : rest.split(":");
  const groups =
    rest === undefined
      ? headGroups
      : [...headGroups, ...Array(8 - headGroups.length - restGroups.length).fill("0"), ...restGroups];
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  if (tailBytes.length === 4) out.set(tailBytes, 12);
  return out;
}

export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new TypeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // RFC 5952: compress the longest run (length >= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // RFC 5952 section 5: an IPv4-mapped address keeps its dotted tail, so normalizeHost() can unwrap it.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)
    return `::ffff:${Array.from(bytes.subarray(12)).join(".")}`;
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}
