// serve --metrics in the lab: two peers behind symmetric NATs (real kernel NAT) meet through the relay and
// prove the relayed path both ways, a peer with the wrong secret is dropped; the scrape from the server's
// namespace shows it all, promtool accepts it, and no label names a session, an address or the secret.
import { expect } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { labPerTest } from "../../lab/lab.ts";
import {
  BUN,
  finish,
  provePath,
  secretFile,
  startPeer,
  startServer,
  waitStderr,
} from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";

const labs = labPerTest();

/** Where the server's metrics listen, inside its namespace (loopback: nothing outside it can scrape). */
const METRICS = "127.0.0.1:9464";
const SESSION = "lab-metrics-session";

const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

const labelValues = (text: string): string[] =>
  text
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .flatMap((l) => [...l.matchAll(/="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] as string));

labs.test(
  "a relayed pair and a wrong-secret peer move the server's counters; promtool accepts the scrape",
  async () => {
    const l = labs.create();
    const secret = secretFile();
    const secretText = readFileSync(secret, "utf8").trim();
    const { server, serverIp, a, b } = await serverAndPair(l, "symmetric", "symmetric");
    const srv = await startServer(l, server, secret, [
      "--relay",
      "--relay-ports",
      "20000-20009",
      "--metrics",
      METRICS,
    ]);
    await waitStderr(srv, /metrics on http:\/\//);
    const scrape = (path = "/metrics") => {
      const r = l.exec(server, [
        BUN,
        "-e",
        `process.stdout.write(await (await fetch("http://${METRICS}${path}")).text())`,
      ]);
      if (r.code !== 0) throw new Error(`scrape failed: ${r.stderr}`);
      return r.stdout;
    };

    const extra = ["--session", SESSION];
    const [oa, ob] = await Promise.all([
      finish(startPeer(l, a.host, "a", serverIp, secret, extra)),
      finish(startPeer(l, b.host, "b", serverIp, secret, extra)),
    ]);
    expect([oa.json.via, ob.json.via]).toEqual(["relay", "relay"]);
    const relay = `${serverIp}:${oa.json.rport}`;
    await provePath(l, a.host, b.host, relay, relay);
    await provePath(l, b.host, a.host, relay, relay);

    // A peer with another secret: every packet it sends is dropped as bad-auth, and it gives up.
    const wrong = secretFile();
    const intruder = startPeer(l, a.host, "a", serverIp, wrong, [
      "--session",
      "intruder",
      "--server-timeout",
      "2",
    ]);
    expect(await intruder.exited).toBe(1);

    const text = scrape();
    expect(sample(text, "netpunch_pairs_made_total")).toBeGreaterThanOrEqual(1);
    expect(sample(text, "netpunch_relays_opened_total")).toBe(1);
    expect(sample(text, "netpunch_relays_open")).toBe(1);
    expect(sample(text, 'netpunch_relayed_bytes_total{direction="a_to_b"}')).toBeGreaterThan(0);
    expect(sample(text, 'netpunch_relayed_bytes_total{direction="b_to_a"}')).toBeGreaterThan(0);
    expect(sample(text, 'netpunch_packets_dropped_total{reason="bad-auth"}')).toBeGreaterThan(0);
    expect(sample(text, "netpunch_packets_received_total")).toBeGreaterThan(0);
    expect(sample(text, "netpunch_replay_window_nonces")).toBeGreaterThan(0);
    expect(scrape("/healthz")).toBe("ok\n");

    const file = join(tmpdir(), `netpunch-lab-metrics-${process.pid}.txt`);
    writeFileSync(file, text);
    const check = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: Bun.file(file), stderr: "pipe" });
    expect(check.stdout.toString() + check.stderr.toString()).toBe("");
    expect(check.exitCode).toBe(0);

    const addresses = [serverIp, a.publicIp, a.lanIp, b.publicIp, b.lanIp];
    const secrets = [SESSION, "intruder", secretText, readFileSync(wrong, "utf8").trim(), ...addresses];
    const values = labelValues(text);
    expect(values.filter((v) => secrets.some((s) => v.includes(s)))).toEqual([]);
    for (const s of secrets) expect(text.includes(s) ? s : "").toBe("");

    srv.kill("SIGTERM");
    expect(await srv.exited).toBe(0);
  },
);
