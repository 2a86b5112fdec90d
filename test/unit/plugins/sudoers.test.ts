// Issue 9 item 14: the README's sudoers line names exactly the programs the openvpn and wireguard hooks run
// through `sudo -n` (--openvpn-sudo, --wg-sudo), so a user who copies it can run both hooks without root.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { openvpnArgv } from "../../../plugins/openvpn.ts";
import { wgSetArgv, wgUpCommands, wireguardGoArgv, withSudo } from "../../../plugins/wireguard.ts";
import { sampleResult } from "../../support/result.ts";

const README = readFileSync(join(import.meta.dir, "../../../README.md"), "utf8");

/** The programs after `NOPASSWD:` in the README's sudoers line, by name. */
function sudoersPrograms(): string[] {
  const line = README.split("\n").find((l) => l.includes("NOPASSWD:")) ?? "";
  return line
    .slice(line.indexOf("NOPASSWD:") + "NOPASSWD:".length)
    .split(",")
    .map((p) => basename(p.trim()))
    .sort();
}

/** What the hooks run under sudo, every --wg-up mode included: the program after `sudo -n`. */
function sudoedPrograms(): string[] {
  const r = sampleResult();
  const wg = [
    ...wgUpCommands({ mode: "wg-quick", iface: "wg0", config: "wg0.conf" }),
    ...wgUpCommands({ mode: "wireguard-go", iface: "wg0", config: "wg0.set", address: "198.18.201.1/24" }),
    wireguardGoArgv("wg0"),
    wgSetArgv(r, { iface: "wg0", peer: `${"A".repeat(43)}=`, keepalive: 25 }),
  ].map((argv) => withSudo(argv, true));
  const ovpn = openvpnArgv(r, { bin: "openvpn", sudo: true, extra: [] });
  const programs = [...wg, ovpn].map((argv) => {
    expect(argv.slice(0, 2)).toEqual(["sudo", "-n"]);
    return argv[2] ?? "";
  });
  return [...new Set(programs)].sort();
}

test("the sudoers line lists exactly the programs --openvpn-sudo and --wg-sudo run, with full paths", () => {
  expect(sudoersPrograms()).toEqual(sudoedPrograms());
  expect(sudoedPrograms()).toEqual(["ip", "openvpn", "wg", "wg-quick", "wireguard-go"]);
  const line = README.split("\n").find((l) => l.includes("NOPASSWD:")) ?? "";
  for (const p of line.slice(line.indexOf("NOPASSWD:") + 9).split(",")) expect(p.trim()).toMatch(/^\/usr\//);
});
