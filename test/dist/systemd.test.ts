// packaging/netpunch.service: systemd accepts it, it is hardened, and its ExecStart line really starts the
// server with the secret from the credential directory and stops gracefully on SIGTERM.
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiled } from "../support/binary.ts";

// Real processes, sockets and (in the lab) namespaces: far slower than bun test's 5 s default.
setDefaultTimeout(60_000);

const UNIT = readFileSync(join(import.meta.dir, "../../packaging/netpunch.service"), "utf8");
const setting = (key: string) => [...UNIT.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]);

test("runs unprivileged, restarts on failure, takes the secret as a credential", () => {
  expect(setting("DynamicUser")).toEqual(["yes"]);
  expect(setting("NoNewPrivileges")).toEqual(["yes"]);
  expect(setting("Restart")).toEqual(["on-failure"]);
  expect(setting("CapabilityBoundingSet")).toEqual([""]);
  expect(setting("LoadCredential")).toEqual(["secret:/etc/netpunch/secret"]);
  const exec = setting("ExecStart")[0] ?? "";
  // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd's own ${...} syntax, not a template
  expect(exec).toContain("--secret-file ${CREDENTIALS_DIRECTORY}/secret");
  expect(exec).not.toMatch(/--secret[ =](?!file)/);
});

test("systemd-analyze verifies it and rates its exposure OK", async () => {
  if (!Bun.which("systemd-analyze")) throw new Error("needs systemd-analyze (Debian package systemd)");
  const bin = await compiled("linux-x64");
  const dir = mkdtempSync(join(tmpdir(), "netpunch-unit-"));
  const unit = join(dir, "netpunch.service");
  writeFileSync(unit, UNIT.replaceAll("/usr/local/bin/netpunch", bin));
  const verify = Bun.spawnSync(["systemd-analyze", "verify", unit], { stdout: "pipe", stderr: "pipe" });
  expect(verify.stderr.toString()).toBe("");
  expect(verify.exitCode).toBe(0);
  const sec = Bun.spawnSync(["systemd-analyze", "security", "--offline=true", unit], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const level = Number(
    /Overall exposure level for netpunch\.service: ([\d.]+)/.exec(sec.stdout.toString())?.[1],
  );
  expect(level).toBeLessThan(4); // systemd calls < 4 "OK"; an unhardened service scores 9.6
});

test("its ExecStart starts the server with the credential file and SIGTERM stops it gracefully", async () => {
  const bin = await compiled("linux-x64");
  const creds = mkdtempSync(join(tmpdir(), "netpunch-creds-"));
  writeFileSync(join(creds, "secret"), "unit-secret\n", { mode: 0o600 });
  const probe = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
  const port = probe.port;
  probe.close();
  const argv = (setting("ExecStart")[0] ?? "").split(" ").map((a) =>
    a
      .replace("/usr/local/bin/netpunch", bin)
      // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd's own ${...} syntax, not a template
      .replace("${CREDENTIALS_DIRECTORY}", creds)
      .replace("0.0.0.0:10001", `127.0.0.1:${port}`),
  );
  const server = Bun.spawn(argv, { stderr: "pipe" });
  await Bun.sleep(500);
  server.kill("SIGTERM");
  expect(await server.exited).toBe(0);
  const log = await new Response(server.stderr).text();
  expect(log).toContain(`listening on UDP 127.0.0.1:${port}`);
  expect(log).toContain("stopped (graceful); stats:");
});

// packaging/netpunch-up@.service: `netpunch up CONFIG` as a templated unit, one instance per config.
const UP_UNIT = readFileSync(join(import.meta.dir, "../../packaging/netpunch-up@.service"), "utf8");
const upSetting = (key: string) => [...UP_UNIT.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]);

test("netpunch-up@: runs `netpunch up %i` with state and runtime directories and CAP_NET_ADMIN alone", () => {
  expect(upSetting("ExecStart")).toEqual(["/usr/local/bin/netpunch up %i"]);
  expect(upSetting("StateDirectory")).toEqual(["netpunch"]);
  // netpunch's status sockets first ($RUNTIME_DIRECTORY's first entry), and wireguard-go's control sockets.
  expect(upSetting("RuntimeDirectory")).toEqual(["netpunch wireguard"]);
  // Shared by every instance (status finds every socket there), so one stopping must not remove it.
  expect(upSetting("RuntimeDirectoryPreserve")).toEqual(["yes"]);
  expect(upSetting("RuntimeDirectoryMode")).toEqual(["0700"]);
  expect(upSetting("CapabilityBoundingSet")).toEqual(["CAP_NET_ADMIN"]);
  expect(upSetting("AmbientCapabilities")).toEqual(["CAP_NET_ADMIN"]);
  expect(upSetting("DevicePolicy")).toEqual(["closed"]);
  expect(upSetting("DeviceAllow")).toEqual(["/dev/net/tun rw"]);
  expect(upSetting("NoNewPrivileges")).toEqual(["yes"]);
  expect(upSetting("Restart")).toEqual(["on-failure"]);
  expect(upSetting("RestrictAddressFamilies")).toEqual(["AF_INET AF_INET6 AF_UNIX AF_NETLINK"]);
});

test("netpunch-up@: systemd-analyze verifies an instance and rates its exposure OK", async () => {
  if (!Bun.which("systemd-analyze")) throw new Error("needs systemd-analyze (Debian package systemd)");
  const bin = await compiled("linux-x64");
  const dir = mkdtempSync(join(tmpdir(), "netpunch-up-unit-"));
  writeFileSync(join(dir, "netpunch-up@.service"), UP_UNIT.replaceAll("/usr/local/bin/netpunch", bin));
  const instance = join(dir, "netpunch-up@home.service");
  const verify = Bun.spawnSync(["systemd-analyze", "verify", instance], { stdout: "pipe", stderr: "pipe" });
  expect(verify.stderr.toString()).toBe("");
  expect(verify.exitCode).toBe(0);
  const sec = Bun.spawnSync(["systemd-analyze", "security", "--offline=true", instance], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const level = Number(
    /Overall exposure level for netpunch-up@home\.service: ([\d.]+)/.exec(sec.stdout.toString())?.[1],
  );
  // 3.7 on systemd 252. What a tunnel cannot do without costs about 2 of it: root (the hooks' programs and
  // the root-only secret file), the host's network, CAP_NET_ADMIN, netlink and /dev/net/tun, and writable
  // executable memory for Bun's JIT. 0.1 of slack for another systemd's weights: dropping any one of the
  // hardening settings (0.2 each, most of them) fails this.
  expect(level).toBeLessThanOrEqual(3.8);
});

test("netpunch-up@: its ExecStart finds the instance's config, serves its status in $RUNTIME_DIRECTORY, stops on SIGTERM", async () => {
  const bin = await compiled("linux-x64");
  const dir = mkdtempSync(join(tmpdir(), "netpunch-up-exec-"));
  const [config, state, run, wgRun] = ["config/netpunch", "state", "run", "wireguard"].map((d) => {
    const p = join(dir, d);
    mkdirSync(p, { recursive: true, mode: 0o700 });
    return p;
  }) as [string, string, string, string];
  writeFileSync(join(dir, "secret"), "unit-up-secret\n", { mode: 0o600 });
  const probe = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
  const port = probe.port; // nobody answers there: the tunnel keeps waiting for its server, as after a reboot
  probe.close();
  writeFileSync(
    join(config, "home.toml"),
    `server = "127.0.0.1:${port}"\nsecret_file = "${join(dir, "secret")}"\n\n[tunnel.office]\nrole = "a"\nsession = "unit"\nhook = "exec"\nargs = ["true"]\n`,
  );
  const argv = (upSetting("ExecStart")[0] ?? "")
    .split(" ")
    .map((a) => a.replace("/usr/local/bin/netpunch", bin).replace("%i", "home"));
  // What systemd gives the unit: its directories (RuntimeDirectory's two, colon-separated), and here the
  // config in an XDG directory instead of /etc/netpunch, which a test must not write.
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: join(dir, "config"),
    STATE_DIRECTORY: state,
    RUNTIME_DIRECTORY: `${run}:${wgRun}`,
  };
  const up = Bun.spawn(argv, { env, stderr: "pipe", stdout: "ignore" });
  const sock = join(run, "home.sock");
  for (let i = 0; i < 50 && !existsSync(sock); i++) await Bun.sleep(100); // 5 s at most
  const status = Bun.spawnSync([bin, "status", "home", "--json"], { env, stdout: "pipe", stderr: "pipe" });
  up.kill("SIGTERM");
  expect(await up.exited).toBe(0);
  const log = await new Response(up.stderr).text();
  expect(status.exitCode, log + status.stderr.toString()).toBe(0);
  const doc = JSON.parse(status.stdout.toString()) as {
    config: string;
    tunnels: { name: string; state: string }[];
  };
  expect(doc.config).toBe("home");
  expect(doc.tunnels.map((t) => t.name)).toEqual(["office"]);
  expect(existsSync(sock)).toBe(false); // removed on the way out
  expect(log).not.toContain("unit-up-secret");
});
