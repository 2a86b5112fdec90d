// The Redis link over TLS against a real redis-server serving TLS only, with a private CA made by openssl:
// the right CA connects (commands and pub/sub), and every way TLS can be wrong fails with E_STORE saying
// which (a CA not trusted, a certificate for another name, a scheme that does not match the port).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NetpunchError } from "../../../src/errors.ts";
import { RedisLink } from "../../../src/rendezvous/redis-link.ts";
import { probeTls } from "../../../src/rendezvous/redis-tls.ts";
import { type RedisChild, startRedis, stopAllRedis } from "../../support/redis.ts";
import { makeCa, serverCert } from "../../support/redis-certs.ts";

const PASSWORD = "tls-test-password-never-shown";
let dir: string;
let tlsRedis: RedisChild;
let plainRedis: RedisChild;
let ca: string;
let otherCa: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "netpunch-redis-tls-"));
  const authority = makeCa(dir, "ca");
  const other = makeCa(dir, "other-ca");
  const server = serverCert(dir, authority, "127.0.0.1");
  tlsRedis = await startRedis(PASSWORD, { ...server, ca: authority.cert });
  plainRedis = await startRedis();
  ca = readFileSync(authority.cert, "utf8");
  otherCa = readFileSync(other.cert, "utf8");
});
afterAll(async () => {
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

const withPassword = (url: string) => url.replace("//", `//default:${PASSWORD}@`);
const shown = (url: string) => url.replace("//", "//default:***@");

/** The link's first connection's failure (it must fail). */
async function failure(url: string, o: { ca?: string; where?: string } = {}): Promise<NetpunchError> {
  const link = new RedisLink({ url, where: o.where ?? url, ...(o.ca !== undefined ? { ca: o.ca } : {}) });
  try {
    await link.connect();
  } catch (e) {
    return e as NetpunchError;
  } finally {
    link.close();
  }
  throw new Error(`${url} connected`);
}

/** Polls `ok` every 20 ms for at most 10 s. */
async function until(ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(20);
  }
}

test("rediss:// with the private CA: commands and the pub/sub connection both go over TLS", async () => {
  const url = withPassword(tlsRedis.url);
  const link = new RedisLink({ url, where: shown(tlsRedis.url), ca });
  await link.connect();
  expect(await link.send("PING", [])).toBe("PONG");
  const heard: string[] = [];
  await link.subscribe("tls-ch", (m) => heard.push(m));
  await link.publish("tls-ch", "over tls");
  await until(() => heard.length === 1);
  expect(heard).toEqual(["over tls"]);
  // Redis says the connection is at its port, which serves TLS only (its plain port is off: `port 0`).
  const info = String(await link.send("CLIENT", ["INFO"]));
  expect(info).toContain(`laddr=127.0.0.1:${tlsRedis.port}`);
  link.close();
});

describe("every way TLS can be wrong: E_STORE saying which, the password never shown", () => {
  test.each([
    [
      "another CA",
      () => otherCa,
      "tls-untrusted",
      "its TLS certificate is not trusted: self signed certificate in certificate chain",
    ],
    [
      "the system's CAs (no CA given)",
      () => undefined,
      "tls-untrusted",
      "its TLS certificate is not trusted",
    ],
  ])("rediss:// trusting %s is refused", async (_name, trust, reason, text) => {
    const e = await failure(withPassword(tlsRedis.url), { ca: trust(), where: shown(tlsRedis.url) });
    expect([e.code, e.exitCode, e.detail.reason]).toEqual(["E_STORE", 1, reason]);
    expect(e.message).toContain(`the rendezvous store ${shown(tlsRedis.url)} cannot be reached: ${text}`);
    expect(`${e.message} ${e.hint}`).not.toContain(PASSWORD);
  });

  test("the right CA, but Redis named by a name its certificate is not for (localhost, not 127.0.0.1)", async () => {
    const url = withPassword(tlsRedis.url).replace("127.0.0.1", "localhost");
    const e = await failure(url, { ca, where: "rediss://localhost" });
    expect(e.detail.reason).toBe("tls-untrusted");
    expect(e.message).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
  });

  test("redis:// (plain) at the TLS port: it answers in TLS", async () => {
    const url = withPassword(tlsRedis.url).replace("rediss:", "redis:");
    const e = await failure(url, { where: "redis://tls-port" });
    expect([e.code, e.detail.reason]).toEqual(["E_STORE", "tls-expected"]);
    expect(e.message).toContain("it answers in TLS, and the URL says redis:// (plain)");
    expect(e.hint).toBe("use rediss:// for a Redis that speaks TLS");
  });

  test("rediss:// at a plain Redis: it does not answer a TLS handshake", async () => {
    const e = await failure(plainRedis.url.replace("redis:", "rediss:"), { ca, where: "rediss://plain" });
    expect([e.code, e.detail.reason]).toEqual(["E_STORE", "not-tls"]);
  });

  test("nothing listening: connection refused, not a TLS verdict", async () => {
    const port = plainRedis.port === 65535 ? plainRedis.port - 1 : plainRedis.port + 1;
    const e = await failure(`rediss://127.0.0.1:${port}/0`, { ca });
    expect([e.code, e.detail.reason]).toEqual(["E_STORE", undefined]);
    expect(e.message).toContain("cannot be reached: connection refused (ECONNREFUSED)");
    expect(e.hint).toContain("start the server again");
  });

  test("TLS right, password wrong: the client's own error, no TLS verdict, no password", async () => {
    const url = tlsRedis.url.replace("//", "//default:not-the-password@");
    const e = await failure(url, { ca, where: shown(tlsRedis.url) });
    expect([e.code, e.detail.reason]).toEqual(["E_STORE", undefined]);
    expect(`${e.message} ${e.hint}`).not.toContain("not-the-password");
  });

  test("a CA for a redis:// URL is refused before connecting (Bun would turn TLS on unasked)", () => {
    expect(() => new RedisLink({ url: plainRedis.url, where: plainRedis.url, ca })).toThrow(
      /a CA to trust was given for the store redis:\/\/127\.0\.0\.1:\d+\/0, which is not reached over TLS/,
    );
  });
});

test("a server that takes the connection and never answers: the probe says silent and closes its socket", async () => {
  // Not Redis (a plain Redis answers a ClientHello with an error and hangs up): a port that accepts and then
  // says nothing, as a stuck proxy or a firewall's tarpit does.
  const seen = { opened: 0, closed: 0 };
  const silent = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { open: () => void seen.opened++, close: () => void seen.closed++, data() {} },
  });
  try {
    expect(await probeTls("127.0.0.1", silent.port, ca)).toEqual({ kind: "silent" });
    expect(seen.opened).toBe(1);
    await until(() => seen.closed === 1);
  } finally {
    silent.stop(true);
  }
});
