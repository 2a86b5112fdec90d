// The tunnel offer inside the pairing handshake (src/pair/pair-offer.ts).
import { expect, test } from "bun:test";
import type { NetpunchError } from "../../../src/errors.ts";
import { decodePairOffer, encodePairOffer, type PairOffer } from "../../../src/pair/pair-offer.ts";

const key = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

test.each<[string, PairOffer]>([
  ["wireguard with an address", { hook: "wireguard", key, address: { cidr: "198.18.201.1/24" } }],
  ["openvpn from a range", { hook: "openvpn", key, address: { range: "198.18.0.0/16" } }],
  ["wireguard on the pair's ULA", { hook: "wireguard", key, address: { ula: true } }],
  [
    "the longest IPv6 address",
    { hook: "wireguard", key, address: { cidr: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128" } },
  ],
])("round-trips: %s", (_what, offer) => {
  const bytes = encodePairOffer(offer);
  expect(bytes.length).toBeLessThanOrEqual(192 - 33); // with the PAKE's version and share, within MAX_OFFER_LEN
  expect(decodePairOffer(bytes)).toEqual(offer);
});

test.each([
  ["an unknown hook", Uint8Array.of(9, ...key, 4, ...new TextEncoder().encode("@ula"))],
  ["a wrong length", Uint8Array.of(1, ...key, 9, ...new TextEncoder().encode("@ula"))],
  ["not an address", Uint8Array.of(1, ...key, 5, ...new TextEncoder().encode("hello"))],
  ["a prefix too long", Uint8Array.of(1, ...key, 12, ...new TextEncoder().encode("192.0.2.1/33"))],
])("refuses %s", (_what, bytes) => {
  let code = "";
  try {
    decodePairOffer(bytes);
  } catch (e) {
    code = (e as NetpunchError).code;
  }
  expect(code).toBe("E_PAIR");
});
