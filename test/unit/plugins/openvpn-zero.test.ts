// The openvpn hook's zero-config parts without processes: its certificate (made once, 0600, its SHA-256
// fingerprint as OpenVPN writes it), its offer both ways, the TLS point-to-point command line (file names
// and the partner's fingerprint, no key), and when the mode is chosen or refused.
import { afterAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ParsedArgs } from "citty";
import { createConsola } from "consola";
import openvpn from "../../../plugins/openvpn.ts";
import {
  certFingerprint,
  decodeOpenvpnOffer,
  encodeOpenvpnOffer,
  FINGERPRINT,
  isIpv4Cidr,
  OPENVPN_PING,
  openvpnCert,
  openvpnZeroArgv,
} from "../../../plugins/openvpn-keys.ts";
import type { NetpunchError } from "../../../src/errors.ts";
import { makeOffer } from "../../../src/hooks/lifecycle.ts";
import { checkHookOptions } from "../../../src/hooks/run.ts";
import { sampleResult } from "../../support/result.ts";

const made: string[] = [];
const freshState = () => {
  const dir = mkdtempSync(join(tmpdir(), "netpunch-ovpnzero-"));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
const TUNNEL = "home/backup";
const FP = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, "0").toUpperCase()).join(":");

describe("openvpn zero-config certificate", () => {
  test("made once per tunnel: a self-signed ECDSA P-256 certificate and its key, both 0600", async () => {
    const state = freshState();
    const cert = await openvpnCert(state, TUNNEL);
    expect(cert.certFile).toBe(join(state, "keys", "home", "backup", "openvpn.crt"));
    for (const f of [cert.certFile, cert.keyFile]) expect(statSync(f).mode & 0o777).toBe(0o600);
    const pem = readFileSync(cert.certFile, "utf8");
    const x = new X509Certificate(pem);
    expect(x.subject).toBe("CN=netpunch");
    expect(x.issuer).toBe(x.subject);
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(x.verify(x.publicKey)).toBe(true); // signed by its own key
    expect(
      x.checkPrivateKey(
        await import("node:crypto").then((c) => c.createPrivateKey(readFileSync(cert.keyFile))),
      ),
    ).toBe(true);
    expect(cert.fingerprint).toBe(x.fingerprint256);
    expect(cert.fingerprint).toMatch(FINGERPRINT);
    expect(await openvpnCert(state, TUNNEL)).toEqual(cert);
    expect((await openvpnCert(state, "home/other")).fingerprint).not.toBe(cert.fingerprint);
  });

  test("a certificate file that holds no certificate is E_STATE, not silently replaced", async () => {
    const state = freshState();
    const { certFile } = await openvpnCert(state, TUNNEL);
    writeFileSync(certFile, "garbage\n");
    await expect(openvpnCert(state, TUNNEL)).rejects.toThrow(`${certFile} does not hold a PEM certificate`);
  });

  test("certFingerprint is SHA-256 over the DER, in OpenVPN's AB:CD form", () => {
    const pem = `-----BEGIN CERTIFICATE-----\n${Buffer.from("abc").toString("base64")}\n-----END CERTIFICATE-----\n`;
    // SHA-256("abc"), FIPS 180-2's example
    expect(certFingerprint(pem)).toBe(
      "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD",
    );
  });
});

describe("openvpn offer", () => {
  test("carries the fingerprint and the tunnel address, and reads back", () => {
    const bytes = encodeOpenvpnOffer({ fingerprint: FP, address: "198.18.202.1/30" });
    expect(decodeOpenvpnOffer(bytes, TUNNEL)).toEqual({ fingerprint: FP, address: "198.18.202.1/30" });
    expect(openvpn.partnerFingerprint?.(bytes, TUNNEL)).toBe(FP);
  });

  test("the largest offer (the longest IPv4 address) fits the bound", () => {
    const bytes = encodeOpenvpnOffer({ fingerprint: FP, address: "255.255.255.255/32" });
    expect(bytes.length).toBe(167);
    expect(decodeOpenvpnOffer(bytes, TUNNEL).address).toBe("255.255.255.255/32");
  });

  test.each([
    [{ fingerprint: "AB:CD", address: "198.18.202.1/30" }, /fingerprint: is not a SHA-256 fingerprint/],
    [{ fingerprint: FP, address: "::1/64" }, /address: is not an IPv4 address with a prefix/],
  ])("refuses %o", (fields, message) => {
    expect(() => decodeOpenvpnOffer(encodeOpenvpnOffer(fields), TUNNEL)).toThrow(message);
  });

  test.each([
    ["198.18.202.1/30", true],
    ["198.18.202.1", false],
    ["198.18.202.1/33", false],
  ])("isIpv4Cidr(%s) is %p", (text, ok) => {
    expect(isIpv4Cidr(text)).toBe(ok);
  });
});

describe("openvpn zero-config command line", () => {
  const cert = {
    certFile: "/s/keys/home/backup/openvpn.crt",
    keyFile: "/s/keys/home/backup/openvpn.key",
    fingerprint: "X",
  };
  const partner = { fingerprint: FP, address: "198.18.202.2/30" };
  const o = { bin: "openvpn", sudo: false, iface: "np-backup", address: "198.18.202.1/30", cert, partner };

  test("role a is the TLS server with --dh none; the partner is pinned by fingerprint", () => {
    expect(openvpnZeroArgv(sampleResult({ role: "a" }), o)).toEqual([
      "openvpn",
      "--remote",
      "203.0.113.20",
      "--rport",
      "40002",
      "--lport",
      "10000",
      "--proto",
      "udp",
      "--dev",
      "np-backup",
      "--dev-type",
      "tun",
      "--ifconfig",
      "198.18.202.1",
      "198.18.202.2",
      "--tls-server",
      "--dh",
      "none",
      "--cert",
      cert.certFile,
      "--key",
      cert.keyFile,
      "--peer-fingerprint",
      FP,
      "--ping",
      String(OPENVPN_PING.intervalSeconds),
      "--ping-exit",
      String(OPENVPN_PING.exitSeconds),
    ]);
  });

  test("role b is the TLS client, without --dh; sudo comes first; no interface name lets openvpn pick", () => {
    const argv = openvpnZeroArgv(sampleResult({ role: "b" }), { ...o, sudo: true, iface: undefined });
    expect(argv.slice(0, 3)).toEqual(["sudo", "-n", "openvpn"]);
    expect(argv).toContain("--tls-client");
    expect(argv).not.toContain("--tls-server");
    expect(argv).not.toContain("--dh");
    expect(argv.slice(argv.indexOf("--dev"), argv.indexOf("--dev") + 2)).toEqual(["--dev", "tun"]);
  });

  test("no private key on the command line, only the key file's name", async () => {
    const state = freshState();
    const real = await openvpnCert(state, TUNNEL);
    const keyPem = readFileSync(real.keyFile, "utf8");
    const body = keyPem.split("\n")[1] ?? "";
    const argv = openvpnZeroArgv(sampleResult(), { ...o, cert: real });
    expect(body.length).toBeGreaterThan(20);
    expect(argv.join(" ")).not.toContain(body);
    expect(argv).toContain(real.keyFile);
  });
});

describe("openvpn mode choice", () => {
  const logger = createConsola({ level: -999 });
  const args = (o: Record<string, unknown>) =>
    ({ _: [], "openvpn-bin": "true", ...o }) as unknown as ParsedArgs;
  const refusal = (o: Record<string, unknown>, extra: string[] = []) => {
    try {
      checkHookOptions([openvpn], args(o), extra);
    } catch (e) {
      return (e as NetpunchError).message;
    }
    return "accepted";
  };

  test("--openvpn-address selects zero-config: the offer carries this host's fingerprint", async () => {
    const state = freshState();
    const prepared = checkHookOptions([openvpn], args({ "openvpn-address": "198.18.202.1/30" }), []);
    const o = { logger, signal: new AbortController().signal, stateDir: state, tunnel: TUNNEL };
    const offering = await makeOffer(prepared, o);
    expect(decodeOpenvpnOffer(offering?.bytes, TUNNEL)).toEqual({
      fingerprint: (await openvpnCert(state, TUNNEL)).fingerprint,
      address: "198.18.202.1/30",
    });
  });

  test("the classic forms make no offer", async () => {
    const prepared = checkHookOptions([openvpn], args({}), ["--dev", "tun"]);
    const o = { logger, signal: new AbortController().signal, stateDir: freshState(), tunnel: TUNNEL };
    expect(await makeOffer(prepared, o)).toBeUndefined();
  });

  test.each([
    [{ "openvpn-address": "198.18.202.1/30" }, ["--dev", "tun"], "--openvpn-address is zero-config"],
    [{ "openvpn-interface": "np-x" }, [], "--openvpn-interface is for zero-config"],
    [{ "openvpn-address": "198.18.202.1" }, [], "--openvpn-address: is not an IPv4 address with its prefix"],
  ])("refuses %o with %o after --", (o, extra, message) => {
    expect(refusal(o, extra)).toContain(message);
  });
});
