// Proxy mode through the real CLI on loopback: `connect --proxy --hook print --json --hook exec` runs a
// stand-in tunnel (test/fixtures/proxy-tunnel.ts) that binds LPORT and sends to RHOST:RPORT, which are
// netpunch's loopback endpoint, not the partner's port: the datagrams cross only through the proxies.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type Proc, run, secretFile, startServer, stopAll, waitFor } from "./cli.ts";

setDefaultTimeout(60_000);

const SECRET = secretFile("proxy-secret");
const TUNNEL = join(import.meta.dir, "../fixtures/proxy-tunnel.ts");
const { p: server, port: serverPort } = await startServer(SECRET);

afterAll(async () => {
  server.proc.kill("SIGTERM");
  await server.done(5_000);
  stopAll();
});

async function outcome(p: Proc) {
  const code = await p.done();
  return { code, stdout: await p.stdout, stderr: await p.stderr };
}

describe("connect --proxy", () => {
  test("the tunnels talk through netpunch's loopback endpoints; --json says proxy and the path", async () => {
    const session = `proxy-${process.pid}`;
    const ports = { a: await freePort(), b: await freePort() };
    const start = (role: "a" | "b") =>
      run([
        "connect",
        "--role",
        role,
        "--session",
        session,
        "--server",
        `127.0.0.1:${serverPort}`,
        "--local",
        `127.0.0.1:${ports[role]}`,
        "--secret-file",
        SECRET,
        "--no-lan",
        "--timeout",
        "10",
        "--proxy",
        "--hook",
        "print",
        "--json",
        "--hook",
        "exec",
        "--",
        process.execPath,
        TUNNEL,
      ]);
    const [oa, ob] = await Promise.all([outcome(start("a")), outcome(start("b"))]);
    expect([oa.code, ob.code], `${oa.stderr}\n${ob.stderr}`).toEqual([0, 0]);
    for (const [o, me, partner] of [
      [oa, "a", "b"],
      [ob, "b", "a"],
    ] as const) {
      const line = JSON.parse(o.stdout.split("\n").find((l) => l.startsWith("{")) ?? "{}");
      expect(line).toMatchObject({ proxy: true, via: "direct", rhost: "127.0.0.1", lhost: "127.0.0.1" });
      // The hook's endpoints are netpunch's, never the partner's punched port.
      expect(line.rport).not.toBe(ports[partner]);
      expect(line.lport).not.toBe(ports[me]);
      expect(`${o.stdout}${o.stderr}`).toContain(`heard: from ${partner}`);
    }
  });

  test("only one side in proxy mode: both exit 1 with E_MODE_MISMATCH, saying who runs it; no hook runs", async () => {
    const session = `mismatch-${process.pid}`;
    const dir = mkdtempSync(join(tmpdir(), "netpunch-mismatch-"));
    const marker = (role: string) => join(dir, `hook-${role}-ran`);
    const start = (role: "a" | "b", proxy: boolean) =>
      run([
        "connect",
        "--role",
        role,
        "--session",
        session,
        "--server",
        `127.0.0.1:${serverPort}`,
        "--secret-file",
        SECRET,
        "--no-lan",
        "--timeout",
        "10",
        ...(proxy ? ["--proxy"] : []),
        "--hook",
        "exec",
        "--",
        "touch",
        marker(role),
      ]);
    const [oa, ob] = await Promise.all([outcome(start("a", true)), outcome(start("b", false))]);
    expect([oa.code, ob.code], `${oa.stderr}\n${ob.stderr}`).toEqual([1, 1]);
    expect(oa.stderr).toContain(
      `[E_MODE_MISMATCH] session "${session}": this peer (role a) runs proxy mode and its partner (role b) does not`,
    );
    expect(ob.stderr).toContain(
      `[E_MODE_MISMATCH] session "${session}": the partner (role a) runs proxy mode and this peer (role b) does not`,
    );
    for (const o of [oa, ob])
      expect(o.stderr).toContain("hint: give both peers --proxy (proxy = true in an up tunnel), or neither");
    expect([existsSync(marker("a")), existsSync(marker("b"))]).toEqual([false, false]);
  });

  test("--proxy with --exec-replace is a usage error before any packet", async () => {
    const p = run([
      "connect",
      "--role",
      "a",
      "--server",
      `127.0.0.1:${serverPort}`,
      "--secret-file",
      SECRET,
      "--proxy",
      "--hook",
      "exec",
      "--exec-replace",
      "--",
      "true",
    ]);
    const o = await outcome(p);
    expect(o.code).toBe(2);
    expect(o.stderr).toContain("--proxy and --exec-replace exclude each other");
  });
});

/** An up config with one tunnel in proxy mode that runs the stand-in tunnel (or `extra` lines). */
function upConfig(
  dir: string,
  role: "a" | "b",
  heardFile: string,
  extra: string[] = [],
  port = serverPort,
): string {
  const file = join(dir, `${role}.toml`);
  writeFileSync(
    file,
    [
      `server = "127.0.0.1:${port}"`,
      `secret_file = ${JSON.stringify(SECRET)}`,
      `state_dir = ${JSON.stringify(join(dir, role, "state"))}`,
      `runtime_dir = ${JSON.stringify(join(dir, role, "run"))}`,
      "",
      "[tunnel.proxied]",
      `role = "${role}"`,
      `session = "up-proxy-${process.pid}"`,
      "lan = false",
      "proxy = true",
      'hook = "exec"',
      `args = [${JSON.stringify(process.execPath)}, ${JSON.stringify(TUNNEL)}, ${JSON.stringify(heardFile)}]`,
      ...extra,
      "",
    ].join("\n"),
  );
  return file;
}

interface ProxyRow {
  state: string;
  path?: string;
  remote?: string;
  proxy?: {
    packetsIn: number;
    packetsOut: number;
    bytesIn: number;
    bytesOut: number;
    moves: number;
    path?: string;
    switches?: number;
    relayReady?: boolean;
  };
}

/** Polls `status a --json` every 200 ms (at most 20 s) until its one row is `ok`; throws otherwise. */
async function proxyRow(runtimeDir: string, ok: (r: ProxyRow) => boolean): Promise<ProxyRow> {
  const MAIN = join(import.meta.dir, "../../src/cli/main.ts");
  let last = "";
  for (let i = 0; i < 100; i++) {
    const r = Bun.spawnSync([process.execPath, MAIN, "status", "a", "--runtime-dir", runtimeDir, "--json"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    last = r.stdout.toString() + r.stderr.toString();
    if (r.exitCode === 0) {
      const row = (JSON.parse(r.stdout.toString()) as { tunnels: ProxyRow[] }).tunnels[0];
      if (row && ok(row)) return row;
    }
    await Bun.sleep(200);
  }
  throw new Error(`status never matched: ${last}`);
}

describe("up with proxy = true", () => {
  test("the tunnel's datagrams cross through both proxies", async () => {
    const dir = mkdtempSync(join(tmpdir(), "netpunch-up-proxy-"));
    const heard = { a: join(dir, "heard-a.txt"), b: join(dir, "heard-b.txt") };
    const ups = (["a", "b"] as const).map((role) => run(["up", upConfig(dir, role, heard[role])]));
    for (const p of ups)
      await waitFor(p, /proxy: the tunnel binds 127\.0\.0\.1:\d+ and sends to 127\.0\.0\.1:\d+/, 20_000);
    // `status` shows the proxy's traffic both ways while the tunnel is up (a later round's, if this one ended).
    const row = await proxyRow(
      join(dir, "a", "run"),
      (r) => (r.proxy?.packetsIn ?? 0) > 0 && (r.proxy?.packetsOut ?? 0) > 0,
    );
    expect(row.state).toBe("up");
    // The stand-in sends "from a" (6 bytes) and hears "from b" (6 bytes) per datagram.
    expect(row.proxy?.bytesOut).toBe(6 * (row.proxy?.packetsOut ?? 0));
    expect(row.proxy?.bytesIn).toBe(6 * (row.proxy?.packetsIn ?? 0));
    expect(row.proxy?.moves).toBe(0);
    expect(row.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    // Bounded: the stand-in tunnel hears its partner within seconds or gives up after 15 s.
    for (let i = 0; i < 200 && !(existsSync(heard.a) && existsSync(heard.b)); i++) await Bun.sleep(100);
    for (const p of ups) p.proc.kill("SIGTERM");
    await Promise.all(ups.map((p) => p.done(10_000)));
    expect(readFileSync(heard.a, "utf8")).toContain("heard: from b");
    expect(readFileSync(heard.b, "utf8")).toContain("heard: from a");
  });

  test("with exec-replace = true it is a usage error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "netpunch-up-proxy-"));
    const p = run(["up", upConfig(dir, "a", join(dir, "never.txt"), ["exec-replace = true"])]);
    expect(await p.done()).toBe(2);
    expect(await p.stderr).toContain("--proxy and --exec-replace exclude each other");
  });
});

describe("up with proxy = true and a server with a relay", () => {
  test("the relay asked for beside the punch gets bound in the background; status shows the path and no switch", async () => {
    const port = await freePort();
    const relayServer = run(["serve", "--listen", `127.0.0.1:${port}`, "--secret-file", SECRET, "--relay"]);
    await waitFor(relayServer, /listening on UDP/);
    const dir = mkdtempSync(join(tmpdir(), "netpunch-up-proxy-relay-"));
    const heard = { a: join(dir, "heard-a.txt"), b: join(dir, "heard-b.txt") };
    const ups = (["a", "b"] as const).map((role) => run(["up", upConfig(dir, role, heard[role], [], port)]));
    try {
      for (const p of ups) await waitFor(p, /proxy: the relay is ready to fall back to/, 20_000);
      // Loopback has a direct path at once: the punch ends direct, and the proxy stays there.
      const row = await proxyRow(join(dir, "a", "run"), (r) => r.proxy?.relayReady === true);
      expect(row).toMatchObject({ state: "up", path: "direct" });
      expect(row.proxy).toMatchObject({ path: "direct", switches: 0, relayReady: true });
    } finally {
      for (const p of ups) p.proc.kill("SIGTERM");
      await Promise.all(ups.map((p) => p.done(10_000)));
      relayServer.proc.kill("SIGTERM");
      await relayServer.done(5_000);
    }
  });
});
