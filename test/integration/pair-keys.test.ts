// A paired tunnel (issue 15) under `netpunch up` as real processes on loopback: both sides hold the pair key
// (one names it with pair_key_file, the other finds it where `netpunch pair` leaves it) and come up; an
// insider holding the server's secret but not the pair key takes a side's role and cannot punch with it.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pairKeyFile } from "../../src/cli/pair-key.ts";
import { tunnelId } from "../../src/hooks/state-dir.ts";
import { connect, type Proc, run, secretFile, startServer, stopAll, waitFor } from "./cli.ts";

// Real processes, sockets and the supervisor's real backoff.
setDefaultTimeout(60_000);
afterAll(stopAll);

const SECRET = secretFile("pair-keys-it-secret");
const SESSION = "np-pair-keys-it";
const PAIR_KEY = Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => (i * 13 + 5) & 0xff)).toString(
  "base64",
);

/** Writes DIR/NAME.toml: one exec tunnel holding `sleep SECONDS`; `keyLine` names its pair key, if given. */
function config(dir: string, name: string, port: number, role: "a" | "b", seconds: number, keyLine?: string) {
  const file = join(dir, `${name}.toml`);
  writeFileSync(
    file,
    [
      `server = "127.0.0.1:${port}"`,
      `secret_file = ${JSON.stringify(SECRET)}`,
      `state_dir = ${JSON.stringify(join(dir, name, "state"))}`,
      `runtime_dir = ${JSON.stringify(join(dir, "run"))}`,
      "",
      "[tunnel.hold]",
      `role = "${role}"`,
      `session = "${SESSION}"`,
      "lan = false",
      'hook = "exec"',
      `args = ${JSON.stringify(["sleep", String(seconds)])}`,
      ...(keyLine ? [keyLine] : []),
      "",
    ].join("\n"),
  );
  return file;
}

/** The pair key where `pair` leaves it for config NAME's tunnel "hold" (up finds it there by itself). */
function keyInState(dir: string, name: string): void {
  const file = pairKeyFile(join(dir, name, "state"), tunnelId(name, "hold"));
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${PAIR_KEY}\n`, { mode: 0o600 });
}

function status(file: string): string {
  const r = Bun.spawnSync(
    [process.execPath, join(import.meta.dir, "../../src/cli/main.ts"), "status", file, "--json"],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  return r.exitCode === 0 ? r.stdout.toString() : "";
}

/** Polls the status every 200 ms (at most 20 s) until the tunnel is up. */
async function untilUp(file: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const text = status(file);
    if (text && (JSON.parse(text) as { tunnels: { state: string }[] }).tunnels[0]?.state === "up") return;
    await Bun.sleep(200);
  }
  throw new Error(`never up: ${status(file)}`);
}

test("two ups with the pair key (one from pair_key_file, one from the state directory) come up", async () => {
  const { p: server, port } = await startServer(SECRET);
  const dir = mkdtempSync(join(tmpdir(), "netpunch-pk-"));
  const keyFile = join(dir, "home.pair.key");
  writeFileSync(keyFile, `${PAIR_KEY}\n`, { mode: 0o600 });
  const fa = config(dir, "home", port, "a", 311, 'pair_key_file = "home.pair.key"'); // relative to the config
  keyInState(dir, "office");
  const fb = config(dir, "office", port, "b", 312);
  const ups: Proc[] = [run(["up", fa, "--verbose"]), run(["up", fb, "--verbose"])];
  await Promise.all([untilUp(fa), untilUp(fb)]);
  for (const p of ups) p.proc.kill("SIGTERM");
  expect(await Promise.all(ups.map((p) => p.done()))).toEqual([0, 0]);
  server.proc.kill("SIGTERM");
  expect(await server.done()).toBe(0);
});

test("an insider with the server's secret and no pair key, in b's place, gets no punch; the real b then does", async () => {
  const { p: server, port } = await startServer(SECRET);
  const dir = mkdtempSync(join(tmpdir(), "netpunch-pk-"));
  keyInState(dir, "home");
  const fa = config(dir, "home", port, "a", 321);
  const a = run(["up", fa, "--verbose"]);
  await waitFor(a, /registered|waiting/i, 10_000);
  // The insider: same server, secret and session, b's role, no pair key; it gives up after its punch fails.
  const insider = connect(
    "b",
    `127.0.0.1:${port}`,
    "--secret-file",
    SECRET,
    "--session",
    SESSION,
    "--no-lan",
    "--no-relay",
    "--punch-timeout",
    "3",
    "--timeout",
    "10",
    "--verbose",
  );
  const code = await insider.done(30_000);
  const said = await insider.stderr;
  expect(code).not.toBe(0);
  expect(said).not.toMatch(/connected: /);
  // It met a (the server admits both) and heard only packets it could not authenticate.
  expect(said).toMatch(/failed authentication/);
  expect(a.errSoFar()).toMatch(/failed authentication/);
  expect(a.errSoFar()).not.toMatch(/connected: /);
  // The real partner, with the pair key, still gets the tunnel up.
  keyInState(dir, "office");
  const fb = config(dir, "office", port, "b", 322);
  const b = run(["up", fb, "--verbose"]);
  await Promise.all([untilUp(fa), untilUp(fb)]);
  for (const p of [a, b]) p.proc.kill("SIGTERM");
  expect(await Promise.all([a.done(), b.done()])).toEqual([0, 0]);
  server.proc.kill("SIGTERM");
  expect(await server.done()).toBe(0);
});
