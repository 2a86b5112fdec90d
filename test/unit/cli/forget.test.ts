// `netpunch forget CONFIG TUNNEL`: removes the pin and says what it held; exit 1 when there was none. And
// the CLI's hint for E_PIN_MISMATCH names that command.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cliHint } from "../../../src/cli/hints.ts";
import { Fail } from "../../../src/errors.ts";
import { checkPin, pinFile } from "../../../src/hooks/pins.ts";
import { cliSuite, runCli as run } from "../../support/cli.ts";

const dir = cliSuite("netpunch-forget-test-");

describe("netpunch forget", () => {
  test("removes the tunnel's pin, naming the key and the file; the config may be given by path", async () => {
    const state = join(dir, "state");
    checkPin(state, "home/office", "KEY1");
    checkPin(state, "home/backup", "KEY2");
    const r = await run("forget", "/etc/netpunch/home.toml", "office", "--state-dir", state);
    expect(r.code).toBe(0);
    expect(r.err).toContain(
      `forgot the key KEY1 pinned for tunnel home/office (removed ${pinFile(state, "home/office")})`,
    );
    expect(existsSync(pinFile(state, "home/office"))).toBe(false);
    expect(existsSync(pinFile(state, "home/backup"))).toBe(true);
  });

  test("exit 1 when nothing is pinned, saying where it looked", async () => {
    const state = join(dir, "empty");
    const r = await run("forget", "home", "office", "--state-dir", state);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `[E_STATE] no key is pinned for tunnel home/office (no ${join(state, "pins", "home", "office")})`,
    );
  });

  test("a tunnel name that would leave the pins directory is a usage error", async () => {
    const r = await run("forget", "home", "..", "--state-dir", join(dir, "s"));
    expect(r.code).toBe(2);
    expect(r.err).toContain("is not CONFIG/TUNNEL");
  });

  test("the CLI's hint for a pin mismatch names the forget command for that tunnel", () => {
    const hint = cliHint(Fail.pinMismatch("home/office", "OLD", "NEW", "/s/pins/home/office"));
    expect(hint).toContain("run `netpunch forget home office` to accept the new key");
  });
});
