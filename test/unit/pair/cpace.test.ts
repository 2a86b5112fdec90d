// CPace (src/pair/cpace.ts) against draft-irtf-cfrg-cpace-21's own vectors: the string utilities of its
// appendix and "Test vector for CPace using group ristretto255 and hash SHA-512".
import { describe, expect, test } from "bun:test";
import {
  calculateGenerator,
  confirmationTag,
  generatorString,
  intermediateKey,
  isIdentity,
  lvCat,
  macKey,
  prependLen,
  scalarFromBytes,
  scalarMult,
  scalarMultVfy,
  sidOutput,
  transcriptIr,
} from "../../../src/pair/cpace.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("string utilities (the draft's appendix vectors)", () => {
  test("prepend_len", () => {
    expect(toHex(prependLen(new Uint8Array(0)))).toBe("00");
    expect(toHex(prependLen(bytes("1234")))).toBe("0431323334");
    const r127 = Uint8Array.from({ length: 127 }, (_, i) => i);
    expect(toHex(prependLen(r127).subarray(0, 2))).toBe("7f00");
    const r128 = Uint8Array.from({ length: 128 }, (_, i) => i);
    const p = prependLen(r128);
    expect(p.length).toBe(130);
    expect(toHex(p.subarray(0, 3))).toBe("800100");
  });
  test("lv_cat", () => {
    expect(toHex(lvCat(bytes("1234"), bytes("5"), bytes(""), bytes("678")))).toBe("043132333401350003363738");
  });
  test("transcript_ir", () => {
    expect(toHex(transcriptIr(bytes("123"), bytes("PartyA"), bytes("234"), bytes("PartyB")))).toBe(
      "03313233065061727479410332333406506172747942",
    );
  });
});

describe("CPACE-RISTR255-SHA512 (the draft's ristretto255 vectors)", () => {
  const PRS = bytes("Password");
  const CI = hex("0b415f696e69746961746f720b425f726573706f6e646572");
  const sid = hex("7e4b4791d6a8ef019b936c79fb7f2c57");
  const ya = hex("da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08");
  const yb = hex("d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d");
  const ADa = bytes("ADa");
  const ADb = bytes("ADb");
  const Ya = "d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157";
  const Yb = "3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258";
  const K = "80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f";

  test("generator_string and the encoded generator g", () => {
    const s = generatorString(PRS, CI, sid);
    expect(s.length).toBe(170);
    expect(toHex(s)).toBe(
      `11435061636552697374726574746f3235350850617373776f726464${"00".repeat(100)}180b415f696e69746961746f720b425f726573706f6e646572107e4b4791d6a8ef019b936c79fb7f2c57`,
    );
    expect(toHex(calculateGenerator(PRS, CI, sid).toBytes())).toBe(
      "222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56",
    );
  });

  test("the shares Ya and Yb, and both sides' K", () => {
    const g = calculateGenerator(PRS, CI, sid);
    expect(toHex(scalarMult(scalarFromBytes(ya), g))).toBe(Ya);
    expect(toHex(scalarMult(scalarFromBytes(yb), g))).toBe(Yb);
    expect(toHex(scalarMultVfy(scalarFromBytes(ya), hex(Yb)))).toBe(K);
    expect(toHex(scalarMultVfy(scalarFromBytes(yb), hex(Ya)))).toBe(K);
  });

  test("ISK (initiator-responder) and sid_output", () => {
    const t = transcriptIr(hex(Ya), ADa, hex(Yb), ADb);
    expect(t.length).toBe(74);
    expect(toHex(intermediateKey(sid, hex(K), t))).toBe(
      "b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dcae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c3fa2068af7900447",
    );
    expect(toHex(sidOutput(t))).toBe(
      "bb1c449b35f0ea79a65c209f329a693d475e0ce2387bed9fe4b78f60b2a27c219813fb2cfe175ef40d2222d9261e66da7d78f7c55a303b1b8611dcdfab880c47",
    );
  });

  test("scalar_mult_vfy with a valid input", () => {
    const s = scalarFromBytes(hex("7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05"));
    expect(
      toHex(scalarMultVfy(s, hex("2c3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c"))),
    ).toBe("7c13645fe790a468f62c39beb7388e541d8405d1ade69d1778c5fe3e7f6b600e");
  });

  test("scalar_mult_vfy gives G.I for a non-encoding and for the neutral element", () => {
    const s = scalarFromBytes(hex("7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05"));
    const i1 = scalarMultVfy(s, hex("2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c"));
    const i2 = scalarMultVfy(s, new Uint8Array(32));
    expect(isIdentity(i1)).toBe(true);
    expect(isIdentity(i2)).toBe(true);
    expect(isIdentity(hex(K))).toBe(false);
  });

  test("the confirmation tags differ per side and follow mac_key = H(CPaceMac || sid || ISK)", () => {
    const isk = intermediateKey(sid, hex(K), transcriptIr(hex(Ya), ADa, hex(Yb), ADb));
    const key = macKey(sid, isk);
    expect(key.length).toBe(64);
    const ta = confirmationTag(key, hex(Ya), ADa);
    const tb = confirmationTag(key, hex(Yb), ADb);
    expect(ta.length).toBe(64);
    expect(toHex(ta)).not.toBe(toHex(tb));
  });
});
