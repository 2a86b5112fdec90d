// The wireguard hook's zero-config parts without processes: its keys (RFC 7748's vector, the file's mode,
// made once), its offer both ways, the `wg set` command line (a key file, never a key), and when the mode is
// chosen or refused.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ParsedArgs } from "citty";
import { createConsola } from "consola";
import wireguard from "../../../plugins/wireguard.ts";
import {
  decodeWgOffer,
  encodeWgOffer,
  hostRoute,
  isCidr,
  newWgPrivateKey,
  WG_KEY,
  wgKeys,
  wgPublicKey,
  wgZeroSetArgv,
} from "../../../plugins/wireguard-keys.ts";
import type { NetpunchError } from "../../../src/errors.ts";
import { makeOffer } from "../../../src/hooks/lifecycle.ts";
import { checkHookOptions, type PreparedHook } from "../../../src/hooks/run.ts";
import { sampleResult } from "../../support/result.ts";

const made: string[] = [];
const freshState = () => {
  const dir = mkdtempSync(join(tmpdir(), "netpunch-wgzero-"));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
const hex64 = (h: string) => Buffer.from(h, "hex").toString("base64");
const TUNNEL = "home/office";
/** RFC 7748's Alice's public key, as wg writes keys. */
const WG_ALICE = Buffer.from(
  "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  "hex",
).toString("base64");

describe("wireguard zero-config keys", () => {
  test("the public key of RFC 7748's Alice (section 6.1) is derived from her private key", async () => {
    const alice = hex64("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    expect(await wgPublicKey(alice)).toBe(
      hex64("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
    );
  });

  test("a fresh private key is 32 bytes of base64 as wg writes it, and two differ", async () => {
    const [one, two] = [await newWgPrivateKey(), await newWgPrivateKey()];
    expect(one).toMatch(WG_KEY);
    expect(one).not.toBe(two);
  });

  test("made once per tunnel, kept 0600 under STATE/keys/CONFIG/TUNNEL, the same key at every start", async () => {
    const state = freshState();
    const first = await wgKeys(state, TUNNEL);
    expect(first.privateKeyFile).toBe(join(state, "keys", "home", "office", "wireguard.key"));
    expect(statSync(first.privateKeyFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(state, "keys", "home", "office")).mode & 0o777).toBe(0o700);
    const priv = readFileSync(first.privateKeyFile, "utf8").trim();
    expect(await wgPublicKey(priv)).toBe(first.publicKey);
    expect(await wgKeys(state, TUNNEL)).toEqual(first);
    expect((await wgKeys(state, "home/backup")).publicKey).not.toBe(first.publicKey);
  });
});

test("a key file that holds no key is E_STATE, not silently replaced (the partner's pin would refuse a new one)", async () => {
  const state = freshState();
  const { privateKeyFile } = await wgKeys(state, TUNNEL);
  writeFileSync(privateKeyFile, "garbage\n");
  await expect(wgKeys(state, TUNNEL)).rejects.toThrow(
    `${privateKeyFile} does not hold a WireGuard private key`,
  );
  expect(readFileSync(privateKeyFile, "utf8")).toBe("garbage\n");
});

describe("wireguard offer", () => {
  const key = hex64("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");

  test("carries the public key and the tunnel address, and reads back", () => {
    const bytes = encodeWgOffer({ key, address: "198.18.201.1/24" });
    expect(decodeWgOffer(bytes, TUNNEL)).toEqual({ key, address: "198.18.201.1/24" });
    expect(bytes.length).toBeLessThan(128);
  });

  test.each([
    [{ key: "not-a-key", address: "198.18.201.1/24" }, /key: is not a WireGuard public key/],
    [{ key, address: "198.18.201.1" }, /address: is not an address with a prefix/],
    [{ key, address: "198.18.201.1/33" }, /address: is not an address with a prefix/],
  ])("refuses %o", (fields, message) => {
    expect(() => decodeWgOffer(encodeWgOffer(fields), TUNNEL)).toThrow(message);
  });

  test("the largest offer (the longest IPv6 address) fits the bound", () => {
    const address = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128";
    expect(decodeWgOffer(encodeWgOffer({ key, address }), TUNNEL).address).toBe(address);
  });

  test("the hook's partnerFingerprint is the partner's public key", () => {
    const bytes = encodeWgOffer({ key, address: "198.18.201.2/24" });
    expect(wireguard.partnerFingerprint?.(bytes, TUNNEL)).toBe(key);
  });

  test.each([
    ["198.18.201.2/24", "198.18.201.2/32"],
    ["::1/64", "::1/128"],
  ])("allowed-ips for the partner's %s is %s", (cidr, route) => {
    expect(hostRoute(cidr)).toBe(route);
    expect(isCidr(cidr)).toBe(true);
  });
});

describe("wireguard zero-config wg set", () => {
  test("names the key file, never a key, and the partner's key, endpoint and one address", async () => {
    const state = freshState();
    const keys = await wgKeys(state, TUNNEL);
    const priv = readFileSync(keys.privateKeyFile, "utf8").trim();
    const partner = { key: (await wgKeys(freshState(), TUNNEL)).publicKey, address: "198.18.201.2/24" };
    const argv = wgZeroSetArgv(sampleResult(), {
      iface: "np-office",
      privateKeyFile: keys.privateKeyFile,
      partner,
      keepalive: 25,
    });
    expect(argv).toEqual([
      "wg",
      "set",
      "np-office",
      "listen-port",
      "10000",
      "private-key",
      keys.privateKeyFile,
      "peer",
      partner.key,
      "endpoint",
      "203.0.113.20:40002",
      "allowed-ips",
      "198.18.201.2/32",
      "persistent-keepalive",
      "25",
    ]);
    expect(argv.join(" ")).not.toContain(priv);
  });
});

describe("wireguard mode choice", () => {
  const logger = createConsola({ level: -999 });
  const args = (o: Record<string, unknown>) =>
    ({
      _: [],
      "wg-interface": "np-office",
      "wg-keepalive": "25",
      "wg-up": "none",
      "wg-handshake-timeout": "30",
      "wg-stale": "180",
      ...o,
    }) as unknown as ParsedArgs;
  const prepare = (o: Record<string, unknown>) => checkHookOptions([wireguard], args(o), []);
  /** Past preflight without asking this machine for root and programs: what the offer sees of the options. */
  const preparedAsIs = (o: Record<string, unknown>): PreparedHook[] => [
    { hook: wireguard, args: args(o), options: { ...args(o) }, extraArgs: [] },
  ];
  const refusal = (o: Record<string, unknown>) => {
    try {
      prepare(o);
    } catch (e) {
      return (e as NetpunchError).message;
    }
    return "accepted";
  };

  test("without --wg-peer, --wg-address selects zero-config: the offer carries this side's key", async () => {
    const state = freshState();
    const prepared = preparedAsIs({ "wg-address": "198.18.201.1/24" });
    const offering = await makeOffer(prepared, {
      logger,
      signal: new AbortController().signal,
      stateDir: state,
      tunnel: TUNNEL,
    });
    expect(decodeWgOffer(offering?.bytes, TUNNEL)).toEqual({
      key: (await wgKeys(state, TUNNEL)).publicKey,
      address: "198.18.201.1/24",
    });
  });

  test("with --wg-peer an address without a prefix is still taken, as before zero-config", () => {
    expect(refusal({ "wg-peer": WG_ALICE, "wg-address": "198.18.201.1", "wg-up": "wireguard-go" })).toBe(
      "accepted",
    );
  });

  test("with --wg-peer the keys are the user's: no offer, no key made", async () => {
    const state = freshState();
    const prepared = preparedAsIs({ "wg-peer": (await wgKeys(freshState(), TUNNEL)).publicKey });
    const o = { logger, signal: new AbortController().signal, stateDir: state, tunnel: TUNNEL };
    expect(await makeOffer(prepared, o)).toBeUndefined();
    expect(() => statSync(join(state, "keys"))).toThrow();
  });

  test.each([
    [{}, "--wg-peer PUBKEY (the partner's public key) is required, or --wg-address CIDR"],
    [{ "wg-address": "198.18.201.1/24", "wg-config": "/x" }, "--wg-config is for keys given by hand"],
    [{ "wg-address": "198.18.201.1/24", "wg-up": "wg-quick" }, "--wg-up wg-quick is for keys given by hand"],
    [{ "wg-address": "198.18.201.1" }, "--wg-address 198.18.201.1 is not an address with its prefix"],
  ])("refuses %o", (o, message) => {
    expect(refusal(o)).toContain(message);
  });
});

describe("tunnelOptions", () => {
  test("name options each hook has, so up can hand a tunnel's interface and address to them", async () => {
    const openvpn = (await import("../../../plugins/openvpn.ts")).default;
    for (const hook of [wireguard, openvpn]) {
      const { interface: iface, address } = hook.tunnelOptions ?? {};
      expect(Object.keys(hook.args ?? {})).toEqual(expect.arrayContaining([iface, address]));
    }
    expect(wireguard.tunnelOptions).toEqual({ interface: "wg-interface", address: "wg-address" });
    expect(openvpn.tunnelOptions).toEqual({ interface: "openvpn-interface", address: "openvpn-address" });
  });
});
