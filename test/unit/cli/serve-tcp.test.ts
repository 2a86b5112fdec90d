import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tcpOptions } from "../../../src/cli/serve.ts";

const defaults = { idle: "60", maxMessage: "65537" };

describe("serve's WebSocket options", () => {
  test("without --relay-tcp there is no listener", () => {
    expect(tcpOptions(defaults)).toBeUndefined();
  });

  test("--relay-tcp :443 listens on every address, plain; the limits are passed on", () => {
    expect(tcpOptions({ ...defaults, listen: ":443", idle: "30", maxMessage: "2048" })).toEqual({
      listen: { host: "0.0.0.0", port: 443 },
      idleTimeoutS: 30,
      maxMessageBytes: 2048,
    });
  });

  test("--tls-cert and --tls-key are read as PEM text", () => {
    const dir = mkdtempSync(join(tmpdir(), "netpunch-tls-"));
    writeFileSync(join(dir, "c.pem"), "CERT");
    writeFileSync(join(dir, "k.pem"), "KEY");
    const o = tcpOptions({
      ...defaults,
      listen: "192.0.2.1:443",
      cert: join(dir, "c.pem"),
      key: join(dir, "k.pem"),
    });
    expect(o?.tls).toEqual({ cert: "CERT", key: "KEY" });
  });

  test.each([
    [{ listen: ":443", cert: "c.pem" }, "--tls-cert and --tls-key go together"],
    [{ cert: "c.pem", key: "k.pem" }, "--tls-cert needs --relay-tcp"],
    [{ listen: ":443", idle: "5" }, "--tcp-idle"],
    [{ listen: ":443", idle: "961" }, "--tcp-idle"],
    [{ listen: ":443", maxMessage: "0" }, "--tcp-max-message"],
    [
      { listen: ":443", cert: "/nonexistent/c.pem", key: "/nonexistent/k.pem" },
      "--tls-cert /nonexistent/c.pem cannot be read",
    ],
  ])("%p is a usage error: %s", (given, message) => {
    let error: unknown;
    try {
      tcpOptions({ ...defaults, ...given });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "E_USAGE" });
    expect((error as Error).message).toContain(message);
  });
});
