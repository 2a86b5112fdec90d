// The offer codec: a hook's fields in versioned JSON, refused with E_OFFER when missing, malformed, of another
// hook or another version, or too large.
import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { NetpunchError } from "../../../src/errors.ts";
import { decodeOffer, encodeOffer, OFFER_MAX_BYTES, OFFER_VERSION } from "../../../src/hooks/offer.ts";

const SCHEMA = v.object({ key: v.pipe(v.string(), v.minLength(4)), address: v.string() });
const text = (s: string) => new TextEncoder().encode(s);
const decode = (bytes: Uint8Array | undefined) => decodeOffer(bytes, "wireguard", "home/office", SCHEMA);

function refusal(f: () => unknown): NetpunchError {
  try {
    f();
  } catch (e) {
    if (e instanceof NetpunchError) return e;
    throw e;
  }
  throw new Error("expected a NetpunchError");
}

describe("offer codec", () => {
  test("encodes the hook's fields with the version and the hook's name, and reads them back", () => {
    const bytes = encodeOffer("wireguard", { key: "abcd", address: "198.18.201.1/24" });
    expect(JSON.parse(new TextDecoder().decode(bytes))).toEqual({
      v: OFFER_VERSION,
      hook: "wireguard",
      key: "abcd",
      address: "198.18.201.1/24",
    });
    expect(decode(bytes)).toEqual({ key: "abcd", address: "198.18.201.1/24" });
  });

  test("a hook's field cannot overwrite the version or the hook's name", () => {
    const bytes = encodeOffer("wireguard", { key: "abcd", address: "x", v: 99, hook: "openvpn" });
    expect(JSON.parse(new TextDecoder().decode(bytes))).toMatchObject({
      v: OFFER_VERSION,
      hook: "wireguard",
    });
  });

  test("an offer over the bound is a bug of the hook, refused before it is sent", () => {
    const e = refusal(() => encodeOffer("wireguard", { key: "k".repeat(OFFER_MAX_BYTES) }));
    expect(e.code).toBe("E_OFFER");
    expect(e.message).toContain(`more than the ${OFFER_MAX_BYTES}`);
  });

  test.each([
    ["missing", undefined, /sent no wireguard offer/],
    ["empty", text(""), /sent no wireguard offer/],
    ["not JSON", text("{key"), /malformed: not UTF-8 JSON/],
    ["not UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), /malformed: not UTF-8 JSON/],
    ["no version", text('{"hook":"wireguard","key":"abcd","address":"a"}'), /no version or hook name/],
    ["an array", text("[1,2]"), /no version or hook name/],
    [
      "another hook",
      text('{"v":1,"hook":"openvpn","key":"abcd","address":"a"}'),
      /offered for the openvpn hook/,
    ],
    [
      "another version",
      text('{"v":2,"hook":"wireguard","key":"abcd","address":"a"}'),
      /version 2, this side reads version 1/,
    ],
    ["a bad field", text('{"v":1,"hook":"wireguard","key":"ab","address":"a"}'), /malformed: key: /],
    ["a missing field", text('{"v":1,"hook":"wireguard","key":"abcd"}'), /malformed: address: /],
    ["too large", text(`{"v":1,"hook":"wireguard","key":"${"k".repeat(OFFER_MAX_BYTES)}"}`), /more than 192/],
  ])("refuses an offer that is %s, naming the tunnel", (_what, bytes, message) => {
    const e = refusal(() => decode(bytes));
    expect(e.code).toBe("E_OFFER");
    expect(e.message).toMatch(message);
    expect(e.message).toContain("tunnel home/office");
    expect(e.exitCode).toBe(1);
  });
});

test("the hooks' bound on an offer is the wire's (src/hooks may not import the protocol, so it is a copy)", async () => {
  const { MAX_OFFER_LEN } = await import("../../../src/protocol/constants.ts");
  expect(OFFER_MAX_BYTES).toBe(MAX_OFFER_LEN);
});
