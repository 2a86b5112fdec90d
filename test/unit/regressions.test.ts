// Bugs found by review, each pinned by a test that failed before its fix.
import { expect, test } from "bun:test";
import { normalizeHost, parseAddress } from "../../src/addr.ts";
import { rejectUnknownOptions } from "../../src/cli/common.ts";
import { connectArgs } from "../../src/cli/connect.ts";
import { cli } from "../../src/cli/main.ts";
import type { NetpunchError } from "../../src/errors.ts";
import { encodeBody } from "../../src/protocol/body.ts";
import { HEADER_LEN, MessageType, TAG_LEN } from "../../src/protocol/constants.ts";
import { bytesToIp, ipToBytes } from "../../src/protocol/ip.ts";
import { open } from "../../src/protocol/packet.ts";
import { PeerMachine } from "../../src/punch/machine.ts";
import { captureOutput, concat, craft, frameOf, KEY, makeCore, registerWithCookie } from "./support.ts";

test("a --timeout shorter than the server timeout still reports a silent server, not a missing partner", () => {
  const m = new PeerMachine({
    session: "s",
    role: "a",
    peerId: "1111111111111111",
    server: { host: "198.51.100.7", port: 10001 },
    lanCandidates: [],
    timings: { waitMs: 5_000, serverSilentMs: 10_000 },
  });
  m.step({ type: "start", now: 0 });
  const out = m.step({ type: "tick", now: 5_000 });
  const fail = out.actions.find((a) => a.kind === "fail");
  expect(fail && (fail as { error: NetpunchError }).error.code).toBe("E_SERVER_SILENT");
});

test("an unknown top-level option is a usage error (exit 2)", async () => {
  const { value, err } = await captureOutput(() => cli(["--bogus"]));
  expect(value).toBe(2);
  expect(err).toContain("[E_USAGE] unknown option --bogus");
});

test("citty's own errors name the command that was run in the hint", async () => {
  const { value, err } = await captureOutput(() => cli(["connect", "--server", "127.0.0.1:9"]));
  expect(value).toBe(2);
  expect(err).toContain("hint: see netpunch connect --help");
});

test("a dotted number that is not an IPv4 address is refused, not resolved to another host", () => {
  expect(() => parseAddress("1.2.3:10001", "server address")).toThrow('"1.2.3" is not a valid IPv4 address');
});

test("a pair dropped unacknowledged is reported as given up, not as paired", () => {
  const core = makeCore();
  const A = "1".repeat(16);
  const reg = (role: "a" | "b", port: number) =>
    registerWithCookie(
      core,
      { host: "198.18.0.2", port },
      { type: "register", session: "s", role, peerId: `${role === "a" ? 1 : 2}`.repeat(16), candidates: [] },
      0,
    );
  reg("a", 1000);
  const match = reg("b", 2000).find((x) => x.kind === "send" && x.msg.type === "match");
  const pairId = match?.kind === "send" && match.msg.type === "match" ? match.msg.pairId : "";
  // Only A acknowledges; B stays silent until the ack timeout (6 s).
  core.onFrame(
    { host: "198.18.0.2", port: 1000 },
    frameOf({ type: "matchAck", session: "s", pairId, peerId: A }),
    10,
  );
  expect(core.tick(5_999).some((a) => a.kind === "event")).toBe(false);
  const out = core.tick(6_000);
  const events = out.flatMap((a) => (a.kind === "event" ? [a.event.type] : []));
  expect(events).toContain("server-gave-up");
  expect(events).not.toContain("server-paired");
  // The peer that acknowledged is told (three copies: UNMATCH is not acknowledged), so it waits again instead
  // of punching a peer that is gone.
  const unmatch = [1000, { type: "unmatch" as const, to: A, pairId }];
  expect(out.flatMap((a) => (a.kind === "send" ? [[a.to.port, a.msg]] : []))).toEqual([
    unmatch,
    unmatch,
    unmatch,
  ]);
});

test("an option value starting with '-' (a secret like -abc) is not taken for an option", () => {
  expect(() => rejectUnknownOptions(["--role", "a", "--secret", "-abc"], connectArgs)).not.toThrow();
  expect(() => rejectUnknownOptions(["--role", "a", "-abc"], connectArgs)).toThrow("unknown option -abc");
});

test("an IPv4-mapped IPv6 address survives the wire as something normalizeHost unwraps", () => {
  const back = bytesToIp(ipToBytes("::ffff:192.0.2.1"));
  expect(back).toBe("::ffff:192.0.2.1");
  expect(normalizeHost(back)).toBe("192.0.2.1");
});

test("trailing zero bytes after a body other than REGISTER are malformed", () => {
  const { body } = encodeBody(
    { type: "ping", pairId: "ab".repeat(16), peerId: "cd".repeat(8), seq: 1 },
    HEADER_LEN + TAG_LEN,
  );
  const ok = craft({ type: MessageType.ping, body });
  expect(open(KEY, ok).ok).toBe(true);
  const padded = craft({ type: MessageType.ping, body: concat(body, new Uint8Array(4)) });
  expect(open(KEY, padded)).toEqual({ ok: false, reason: "malformed" });
});

test("a package hook is only what is installed on disk: Bun's auto-install never fetches one", async () => {
  const { mkdtempSync, mkdirSync, writeFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const { installedPackage } = await import("../../src/hooks/load.ts");
  const empty = mkdtempSync(join(tmpdir(), "netpunch-noinstall-"));
  // "hello" is a real npm package; resolving it by name here would let Bun download it.
  expect(installedPackage("hello", empty)).toBeUndefined();
  const pkg = join(empty, "node_modules", "netpunch-plugin-x");
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "netpunch-plugin-x", main: "main.js" }));
  writeFileSync(join(pkg, "main.js"), "export default {}\n");
  const nested = join(empty, "a", "b");
  mkdirSync(nested, { recursive: true });
  expect(installedPackage("netpunch-plugin-x", nested)).toBe(join(pkg, "main.js"));
  expect(installedPackage("../etc", empty)).toBeUndefined();
});

test("--relay-ports takes an unprivileged range and names itself when wrong", async () => {
  const { portRange } = await import("../../src/cli/serve.ts");
  expect(portRange("20000-20099")).toEqual({ low: 20000, high: 20099 });
  for (const bad of ["20099-20000", "80-90", "20000", "a-b", "20000-70000"]) {
    expect(() => portRange(bad)).toThrow(`--relay-ports "${bad}" is not a range of unprivileged ports`);
  }
});
