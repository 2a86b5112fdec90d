import { describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newSecret } from "../../../src/cli/keygen.ts";
import { makeLogger } from "../../../src/cli/logger.ts";
import { resolveSecret } from "../../../src/cli/secret.ts";
import { cliSuite, runCli as run } from "../../support/cli.ts";
import { captureOutput } from "../support.ts";

const dir = cliSuite("netpunch-keygen-test-");

const BASE64URL_256 = /^[A-Za-z0-9_-]{43}$/;

describe("netpunch keygen", () => {
  test("prints one line: 43 base64url characters (256 bits, no padding), fresh each time", async () => {
    const a = await run("keygen");
    const b = await run("keygen");
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(Buffer.from(a.out.trim(), "base64url")).toHaveLength(32);
    expect(a.out).not.toBe(b.out);
    // The hint on stderr says how to use it, and does not repeat the secret.
    expect(a.err).toContain("--secret-file");
    expect(a.err).not.toContain(a.out.trim());
  });

  test("newSecret encodes 32 bytes of the given randomness", () => {
    expect(newSecret((n) => new Uint8Array(n).fill(0xff))).toBe(`${"_".repeat(42)}8`);
    expect(newSecret()).toMatch(BASE64URL_256);
  });

  test("--output FILE: mode 0600, one line, nothing on stdout, a hint naming --secret-file FILE", async () => {
    const file = join(dir, "a.txt");
    const r = await run("keygen", "--output", file);
    expect(r.code).toBe(0);
    expect(r.out).toBe("");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, "utf8");
    expect(text).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(r.err).toContain(`netpunch serve --secret-file ${file}`);
    expect(r.err).not.toContain(text.trim());
  });

  test("-o is --output; the file is a 256-bit secret resolveSecret takes without a warning", async () => {
    const file = join(dir, "b.txt");
    expect((await run("keygen", "-o", file)).code).toBe(0);
    const { err } = await captureOutput(() => resolveSecret({ secretFile: file, logger: makeLogger({}) }));
    expect(err).toBe("");
  });

  test("an existing FILE is refused (exit 2) and left alone; --force replaces it with a 0600 file", async () => {
    const file = join(dir, "c.txt");
    writeFileSync(file, "old secret\n");
    chmodSync(file, 0o644);
    const r = await run("keygen", "--output", file);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^\[E_USAGE\] .*c\.txt.*exists/m);
    expect(r.err).toMatch(/^hint: .*--force/m);
    expect(readFileSync(file, "utf8")).toBe("old secret\n");

    const forced = await run("keygen", "--output", file, "--force");
    expect(forced.code).toBe(0);
    expect(readFileSync(file, "utf8")).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test("a symlink at FILE is refused too, not followed", async () => {
    const target = join(dir, "elsewhere.txt");
    const link = join(dir, "link.txt");
    symlinkSync(target, link);
    const r = await run("keygen", "--output", link);
    expect(r.code).toBe(2);
    expect(() => statSync(target)).toThrow();
  });

  test("--force without --output is a usage error", async () => {
    const r = await run("keygen", "--force");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^\[E_USAGE\] .*--force/m);
    expect(r.out).toBe("");
  });

  test("--help explains the command and its options", async () => {
    const r = await run("keygen", "--help");
    expect(r.code).toBe(0);
    for (const s of ["256-bit", "--output", "-o", "0600", "--force"]) expect(r.out).toContain(s);
  });

  test("netpunch --help lists keygen", async () => {
    expect((await run("--help")).out).toContain("keygen");
  });
});
