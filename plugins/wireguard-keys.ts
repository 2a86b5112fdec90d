// The wireguard hook's zero-config keys and offer: an X25519 key pair made with node:crypto on first start
// (no `wg genkey`), kept in the state directory as wg reads it (base64 of the raw 32 bytes, mode 0600), and
// the offer that tells the partner this side's public key and tunnel address. node:crypto is imported when a
// key is needed, so the hook's other modes (and connect's start-up) do not load it.
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

/** 32 bytes of base64, as wg prints keys: 43 characters, the last of a 4-bit group, and one "=". */
export const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** An interface address with its prefix, e.g. 198.18.201.1/24 or 2001:db8::1/64. Pure. */
export function isCidr(text: string): boolean {
  const [ip, prefix, ...rest] = text.split("/");
  if (ip === undefined || prefix === undefined || rest.length > 0 || !/^\d{1,3}$/.test(prefix)) return false;
  const family = isIP(ip);
  return family !== 0 && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** The partner's one address as WireGuard's allowed-ips: its host part, /32 or /128. Pure. */
export function hostRoute(cidr: string): string {
  const ip = cidr.split("/")[0] ?? cidr;
  return isIP(ip) === 6 ? `${ip}/128` : `${ip}/32`;
}

/**
 * The DER of a PKCS #8 X25519 private key before its 32 raw bytes (RFC 8410 section 7): node:crypto reads
 * the raw key back through it, so only what wg needs is stored.
 */
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

const nodeCrypto = () => import("node:crypto");

/** The base64 public key of a base64 raw X25519 private key. */
export async function wgPublicKey(privateBase64: string): Promise<string> {
  const { createPrivateKey, createPublicKey } = await nodeCrypto();
  const der = Buffer.concat([X25519_PKCS8_PREFIX, Buffer.from(privateBase64, "base64")]);
  const jwk = createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" })).export({
    format: "jwk",
  });
  return Buffer.from(jwk.x ?? "", "base64url").toString("base64");
}

/** A fresh X25519 private key, base64 of its raw 32 bytes (what `wg genkey` prints). */
export async function newWgPrivateKey(): Promise<string> {
  const { generateKeyPairSync } = await nodeCrypto();
  const jwk = generateKeyPairSync("x25519").privateKey.export({ format: "jwk" });
  return Buffer.from(jwk.d ?? "", "base64url").toString("base64");
}

/** This host's key for a tunnel: the private key's file (for `wg set ... private-key FILE`) and the public key. */
export interface WgKeys {
  privateKeyFile: string;
  publicKey: string;
}

/** The tunnel's key pair, made and saved (mode 0600) on first use. The private key never leaves its file. */
export async function wgKeys(
  stateDir: string,
  tunnel: string,
  make: () => Promise<string> = newWgPrivateKey,
): Promise<WgKeys> {
  const privateKeyFile = join(keyDir(stateDir, tunnel), "wireguard.key");
  let priv = readKeyFile(privateKeyFile, (text) => WG_KEY.test(text), "a WireGuard private key");
  if (priv === undefined) {
    priv = await make();
    writePrivateFile(privateKeyFile, `${priv}\n`);
  }
  return { privateKeyFile, publicKey: await wgPublicKey(priv) };
}

export const WG_HOOK = "wireguard";

/** The partner's offer: its public key and its tunnel address. */
const WG_OFFER = v.object({
  key: v.pipe(v.string(), v.regex(WG_KEY, "is not a WireGuard public key")),
  address: v.pipe(v.string(), v.check(isCidr, "is not an address with a prefix")),
});
export type WgOffer = v.InferOutput<typeof WG_OFFER>;

export const encodeWgOffer = (o: WgOffer): Uint8Array => encodeOffer(WG_HOOK, o);

/** The partner's offer, checked (E_OFFER otherwise). */
export const decodeWgOffer = (bytes: Uint8Array | undefined, tunnel: string): WgOffer =>
  decodeOffer(bytes, WG_HOOK, tunnel, WG_OFFER);

export interface WgSetOptions {
  iface: string;
  peer: string;
  keepalive: number;
  /** Zero-config: this side's private key, from its file (never on the command line). */
  privateKeyFile?: string;
  /** Zero-config: the one address the partner may send from through the tunnel. */
  allowedIps?: string;
}

/** `wg set`: the interface listens on the punched port and sends to the partner's mapped address. Pure. */
export function wgSetArgv(r: PunchResult, o: WgSetOptions): string[] {
  const endpoint = isIP(r.rhost) === 6 ? `[${r.rhost}]:${r.rport}` : `${r.rhost}:${r.rport}`;
  return [
    ...["wg", "set", o.iface, "listen-port", String(r.lport)],
    ...(o.privateKeyFile !== undefined ? ["private-key", o.privateKeyFile] : []),
    ...["peer", o.peer, "endpoint", endpoint],
    ...(o.allowedIps !== undefined ? ["allowed-ips", o.allowedIps] : []),
    ...["persistent-keepalive", String(o.keepalive)],
  ];
}

export interface WgZeroSetOptions {
  iface: string;
  privateKeyFile: string;
  partner: WgOffer;
  keepalive: number;
}

/**
 * Zero-config `wg set`: this side's key from its file (never on the command line), the punched port, and
 * the partner's key, endpoint and one address. Pure.
 */
export const wgZeroSetArgv = (r: PunchResult, o: WgZeroSetOptions): string[] =>
  wgSetArgv(r, {
    iface: o.iface,
    peer: o.partner.key,
    keepalive: o.keepalive,
    privateKeyFile: o.privateKeyFile,
    allowedIps: hostRoute(o.partner.address),
  });
