// A seed-form secret that starts with "-" is a secret, not options: it works, and is never printed.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { freePort, run, stopAll, waitFor } from "./cli.ts";

setDefaultTimeout(30_000);
afterAll(stopAll);

test("c -SECRET LISTEN and a/b -SECRET LOCAL SERVER connect, and the secret appears in no output", async () => {
  const secret = "-abc-a-secret-that-looks-like-options";
  const port = await freePort();
  const server = run(["c", secret, `127.0.0.1:${port}`]);
  await waitFor(server, /listening on UDP/);
  const a = run(["a", secret, ":0", `127.0.0.1:${port}`]);
  const b = run(["b", secret, ":0", `127.0.0.1:${port}`]);
  expect([await a.done(), await b.done()]).toEqual([0, 0]);
  expect(await a.stdout).toMatch(/^LADDR\/LHOST\/LPORT\/RADDR\/RHOST\/RPORT: /);
  for (const out of [await a.stderr, await b.stderr, server.errSoFar(), await a.stdout])
    expect(out).not.toContain("abc-a-secret");
});

test("a bad option after a '-' secret is reported without the secret", async () => {
  const p = run(["a", "-abc-secret", ":0", "127.0.0.1:9", "--nope"]);
  expect(await p.done()).toBe(2);
  const err = await p.stderr;
  expect(err).toContain("unknown option --nope");
  expect(err).not.toContain("abc-secret");
});
