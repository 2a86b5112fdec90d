// Network-namespace NAT lab for netpunch tests.
//
// Topology: one "internet" router namespace (ip_forward=1). Every public host or gateway hangs off it
// on its own point-to-point /24 from 198.18.0.0/15 (link k: router 198.18.k.1, host 198.18.k.2).
// Gateways get LANs behind a bridge and masquerade out of their uplink. Every host has exactly one
// uplink, always named "wan0" (public link or LAN port), so a gateway's WAN is always wan0 - also for
// a gateway that is itself a LAN host of another gateway (double NAT).
//
// The lab kernel has no tc netem, so delay is a userspace process (delay-link.py) joining two TUN
// devices, and loss on a plain link is an nftables numgen rule in the router. See /work/shared/LAB-NOTES.md.
//
// Only addresses from 198.18.0.0/15, 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and loopback are used,
// and nothing is connected to the root namespace, so no lab traffic can leave the machine.

import { afterEach, test as bunTest, setDefaultTimeout } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export interface Host {
  /** Name given to `lab.host(name)`. */
  readonly name: string;
  /** Full network namespace name, `${prefix}-${name}`. */
  readonly ns: string;
}

export interface LinkOptions {
  /** One-way delay in each direction, in ms; > 0 uses a delay-link.py TUN pair instead of a veth. */
  delayMs?: number;
  /**
   * Random loss in % per direction. With delayMs > 0 the delay link drops any packet; without delay an
   * nftables rule in the router drops UDP only (ICMP still passes, which keeps ping usable as a probe).
   */
  lossPercent?: number;
}

export interface MasqueradeOptions {
  /** `--random-fully`: a new random source port per mapping, i.e. a symmetric NAT. */
  randomFully?: boolean;
  /** Drop unsolicited inbound packets like a home router's firewall. @default true */
  firewall?: boolean;
}

export interface SpawnOptions {
  /** Extra environment variables (merged over the test's environment). */
  env?: Record<string, string>;
  cwd?: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface LabProcess {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  readonly pid: number;
  /** Exit code; resolves when the process ends. */
  readonly exited: Promise<number>;
  /** Whole stdout; resolves when the process closes it (usually at exit). */
  stdout(): Promise<string>;
  /** Whole stderr; resolves when the process closes it. */
  stderr(): Promise<string>;
  /** What has been printed so far, without waiting. */
  output(): { stdout: string; stderr: string };
  /** Resolves with stdout so far once it matches `pattern`; rejects on timeout or exit without a match. */
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): void;
}

interface HostState {
  host: Host;
  /** Address of wan0, once the host has an uplink. */
  uplinkIp?: string;
  /** The LAN this host serves as gateway, if any. */
  lan?: { base: string; nextOctet: number };
}

const LAB_DIR = import.meta.dir;
const DELAY_LINK_SCRIPT = `${LAB_DIR}/delay-link.py`;
/** Debian's python3 first: a pyenv shim may depend on the caller's cwd and environment. */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const UPLINK = "wan0";
const BRIDGE = "lan0";
const ROUTER_NAME = "inet";
const MAX_PUBLIC_LINKS = 254;
const COMMAND_TIMEOUT_MS = 20_000;
const READY_TIMEOUT_MS = 5_000;
const KILL_GRACE_MS = 1_000;
/** Enough of each stream to show how a process ended, short enough that a CI log stays readable. */
const TRANSCRIPT_LINES = 25;
/** 192.0.2/24, 198.51.100/24, 203.0.113/24 (documentation) or 198.19.X/24 (inside 198.18.0.0/15). */
const LAN_BASE = /^(192\.0\.2|198\.51\.100|203\.0\.113|198\.19\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))$/;
const HOST_NAME = /^[a-z][a-z0-9-]{0,39}$/;

// ---------------------------------------------------------------------------------------------------------
// Commands

function runSync(argv: string[], timeoutMs = COMMAND_TIMEOUT_MS): ExecResult {
  const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  const code = result.exitedDueToTimeout ? 124 : result.exitCode;
  return { code, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** Runs a setup command; any failure throws with the command line and its stderr. */
function mustRun(argv: string[]): string {
  const { code, stdout, stderr } = runSync(argv);
  if (code !== 0) {
    throw new Error(
      `lab: command failed (exit ${code}): ${argv.join(" ")}\n${stderr.trim() || stdout.trim()}`,
    );
  }
  return stdout;
}

function inNs(ns: string, argv: string[]): string[] {
  return ["ip", "netns", "exec", ns, ...argv];
}

/** Creates the veth ends directly in their namespaces, so names never collide in the root namespace. */
function vethPair(nameA: string, nsA: string, nameB: string, nsB: string): void {
  mustRun(["ip", "link", "add", nameA, "netns", nsA, "type", "veth", "peer", "name", nameB, "netns", nsB]);
}

function listNamespaces(): string[] {
  // `ip netns list` prints "name" or "name (id: N)" per line.
  return mustRun(["ip", "netns", "list"])
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name !== "");
}

function randomBase36(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => (b % 36).toString(36)).join("");
}

// ---------------------------------------------------------------------------------------------------------
// Processes

/** True while the process exists and is not a zombie (our own children linger as zombies until reaped). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function signalAll(pids: Iterable<number>, signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM, wait up to KILL_GRACE_MS for exit, then SIGKILL the rest. */
async function terminate(pids: number[]): Promise<void> {
  signalAll(pids, "SIGTERM");
  const deadline = Date.now() + KILL_GRACE_MS;
  while (pids.some(isAlive) && Date.now() < deadline) await Bun.sleep(20);
  signalAll(pids.filter(isAlive), "SIGKILL");
}

/** Same as terminate() for process exit handlers, where nothing asynchronous runs any more. */
function terminateSync(pids: number[]): void {
  signalAll(pids, "SIGTERM");
  const deadline = Date.now() + KILL_GRACE_MS;
  while (pids.some(isAlive) && Date.now() < deadline) Bun.sleepSync(20);
  signalAll(pids.filter(isAlive), "SIGKILL");
}

/** Reads a stream to the end in the background, so output is visible while the process still runs. */
function collect(stream: ReadableStream<Uint8Array>): { text: () => string; done: Promise<string> } {
  let text = "";
  const decoder = new TextDecoder();
  const done = (async () => {
    try {
      for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
      text += decoder.decode();
    } catch {
      // a broken pipe only ends the output early
    }
    return text;
  })();
  return { text: () => text, done };
}

// ---------------------------------------------------------------------------------------------------------
// Always clean up, also when the test run is interrupted.

const liveLabs = new Set<Lab>();
let exitHandlersInstalled = false;

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  const cleanupAll = () => {
    for (const lab of liveLabs) lab.cleanupSync();
  };
  process.on("exit", cleanupAll);
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.on(signal, () => {
      cleanupAll();
      process.exit(code);
    });
  }
}

// ---------------------------------------------------------------------------------------------------------

export class Lab {
  /** Run prefix, e.g. "np3k9x0a"; every namespace of this run is named `${prefix}-...`. */
  readonly prefix: string;
  /** The "internet" router namespace. Usable with spawn()/exec(), e.g. for tcpdump. */
  readonly internet: Host;

  readonly #hosts = new Map<string, HostState>();
  readonly #namespaces: string[] = [];
  readonly #processes = new Set<Subprocess>();
  /** Every process spawned, in order, with its output so far: what a failed test prints to explain itself. */
  readonly #transcript: {
    host: string;
    command: string;
    proc: Subprocess;
    output: () => { stdout: string; stderr: string };
  }[] = [];
  #nextLink = 1;
  #cleanup: Promise<void> | undefined;

  private constructor(prefix: string) {
    this.prefix = prefix;
    this.internet = { name: ROUTER_NAME, ns: `${prefix}-${ROUTER_NAME}` };
  }

  /** Creates a lab with its router namespace. Needs root. */
  static create(): Lab {
    if (process.getuid?.() !== 0) {
      throw new Error(
        "the NAT lab needs root (network namespaces, iptables); run as root, e.g. sudo bun test test/lab",
      );
    }
    installExitHandlers();
    const existing = listNamespaces();
    let prefix = `np${randomBase36(6)}`;
    while (existing.some((ns) => ns.startsWith(`${prefix}-`))) prefix = `np${randomBase36(6)}`;
    const lab = new Lab(prefix);
    liveLabs.add(lab);
    try {
      lab.#addNamespace(lab.internet.ns);
      lab.#sysctl(lab.internet.ns, "net.ipv4.ip_forward=1");
    } catch (error) {
      lab.cleanupSync();
      throw error;
    }
    return lab;
  }

  // --- topology ------------------------------------------------------------------------------------------

  /** A new namespace `${prefix}-${name}` with lo up and no uplink yet. */
  host(name: string): Host {
    if (!HOST_NAME.test(name) || name === ROUTER_NAME) {
      throw new Error(
        `lab: bad host name "${name}" (lowercase letters, digits, '-'; "${ROUTER_NAME}" is taken)`,
      );
    }
    const ns = `${this.prefix}-${name}`;
    if (this.#hosts.has(ns)) throw new Error(`lab: host "${name}" already exists`);
    this.#addNamespace(ns);
    const host: Host = { name, ns };
    this.#hosts.set(ns, { host });
    return host;
  }

  /**
   * Connects `host` to the internet router on its own link k and returns its public address 198.18.k.2.
   * Async because a delayed link first waits for its delay-link.py process to come up.
   */
  async attachPublic(host: Host, opts: LinkOptions = {}): Promise<string> {
    const state = this.#freeHost(host);
    const delayMs = checkRange(opts.delayMs ?? 0, 0, 10_000, "delayMs");
    const lossPercent = checkRange(opts.lossPercent ?? 0, 0, 100, "lossPercent");
    const k = this.#nextLink++;
    if (k > MAX_PUBLIC_LINKS) throw new Error(`lab: at most ${MAX_PUBLIC_LINKS} public links`);
    const routerIf = `l${k}`;
    const routerIp = `198.18.${k}.1`;
    const hostIp = `198.18.${k}.2`;

    if (delayMs > 0) {
      await this.#tunPair(k, host, routerIf, delayMs, lossPercent);
      this.#ip(this.internet.ns, "addr", "add", routerIp, "peer", hostIp, "dev", routerIf);
      this.#ip(host.ns, "addr", "add", hostIp, "peer", routerIp, "dev", UPLINK);
    } else {
      vethPair(routerIf, this.internet.ns, UPLINK, host.ns);
      this.#ip(this.internet.ns, "addr", "add", `${routerIp}/24`, "dev", routerIf);
      this.#ip(host.ns, "addr", "add", `${hostIp}/24`, "dev", UPLINK);
      if (lossPercent > 0) this.#udpLossRule(routerIf, lossPercent);
    }
    this.#ip(this.internet.ns, "link", "set", routerIf, "up");
    this.#ip(host.ns, "link", "set", UPLINK, "up");
    this.#ip(host.ns, "route", "add", "default", "via", routerIp, "dev", UPLINK);
    state.uplinkIp = hostIp;
    return hostIp;
  }

  /**
   * Puts `hosts` on a LAN behind `gateway`: the gateway gets `${cidrBase}.1/24` on bridge lan0, hosts get
   * .10, .11, ... with a default route via .1. May be called again with the same base to add hosts.
   * Returns the hosts' addresses in order.
   */
  lan(gateway: Host, cidrBase: string, hosts: Host[]): string[] {
    if (!LAN_BASE.test(cidrBase)) {
      throw new Error(
        `lab: LAN base "${cidrBase}" not allowed; use 192.0.2, 198.51.100, 203.0.113 or 198.19.X`,
      );
    }
    const gw = this.#state(gateway);
    if (gw.lan && gw.lan.base !== cidrBase) {
      throw new Error(`lab: ${gateway.name} already serves LAN ${gw.lan.base}.0/24`);
    }
    if (new Set(hosts.map((h) => h.ns)).size !== hosts.length) throw new Error("lab: a host is listed twice");
    for (const h of hosts) {
      if (h.ns === gateway.ns) throw new Error(`lab: ${gateway.name} cannot be on its own LAN`);
      this.#freeHost(h);
    }
    const lan = gw.lan ?? this.#createBridge(gateway, cidrBase);
    gw.lan = lan;
    return hosts.map((h) => this.#joinLan(gateway, lan, h));
  }

  /** Source NAT out of the gateway's uplink (wan0). Linux does not hairpin by default; that is kept. */
  masquerade(gateway: Host, opts: MasqueradeOptions = {}): void {
    this.#state(gateway);
    const argv = ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", UPLINK, "-j", "MASQUERADE"];
    if (opts.randomFully) argv.push("--random-fully");
    mustRun(inNs(gateway.ns, argv));
    if (opts.firewall === false) return;
    // A home router's stateful firewall: unsolicited packets from the WAN are dropped, not delivered to the
    // gateway itself. That matters: a dropped packet leaves no conntrack entry, while one the gateway accepts
    // (and answers with ICMP) leaves an entry that collides with the LAN host's later mapping.
    // Only UDP and TCP: pings to the gateway stay answered, so benchmarks can measure RTTs to it.
    for (const chain of ["INPUT", "FORWARD"]) {
      for (const proto of ["udp", "tcp"]) {
        const rule = [
          "-A",
          chain,
          "-i",
          UPLINK,
          "-p",
          proto,
          "-m",
          "conntrack",
          "!",
          "--ctstate",
          "ESTABLISHED,RELATED",
        ];
        mustRun(inNs(gateway.ns, ["iptables", ...rule, "-j", "DROP"]));
      }
    }
  }

  /** Conntrack UDP timeouts of this gateway: unreplied flows, and flows seen in both directions. */
  setConntrackUdpTimeout(gateway: Host, seconds: number, streamSeconds = seconds): void {
    this.#state(gateway);
    this.#sysctl(
      gateway.ns,
      `net.netfilter.nf_conntrack_udp_timeout=${checkRange(seconds, 1, 86_400, "seconds")}`,
      `net.netfilter.nf_conntrack_udp_timeout_stream=${checkRange(streamSeconds, 1, 86_400, "streamSeconds")}`,
    );
  }

  /** Forgets every NAT mapping of this gateway at once (emulates a NAT reboot or expiry). */
  flushConntrack(gateway: Host): void {
    this.#state(gateway);
    mustRun(inNs(gateway.ns, ["conntrack", "-F"]));
  }

  // --- processes -----------------------------------------------------------------------------------------

  /** What every spawned process wrote: the last `lines` lines of each stream, labelled by host and command. */
  transcript(lines = TRANSCRIPT_LINES): string {
    const tail = (text: string) => text.trimEnd().split("\n").slice(-lines).join("\n");
    return this.#transcript
      .map(({ host, command, proc, output }) => {
        const { stdout, stderr } = output();
        const status = proc.exitCode !== null ? `exit ${proc.exitCode}` : (proc.signalCode ?? "running");
        const parts = [`[${host}] $ ${command}  (${status})`];
        if (stdout.trim()) parts.push(`  stdout:\n${tail(stdout)}`);
        if (stderr.trim()) parts.push(`  stderr:\n${tail(stderr)}`);
        return parts.join("\n");
      })
      .join("\n");
  }

  /** Starts `argv` inside the host's namespace; it is killed at cleanup() if still running. */
  spawn(host: Host, argv: string[], opts: SpawnOptions = {}): LabProcess {
    this.#assertOpen();
    this.#known(host);
    if (argv.length === 0) throw new Error("lab: spawn needs a command");
    const proc = Bun.spawn(inNs(host.ns, argv), {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: opts.env ? { ...process.env, ...opts.env } : undefined,
      cwd: opts.cwd,
    });
    this.#processes.add(proc);
    void proc.exited.then(() => this.#processes.delete(proc));
    const out = collect(proc.stdout);
    const err = collect(proc.stderr);
    const command = argv.join(" ");
    const output = () => ({ stdout: out.text(), stderr: err.text() });
    this.#transcript.push({ host: host.name, command, proc, output });
    return {
      proc,
      pid: proc.pid,
      exited: proc.exited,
      stdout: () => out.done,
      stderr: () => err.done,
      output,
      waitFor: (pattern, timeoutMs = 5_000) =>
        waitForOutput(command, proc, out.text, err.text, pattern, timeoutMs),
      kill: (signal = "SIGTERM") => proc.kill(signal),
    };
  }

  /** Runs `argv` inside the host's namespace to completion (blocking, 20 s timeout -> code 124). */
  exec(host: Host, argv: string[], timeoutMs = COMMAND_TIMEOUT_MS): ExecResult {
    this.#assertOpen();
    this.#known(host);
    return runSync(inNs(host.ns, argv), timeoutMs);
  }

  // --- cleanup -------------------------------------------------------------------------------------------

  /** Kills every process of this run (SIGTERM, SIGKILL after 1 s) and deletes its namespaces. Idempotent. */
  cleanup(): Promise<void> {
    this.#cleanup ??= (async () => {
      liveLabs.delete(this);
      await terminate(this.#pidsToKill());
      this.#deleteNamespaces();
    })();
    return this.#cleanup;
  }

  /** Synchronous cleanup() for process exit handlers; errors are swallowed there. Idempotent. */
  cleanupSync(): void {
    if (this.#cleanup) return;
    this.#cleanup = Promise.resolve();
    liveLabs.delete(this);
    try {
      terminateSync(this.#pidsToKill());
      this.#deleteNamespaces();
    } catch (error) {
      console.error(`lab ${this.prefix}: cleanup failed:`, error);
    }
  }

  // --- internals -----------------------------------------------------------------------------------------

  #pidsToKill(): number[] {
    const pids = new Set<number>();
    for (const proc of this.#processes)
      if (proc.exitCode === null && proc.signalCode === null) pids.add(proc.pid);
    // Also whatever our processes left behind inside our namespaces (e.g. their children).
    for (const ns of this.#ourNamespaces()) {
      for (const line of runSync(["ip", "netns", "pids", ns]).stdout.split("\n")) {
        const pid = Number(line.trim());
        if (line.trim() !== "" && Number.isInteger(pid) && pid > 1 && pid !== process.pid) pids.add(pid);
      }
    }
    return [...pids];
  }

  /** Deletes every namespace with this run's prefix; throws listing the ones that could not be deleted. */
  #deleteNamespaces(): void {
    const failures: string[] = [];
    for (const ns of this.#ourNamespaces()) {
      const { code, stderr } = runSync(["ip", "netns", "del", ns]);
      if (code !== 0) failures.push(`${ns}: ${stderr.trim()}`);
    }
    this.#namespaces.length = 0;
    if (failures.length > 0) throw new Error(`lab: could not delete namespaces:\n${failures.join("\n")}`);
  }

  #ourNamespaces(): string[] {
    const mine = new Set(this.#namespaces);
    for (const ns of listNamespaces()) if (ns.startsWith(`${this.prefix}-`)) mine.add(ns);
    return [...mine];
  }

  #addNamespace(ns: string): void {
    this.#assertOpen();
    mustRun(["ip", "netns", "add", ns]);
    this.#namespaces.push(ns);
    this.#ip(ns, "link", "set", "lo", "up");
    // No IPv6 link-local addresses or router solicitations on lab links: IPv4 only, quiet captures.
    // lo already exists, so it keeps ::1.
    this.#sysctl(ns, "net.ipv6.conf.default.disable_ipv6=1");
  }

  /** Starts delay-link.py in the root namespace and moves its TUN ends to the router and the host. */
  async #tunPair(
    k: number,
    host: Host,
    routerIf: string,
    delayMs: number,
    lossPercent: number,
  ): Promise<void> {
    // Unique in the root namespace while they briefly live there; renamed after the move.
    const tunRouter = `${this.prefix}t${k}r`;
    const tunHost = `${this.prefix}t${k}h`;
    const argv = [PYTHON, DELAY_LINK_SCRIPT, tunRouter, tunHost, String(delayMs), String(lossPercent)];
    // stdin is a pipe that is never written: if this process dies without cleaning up, the link sees
    // EOF and exits, which removes both TUN devices.
    const proc = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    this.#processes.add(proc);
    void proc.exited.then(() => this.#processes.delete(proc));
    const out = collect(proc.stdout);
    const err = collect(proc.stderr);
    await waitForOutput(argv.join(" "), proc, out.text, err.text, /^ready$/m, READY_TIMEOUT_MS);
    mustRun(["ip", "link", "set", tunRouter, "netns", this.internet.ns]);
    mustRun(["ip", "link", "set", tunHost, "netns", host.ns]);
    this.#ip(this.internet.ns, "link", "set", tunRouter, "name", routerIf);
    this.#ip(host.ns, "link", "set", tunHost, "name", UPLINK);
  }

  /** Drops lossPercent % of UDP forwarded through the router to or from routerIf (0.01 % steps). */
  #udpLossRule(routerIf: string, lossPercent: number): void {
    const ns = this.internet.ns;
    const threshold = Math.round(lossPercent * 100);
    if (threshold === 0) return;
    // nft rejects "< 10000" after "mod 10000" as out of range, so 100 % is a plain drop.
    const random = threshold >= 10_000 ? "" : `numgen random mod 10000 < ${threshold}`;
    // nft joins its arguments into one command line, so each rule can be passed as one string.
    mustRun(inNs(ns, ["nft", "add table inet lab"]));
    mustRun(
      inNs(ns, ["nft", "add chain inet lab loss { type filter hook forward priority 0; policy accept; }"]),
    );
    for (const dir of ["iifname", "oifname"]) {
      mustRun(
        inNs(ns, ["nft", `add rule inet lab loss ${dir} "${routerIf}" meta l4proto udp ${random} drop`]),
      );
    }
  }

  #createBridge(gateway: Host, base: string): { base: string; nextOctet: number } {
    this.#ip(gateway.ns, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0");
    this.#ip(gateway.ns, "addr", "add", `${base}.1/24`, "dev", BRIDGE);
    this.#ip(gateway.ns, "link", "set", BRIDGE, "up");
    this.#sysctl(gateway.ns, "net.ipv4.ip_forward=1");
    // Bridged LAN-to-LAN frames must not pass through iptables/conntrack, as on a home router's switch.
    // -e: the key only exists where br_netfilter is loaded.
    mustRun(inNs(gateway.ns, ["sysctl", "-q", "-e", "-w", "net.bridge.bridge-nf-call-iptables=0"]));
    return { base, nextOctet: 10 };
  }

  #joinLan(gateway: Host, lan: { base: string; nextOctet: number }, host: Host): string {
    const octet = lan.nextOctet++;
    if (octet > 254) throw new Error(`lab: LAN ${lan.base}.0/24 of ${gateway.name} is full`);
    const port = `lp${octet}`;
    const ip = `${lan.base}.${octet}`;
    vethPair(port, gateway.ns, UPLINK, host.ns);
    this.#ip(gateway.ns, "link", "set", port, "master", BRIDGE);
    this.#ip(gateway.ns, "link", "set", port, "up");
    this.#ip(host.ns, "addr", "add", `${ip}/24`, "dev", UPLINK);
    this.#ip(host.ns, "link", "set", UPLINK, "up");
    this.#ip(host.ns, "route", "add", "default", "via", `${lan.base}.1`, "dev", UPLINK);
    this.#state(host).uplinkIp = ip;
    return ip;
  }

  #ip(ns: string, ...args: string[]): void {
    mustRun(["ip", "-n", ns, ...args]);
  }

  #sysctl(ns: string, ...assignments: string[]): void {
    mustRun(inNs(ns, ["sysctl", "-q", "-w", ...assignments]));
  }

  #known(host: Host): void {
    if (host.ns !== this.internet.ns) this.#state(host);
  }

  #state(host: Host): HostState {
    const state = this.#hosts.get(host.ns);
    if (!state) throw new Error(`lab: ${host.name} is not a host of this lab (${this.prefix})`);
    return state;
  }

  /** A host that may still get its (single) uplink. */
  #freeHost(host: Host): HostState {
    this.#assertOpen();
    const state = this.#state(host);
    if (state.uplinkIp) throw new Error(`lab: ${host.name} already has an uplink (${state.uplinkIp})`);
    return state;
  }

  #assertOpen(): void {
    if (this.#cleanup) throw new Error(`lab ${this.prefix} has been cleaned up`);
  }
}

function checkRange(value: number, min: number, max: number, what: string): number {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`lab: ${what} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

async function waitForOutput(
  command: string,
  proc: Subprocess,
  stdout: () => string,
  stderr: () => string,
  pattern: RegExp | string,
  timeoutMs: number,
): Promise<string> {
  // search() ignores lastIndex, so a /g pattern behaves like any other.
  const matches = () =>
    typeof pattern === "string" ? stdout().includes(pattern) : stdout().search(pattern) !== -1;
  const deadline = Date.now() + timeoutMs;
  while (!matches()) {
    const exited = proc.exitCode !== null || proc.signalCode !== null;
    if (exited || Date.now() >= deadline) {
      await Bun.sleep(20); // let the collectors catch the last output before judging
      if (matches()) break;
      const why = exited ? `exited (${proc.exitCode ?? proc.signalCode})` : `timed out after ${timeoutMs} ms`;
      throw new Error(
        `lab: waiting for ${String(pattern)} from "${command}": ${why}\nstdout: ${stdout()}\nstderr: ${stderr()}`,
      );
    }
    await Bun.sleep(10);
  }
  return stdout();
}

/**
 * A test file's labs: `create()` makes the test's lab and `tempDir(prefix)` a temp folder for it; after each
 * test the lab is cleaned up (its processes killed, its namespaces deleted) and the folders removed.
 */
/** Real processes, sockets and namespaces: far slower than bun test's 5 s default. */
const LAB_TEST_TIMEOUT_MS = 60_000;

export function labPerTest(o: { timeoutMs?: number } = {}): {
  create(): Lab;
  tempDir(prefix: string): string;
  /** bun's `test`, except that a failure first prints the transcript of the labs this test created. */
  test(name: string, fn: () => void | Promise<void>, timeoutMs?: number): void;
} {
  const labs: Lab[] = [];
  const dirs: string[] = [];
  setDefaultTimeout(o.timeoutMs ?? LAB_TEST_TIMEOUT_MS);
  afterEach(async () => {
    for (const lab of labs.splice(0)) await lab.cleanup();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return {
    create() {
      const lab = Lab.create();
      labs.push(lab);
      return lab;
    },
    tempDir(prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    test(name, fn, timeoutMs) {
      bunTest(
        name,
        async () => {
          try {
            await fn();
          } catch (e) {
            // A lab failure is usually explained by what the processes said; CI shows only the log.
            for (const lab of labs)
              console.error(`--- lab ${lab.prefix}: what its processes wrote ---\n${lab.transcript()}`);
            throw e;
          }
        },
        timeoutMs,
      );
    },
  };
}
