// Issue 9 item 1 as the user met it, with the real CLI on loopback: a peer that gives up (its --timeout, or
// Ctrl-C) must not leave a ghost that the next partner is paired with.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { CLI, run, secretFile, startServer, stopAll, waitFor } from "./cli.ts";

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

test("a scripted retry loop of b (--timeout 2, again at once) never blocks its own next attempt, and pairs once a comes", async () => {
  const { p: server, port } = await startServer(secret);
  const common = ["--server", `127.0.0.1:${port}`, "--secret-file", secret, "--session", "loop"];
  // As a user writes it: until it connects, try again; bounded at 8 attempts (16 s of waiting).
  const attempt = [process.execPath, CLI, "connect", "--role", "b", "--timeout", "2", ...common];
  const quoted = attempt.map((a) => `'${a}'`).join(" ");
  const loop = Bun.spawn(
    [
      "sh",
      "-c",
      `n=0; until ${quoted}; do n=$((n+1)); [ "$n" -ge 8 ] && exit 9; done; echo "attempts $((n+1))"`,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const loopErr = new Response(loop.stderr).text();
  // Two attempts gave up (each said so to the server) before a starts.
  const deadline = Date.now() + 15_000;
  while ((server.errSoFar().match(/peer b left before it was paired/g) ?? []).length < 2) {
    if (Date.now() > deadline) throw new Error(`the loop's attempts never left:\n${server.errSoFar()}`);
    await Bun.sleep(20);
  }
  const a = run(["connect", "--role", "a", "--timeout", "20", ...common]);
  const kill = setTimeout(() => loop.kill("SIGKILL"), 30_000);
  const [code, codeA] = await Promise.all([loop.exited, a.done(30_000)]);
  clearTimeout(kill);
  const err = await loopErr;
  expect({ code, codeA }, err).toEqual({ code: 0, codeA: 0 });
  expect(
    Number((await new Response(loop.stdout).text()).match(/attempts (\d+)/)?.[1]),
  ).toBeGreaterThanOrEqual(3);
  expect(err).toMatch(/E_TIMEOUT/);
  expect(err).not.toMatch(/held by another live peer/);
});

test("a b SIGKILLed while waiting (no LEAVE) never acknowledges: a goes back to waiting, and a new b takes the role at once", async () => {
  const { port } = await startServer(secret);
  const common = ["--server", `127.0.0.1:${port}`, "--secret-file", secret, "--session", "killed"];
  const ghost = run(["connect", "--role", "b", ...common]);
  await waitFor(ghost, /waiting for the partner/);
  ghost.proc.kill("SIGKILL");
  await ghost.done();
  const a = run(["connect", "--role", "a", "--timeout", "40", ...common]);
  // The server pairs a with the registration it still holds; b never acknowledges, so a is sent back.
  await waitFor(a, /never answered the server .*waiting for it again/, 20_000);
  const b = run(["connect", "--role", "b", "--timeout", "20", ...common]);
  const [ca, cb] = await Promise.all([a.done(30_000), b.done(30_000)]);
  expect([ca, cb], `${a.errSoFar()}\n${b.errSoFar()}`).toEqual([0, 0]);
  expect(b.errSoFar()).not.toMatch(/held by another live peer/);
});
