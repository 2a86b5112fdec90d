import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NetpunchError } from "../../../src/errors.ts";
import { statusSocketPath } from "../../../src/up/paths.ts";
import { readStatus, statusSockets } from "../../../src/up/status-client.ts";
import type { StatusDocument } from "../../../src/up/status-document.ts";
import { serveStatus } from "../../../src/up/status-server.ts";
import { T0 } from "./support.ts";

const root = mkdtempSync(join(tmpdir(), "np-status-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `run${++n}`, "netpunch");

const DOC: StatusDocument = {
  version: 1,
  config: "home",
  pid: process.pid,
  now: T0,
  tunnels: [
    {
      name: "office",
      session: "home-office",
      role: "a",
      state: "up",
      since: T0 - 5_000,
      path: "direct",
      local: "0.0.0.0:51820",
      remote: "203.0.113.9:40000",
      rttMs: 12,
      upSince: T0 - 5_000,
      rounds: 2,
      repunches: 1,
      lastError: { code: "E_TIMEOUT", message: "no partner" },
      partnerKey: "SHA256:2f1a",
    },
  ],
};

const code = async (p: Promise<unknown>): Promise<string | undefined> => {
  try {
    await p;
    return undefined;
  } catch (e) {
    if (e instanceof NetpunchError) return e.code;
    throw e;
  }
};

/** A process that listens on `path` and is then killed with SIGKILL: the socket file it leaves answers nothing. */
async function deadProcessSocket(path: string): Promise<void> {
  const child = Bun.spawn(
    [
      process.execPath,
      "-e",
      `Bun.listen({ unix: ${JSON.stringify(path)}, socket: { data() {} } }); console.log("listening");`,
    ],
    { stdout: "pipe" },
  );
  const reader = child.stdout.getReader();
  const first = await reader.read();
  expect(new TextDecoder().decode(first.value)).toContain("listening");
  child.kill("SIGKILL");
  await child.exited;
  expect(statSync(path).isSocket()).toBe(true);
}

describe("the status socket: one JSON document per connection, for its owner only", () => {
  test("creates the runtime directory 0700 and the socket 0600, and answers a validated document", async () => {
    const dir = freshDir();
    const server = await serveStatus({ runtimeDir: dir, config: "home", document: () => DOC });
    try {
      expect(server.path).toBe(join(dir, "home.sock"));
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(server.path).mode & 0o777).toBe(0o600);
      expect(await readStatus(server.path)).toEqual(DOC);
      expect(await readStatus(server.path)).toEqual(DOC); // and again: every client gets one
      expect(statusSockets(dir)).toEqual([server.path]);
    } finally {
      server.close();
    }
    expect(existsSync(server.path)).toBe(false);
    await expect(code(readStatus(server.path))).resolves.toBe("E_NOT_RUNNING");
  });

  test("the umask of the process does not loosen the socket's mode, and is put back", async () => {
    const old = process.umask(0);
    try {
      const server = await serveStatus({ runtimeDir: freshDir(), config: "home", document: () => DOC });
      expect(statSync(server.path).mode & 0o777).toBe(0o600);
      expect(process.umask()).toBe(0);
      server.close();
    } finally {
      process.umask(old);
    }
  });

  test("a socket left by a dead process is replaced; one a live process answers on is refused", async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const path = statusSocketPath(dir, "home");
    await deadProcessSocket(path);
    await expect(code(readStatus(path))).resolves.toBe("E_NOT_RUNNING");
    const server = await serveStatus({ runtimeDir: dir, config: "home", document: () => DOC });
    try {
      expect((await readStatus(path)).config).toBe("home");
      await expect(code(serveStatus({ runtimeDir: dir, config: "home", document: () => DOC }))).resolves.toBe(
        "E_BIND",
      );
      expect((await readStatus(path)).config).toBe("home"); // the live one still answers
    } finally {
      server.close();
    }
  });

  test("a file that is not a socket is refused, not removed", async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const path = statusSocketPath(dir, "home");
    writeFileSync(path, "not a socket");
    await expect(code(serveStatus({ runtimeDir: dir, config: "home", document: () => DOC }))).resolves.toBe(
      "E_BIND",
    );
    expect(existsSync(path)).toBe(true);
  });

  test("a runtime directory that cannot be made is E_BIND, not a crash", async () => {
    const file = join(root, "a-file");
    writeFileSync(file, "");
    const runtimeDir = join(file, "netpunch");
    await expect(code(serveStatus({ runtimeDir, config: "home", document: () => DOC }))).resolves.toBe(
      "E_BIND",
    );
  });

  test("a large document (120 tunnels, about 40 KB) arrives whole", async () => {
    const many: StatusDocument = {
      ...DOC,
      tunnels: Array.from({ length: 120 }, (_, i) => ({
        ...(DOC.tunnels[0] as StatusDocument["tunnels"][0]),
        name: `t${i}`,
      })),
    };
    const server = await serveStatus({ runtimeDir: freshDir(), config: "big", document: () => many });
    try {
      expect((await readStatus(server.path)).tunnels.length).toBe(120);
    } finally {
      server.close();
    }
  });

  test("an answer that is not a status document of this version is refused", async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const path = join(dir, "odd.sock");
    for (const reply of [
      "not json",
      JSON.stringify({ ...DOC, version: 2 }),
      JSON.stringify({ ...DOC, tunnels: [{ name: "x" }] }),
    ]) {
      const l = Bun.listen({ unix: path, socket: { open: (s) => void s.end(reply), data() {} } });
      try {
        await expect(code(readStatus(path))).resolves.toBe("E_NOT_RUNNING");
      } finally {
        l.stop(true);
      }
    }
  });

  test("a process that accepts but never answers costs the client its timeout, not a hang", async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const path = join(dir, "mute.sock");
    const l = Bun.listen({ unix: path, socket: { data() {} } });
    try {
      await expect(code(readStatus(path, { timeoutMs: 50 }))).resolves.toBe("E_NOT_RUNNING");
    } finally {
      l.stop(true);
    }
  });
});
