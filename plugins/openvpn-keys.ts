// The openvpn hook's zero-config certificate and offer. OpenVPN 2.6 deprecates static keys (2.7 refuses them
// without --allow-deprecated-insecure-static-crypto), so each host gets a self-signed ECDSA P-256
// certificate, kept in the state directory, and the peers pin each other's SHA-256 fingerprint
// (--peer-fingerprint): TLS with forward secrecy, no shared static key. The certificate is made with
// @peculiar/x509 over WebCrypto, imported only when a host makes its first one, so neither a connect's
// start-up nor a host that has its certificate pays for it, and no openssl program is needed.
import { isIP } from "node:net";
import { join } from "node:path";
import * as v from "valibot";
import {
  decodeOffer,
  encodeOffer,
  keyDir,
  type PunchResult,
  readKeyFile,
  writePrivateFile,
} from "../src/hooks/index.ts";

export const OPENVPN_HOOK = "openvpn";

/**
 * ECDSA over P-256 with SHA-256: what OpenSSL 3 and OpenVPN 2.6 accept at every security level, and what
 * WebCrypto makes everywhere (Ed25519 certificates need OpenSSL 1.1.1+ on both sides and TLS 1.3).
 */
const CERT_ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A day before now: a partner whose clock is a little behind still finds the certificate valid. */
const NOT_BEFORE_SLACK_MS = 86_400_000;
/**
 * Twenty years: trust rests on the pinned fingerprint, not on expiry, and a certificate that expired would
 * stop the tunnel with nothing to renew it. Well inside 2049, the last year of UTCTime.
 */
const VALIDITY_MS = 20 * 365 * 86_400_000;

/** A certificate's SHA-256 fingerprint as OpenVPN's --peer-fingerprint takes it: "AB:CD:...", 32 bytes. */
export function certFingerprint(certPem: string): string {
  const b64 = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  // Bun's hasher, a global: no node:crypto to load with the hook.
  const hex = new Bun.CryptoHasher("sha256").update(Buffer.from(b64, "base64")).digest("hex").toUpperCase();
  return hex.match(/../g)?.join(":") ?? "";
}

/** A SHA-256 fingerprint in OpenVPN's form. */
export const FINGERPRINT = /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/;

/** A fresh self-signed certificate and its PKCS #8 private key, both PEM. */
export async function newCertificate(now: Date = new Date()): Promise<{ certPem: string; keyPem: string }> {
  await import("reflect-metadata"); // @peculiar/x509's dependency injection needs it before it loads
  const x509 = await import("@peculiar/x509");
  const keys = await crypto.subtle.generateKey(CERT_ALGORITHM, true, ["sign", "verify"]);
  const serial = Buffer.from(crypto.getRandomValues(new Uint8Array(16)));
  serial[0] = (serial[0] ?? 0) & 0x7f; // a positive INTEGER (RFC 5280 4.1.2.2)
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString("hex"),
    name: "CN=netpunch",
    notBefore: new Date(now.getTime() - NOT_BEFORE_SLACK_MS),
    notAfter: new Date(now.getTime() + VALIDITY_MS),
    signingAlgorithm: CERT_ALGORITHM,
    keys,
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)?.join("\n")}\n-----END PRIVATE KEY-----\n`;
  return { certPem: `${cert.toString("pem")}\n`, keyPem };
}

/** This host's certificate for a tunnel: its files for --cert/--key, and its fingerprint for the offer. */
export interface OpenvpnCert {
  certFile: string;
  keyFile: string;
  fingerprint: string;
}

/** The tunnel's certificate, made and saved (both files 0600) on first use. */
export async function openvpnCert(
  stateDir: string,
  tunnel: string,
  make: () => Promise<{ certPem: string; keyPem: string }> = newCertificate,
): Promise<OpenvpnCert> {
  const dir = keyDir(stateDir, tunnel);
  const certFile = join(dir, "openvpn.crt");
  const keyFile = join(dir, "openvpn.key");
  const pem = (label: string) => (text: string) =>
    text.startsWith(`-----BEGIN ${label}-----`) && text.endsWith(`-----END ${label}-----`);
  let certPem = readKeyFile(certFile, pem("CERTIFICATE"), "a PEM certificate");
  const keyPem = readKeyFile(keyFile, pem("PRIVATE KEY"), "a PEM private key");
  // Both or neither: the key is written first, so a crash between the two leaves a key without its
  // certificate, never offered; a new pair replaces it.
  if (certPem === undefined || keyPem === undefined) {
    const made = await make();
    writePrivateFile(keyFile, made.keyPem); // the key first: a certificate never sits without its key
    writePrivateFile(certFile, made.certPem);
    certPem = made.certPem;
  }
  return { certFile, keyFile, fingerprint: certFingerprint(certPem) };
}

/** An IPv4 interface address with its prefix: --ifconfig takes IPv4 (IPv6 would need --ifconfig-ipv6). */
export function isIpv4Cidr(text: string): boolean {
  const [ip, prefix, ...rest] = text.split("/");
  return (
    ip !== undefined &&
    rest.length === 0 &&
    isIP(ip) === 4 &&
    prefix !== undefined &&
    /^\d{1,2}$/.test(prefix) &&
    Number(prefix) <= 32
  );
}

const OPENVPN_OFFER = v.object({
  fingerprint: v.pipe(v.string(), v.regex(FINGERPRINT, "is not a SHA-256 fingerprint")),
  address: v.pipe(v.string(), v.check(isIpv4Cidr, "is not an IPv4 address with a prefix")),
});
export type OpenvpnOffer = v.InferOutput<typeof OPENVPN_OFFER>;

export const encodeOpenvpnOffer = (o: OpenvpnOffer): Uint8Array => encodeOffer(OPENVPN_HOOK, o);

export const decodeOpenvpnOffer = (bytes: Uint8Array | undefined, tunnel: string): OpenvpnOffer =>
  decodeOffer(bytes, OPENVPN_HOOK, tunnel, OPENVPN_OFFER);

/** openvpn's keepalive: a ping every 10 s, and exit after 60 s without one, so a supervisor re-punches. */
export const OPENVPN_PING = { intervalSeconds: 10, exitSeconds: 60 } as const;

export interface OpenvpnZeroOptions {
  bin: string;
  sudo: boolean;
  /** The tun device's name; undefined lets openvpn pick (tun0, tun1...). */
  iface: string | undefined;
  /** This side's tunnel address with its prefix (198.18.202.1/30). */
  address: string;
  cert: OpenvpnCert;
  partner: OpenvpnOffer;
}

/**
 * Zero-config openvpn: the punched path, TLS point to point with role a as the TLS server and b as the
 * client, this host's certificate files, the partner pinned by fingerprint, and the two tunnel addresses.
 * No key material on the command line: only file names and the partner's (public) fingerprint. Pure.
 */
export function openvpnZeroArgv(r: PunchResult, o: OpenvpnZeroOptions): string[] {
  const local = o.address.split("/")[0] ?? o.address;
  const remote = o.partner.address.split("/")[0] ?? o.partner.address;
  const argv = [o.bin, "--remote", r.rhost, "--rport", String(r.rport), "--lport", String(r.lport)];
  argv.push("--proto", isIP(r.rhost) === 6 ? "udp6" : "udp");
  if (!["0.0.0.0", "::", ""].includes(r.lhost)) argv.push("--local", r.lhost);
  argv.push("--dev", o.iface ?? "tun", "--dev-type", "tun", "--ifconfig", local, remote);
  // --dh none: ECDHE only (the TLS server must say so; the client warns if told). The peer's certificate is
  // trusted by its fingerprint alone, so there is no CA.
  argv.push(...(r.role === "a" ? ["--tls-server", "--dh", "none"] : ["--tls-client"]));
  argv.push("--cert", o.cert.certFile, "--key", o.cert.keyFile);
  argv.push("--peer-fingerprint", o.partner.fingerprint);
  argv.push("--ping", String(OPENVPN_PING.intervalSeconds), "--ping-exit", String(OPENVPN_PING.exitSeconds));
  return o.sudo ? ["sudo", "-n", ...argv] : argv;
}
