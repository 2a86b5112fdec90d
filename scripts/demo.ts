// The quick-start demo: a rendezvous server and two peers, as separate processes of the real CLI.
// As root on Linux: in network namespaces, each peer behind its own kernel NAT (iptables MASQUERADE).
// Otherwise: on loopback. Everything it starts is stopped at the end.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CLI = join(import.meta.dir, "../src/cli/main.ts");
const dir = mkdtempSync(join(tmpdir(), "netpunch-demo-"));
const secret = join(dir, "secret.txt");
writeFileSync(secret, `demo-${crypto.randomUUID()}\n`, { mode: 0o600 });
const say = (s: string) => process.stderr.write(`\x1b[1m# ${s}\x1b[0m\n`);

const canLab =
  process.platform === "linux" && process.getuid?.() === 0 && Bun.which("ip") && Bun.which("iptables");

async function labDemo(): Promise<void> {
  const { Lab } = await import("../lab/lab.ts");
  const lab = Lab.create();
  try {
    const server = lab.host("server");
    const serverIp = await lab.attachPublic(server);
    const gwA = lab.host("gw-a");
    const gwAIp = await lab.attachPublic(gwA);
    const gwB = lab.host("gw-b");
    const gwBIp = await lab.attachPublic(gwB);
    const a = lab.host("peer-a");
    const b = lab.host("peer-b");
    const [aIp] = lab.lan(gwA, "192.0.2", [a]);
    const [bIp] = lab.lan(gwB, "198.51.100", [b]);
    lab.masquerade(gwA);
    lab.masquerade(gwB);
    say(`lab: server ${serverIp}; peer a ${aIp} behind NAT ${gwAIp}; peer b ${bIp} behind NAT ${gwBIp}`);
    const bun = process.execPath;
    const srv = lab.spawn(server, [bun, CLI, "serve", "--listen", "0.0.0.0:10001", "--secret-file", secret]);
    await Bun.sleep(500);
    say("peer a starts and waits for its partner; peer b starts 2 s later");
    const peer = (h: typeof a, role: string) =>
      lab.spawn(h, [
        bun,
        CLI,
        "connect",
        "--role",
        role,
        "--server",
        `${serverIp}:10001`,
        "--local",
        ":10000",
        "--secret-file",
        secret,
      ]);
    const pa = peer(a, "a");
    await Bun.sleep(2_000);
    const started = performance.now();
    const pb = peer(b, "b");
    const [ca, cb] = await Promise.all([pa.exited, pb.exited]);
    const ms = Math.round(performance.now() - started);
    srv.kill("SIGTERM");
    await srv.exited;
    for (const [name, p] of [
      ["server", srv],
      ["peer a", pa],
      ["peer b", pb],
    ] as const) {
      say(`${name} log (stderr):`);
      process.stderr.write(p.output().stderr);
    }
    say("the result lines (stdout), as scripts parse them:");
    process.stdout.write(`a: ${pa.output().stdout}b: ${pb.output().stdout}`);
    say(`exit codes a=${ca} b=${cb}; b connected ${ms} ms after it started`);
    if (ca !== 0 || cb !== 0) process.exitCode = 1;
  } finally {
    await lab.cleanup();
  }
}

async function loopbackDemo(): Promise<void> {
  say("not root on Linux: running on loopback (run as root for the NAT lab demo)");
  const spawn = (args: string[]) =>
    Bun.spawn([process.execPath, CLI, ...args], { stdout: "pipe", stderr: "inherit" });
  const srv = spawn(["serve", "--listen", "127.0.0.1:10001", "--secret-file", secret]);
  await Bun.sleep(500);
  const pa = spawn(["connect", "--role", "a", "--server", "127.0.0.1:10001", "--secret-file", secret]);
  await Bun.sleep(1_000);
  const pb = spawn(["connect", "--role", "b", "--server", "127.0.0.1:10001", "--secret-file", secret]);
  const [oa, ob] = await Promise.all([new Response(pa.stdout).text(), new Response(pb.stdout).text()]);
  const codes = await Promise.all([pa.exited, pb.exited]);
  srv.kill("SIGTERM");
  await srv.exited;
  say("the result lines (stdout):");
  process.stdout.write(`a: ${oa}b: ${ob}`);
  if (codes.some((c) => c !== 0)) process.exitCode = 1;
}

try {
  await (canLab ? labDemo() : loopbackDemo());
} finally {
  rmSync(dir, { recursive: true, force: true });
}
