import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { MAX_SECRET_FILE_BYTES, resolveSecret } from "../../../src/cli/secret.ts";
import { NetpunchError } from "../../../src/errors.ts";
import { deriveKey } from "../../../src/protocol/auth.ts";

const dir = mkdtempSync(join(tmpdir(), "netpunch-secret-test-"));
const savedEnv = process.env.NETPUNCH_SECRET;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  if (savedEnv === undefined) delete process.env.NETPUNCH_SECRET;
  else process.env.NETPUNCH_SECRET = savedEnv;
});

/** A logger that records its warnings, one string each. */
function recorder() {
  const warnings: string[] = [];
  const logger = createConsola({
    level: 4,
    reporters: [{ log: (o) => void (o.type === "warn" && warnings.push(o.args.map(String).join(" "))) }],
  });
  return { logger, warnings };
}

let n = 0;
function file(bytes: Uint8Array | string, mode = 0o600): string {
  const path = join(dir, `secret-${n++}`);
  writeFileSync(path, bytes, { mode });
  chmodSync(path, mode); // the umask must not decide the mode under test
  return path;
}

const fromFile = (path: string) => resolveSecret({ secretFile: path, logger: recorder().logger });
const bytes = (...b: number[]) => Uint8Array.from(b);
const ascii = (s: string) => [...Buffer.from(s, "latin1")];

function secretError(f: () => unknown): NetpunchError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NetpunchError);
    expect((e as NetpunchError).code).toBe("E_SECRET");
    expect((e as NetpunchError).hint).toBeTruthy();
    return e as NetpunchError;
  }
  throw new Error("expected an E_SECRET error");
}

describe("resolveSecret reads a file as bytes", () => {
  test("returns a Uint8Array of the file's bytes", () => {
    const s = fromFile(file(bytes(0xff, 0xfe, 0xfd, 0xfc, ...ascii("abc"))));
    expect(s).toBeInstanceOf(Uint8Array);
    expect([...s]).toEqual([0xff, 0xfe, 0xfd, 0xfc, ...ascii("abc")]);
  });

  test("two files differing only in invalid UTF-8 are two secrets, and two keys", () => {
    const a = fromFile(file(bytes(0xff, 0xfe, 0xfd, 0xfc, ...ascii("abc"))));
    const b = fromFile(file(bytes(0x80, 0x81, 0x82, 0x83, ...ascii("abc"))));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(Buffer.from(deriveKey(a)).equals(Buffer.from(deriveKey(b)))).toBe(false);
  });

  test.each([
    ["abc\n", "abc"],
    ["abc\r\n", "abc"],
    ["abc\n\n", "abc\n"],
    ["abc\r", "abc\r"],
    ["abc", "abc"],
    [" abc \n", " abc "],
  ])("%j -> %j: one trailing newline is dropped, nothing else", (content, want) => {
    expect(Buffer.from(fromFile(file(content))).toString("latin1")).toBe(want);
  });

  test("a string secret (--secret or NETPUNCH_SECRET) is its UTF-8 bytes", () => {
    const { logger } = recorder();
    expect([...resolveSecret({ secret: "pässwörd", logger })]).toEqual([...Buffer.from("pässwörd", "utf8")]);
    process.env.NETPUNCH_SECRET = "ключ";
    expect([...resolveSecret({ logger })]).toEqual([...Buffer.from("ключ", "utf8")]);
  });

  test("a file and the same text in NETPUNCH_SECRET give the same key", () => {
    process.env.NETPUNCH_SECRET = "same secret";
    const viaEnv = resolveSecret({ logger: recorder().logger });
    const viaFile = fromFile(file("same secret\n"));
    expect(Buffer.from(deriveKey(viaEnv)).equals(Buffer.from(deriveKey(viaFile)))).toBe(true);
    expect(Buffer.from(deriveKey("same secret")).equals(Buffer.from(deriveKey(viaFile)))).toBe(true);
  });
});

describe("resolveSecret refuses what is not a small regular file", () => {
  test(`a file of ${MAX_SECRET_FILE_BYTES} bytes is read; one byte more is refused`, () => {
    expect(fromFile(file("x".repeat(MAX_SECRET_FILE_BYTES))).length).toBe(MAX_SECRET_FILE_BYTES);
    const e = secretError(() => fromFile(file("x".repeat(MAX_SECRET_FILE_BYTES + 1))));
    expect(e.message).toContain(`larger than ${MAX_SECRET_FILE_BYTES} bytes`);
  });

  // A named pipe and /dev/zero are tested on the real CLI (test/integration/cli-hygiene.test.ts): before the
  // fix they blocked this process for good, which no in-process timeout can interrupt.
  test("a directory is refused", () => {
    expect(secretError(() => fromFile(dir)).message).toContain("a directory");
  });

  test("a missing file names the path, says so in words, and keeps the errno", () => {
    const e = secretError(() => fromFile(join(dir, "missing")));
    expect(e.message).toContain("missing");
    expect(e.message).toContain("no such file (ENOENT)");
  });

  test("an empty file (only a newline) is refused", () => {
    expect(secretError(() => fromFile(file("\n"))).message).toContain("empty");
  });
});

describe("resolveSecret warns, in one line, never printing the secret", () => {
  const LONG = "k".repeat(32);

  test.each([
    ["a short file secret", () => ({ secretFile: file("hunter2\n") }), "hunter2"],
    ["a short --secret", () => ({ secret: "hunter2" }), "hunter2"],
    [
      "a short NETPUNCH_SECRET",
      () => {
        process.env.NETPUNCH_SECRET = "hunter2";
        return {};
      },
      "hunter2",
    ],
    ["31 bytes", () => ({ secretFile: file("s".repeat(31)) }), "s".repeat(31)],
  ])("%s: a short-secret warning that names netpunch keygen", (_, opts, secret) => {
    const { logger, warnings } = recorder();
    resolveSecret({ ...opts(), logger });
    const short = warnings.filter((w) => w.startsWith("short secret"));
    expect(short).toHaveLength(1);
    expect(short[0]).toContain("netpunch keygen");
    expect(short[0]).toContain("256-bit");
    for (const w of warnings) {
      expect(w).not.toContain(secret);
      expect(w).not.toContain("\n");
    }
  });

  test("32 bytes or more: no short-secret warning", () => {
    const { logger, warnings } = recorder();
    resolveSecret({ secretFile: file(`${LONG}\n`), logger });
    process.env.NETPUNCH_SECRET = LONG;
    resolveSecret({ logger });
    expect(warnings).toEqual([]);
  });

  test.each([0o644, 0o640, 0o604, 0o660, 0o606, 0o777])(
    "a secret file with mode %o: a warning with chmod 600 FILE",
    (mode) => {
      const path = file(LONG, mode);
      const { logger, warnings } = recorder();
      resolveSecret({ secretFile: path, logger });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`chmod 600 ${path}`);
      expect(warnings[0]).toContain(`mode 0${mode.toString(8)}`);
      expect(warnings[0]).not.toContain(LONG);
    },
  );

  test.each([0o600, 0o400])("a secret file with mode %o: no warning", (mode) => {
    const { logger, warnings } = recorder();
    resolveSecret({ secretFile: file(LONG, mode), logger });
    expect(warnings).toEqual([]);
  });
});
