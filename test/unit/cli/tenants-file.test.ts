// serve --secrets-file: the TOML tenants file, parsed, validated, its secrets read; every mistake one E_TENANTS
// (or E_SECRET for an unreadable secret file) naming the tenant or key, never a secret.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { loadTenantsFile, MAX_TENANTS_FILE_BYTES } from "../../../src/cli/tenants-file.ts";
import { MAX_TENANTS } from "../../../src/rendezvous/tenants.ts";
import { netpunchError } from "../support.ts";

const dir = mkdtempSync(join(tmpdir(), "netpunch-tenants-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function recorder() {
  const warnings: string[] = [];
  const logger = createConsola({
    level: 4,
    reporters: [{ log: (o) => void (o.type === "warn" && warnings.push(o.args.map(String).join(" "))) }],
  });
  return { logger, warnings };
}

let n = 0;
function file(text: string, mode = 0o600, name = `tenants-${n++}.toml`): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
}

const LONG_A = "acme-secret-acme-secret-acme-secret-1";
const LONG_B = "globex-secret-globex-secret-globex-s2";
const load = (text: string) => loadTenantsFile(file(text), recorder().logger);
const text = (b: string | Uint8Array) => (typeof b === "string" ? b : new TextDecoder().decode(b));

describe("a valid file", () => {
  test("inline secrets, a secret file beside the file, caps: in file order", () => {
    file(`${LONG_B}\n`, 0o600, "globex.secret");
    const tenants = load(
      `# two tenants\n[tenants.acme]\nsecret = "${LONG_A}"\nmax_sessions = 100\nmax_per_address = 4\nmax_relays = 2\n\n[tenants.globex]\nsecret_file = "globex.secret"\n`,
    );
    expect(tenants.map((t) => [t.name, text(t.secret), t.limits, t.maxRelays])).toEqual([
      ["acme", LONG_A, { maxSessions: 100, maxPerAddress: 4 }, 2],
      ["globex", LONG_B, undefined, undefined],
    ]);
  });

  test("a short secret and a file others can read are warned about, naming the tenant, never the secret", () => {
    const { logger, warnings } = recorder();
    loadTenantsFile(file(`[tenants.tiny]\nsecret = "hunter2"\n`, 0o644), logger);
    expect(warnings.length).toBe(2);
    expect(warnings.join("\n")).toContain("can be read or written by other users");
    expect(warnings.join("\n")).toContain("tenant tiny's secret is short");
    expect(warnings.join("\n")).not.toContain("hunter2");
  });
});

describe("a file that is not valid", () => {
  test.each([
    ["not TOML", `[tenants.acme\nsecret = "x"`, "not TOML"],
    ["no tenants table", "# nothing but comments", "no tenants table"],
    [
      "a secret outside any tenant",
      `secret = "${LONG_A}"\n[tenants.acme]\nsecret = "${LONG_A}"\n`,
      "unknown key secret",
    ],
    [
      "an unknown key in a tenant",
      `[tenants.acme]\nsecret = "${LONG_A}"\nsekret = "y"\n`,
      "unknown key tenants.acme.sekret",
    ],
    [
      "an unknown top-level table",
      `[tenants.acme]\nsecret = "${LONG_A}"\n[server]\nport = 1\n`,
      "unknown key server",
    ],
    [
      "a cap that is not a positive integer",
      `[tenants.acme]\nsecret = "${LONG_A}"\nmax_sessions = 0\n`,
      "tenants.acme.max_sessions",
    ],
    [
      "a cap that is a string",
      `[tenants.acme]\nsecret = "${LONG_A}"\nmax_sessions = "10"\n`,
      "tenants.acme.max_sessions",
    ],
    ["no tenant at all", "[tenants]\n", "names no tenant"],
    [
      "both secret and secret_file",
      `[tenants.acme]\nsecret = "${LONG_A}"\nsecret_file = "f"\n`,
      "exactly one of secret and secret_file",
    ],
    ["neither", "[tenants.acme]\nmax_sessions = 3\n", "exactly one of secret and secret_file"],
    ["an empty secret", `[tenants.acme]\nsecret = ""\n`, "tenants.acme.secret"],
    [
      "a name valibot would drop",
      `[tenants.constructor]\nsecret = "${LONG_A}"\n`,
      "tenant name constructor cannot be used",
    ],
    [
      "__proto__ beside a good tenant",
      `[tenants.__proto__]\nsecret = "${LONG_A}"\n[tenants.acme]\nsecret = "${LONG_B}"\n`,
      "tenant name __proto__ cannot be used",
    ],
    ["a name with a colon", `[tenants."a:b"]\nsecret = "${LONG_A}"\n`, "is not 1 to 32 letters"],
    [
      "two tenants, one secret",
      `[tenants.acme]\nsecret = "${LONG_A}"\n[tenants.twin]\nsecret = "${LONG_A}"\n`,
      "tenants acme and twin have the same secret",
    ],
  ])("%s", (_, toml, why) => {
    const e = netpunchError(() => load(toml));
    expect([e.code, e.exitCode]).toEqual(["E_TENANTS", 2]);
    expect(e.message).toContain(why);
    expect(e.message).toContain("the tenants file");
    expect(e.hint).toBeTruthy();
    expect(`${e.message} ${e.hint}`).not.toContain(LONG_A);
  });

  // A secret written wrong (unquoted, as a number, in an array) is exactly what an error must not repeat:
  // valibot's message ends "but received 123456789", and Bun's TOML error quotes the bare word it met.
  test.each([
    [
      "an unquoted secret (not TOML)",
      `[tenants.acme]\nsecret = hunter2sekrit\n`,
      "hunter2sekrit",
      "not TOML",
    ],
    [
      "a secret that is a number",
      `[tenants.acme]\nsecret = 918273645\n`,
      "918273645",
      "tenants.acme.secret: expected string, got a number",
    ],
    ["a secret in an array", `[tenants.acme]\nsecret = ["hunter2sekrit"]\n`, "hunter2sekrit", "got an array"],
    [
      "a secret as a cap",
      `[tenants.acme]\nsecret = "x"\nmax_sessions = "hunter2sekrit"\n`,
      "hunter2sekrit",
      "got a string",
    ],
  ])("%s: the error does not repeat the value", (_, toml, secret, why) => {
    const e = netpunchError(() => load(toml));
    expect(e.code).toBe("E_TENANTS");
    expect(e.message).toContain(why);
    expect(`${e.message} ${e.hint}`).not.toContain(secret);
  });

  test(`more than ${MAX_TENANTS} tenants`, () => {
    const many = Array.from(
      { length: MAX_TENANTS + 1 },
      (_, i) => `[tenants.t${i}]\nsecret = "${LONG_A}${i}"\n`,
    );
    const e = netpunchError(() => load(many.join("")));
    expect(e.message).toContain(`${MAX_TENANTS + 1} tenants, more than ${MAX_TENANTS}`);
  });

  test("a secret_file that cannot be read is E_SECRET naming it", () => {
    const e = netpunchError(() => load(`[tenants.acme]\nsecret_file = "missing.secret"\n`));
    expect(e.code).toBe("E_SECRET");
    expect(e.message).toContain(join(dir, "missing.secret"));
  });

  test("a file larger than the bound fails at once", () => {
    const e = netpunchError(() => load(`# ${"x".repeat(MAX_TENANTS_FILE_BYTES)}\n`));
    expect(e.message).toContain(`larger than ${MAX_TENANTS_FILE_BYTES} bytes`);
  });
});
