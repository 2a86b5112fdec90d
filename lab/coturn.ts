// coturn's STUN server in a lab namespace, for tests that need an ordinary STUN server.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Host, Lab, LabProcess } from "./lab.ts";

// CI installs coturn (scripts/setup.sh); a missing turnserver is a failure with a clear message, not a skip.
const needTurnserver = () => {
  if (Bun.which("turnserver") === null)
    throw new Error("needs turnserver: apt-get install --no-install-recommends coturn");
};

/**
 * coturn as a plain STUN server: no config file (-n), UDP only, no TURN, logging to stdout; pid file and
 * SQLite user database in a scratch directory so nothing is written under /var.
 */
export async function startCoturn(l: Lab, host: Host, ip: string, port = 3478): Promise<LabProcess> {
  needTurnserver();
  const scratch = mkdtempSync(join(tmpdir(), "netpunch-coturn-"));
  const p = l.spawn(host, [
    "turnserver",
    "-n",
    "--stun-only",
    "--no-tls",
    "--no-dtls",
    "--no-tcp",
    "--no-cli",
    "--listening-ip",
    ip,
    "--listening-port",
    String(port),
    "--log-file",
    "stdout",
    "--simple-log",
    "--pidfile",
    join(scratch, "turnserver.pid"),
    "--userdb",
    join(scratch, "turndb"),
  ]);
  await waitUdpListening(l, host, port, p);
  return p;
}

/** coturn prints nothing reliable when its UDP listener is up, so ask the kernel; bounded to 10 s. */
export async function waitUdpListening(l: Lab, host: Host, port: number, p: LabProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!l.exec(host, ["ss", "-Hnul", `sport = :${port}`]).stdout.includes(`:${port}`)) {
    if (p.proc.exitCode !== null || Date.now() > deadline) {
      const out = p.output();
      throw new Error(`no UDP listener on port ${port}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`);
    }
    await Bun.sleep(50);
  }
}
