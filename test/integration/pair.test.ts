// `netpunch pair` as real processes through a real server on loopback: the first host prints a code, the
// second joins with it, both write their up config (mode 0600, read back by the real loader) with each
// other's key pinned; a wrong code fails on both sides with exit 1 and nothing written; a code nobody waits
// for fails on the joiner.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certFingerprint } from "../../plugins/openvpn-keys.ts";
import { wgPublicKey } from "../../plugins/wireguard-keys.ts";
import { loadConfig } from "../../src/cli/config/load.ts";
import { sameSubnet } from "../../src/pair/derive.ts";
import { WORDS } from "../../src/pair/words.ts";
import { CLI, type Proc, run, secretFile, startServer, stopAll, waitFor } from "./cli.ts";

setDefaultTimeout(60_000);
const made: string[] = [];
afterAll(() => {
  stopAll();
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

const SECRET = secretFile("pair-it-secret, the server's admission secret");
const server = await startServer(SECRET);
const SERVER = `127.0.0.1:${server.port}`;

/** Every file under `dir`, relative (none when it does not exist). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

const mode = (file: string) => statSync(file).mode & 0o777;

/** One side's folder: its config path and state directory, passed explicitly (tests may run as root). */
function side(name: string) {
  const dir = mkdtempSync(join(tmpdir(), `netpunch-pair-${name}-`));
  made.push(dir);
  return { dir, config: join(dir, "cfg", `${name}.toml`), state: join(dir, "state") };
}

function pairProc(s: ReturnType<typeof side>, name: string, more: string[]): Proc {
  return run([
    "pair",
    "--server",
    SERVER,
    "--secret-file",
    SECRET,
    "--name",
    name,
    "--config",
    s.config,
    "--state-dir",
    s.state,
    ...more,
  ]);
}

/** Starts the first host and reads the code from the line it prints for the other host. */
async function firstHost(s: ReturnType<typeof side>, name: string, more: string[] = []) {
  const p = pairProc(s, name, more);
  await waitFor(p, /on the other host, run: .* (\d+-[a-z]+-[a-z]+) /);
  const code = /on the other host, run: .* (\d+-[a-z]+-[a-z]+) /.exec(p.errSoFar())?.[1] as string;
  return { p, code };
}

describe("netpunch pair", () => {
  test("A prints a code, B joins: both write a 0600 config that loads, with each other's WireGuard key pinned", async () => {
    const a = side("office");
    const b = side("home");
    const first = await firstHost(a, "office");
    const second = pairProc(b, "home", [first.code]);
    const [codeA, codeB] = await Promise.all([first.p.done(30_000), second.done(30_000)]);
    const [outA, outB] = [await first.p.stdout, await second.stdout];
    expect({ codeA, codeB, errA: await first.p.stderr, errB: await second.stderr }).toMatchObject({
      codeA: 0,
      codeB: 0,
    });
    expect(outA).toBe(`${first.code}\n${a.config}\n`);
    expect(outB).toBe(`${b.config}\n`);

    for (const s of [a, b]) expect(mode(s.config)).toBe(0o600);
    const tunnelA = "office/office";
    const tunnelB = "home/home";
    expect(filesUnder(a.state)).toEqual([
      `keys/${tunnelA}/pair.key`,
      `keys/${tunnelA}/wireguard.key`,
      `pins/${tunnelA}`,
    ]);
    expect(filesUnder(b.state)).toEqual([
      `keys/${tunnelB}/pair.key`,
      `keys/${tunnelB}/wireguard.key`,
      `pins/${tunnelB}`,
    ]);
    for (const [s, t] of [
      [a, tunnelA],
      [b, tunnelB],
    ] as const)
      for (const f of [`keys/${t}/pair.key`, `keys/${t}/wireguard.key`, `pins/${t}`])
        expect(mode(join(s.state, f))).toBe(0o600);

    // The same pair key on both sides, and each side pinned the other's public key.
    const read = (s: ReturnType<typeof side>, f: string) => readFileSync(join(s.state, f), "utf8").trim();
    expect(read(a, `keys/${tunnelA}/pair.key`)).toBe(read(b, `keys/${tunnelB}/pair.key`));
    expect(read(a, `pins/${tunnelA}`)).toBe(await wgPublicKey(read(b, `keys/${tunnelB}/wireguard.key`)));
    expect(read(b, `pins/${tunnelB}`)).toBe(await wgPublicKey(read(a, `keys/${tunnelA}/wireguard.key`)));

    // The configs load with up's own loader: the same session, the two roles, addresses in one subnet.
    const ca = await loadConfig(a.config);
    const cb = await loadConfig(b.config);
    const [ta, tb] = [ca.tunnels[0], cb.tunnels[0]];
    expect([ca.tunnels.length, cb.tunnels.length]).toEqual([1, 1]);
    expect(ta).toMatchObject({ name: "office", role: "a", hook: "wireguard" });
    expect(tb).toMatchObject({ name: "home", role: "b", hook: "wireguard" });
    expect(ta?.session).toBe(tb?.session as string);
    expect(ta?.session).toMatch(/^np-[0-9a-f]{32}$/);
    expect(ca.stateDir).toBe(a.state);
    expect(ta?.address).toMatch(/^fd[0-9a-f:]+::1\/64$/);
    expect(sameSubnet(ta?.address as string, tb?.address as string)).toBe(true);
  });

  test("openvpn with --ipv4-range: each side pins the other's certificate fingerprint; the /30 is shared", async () => {
    const a = side("ovpn-a");
    const b = side("ovpn-b");
    const more = ["--hook", "openvpn", "--ipv4-range", "198.18.0.0/16"];
    const first = await firstHost(a, "va", more);
    const second = pairProc(b, "vb", [...more, first.code]);
    expect(await Promise.all([first.p.done(30_000), second.done(30_000)])).toEqual([0, 0]);
    const read = (s: ReturnType<typeof side>, f: string) => readFileSync(join(s.state, f), "utf8");
    // --config names the file ovpn-a.toml, so up knows the tunnel as ovpn-a/va: pair keeps its keys there.
    expect(read(a, "pins/ovpn-a/va").trim()).toBe(certFingerprint(read(b, "keys/ovpn-b/vb/openvpn.crt")));
    expect(read(b, "pins/ovpn-b/vb").trim()).toBe(certFingerprint(read(a, "keys/ovpn-a/va/openvpn.crt")));
    const [ca, cb] = [await loadConfig(a.config), await loadConfig(b.config)];
    expect([ca.name, cb.name]).toEqual(["ovpn-a", "ovpn-b"]);
    const [ta, tb] = [ca.tunnels[0], cb.tunnels[0]];
    expect(ta).toMatchObject({ name: "va", hook: "openvpn", role: "a" });
    expect(ta?.address).toMatch(/^198\.18\.\d+\.\d+\/30$/);
    expect(sameSubnet(ta?.address as string, tb?.address as string)).toBe(true);
  });

  test("CODE - reads the code from stdin, out of other users' sight (ps)", async () => {
    const a = side("stdin-a");
    const b = side("stdin-b");
    const first = await firstHost(a, "sa");
    const joiner = Bun.spawn(
      [process.execPath, CLI, "pair", "--server", SERVER, "--secret-file", SECRET, "--name", "sb"].concat([
        "--config",
        b.config,
        "--state-dir",
        b.state,
        "-",
      ]),
      { stdin: new Blob([`${first.code}\n`]), stdout: "pipe", stderr: "pipe" },
    );
    const kill = setTimeout(() => joiner.kill("SIGKILL"), 30_000);
    const [codeA, codeB] = await Promise.all([first.p.done(30_000), joiner.exited]);
    clearTimeout(kill);
    expect({ codeA, codeB, err: await new Response(joiner.stderr).text() }).toMatchObject({
      codeA: 0,
      codeB: 0,
    });
    expect(await new Response(joiner.stdout).text()).toBe(`${b.config}\n`);
    expect(existsSync(b.config)).toBe(true);
  });

  test("a wrong code fails on both sides with exit 1, and neither writes anything", async () => {
    const a = side("wrong-a");
    const b = side("wrong-b");
    const first = await firstHost(a, "wa");
    const [number, w1, w2] = first.code.split("-");
    const other = WORDS.find((w) => w !== w2) as string;
    const second = pairProc(b, "wb", [`${number}-${w1}-${other}`]);
    const [codeA, codeB] = await Promise.all([first.p.done(30_000), second.done(30_000)]);
    const [errA, errB] = [await first.p.stderr, await second.stderr];
    expect([codeA, codeB]).toEqual([1, 1]);
    expect(errA).toContain("[E_PAIR] pairing failed: the other side used another code");
    expect(errB).toContain("[E_PAIR] pairing failed: the other side used another code");
    expect([await first.p.stdout, await second.stdout]).toEqual([`${first.code}\n`, ""]);
    expect([...filesUnder(a.dir), ...filesUnder(b.dir)]).toEqual([]);
  });

  test("a code nobody waits for: the joiner fails with exit 1 and writes nothing", async () => {
    const b = side("alone");
    const p = pairProc(b, "alone", ["--timeout", "1", "998-guitar-meadow"]);
    expect(await p.done(20_000)).toBe(1);
    expect(await p.stderr).toContain("[E_PAIR] nobody waits with code 998-...");
    expect(filesUnder(b.dir)).toEqual([]);
  });

  test("a mistyped word is refused before anything is sent (exit 2)", async () => {
    const b = side("typo");
    const p = pairProc(b, "typo", ["7-gitar-meadow"]);
    expect(await p.done(20_000)).toBe(2);
    expect(await p.stderr).toContain('did you mean "guitar"?');
    expect(filesUnder(b.dir)).toEqual([]);
  });
});
