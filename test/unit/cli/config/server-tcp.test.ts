// server_tcp and tls_ca in an up config: the file's or a tunnel's own, becoming connect's --server-tcp and
// --tls-ca in the tunnel's command line, which connect's parser and peerOptions take as `connect` would.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ParsedArgs, parseArgs } from "citty";
import { checkArgs } from "../../../../src/cli/common.ts";
import type { TunnelConfig } from "../../../../src/cli/config/types.ts";
import { connectArgs, peerOptions } from "../../../../src/cli/connect.ts";
import { configDir, TOP } from "./fixture.ts";

const c = configDir();
afterAll(() => c.remove());

const URL_ = "wss://rendezvous.example:443";
const SECRET_FILE = 'secret_file = "secret"\n';
const TUNNEL = '[tunnel.office]\nrole = "a"\nsession = "home-office"\n';
const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
writeFileSync(join(c.dir, "ca.pem"), PEM);

/** The words after the fixed eight (--role, --session, --local, --hook and their values). */
const serverWords = (t: TunnelConfig | undefined) => t?.argv.slice(8);

/** peerOptions of the tunnel's argv parsed as connect parses it, with its servers as up gives them. */
function asConnectRuns(t: TunnelConfig) {
  const argv = [...(t.servers[0] !== undefined ? ["--server", t.servers[0]] : []), ...t.argv];
  checkArgs(argv, connectArgs);
  const args = parseArgs(argv, connectArgs) as ParsedArgs<typeof connectArgs>;
  return peerOptions(args, new Uint8Array(32), t.servers);
}

describe("server_tcp in an up config", () => {
  test("at the top, with tls_ca beside the config: no UDP server, --server-tcp and --tls-ca in argv", async () => {
    const config = await c.load(`server_tcp = "${URL_}"\ntls_ca = "ca.pem"\n${SECRET_FILE}\n${TUNNEL}`);
    const ca = join(c.dir, "ca.pem");
    expect(config).toMatchObject({ servers: [], serverTcp: URL_, tlsCa: ca });
    const t = config.tunnels[0] as TunnelConfig;
    expect(t.servers).toEqual([]);
    expect(serverWords(t)).toEqual(["--server-tcp", URL_, "--tls-ca", ca]);
    const run = asConnectRuns(t);
    expect(run.serverTcp).toEqual({ url: URL_, ca: PEM });
    expect(run.servers).toEqual([]);
  });

  test("a tunnel's own server_tcp replaces the file's UDP servers for it only; its tls_ca is its own", async () => {
    const config = await c.load(
      `${TOP}\n${TUNNEL}server_tcp = "ws://198.51.100.7:8080"\n\n[tunnel.lab]\nrole = "b"\nsession = "lab"\n` +
        `server_tcp = "${URL_}"\ntls_ca = "/etc/netpunch/ca.pem"\n`,
    );
    expect(config.tunnels.map((t) => [t.servers, serverWords(t)])).toEqual([
      [[], ["--server-tcp", "ws://198.51.100.7:8080"]],
      [[], ["--server-tcp", URL_, "--tls-ca", "/etc/netpunch/ca.pem"]],
    ]);
    expect(asConnectRuns(config.tunnels[0] as TunnelConfig).serverTcp).toEqual({
      url: "ws://198.51.100.7:8080",
    });
  });

  test("a tunnel's own server replaces the file's server_tcp and its CA", async () => {
    const config = await c.load(
      `server_tcp = "${URL_}"\ntls_ca = "ca.pem"\n${SECRET_FILE}\n${TUNNEL}server = "198.51.100.7:10001"\n`,
    );
    const t = config.tunnels[0] as TunnelConfig;
    expect(t.servers).toEqual(["198.51.100.7:10001"]);
    expect(serverWords(t)).toEqual([]);
    expect(asConnectRuns(t).serverTcp).toBeUndefined();
  });

  test("a tunnel with its own server_tcp does not take the file's tls_ca", async () => {
    const config = await c.load(
      `server_tcp = "${URL_}"\ntls_ca = "ca.pem"\n${SECRET_FILE}\n${TUNNEL}server_tcp = "wss://203.0.113.5:443"\n`,
    );
    expect(serverWords(config.tunnels[0])).toEqual(["--server-tcp", "wss://203.0.113.5:443"]);
  });
});

describe("server and server_tcp together: UDP first, then the WebSocket (connect's --server with --server-tcp)", () => {
  test("at the top: every tunnel gets both, the UDP servers and --server-tcp with --tls-ca", async () => {
    const config = await c.load(
      `server = ["198.51.100.7:10001"]\nserver_tcp = "${URL_}"\ntls_ca = "ca.pem"\n${SECRET_FILE}\n${TUNNEL}`,
    );
    const t = config.tunnels[0] as TunnelConfig;
    const ca = join(c.dir, "ca.pem");
    expect(t.servers).toEqual(["198.51.100.7:10001"]);
    expect(serverWords(t)).toEqual(["--server-tcp", URL_, "--tls-ca", ca]);
    const run = asConnectRuns(t);
    expect(run.servers).toEqual(["198.51.100.7:10001"]);
    expect(run.serverTcp).toEqual({ url: URL_, ca: PEM });
  });

  test("in a tunnel: both are its own, and it inherits neither of the file's", async () => {
    const config = await c.load(
      `server_tcp = "ws://203.0.113.9:80"\n${SECRET_FILE}\n${TUNNEL}server = "198.51.100.7:1"\nserver_tcp = "${URL_}"\n`,
    );
    const t = config.tunnels[0] as TunnelConfig;
    expect(t.servers).toEqual(["198.51.100.7:1"]);
    expect(serverWords(t)).toEqual(["--server-tcp", URL_]);
    expect(asConnectRuns(t)).toMatchObject({ servers: ["198.51.100.7:1"], serverTcp: { url: URL_ } });
  });
});

describe("server_tcp's errors name the file, the table and the key", () => {
  test.each([
    [`${SECRET_FILE}\n${TUNNEL}`, "server: is required", "neither at the top"],
    [
      `${TOP}tls_ca = "ca.pem"\n\n${TUNNEL}`,
      "tls_ca: needs server_tcp (the CA is for a wss:// server)",
      "top CA alone",
    ],
    [
      `server_tcp = 443\n${SECRET_FILE}\n${TUNNEL}`,
      'server_tcp: must be "wss://HOST:PORT" or "ws://HOST:PORT" (a string)',
      "a number",
    ],
    [
      `server_tcp = "https://rendezvous.example"\n${SECRET_FILE}\n${TUNNEL}`,
      "server_tcp: must start with wss:// or ws://",
      "https",
    ],
    [
      `server_tcp = "rendezvous.example:443"\n${SECRET_FILE}\n${TUNNEL}`,
      "server_tcp: must start with wss:// or ws://",
      "no scheme",
    ],
    [
      `server_tcp = "wss//x"\n${SECRET_FILE}\n${TUNNEL}`,
      'server_tcp: is not a URL: write "wss://HOST:PORT" (or "ws://HOST:PORT")',
      "not a URL",
    ],
    [
      `server_tcp = "${URL_}"\ntls_ca = ""\n${SECRET_FILE}\n${TUNNEL}`,
      "tls_ca: must be the path of a PEM file, not empty",
      "empty CA",
    ],
    [
      `${TOP}\n${TUNNEL}tls_ca = "ca.pem"\n`,
      "[tunnel.office] tls_ca: needs server_tcp (the CA is for a wss:// server)",
      "a tunnel's CA without server_tcp",
    ],
    [
      `${TOP}\n${TUNNEL}server_tcp = "ftp://x"\n`,
      "[tunnel.office] server_tcp: must start with wss:// or ws://",
      "tunnel scheme",
    ],
    [
      `${TOP}\n${TUNNEL}server-tcp = "${URL_}"\n`,
      '[tunnel.office] server-tcp: unknown key; did you mean "server_tcp"?',
      "connect's spelling",
    ],
    [
      `${TOP}\n${TUNNEL}tls-ca = "ca.pem"\n`,
      '[tunnel.office] tls-ca: unknown key; did you mean "tls_ca"?',
      "connect's spelling of tls_ca",
    ],
  ])("%#: %p says %p (%s)", async (toml, why) => {
    expect(await c.why(toml)).toBe(why);
  });
});
