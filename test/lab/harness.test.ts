// Proves the NAT lab harness itself works: NAT reachability and source addresses, double NAT,
// symmetric NAT, userspace delay, loss, and complete cleanup. Needs root: `bun test test/lab/harness.test.ts`.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { type Host, Lab, type LabProcess } from "../../lab/lab.ts";
import { UDP_TOOL } from "../../lab/netpunch.ts";

// Real processes, sockets and (in the lab) namespaces: far slower than bun test's 5 s default.
setDefaultTimeout(60_000);

const BUN = process.execPath;

interface Datagram {
  address: string;
  port: number;
  payload: string;
}

/** Per-reply round-trip times printed by ping ("time=100 ms"). */
function pingRtts(stdout: string): number[] {
  return [...stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

function pingReceived(stdout: string): number {
  const m = /(\d+) received/.exec(stdout);
  if (!m) throw new Error(`no ping summary in:\n${stdout}`);
  return Number(m[1]);
}

function parseDatagrams(stdout: string): Datagram[] {
  return [...stdout.matchAll(/^from (\S+) (\d+) (.*)$/gm)].map((m) => ({
    address: m[1] ?? "",
    port: Number(m[2]),
    payload: m[3] ?? "",
  }));
}

async function udpListener(lab: Lab, host: Host, port: number, maxCount: number, timeoutMs: number) {
  const proc = lab.spawn(host, [BUN, UDP_TOOL, "listen", String(port), String(maxCount), String(timeoutMs)]);
  await proc.waitFor(/^listening /m);
  return proc;
}

async function received(listener: LabProcess): Promise<Datagram[]> {
  await listener.exited;
  return parseDatagrams(await listener.stdout());
}

function udpSend(
  lab: Lab,
  host: Host,
  localPort: number,
  count: number,
  intervalMs: number,
  dests: string[],
) {
  const r = lab.exec(host, [
    BUN,
    UDP_TOOL,
    "send",
    String(localPort),
    String(count),
    String(intervalMs),
    ...dests,
  ]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}

describe("NAT lab", () => {
  let lab: Lab;
  let server: Host;
  let serverIp: string;
  let gwA: Host;
  let gwAIp: string;
  let a: Host;
  let gwB: Host;
  let gwBIp: string;
  let b: Host;
  let cgnIp: string;
  let inner: Host;
  let sym: Host;
  let symGwIp: string;
  let far: Host;
  let farIp: string;
  let lossy: Host;
  let lossyIp: string;
  let flakyIp: string;

  beforeAll(async () => {
    lab = Lab.create();
    server = lab.host("server");
    serverIp = await lab.attachPublic(server);

    // A behind gwA, B behind gwB: two ordinary (port-preserving) NATs.
    gwA = lab.host("gwa");
    gwAIp = await lab.attachPublic(gwA);
    a = lab.host("a");
    lab.lan(gwA, "192.0.2", [a]);
    lab.masquerade(gwA);
    gwB = lab.host("gwb");
    gwBIp = await lab.attachPublic(gwB);
    b = lab.host("b");
    lab.lan(gwB, "198.51.100", [b]);
    lab.masquerade(gwB);

    // Double NAT: inner -> cpe (203.0.113/24) -> cgn (198.19.1/24) -> internet.
    const cgn = lab.host("cgn");
    cgnIp = await lab.attachPublic(cgn);
    const cpe = lab.host("cpe");
    lab.lan(cgn, "198.19.1", [cpe]);
    inner = lab.host("inner");
    lab.lan(cpe, "203.0.113", [inner]);
    lab.masquerade(cgn);
    lab.masquerade(cpe);

    // Symmetric NAT.
    const gwS = lab.host("gws");
    symGwIp = await lab.attachPublic(gwS);
    sym = lab.host("sym");
    lab.lan(gwS, "192.0.2", [sym]);
    lab.masquerade(gwS, { randomFully: true });

    far = lab.host("far");
    farIp = await lab.attachPublic(far, { delayMs: 50 });
    lossy = lab.host("lossy");
    lossyIp = await lab.attachPublic(lossy, { lossPercent: 100 });
    const flaky = lab.host("flaky");
    flakyIp = await lab.attachPublic(flaky, { delayMs: 5, lossPercent: 50 });
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  test("hosts behind separate NATs reach a public host", () => {
    for (const host of [a, b, inner, sym]) {
      const r = lab.exec(host, ["ping", "-c", "2", "-i", "0.2", "-W", "1", serverIp]);
      expect(r.code, `${host.name}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  test("the public host sees each gateway's public address as the source", async () => {
    const listener = await udpListener(lab, server, 7000, 6, 5000);
    udpSend(lab, a, 40000, 3, 10, [`${serverIp}:7000`]);
    udpSend(lab, b, 40000, 3, 10, [`${serverIp}:7000`]);
    const got = await received(listener);
    expect(new Set(got.map((d) => d.address))).toEqual(new Set([gwAIp, gwBIp]));
    // Plain MASQUERADE keeps the source port when it is free.
    expect(new Set(got.map((d) => d.port))).toEqual(new Set([40000]));
  });

  test("double NAT: the public host sees the outer (cgn) address", async () => {
    const listener = await udpListener(lab, server, 7003, 3, 5000);
    udpSend(lab, inner, 40002, 3, 10, [`${serverIp}:7003`]);
    const got = await received(listener);
    expect(got.length).toBeGreaterThan(0);
    expect(new Set(got.map((d) => d.address))).toEqual(new Set([cgnIp]));
  });

  test("--random-fully maps one local port to different public ports per destination", async () => {
    const first = await udpListener(lab, server, 7001, 1, 5000);
    const second = await udpListener(lab, server, 7002, 1, 5000);
    udpSend(lab, sym, 40001, 1, 0, [`${serverIp}:7001`, `${serverIp}:7002`]);
    const [d1] = await received(first);
    const [d2] = await received(second);
    expect(d1?.address).toBe(symGwIp);
    expect(d2?.address).toBe(symGwIp);
    // Equal by chance with probability ~1/64k.
    expect(d1?.port).not.toBe(d2?.port);
  });

  test("a 50 ms one-way delay link gives a ping RTT of at least 100 ms", () => {
    const r = lab.exec(server, ["ping", "-c", "3", "-i", "0.2", "-W", "1", farIp]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rtts = pingRtts(r.stdout);
    console.log(`delay link 50 ms one way: ping RTTs ${rtts.join(", ")} ms`);
    expect(rtts.length).toBe(3);
    for (const rtt of rtts) expect(rtt).toBeGreaterThanOrEqual(100);
  });

  test("a 100% UDP loss link drops every datagram but still passes ICMP", async () => {
    const listener = await udpListener(lab, lossy, 7004, 20, 1500);
    udpSend(lab, server, 40003, 20, 5, [`${lossyIp}:7004`]);
    expect(await received(listener)).toEqual([]);
    const r = lab.exec(server, ["ping", "-c", "2", "-i", "0.2", "-W", "1", lossyIp]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  test("a 50% loss delay link drops some but not all of 40 pings", () => {
    const r = lab.exec(server, ["ping", "-c", "40", "-i", "0.02", "-W", "1", flakyIp]);
    const got = pingReceived(r.stdout);
    console.log(`50% loss per direction: ${got}/40 pings answered`);
    // A ping survives both directions with p = 0.25; 0 or 40 of 40 is vanishingly unlikely.
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(40);
  });

  test("rejects LAN bases outside the allowed documentation/benchmark ranges", () => {
    const gw = lab.host("badgw");
    for (const base of ["10.0.0", "192.168.1", "172.16.0", "198.18.5", "8.8.8"]) {
      expect(() => lab.lan(gw, base, [])).toThrow(/not allowed/);
    }
  });
});

describe("NAT lab cleanup", () => {
  function processesMentioning(text: string): number[] {
    const pids: number[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
      } catch {
        // process ended while scanning
      }
    }
    return pids;
  }

  /** Exists and is not a zombie (an orphan may wait a while to be reaped by pid 1). */
  function isRunning(pid: number): boolean {
    try {
      return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      return false;
    }
  }

  test("cleanup() kills the run's processes and deletes its namespaces, idempotently", async () => {
    const lab = Lab.create();
    const gw = lab.host("gw");
    await lab.attachPublic(gw, { delayMs: 20 });
    const inside = lab.host("inside");
    lab.lan(gw, "203.0.113", [inside]);
    lab.masquerade(gw);
    // A background child the harness never saw: it must still be found through `ip netns pids`.
    const shell = lab.spawn(inside, ["sh", "-c", "sleep 30 & exec sleep 31"]);
    await Bun.sleep(100);
    const nsPids = lab
      .exec(lab.internet, ["ip", "netns", "pids", inside.ns])
      .stdout.trim()
      .split("\n")
      .map(Number);
    expect(nsPids.length).toBe(2);
    expect(processesMentioning(`${lab.prefix}t1r`).length).toBe(1); // the delay-link.py process

    await lab.cleanup();
    await lab.cleanup();

    expect(await shell.exited).not.toBe(0);
    for (const pid of nsPids) expect(isRunning(pid)).toBe(false);
    expect(processesMentioning(`${lab.prefix}t1r`)).toEqual([]);
    const namespaces = Bun.spawnSync(["ip", "netns", "list"]).stdout.toString();
    expect(namespaces).not.toContain(lab.prefix);
    const links = Bun.spawnSync(["ip", "-o", "link"]).stdout.toString();
    expect(links).not.toContain(lab.prefix);
    expect(() => lab.host("late")).toThrow(/cleaned up/);
  });
});
