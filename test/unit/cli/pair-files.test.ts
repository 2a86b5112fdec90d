// What netpunch pair writes (src/cli/pair-files.ts): where the config goes, its text, the pinned forms.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  defaultPairConfig,
  pairConfigText,
  partnerFingerprint,
  tunnelKey,
} from "../../../src/cli/pair-files.ts";

describe("netpunch pair's files", () => {
  test.each([
    [0, {}, "/etc/netpunch/office.toml"],
    [1000, {}, "/home/u/.config/netpunch/office.toml"],
    [1000, { XDG_CONFIG_HOME: "/x/cfg" }, "/x/cfg/netpunch/office.toml"],
    [1000, { XDG_CONFIG_HOME: "relative" }, "/home/u/.config/netpunch/office.toml"],
  ])("uid %p with %o: the config goes to %s", (uid, env, file) => {
    expect(defaultPairConfig("office", env, uid, "/home/u")).toBe(file);
  });

  test("the config text is TOML with the tunnel's keys", () => {
    const text = pairConfigText({
      server: "198.51.100.7:10001",
      secretFile: '/etc/netpunch/se"cret',
      stateDir: "/var/lib/netpunch",
      tunnel: "office",
      configName: "office",
      role: "a",
      session: "np-0123456789abcdef0123456789abcdef",
      hook: "wireguard",
      pairKeyFile: "/var/lib/netpunch/keys/office/office/pair.key",
      address: "fd12:3456:789a::1/64",
      date: "2026-12-02T07:00:00.000Z",
      partnerKey: "Xb4=",
    });
    const parsed = Bun.TOML.parse(text) as Record<string, unknown>;
    expect(parsed).toEqual({
      server: "198.51.100.7:10001",
      secret_file: '/etc/netpunch/se"cret',
      state_dir: "/var/lib/netpunch",
      tunnel: {
        office: {
          role: "a",
          session: "np-0123456789abcdef0123456789abcdef",
          hook: "wireguard",
          pair_key_file: "/var/lib/netpunch/keys/office/office/pair.key",
          address: "fd12:3456:789a::1/64",
        },
      },
    });
    expect(text).toContain("netpunch up office");
  });

  test("the partner's key as each hook pins it", () => {
    const raw = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(partnerFingerprint("wireguard", raw)).toBe(Buffer.from(raw).toString("base64"));
    expect(partnerFingerprint("openvpn", raw)).toBe(
      "00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F",
    );
  });

  test("a new WireGuard key is written only at save, and then reused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "netpunch-pairkey-"));
    try {
      const first = await tunnelKey("wireguard", dir, "t/t");
      expect(first.raw.length).toBe(32);
      expect(await Bun.file(join(dir, "keys/t/t/wireguard.key")).exists()).toBe(false);
      await first.save();
      const again = await tunnelKey("wireguard", dir, "t/t");
      expect(Buffer.from(again.raw).equals(Buffer.from(first.raw))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
