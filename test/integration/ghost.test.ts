// Issue 9 item 1 as the user met it, with the real CLI on loopback: a peer that gives up (its --timeout, or
// Ctrl-C) must not leave a ghost that the next partner is paired with.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { run, secretFile, startServer, stopAll, waitFor } from "./cli.ts";

setDefaultTimeout(60_000);
afterAll(stopAll);

const secret = secretFile("ghost-test-secret-long-enough-to-skip-scrypt");

test("b gives up after --timeout 1; a, one second later, waits for a real b instead of punching a ghost", async () => {
  const { p: server, port } = await startServer(secret);
  const at = `127.0.0.1:${port}`;
  const common = ["--server", at, "--secret-file", secret, "--session", "ghost"];
  const ghost = run(["connect", "--role", "b", "--timeout", "1", ...common]);
  expect(await ghost.done()).toBe(1);
  await Bun.sleep(1_000);
  const a = run(["connect", "--role", "a", "--timeout", "20", "--verbose", ...common]);
  await waitFor(a, /waiting for the partner/);
  await Bun.sleep(500);
  expect(a.errSoFar()).not.toMatch(/partner found/);
  // The script's next attempt for b pairs at once, with a, not with the ghost's leftovers.
  const b = run(["connect", "--role", "b", "--timeout", "20", ...common]);
  const [ca, cb] = await Promise.all([a.done(), b.done()]);
  expect([ca, cb]).toEqual([0, 0]);
  expect(await a.stdout).toMatch(/^LADDR\/LHOST\/LPORT\/RADDR\/RHOST\/RPORT: /);
  expect(await server.errSoFar()).toMatch(/peer b left before it was paired/);
});

test("Ctrl-C while waiting frees the role too: a new b right after is not told the role is busy", async () => {
  const { port } = await startServer(secret);
  const common = ["--server", `127.0.0.1:${port}`, "--secret-file", secret, "--session", "ctrlc"];
  const first = run(["connect", "--role", "b", ...common]);
  await waitFor(first, /waiting for the partner/);
  first.proc.kill("SIGINT");
  await first.done();
  const again = run(["connect", "--role", "b", "--timeout", "20", ...common]);
  await waitFor(again, /waiting for the partner/);
  expect(again.errSoFar()).not.toMatch(/held by another live peer/);
  const a = run(["connect", "--role", "a", "--timeout", "20", ...common]);
  expect([await again.done(), await a.done()]).toEqual([0, 0]);
});
