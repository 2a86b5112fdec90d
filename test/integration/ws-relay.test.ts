// The relay over a WebSocket through the real CLI on loopback: `serve --relay --relay-tcp`, peer a over
// `--server-tcp` (plain, then TLS with a certificate made here and `--tls-ca`), peer b over UDP; each runs a
// stand-in tunnel (the exec hook and test/fixtures/udp-exchange.ts) that must hear the other through the relay.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
    [
      ["--server", "127.0.0.1:10001", "--server-tcp", "ws://127.0.0.1:443"],
      "--server and --server-tcp together",
    ],
    [["--server", "127.0.0.1:10001", "--tls-ca", "ca.pem"], "--tls-ca needs --server-tcp"],
    [["--server-tcp", "http://127.0.0.1:443"], "not ws:// or wss://"],
  ])("connect %p: exit 2, %s", async (more, message) => {
    const p = run(["connect", "--role", "a", "--secret-file", secretPath, ...more]);
    expect(await p.done()).toBe(2);
    expect(await p.stderr).toContain(message);
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
