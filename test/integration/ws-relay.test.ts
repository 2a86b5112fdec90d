// The relay over a WebSocket through the real CLI on loopback: `serve --relay --relay-tcp`, peer a over
// `--server-tcp` (plain, then TLS with a certificate made here and `--tls-ca`), peer b over UDP; each runs a
// stand-in tunnel (the exec hook and test/fixtures/udp-exchange.ts) that must hear the other through the relay.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { statusSocketPath } from "../../src/up/paths.ts";
import { readStatus } from "../../src/up/status-client.ts";
import type { TunnelRow } from "../../src/up/supervise-all.ts";
import { selfSignedFiles } from "../support/tls-cert.ts";
import { freePort, type Proc, run, secretFile, stopAll, waitFor } from "./cli.ts";

setDefaultTimeout(40_000);
afterAll(stopAll);

const scratch = mkdtempSync(join(tmpdir(), "netpunch-ws-"));
const secretPath = secretFile("ws-relay-integration-secret");
const EXCHANGE = join(import.meta.dir, "../fixtures/udp-exchange.ts");

/** A TCP port that was free a moment ago. */
async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A self-signed certificate for 127.0.0.1, as PEM files. */
const certificate = () => selfSignedFiles(scratch, "127.0.0.1");

/** The stand-in tunnel each peer's exec hook runs; it writes what it heard to `file`. */
const tunnel = (role: string, file: string) => [
  "--hook",
  "exec",
  "--",
  process.execPath,
  EXCHANGE,
  role,
  "{rhost}",
  "{rport}",
  file,
];

async function relayedPair(tls?: { cert: string; key: string }) {
  const udp = await freePort();
  const tcp = await freeTcpPort();
  const server = run([
    "serve",
    "--listen",
    `127.0.0.1:${udp}`,
    "--relay",
    "--relay-tcp",
    `127.0.0.1:${tcp}`,
    ...(tls ? ["--tls-cert", tls.cert, "--tls-key", tls.key] : []),
    "--secret-file",
    secretPath,
    "--stats-interval",
    "1",
  ]);
  await waitFor(server, /listening on TCP/);
  const session = `ws-${tls ? "tls" : "plain"}`;
  const heard = { a: join(scratch, `${session}-a.txt`), b: join(scratch, `${session}-b.txt`) };
  const url = `${tls ? "wss" : "ws"}://127.0.0.1:${tcp}`;
  const common = ["--secret-file", secretPath, "--session", session, "--timeout", "20", "--verbose"];
  const a = run([
    "connect",
    "--role",
    "a",
    "--server-tcp",
    url,
    ...(tls ? ["--tls-ca", tls.cert] : []),
    ...common,
    ...tunnel("a", heard.a),
  ]);
  const b = run([
    "connect",
    "--role",
    "b",
    "--server",
    `127.0.0.1:${udp}`,
    "--relay-after",
    "0.1",
    ...common,
    ...tunnel("b", heard.b),
  ]);
  const codes = await Promise.all([a.done(30_000), b.done(30_000)]);
  server.proc.kill("SIGTERM");
  await server.done();
  return { codes, a, b, server, heard };
}

const logs = async (...ps: Proc[]) => (await Promise.all(ps.map((p) => p.stderr))).join("\n---\n");

describe("relay over a WebSocket (serve --relay-tcp, connect --server-tcp)", () => {
  test("plain ws://: a peer on the WebSocket and a peer on UDP meet and their tunnels hear each other", async () => {
    const { codes, a, b, server, heard } = await relayedPair();
    expect(codes, await logs(a, b, server)).toEqual([0, 0]);
    expect(readFileSync(heard.a, "utf8")).toBe("from b");
    expect(readFileSync(heard.b, "utf8")).toBe("from a");
    expect(await a.stderr).toContain("(relay, rtt");
    expect(await server.stderr).toMatch(/[1-9]\d* bytes relayed/);
  });

  test("wss:// with a self-signed certificate trusted by --tls-ca", async () => {
    const { codes, a, b, server, heard } = await relayedPair(await certificate());
    expect(codes, await logs(a, b, server)).toEqual([0, 0]);
    expect(readFileSync(heard.a, "utf8")).toBe("from b");
    expect(readFileSync(heard.b, "utf8")).toBe("from a");
  });

  test("wss:// without --tls-ca: the self-signed certificate is not trusted, and connect says so", async () => {
    const tls = await certificate();
    const tcp = await freeTcpPort();
    const server = run([
      "serve",
      "--listen",
      `127.0.0.1:${await freePort()}`,
      "--relay",
      "--relay-tcp",
      `127.0.0.1:${tcp}`,
      "--tls-cert",
      tls.cert,
      "--tls-key",
      tls.key,
      "--secret-file",
      secretPath,
    ]);
    await waitFor(server, /listening on TCP/);
    const a = run([
      "connect",
      "--role",
      "a",
      "--server-tcp",
      `wss://127.0.0.1:${tcp}`,
      "--secret-file",
      secretPath,
    ]);
    expect(await a.done()).toBe(1);
    expect(await a.stderr).toContain("no WebSocket to the server");
    server.proc.kill("SIGTERM");
    await server.done();
  });

  test.each([
    [[], "no server given"],
    [["--server", "127.0.0.1:10001", "--tls-ca", "ca.pem"], "--tls-ca needs --server-tcp"],
    [["--server-tcp", "http://127.0.0.1:443"], "not ws:// or wss://"],
  ])("connect %p: exit 2, %s", async (more, message) => {
    const p = run(["connect", "--role", "a", "--secret-file", secretPath, ...more]);
    expect(await p.done()).toBe(2);
    expect(await p.stderr).toContain(message);
  });
});

const PROXY_TUNNEL = join(import.meta.dir, "../fixtures/proxy-tunnel.ts");

/**
 * Proxy mode over the WebSocket: a on `--server-tcp` (its netpunch seals the tunnel's datagrams as DATA and
 * carries them over the WebSocket to the relay), b on UDP, both `--proxy`, each running the stand-in tunnel
 * that binds LPORT, sends to RHOST:RPORT and prints what it hears.
 */
async function proxiedPair(tls?: { cert: string; key: string }) {
  const udp = await freePort();
  const tcp = await freeTcpPort();
  const server = run([
    "serve",
    "--listen",
    `127.0.0.1:${udp}`,
    "--relay",
    "--relay-tcp",
    `127.0.0.1:${tcp}`,
    ...(tls ? ["--tls-cert", tls.cert, "--tls-key", tls.key] : []),
    "--secret-file",
    secretPath,
    "--stats-interval",
    "1",
  ]);
  await waitFor(server, /listening on TCP/);
  const session = `ws-proxy-${tls ? "tls" : "plain"}`;
  const common = [
    "--secret-file",
    secretPath,
    "--session",
    session,
    "--timeout",
    "20",
    "--verbose",
    "--proxy",
  ];
  const hooks = ["--hook", "print", "--json", "--hook", "exec", "--", process.execPath, PROXY_TUNNEL];
  const url = `${tls ? "wss" : "ws"}://127.0.0.1:${tcp}`;
  const a = run([
    "connect",
    "--role",
    "a",
    "--server-tcp",
    url,
    ...(tls ? ["--tls-ca", tls.cert] : []),
    ...common,
    ...hooks,
  ]);
  const b = run(["connect", "--role", "b", "--server", `127.0.0.1:${udp}`, "--no-lan", ...common, ...hooks]);
  const codes = await Promise.all([a.done(30_000), b.done(30_000)]);
  server.proc.kill("SIGTERM");
  await server.done();
  // The stand-in's "heard" line is the exec hook's child's: logged on stderr, or on stdout.
  const out = { a: (await a.stdout) + (await a.stderr), b: (await b.stdout) + (await b.stderr) };
  return { codes, a, b, server, out };
}

/** The print hook's JSON line in `stdout`. */
const resultLine = (stdout: string) => JSON.parse(stdout.split("\n").find((l) => l.startsWith("{")) ?? "{}");

describe("proxy mode over the WebSocket (connect --proxy --server-tcp)", () => {
  test.each([
    ["ws://", false],
    ["wss:// with --tls-ca", true],
  ])("%s: a WebSocket proxy peer and a UDP proxy peer carry the tunnel both ways", async (_name, secure) => {
    const { codes, a, b, server, out } = await proxiedPair(secure ? await certificate() : undefined);
    expect(codes, await logs(a, b, server)).toEqual([0, 0]);
    for (const role of ["a", "b"] as const) {
      const line = resultLine(out[role]);
      expect(line).toMatchObject({ proxy: true, via: "relay", rhost: "127.0.0.1", lhost: "127.0.0.1" });
    }
    // Each stand-in tunnel heard the other's datagrams, which crossed only as DATA through the proxies.
    expect(out.a).toContain("heard: from b");
    expect(out.b).toContain("heard: from a");
    expect(await a.stderr).toContain("proxy: on the relay over the WebSocket");
    expect(await server.stderr).toMatch(/[1-9]\d* bytes relayed/);
  });
});

describe("proxy mode over the WebSocket keeps trying UDP", () => {
  test("the WebSocket peer probes the partner's addresses over UDP, both move to direct, and the tunnels talk", async () => {
    const udp = await freePort();
    const tcp = await freeTcpPort();
    const server = run([
      "serve",
      "--listen",
      `127.0.0.1:${udp}`,
      "--relay",
      "--relay-tcp",
      `127.0.0.1:${tcp}`,
      "--secret-file",
      secretPath,
    ]);
    await waitFor(server, /listening on TCP/);
    const common = ["--secret-file", secretPath, "--session", "ws-direct", "--timeout", "20", "--proxy"];
    // The stand-in tunnel starts a few seconds late, so most of its datagrams cross after the switch.
    const late = ["--hook", "exec", "--", "sh", "-c", `sleep 3; exec ${process.execPath} ${PROXY_TUNNEL}`];
    const a = run(["connect", "--role", "a", "--server-tcp", `ws://127.0.0.1:${tcp}`, ...common, ...late]);
    const b = run(["connect", "--role", "b", "--server", `127.0.0.1:${udp}`, "--no-lan", ...common, ...late]);
    try {
      await waitFor(a, /proxy: on the relay over the WebSocket/, 15_000);
      for (const p of [a, b])
        await waitFor(p, /proxy: moved to direct \(3 probes answered in a row\)/, 15_000);
      const codes = await Promise.all([a.done(30_000), b.done(30_000)]);
      expect(codes, await logs(a, b)).toEqual([0, 0]);
      expect(`${await a.stdout}${await a.stderr}`).toContain("heard: from b");
      expect(`${await b.stdout}${await b.stderr}`).toContain("heard: from a");
    } finally {
      server.proc.kill("SIGTERM");
      await server.done();
    }
  });
});

describe("up with server_tcp and proxy = true", () => {
  test("status shows the path as ws-relay, with the proxy's traffic both ways", async () => {
    const udp = await freePort();
    const tcp = await freeTcpPort();
    const server = run([
      "serve",
      "--listen",
      `127.0.0.1:${udp}`,
      "--relay",
      "--relay-tcp",
      `127.0.0.1:${tcp}`,
      "--secret-file",
      secretPath,
    ]);
    await waitFor(server, /listening on TCP/);
    const session = "ws-up-proxy";
    const heard = join(scratch, `${session}-a.txt`);
    const runtimeDir = join(scratch, "ws-up-proxy-run");
    const file = join(scratch, "ws-up-proxy.toml");
    writeFileSync(
      file,
      [
        `server_tcp = "ws://127.0.0.1:${tcp}"`,
        `secret_file = ${JSON.stringify(secretPath)}`,
        `state_dir = ${JSON.stringify(join(scratch, "ws-up-proxy-state"))}`,
        `runtime_dir = ${JSON.stringify(runtimeDir)}`,
        "",
        "[tunnel.relayed]",
        'role = "a"',
        `session = "${session}"`,
        "proxy = true",
        'hook = "exec"',
        `args = ${JSON.stringify([process.execPath, PROXY_TUNNEL, heard])}`,
        "",
      ].join("\n"),
    );
    const up = run(["up", file, "--verbose"]);
    const b = run([
      "connect",
      "--role",
      "b",
      "--server",
      `127.0.0.1:${udp}`,
      "--no-lan",
      "--proxy",
      "--secret-file",
      secretPath,
      "--session",
      session,
      "--timeout",
      "20",
      "--hook",
      "exec",
      "--",
      process.execPath,
      PROXY_TUNNEL,
    ]);
    try {
      // Read from up's status socket every 50 ms (at most 20 s) until the proxy has carried datagrams both
      // ways: the stand-in tunnels end a second after they hear each other, so a separate status process
      // could miss the round.
      const socket = statusSocketPath(runtimeDir, "ws-up-proxy");
      let row: TunnelRow | undefined;
      for (let i = 0; i < 400; i++) {
        row = await readStatus(socket).then(
          (d) => d.tunnels[0],
          () => undefined,
        );
        if ((row?.proxy?.packetsIn ?? 0) > 0 && (row?.proxy?.packetsOut ?? 0) > 0) break;
        await Bun.sleep(50);
      }
      // The processes still run: what they have logged so far.
      const soFar = [up, b, server].map((p) => p.errSoFar()).join("\n---\n");
      expect(row, soFar).toMatchObject({ path: "ws-relay", proxy: { websocket: true } });
      expect(row?.proxy?.packetsIn).toBeGreaterThan(0);
      expect(row?.proxy?.packetsOut).toBeGreaterThan(0);
      expect(await b.done(30_000)).toBe(0);
      expect(`${await b.stdout}${await b.stderr}`).toContain("heard: from a");
    } finally {
      up.proc.kill("SIGTERM");
      await up.done(10_000);
      server.proc.kill("SIGTERM");
      await server.done();
    }
    expect(readFileSync(heard, "utf8")).toContain("heard: from b");
  });
});

describe("up with server_tcp and tls_ca", () => {
  test("the config's wss:// server and CA reach the tunnel's connect: it meets a UDP peer over the relay", async () => {
    const tls = await certificate();
    const udp = await freePort();
    const tcp = await freeTcpPort();
    const server = run([
      "serve",
      "--listen",
      `127.0.0.1:${udp}`,
      "--relay",
      "--relay-tcp",
      `127.0.0.1:${tcp}`,
      "--tls-cert",
      tls.cert,
      "--tls-key",
      tls.key,
      "--secret-file",
      secretPath,
    ]);
    await waitFor(server, /listening on TCP/);
    const session = "ws-up";
    const heard = { a: join(scratch, `${session}-a.txt`), b: join(scratch, `${session}-b.txt`) };
    const file = join(scratch, "ws-up.toml");
    writeFileSync(
      file,
      [
        `server_tcp = "wss://127.0.0.1:${tcp}"`,
        `tls_ca = ${JSON.stringify(tls.cert)}`,
        `secret_file = ${JSON.stringify(secretPath)}`,
        `state_dir = ${JSON.stringify(join(scratch, "ws-up-state"))}`,
        `runtime_dir = ${JSON.stringify(join(scratch, "ws-up-run"))}`,
        "",
        "[tunnel.relayed]",
        'role = "a"',
        `session = "${session}"`,
        'hook = "exec"',
        `args = ${JSON.stringify([process.execPath, EXCHANGE, "a", "{rhost}", "{rport}", heard.a])}`,
        "",
      ].join("\n"),
    );
    const up = run(["up", file, "--verbose"]);
    const b = run([
      "connect",
      "--role",
      "b",
      "--server",
      `127.0.0.1:${udp}`,
      "--relay-after",
      "0.1",
      "--secret-file",
      secretPath,
      "--session",
      session,
      "--timeout",
      "20",
      ...tunnel("b", heard.b),
    ]);
    const code = await b.done(30_000);
    // Bounded: a's stand-in writes what it heard within its last sends (or gives up).
    for (let i = 0; i < 100 && !existsSync(heard.a); i++) await Bun.sleep(100);
    up.proc.kill("SIGTERM");
    await up.done(10_000);
    server.proc.kill("SIGTERM");
    await server.done();
    expect(code, await logs(up, b, server)).toBe(0);
    expect(readFileSync(heard.a, "utf8")).toBe("from b");
    expect(readFileSync(heard.b, "utf8")).toBe("from a");
    expect(await up.stderr).toContain("(relay, rtt");
  });
});
