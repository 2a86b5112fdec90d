// Issue 8 item 9 with the real CLI on loopback: session caps refuse clearly, on both sides.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { freePort, run, secretFile, stopAll, waitFor } from "./cli.ts";

setDefaultTimeout(60_000);
afterAll(stopAll);

const secret = secretFile("limits-test-secret-long-enough-to-skip-scrypt");

test("serve --max-sessions 1: a second session is refused with E_SERVER_FULL; the server says why", async () => {
  const port = await freePort();
  const server = run([
    "serve",
    "--listen",
    `127.0.0.1:${port}`,
    "--secret-file",
    secret,
    "--max-sessions",
    "1",
  ]);
  await waitFor(server, /listening on UDP/);
  const common = ["--server", `127.0.0.1:${port}`, "--secret-file", secret, "--timeout", "20"];
  const first = run(["connect", "--role", "a", "--session", "one", ...common]);
  await waitFor(first, /waiting for the partner/);
  const second = run(["connect", "--role", "a", "--session", "two", ...common]);
  expect(await second.done()).toBe(1);
  const err = await second.stderr;
  expect(err).toContain("[E_SERVER_FULL]");
  expect(err).toContain("holds as many sessions as it may");
  await waitFor(server, /session limit reached/);
  // The session it holds still pairs.
  const partner = run(["connect", "--role", "b", "--session", "one", ...common]);
  expect([await first.done(), await partner.done()]).toEqual([0, 0]);
});

test("serve --max-sessions 0 is a usage error naming the option", async () => {
  const p = run([
    "serve",
    "--listen",
    `127.0.0.1:${await freePort()}`,
    "--secret-file",
    secret,
    "--max-sessions",
    "0",
  ]);
  expect(await p.done()).toBe(2);
  expect(await p.stderr).toContain('--max-sessions "0" is not a positive whole number');
});
