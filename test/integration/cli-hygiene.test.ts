// The CLI as a child process where a hang or a runaway read would otherwise block the test runner itself.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, stopAll } from "./cli.ts";

const dir = mkdtempSync(join(tmpdir(), "netpunch-hygiene-"));
afterAll(() => {
  stopAll();
  rmSync(dir, { recursive: true, force: true });
});

// Nothing listens here; every command below must fail before sending to it.
const SERVER = "127.0.0.1:9";

describe("--secret-file that is not a regular file", () => {
  test("a named pipe: E_SECRET at once (exit 2), not a wait for a writer", async () => {
    const fifo = join(dir, "fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const p = run(["connect", "--role", "a", "--server", SERVER, "--secret-file", fifo]);
    expect(await p.done(5_000)).toBe(2);
    const err = await p.stderr;
    expect(err).toMatch(/^\[E_SECRET\] .*fifo.*named pipe/m);
    expect(err).toMatch(/^hint: /m);
  });

  test("/dev/zero: E_SECRET at once (exit 2), memory stays bounded", async () => {
    const p = run(["serve", "--listen", "127.0.0.1:1", "--secret-file", "/dev/zero"]);
    expect(await p.done(5_000)).toBe(2);
    expect(await p.stderr).toMatch(/^\[E_SECRET\] .*\/dev\/zero.*character device/m);
  });
});
