// What `netpunch pair` writes once the pairing is proven: this side's tunnel key (made in memory first, so a
// failed pairing writes nothing), the pair key and the partner's pinned key in the state directory, and the
// `up` config of the tunnel. Paths and the config's text are pure; the writes are the state dir's.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { certFingerprint, newCertificate, openvpnCert } from "../../plugins/openvpn-keys.ts";
import { newWgPrivateKey, WG_KEY, wgPublicKey } from "../../plugins/wireguard-keys.ts";
import { keyDir, readKeyFile, writePrivateFile } from "../hooks/state-dir.ts";
import type { PairHook } from "../pair/pair-offer.ts";
import { xdgDir } from "../sys/dirs.ts";
import type { Role } from "../types.ts";
import { SYSTEM_CONFIG_DIR } from "./config/lookup.ts";

/**
 * Where the config goes without --config: /etc/netpunch/NAME.toml for root (where the netpunch-up@ unit
 * looks), else $XDG_CONFIG_HOME/netpunch/NAME.toml (~/.config), the first place `netpunch up NAME` looks.
 */
export function defaultPairConfig(
  name: string,
  env: Record<string, string | undefined>,
  uid: number,
  home: string,
) {
  if (uid === 0) return join(SYSTEM_CONFIG_DIR, `${name}.toml`);
  return join(xdgDir(env, "XDG_CONFIG_HOME", join(home, ".config")), "netpunch", `${name}.toml`);
}

/** This side's key for the tunnel: its 32 public bytes for the offer, and how to keep it once paired. */
export interface TunnelKey {
  /** WireGuard's public key, or the SHA-256 of OpenVPN's certificate. */
  raw: Uint8Array;
  /** Writes the key's files if they are new (after the pairing succeeded). */
  save(): Promise<void>;
}

const fingerprintBytes = (fp: string): Uint8Array =>
  Uint8Array.from(Buffer.from(fp.replaceAll(":", ""), "hex"));

/** The partner's 32 bytes as the hook pins them: a base64 WireGuard key, or OpenVPN's "AB:CD:..." fingerprint. */
export const partnerFingerprint = (hook: PairHook, raw: Uint8Array): string =>
  hook === "wireguard"
    ? Buffer.from(raw).toString("base64")
    : (Buffer.from(raw).toString("hex").toUpperCase().match(/../g)?.join(":") ?? "");

/**
 * The tunnel's key, as its hook would make it: an existing one is reused (the hook reads the same files), a
 * new one lives in memory until `save`.
 */
export async function tunnelKey(hook: PairHook, stateDir: string, tunnel: string): Promise<TunnelKey> {
  if (hook === "wireguard") {
    const file = join(keyDir(stateDir, tunnel), "wireguard.key");
    const existing = readKeyFile(file, (t) => WG_KEY.test(t), "a WireGuard private key");
    const priv = existing ?? (await newWgPrivateKey());
    return {
      raw: Uint8Array.from(Buffer.from(await wgPublicKey(priv), "base64")),
      save: async () => {
        if (existing === undefined) writePrivateFile(file, `${priv}\n`);
      },
    };
  }
  // Both files there: openvpnCert reads them. Otherwise a new pair, written by openvpnCert at save.
  const dir = keyDir(stateDir, tunnel);
  if (existsSync(join(dir, "openvpn.crt")) && existsSync(join(dir, "openvpn.key"))) {
    const cert = await openvpnCert(stateDir, tunnel);
    return { raw: fingerprintBytes(cert.fingerprint), save: async () => {} };
  }
  const made = await newCertificate();
  return {
    raw: fingerprintBytes(certFingerprint(made.certPem)),
    save: async () => {
      await openvpnCert(stateDir, tunnel, async () => made);
    },
  };
}

export interface PairConfig {
  server: string;
  secretFile: string;
  stateDir: string;
  tunnel: string;
  /** How `up` is told to find it: the name, or the path of a config outside the usual places. */
  configName: string;
  role: Role;
  session: string;
  /** The pair key's file: the tunnel's peer packets and offers are authenticated with it. */
  pairKeyFile: string;
  hook: PairHook;
  address: string;
  /** For the comment: when it was paired, and the partner's pinned key. */
  date: string;
  partnerKey: string;
}

/** A TOML basic string: JSON's escapes are TOML's for the characters a path or address holds. */
const str = (s: string): string => JSON.stringify(s);

/** The `up` config of the paired tunnel (packaging/home.toml.example explains every key). Pure. */
export function pairConfigText(c: PairConfig): string {
  return [
    `# Written by netpunch pair on ${c.date}: the tunnel to the host that paired with this one by a code.`,
    `# The partner's key is pinned (${c.hook === "wireguard" ? "its WireGuard public key" : "its certificate's fingerprint"} ${c.partnerKey});`,
    `# netpunch up refuses any other. Start it with: netpunch up ${c.configName} (or systemctl enable --now netpunch-up@${c.configName}).`,
    `server = ${str(c.server)}`,
    `secret_file = ${str(c.secretFile)}`,
    `state_dir = ${str(c.stateDir)}`,
    "",
    `[tunnel.${c.tunnel}]`,
    `role = ${str(c.role)}`,
    `session = ${str(c.session)}`,
    `hook = ${str(c.hook)}`,
    `pair_key_file = ${str(c.pairKeyFile)}`,
    `address = ${str(c.address)}`,
    "",
  ].join("\n");
}
