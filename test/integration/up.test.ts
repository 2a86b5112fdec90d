// `netpunch up` and `netpunch status` as real processes on loopback: two configs with the exec hook come up,
// report through the status socket, come back by themselves when the tunnel's program dies, refuse a second
// `up` of the same config, and stop on SIGTERM with nothing left running.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type Proc, run, secretFile, startServer, stopAll, waitFor } from "./cli.ts";

// Real processes, sockets and the supervisor's real 1 s backoff.
setDefaultTimeout(60_000);
afterAll(stopAll);

const SECRET = secretFile("up-it-secret");

/** Writes DIR/NAME.toml: one exec tunnel that holds `sleep SECONDS` (or runs `args`) while it is up. */
function config(
  dir: string,
  name: string,
  port: number,
  role: "a" | "b",
  seconds: number,
  args = ["sleep", String(seconds)],
): string {
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
      'session = "up-it"',
      "lan = false",
      'hook = "exec"',
      `args = ${JSON.stringify(args)}`,
      "",
    ].join("\n"),
  );
  return file;
}

interface Row {
  name: string;
  state: string;
  rounds: number;
  repunches: number;
  path?: string;
}

function status(file: string): { code: number; rows: Row[]; text: string } {
  const r = Bun.spawnSync(
    [process.execPath, join(import.meta.dir, "../../src/cli/main.ts"), "status", file, "--json"],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const text = r.stdout.toString() + r.stderr.toString();
  if (r.exitCode !== 0) return { code: r.exitCode, rows: [], text };
  return { code: 0, rows: (JSON.parse(r.stdout.toString()) as { tunnels: Row[] }).tunnels, text };
}

/** Polls the status every 200 ms (at most `ms`) until `ok`; throws with the last answer otherwise. */
async function until(file: string, ok: (rows: Row[]) => boolean, ms = 20_000): Promise<Row[]> {
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    const s = status(file);
    if (s.code === 0 && ok(s.rows)) return s.rows;
    last = s.text;
    await Bun.sleep(200);
  }
  throw new Error(`status never matched: ${last}`);
}

/** The PIDs of the processes below `pid` whose command line is `cmdline` (this test's own children only). */
function descendants(pid: number, cmdline: string): number[] {
  const found: number[] = [];
  const walk = (p: number, depth: number) => {
    if (depth > 4) return; // netpunch -> hook child (-> a shell): never deeper
    let kids: number[] = [];
    try {
      kids = readFileSync(`/proc/${p}/task/${p}/children`, "utf8")
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      return;
    }
    for (const k of kids) {
      try {
        if (readFileSync(`/proc/${k}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ") === cmdline)
          found.push(k);
      } catch {}
      walk(k, depth + 1);
    }
  };
  walk(pid, 0);
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("an unknown config and a config that is not running are clear errors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "netpunch-up-"));
  const missing = run(["up", join(dir, "nowhere.toml")]);
  expect(await missing.done()).toBe(2);
  expect(await missing.stderr).toContain("nowhere.toml");
  const idle = config(dir, "idle", await freePort(), "a", 300);
  const s = status(idle);
  expect(s.code).toBe(1);
  expect(s.text).toContain("no running netpunch up");
});

test("two configs come up, show in status, come back after the tunnel's program dies, and stop cleanly", async () => {
  const { p: server, port } = await startServer(SECRET);
  const dir = mkdtempSync(join(tmpdir(), "netpunch-up-"));
  const fa = config(dir, "home", port, "a", 301);
  const fb = config(dir, "office", port, "b", 302);
  const ups: Proc[] = [run(["up", fa]), run(["up", fb])];
  const [a, b] = ups as [Proc, Proc];
  const isUp = (rows: Row[]) => rows[0]?.state === "up";
  const [ra] = await Promise.all([until(fa, isUp), until(fb, isUp)]);
  expect(ra[0]).toMatchObject({ name: "hold", state: "up", rounds: 1, path: "direct" });

  // A second `up` of the same config is refused: its status socket is taken by a live process.
  const twin = run(["up", fa]);
  expect(await twin.done()).toBe(1);
  expect(await twin.stderr).toContain("already answers on the status socket");

  // The tunnel's programs die: each supervisor punches again and the tunnel is back, as round 2. (A program
  // that holds no path, as here, cannot tell its partner's end: both must end for both to punch again.)
  const sleepers = [...descendants(a.proc.pid, "sleep 301"), ...descendants(b.proc.pid, "sleep 302")];
  expect(sleepers).toHaveLength(2);
  for (const pid of sleepers) process.kill(pid, "SIGKILL");
  const [back] = await Promise.all([
    until(fa, (rows) => isUp(rows) && (rows[0]?.rounds ?? 0) >= 2),
    until(fb, (rows) => isUp(rows) && (rows[0]?.rounds ?? 0) >= 2),
  ]);
  expect(back[0]?.repunches).toBe(1);
  await waitFor(a, /sleep exited/); // the log says why the tunnel ended

  const programs = [...descendants(a.proc.pid, "sleep 301"), ...descendants(b.proc.pid, "sleep 302")];
  expect(programs).toHaveLength(2);
  for (const p of ups) p.proc.kill("SIGTERM");
  expect(await Promise.all([a.done(), b.done()])).toEqual([0, 0]);
  expect(programs.filter(alive)).toEqual([]); // not orphaned: stopped with their netpunch
  expect(status(fa).code).toBe(1); // the socket went with the process
  server.proc.kill("SIGTERM");
  expect(await server.done()).toBe(0);
});

test("the tunnel's program gets neither NETPUNCH_SECRET nor a copy of the config's secret in its environment", async () => {
  const { p: server, port } = await startServer(SECRET);
  const dir = mkdtempSync(join(tmpdir(), "netpunch-up-"));
  const out = { a: join(dir, "env-a"), b: join(dir, "env-b") };
  const dump = (f: string) => ["sh", "-c", `env > '${f}.tmp' && mv '${f}.tmp' '${f}'; sleep 303`];
  const fa = config(dir, "home", port, "a", 303, dump(out.a));
  const fb = config(dir, "office", port, "b", 303, dump(out.b));
  // The secret file's text, in netpunch's own environment by name and copied into another variable.
  const env = { NETPUNCH_SECRET: "up-it-secret", NP_TEST_COPY: "copy-up-it-secret" };
  const ups = [run(["up", fa], env), run(["up", fb], env)] as const;
  const isUp = (rows: Row[]) => rows[0]?.state === "up";
  await Promise.all([until(fa, isUp), until(fb, isUp)]);
  const read = async (f: string) => {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      try {
        return readFileSync(f, "utf8");
      } catch {
        await Bun.sleep(50);
      }
    }
    throw new Error(`${f} never written`);
  };
  for (const f of [out.a, out.b]) {
    const text = await read(f);
    expect(text).toContain("NETPUNCH_LPORT=");
    expect(text).not.toContain("NETPUNCH_SECRET");
    expect(text).not.toContain("up-it-secret");
  }
  for (const p of ups) p.proc.kill("SIGTERM");
  expect(await Promise.all(ups.map((p) => p.done()))).toEqual([0, 0]);
  server.proc.kill("SIGTERM");
  await server.done();
});
