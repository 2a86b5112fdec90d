import { readdirSync, readFileSync } from "node:fs";
import type { ConsolaInstance } from "consola";
import { Fail } from "../errors.ts";
import { systemClock } from "../sys/clock.ts";
import { settleOnce, sleep } from "../sys/settle.ts";
import { argvCarriesSecret, childEnv } from "./env.ts";

/** How a hook's child is stopped. */
export const CHILD_TIMINGS = {
  /**
   * @default 5_000: the time a child's process group gets between SIGTERM and SIGKILL. openvpn and
   * wireguard-go take well under a second to take down their tun device; 5 s covers a loaded host.
   */
  graceMs: 5_000,
  /** @default 50: how often the group is checked for exit during the grace; a prompt exit costs < 50 ms. */
  pollMs: 50,
  /**
   * @default 500: once the group is gone, output still buffered in the pipes is read this long; a daemon that
   * left the group (setsid) can hold a pipe open forever, and netpunch must not wait for it.
   */
  drainMs: 500,
} as const;

export interface ChildOptions {
  argv: string[];
  /** Added to netpunch's environment, from which the secret is always removed (see hooks/env.ts). */
  env?: Record<string, string>;
  logger: ConsolaInstance;
  /** Each output line of the child goes to stderr with this prefix, so it is clear who said what. */
  prefix: string;
  signal: AbortSignal;
  /** How long the child's group gets to exit after SIGTERM before SIGKILL. @default CHILD_TIMINGS.graceMs */
  graceMs?: number;
}

export interface ChildExit {
  code: number | null;
  signal: string | null;
  /** True when we stopped it because `signal` aborted. */
  stopped: boolean;
  pid: number;
}

/** Process groups of running children (their leader's PID), for stopAllChildrenNow(). */
const liveGroups = new Set<number>();

/** Signals a whole process group; false when it no longer exists. */
function signalGroup(pgid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch (e) {
    // EPERM: a member runs as another user (a command under sudo); the group still exists.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether a process group still has a running member. A zombie does not count: an orphaned grandchild that
 * died is reparented to PID 1, which may take its time to reap it (a container's init), and kill(-pgid, 0)
 * would call the group alive until then. Linux reads /proc; elsewhere kill(-pgid, 0) decides.
 */
export function groupRunning(pgid: number): boolean {
  if (process.platform !== "linux") return signalGroup(pgid, 0);
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return signalGroup(pgid, 0);
  }
  for (const name of entries) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue; // only the numeric entries are processes
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited while we looked
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so parse after the last ")".
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z" && state !== "X") return true;
  }
  return false;
}

/**
 * SIGKILL for every child's process group, synchronously: for a second SIGINT/SIGTERM ("stop now") and for
 * process exit, when no grace can be waited for.
 */
export function stopAllChildrenNow(): void {
  for (const pgid of liveGroups) signalGroup(pgid, "SIGKILL");
}

/**
 * Stops the group if netpunch dies without cleaning up (SIGKILL, a crash): a shell that waits for end of file
 * on a pipe whose only writer is netpunch. The kernel closes that pipe however netpunch ends, and the watchdog
 * then sends SIGTERM to the group, and SIGKILL after the grace. It runs in its own session, so a Ctrl-C at
 * the terminal does not reach it. $1 is the group, $2 the grace in tenths of a second.
 */
const WATCHDOG = `read -r _
kill -TERM "-$1" 2>/dev/null || exit 0
i=0
while [ "$i" -lt "$2" ] && kill -0 "-$1" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -KILL "-$1" 2>/dev/null
exit 0`;

/** The watchdogs' stdin pipes must stay referenced: a collected pipe would close and fire its watchdog. */
const watchdogPipes = new Map<number, unknown>();

function startWatchdog(pgid: number, graceMs: number): (() => void) | undefined {
  if (process.platform === "win32") return undefined; // no process groups, no sh
  try {
    const dog = Bun.spawn(
      ["sh", "-c", WATCHDOG, "netpunch-watchdog", String(pgid), String(Math.ceil(graceMs / 100))],
      {
        stdin: "pipe",
        stdout: "ignore",
        stderr: "ignore",
        detached: true,
        env: childEnv(),
      },
    );
    watchdogPipes.set(dog.pid, dog.stdin);
    return () => {
      watchdogPipes.delete(dog.pid);
      dog.kill("SIGKILL"); // the group is gone: nothing left to guard, and it must not signal a reused PGID
    };
  } catch {
    return undefined; // no sh: the other guarantees hold, only a SIGKILLed netpunch can orphan the child
  }
}

/**
 * Runs a tunnel program as a supervised child: its output goes to stderr line by line with a prefix. The
 * child leads its own process group (and session), so everything it starts can be stopped with it; when
 * `signal` aborts, or when the child exits, the group gets SIGTERM and, after the grace, SIGKILL. netpunch
 * waits for the child's exit, not for its pipes. A watchdog stops the group should netpunch itself be killed.
 */
export async function runChild(o: ChildOptions, onStart?: (pid: number) => void): Promise<ChildExit> {
  if (argvCarriesSecret(o.argv)) throw Fail.secretOnCommandLine(o.argv[0], "start");
  const graceMs = o.graceMs ?? CHILD_TIMINGS.graceMs;
  let proc: ReturnType<typeof Bun.spawn<"ignore", "pipe", "pipe">>;
  try {
    proc = Bun.spawn(o.argv, {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: childEnv(o.env),
      // setsid(): the child leads a new session and process group (PGID = its PID), so process.kill(-pid)
      // reaches its children too, and a terminal's Ctrl-C goes to netpunch alone, which then stops the group.
      detached: process.platform !== "win32",
    });
  } catch (e) {
    throw Fail.childNotStarted(o.argv[0], e);
  }
  const pgid = proc.pid;
  const groups = process.platform !== "win32";
  if (groups) liveGroups.add(pgid);
  const stopWatchdog = groups ? startWatchdog(pgid, graceMs) : undefined;
  onStart?.(proc.pid);
  o.logger.info(`started ${o.argv[0]} (pid ${proc.pid})`);

  let stopped = false;
  let stopping: Promise<void> | undefined;
  const alive = () => (groups ? groupRunning(pgid) : proc.exitCode === null && proc.signalCode === null);
  const send = (sig: NodeJS.Signals) => (groups ? signalGroup(pgid, sig) : proc.kill(sig));
  /** SIGTERM to the group, then SIGKILL once the grace is over; once only. */
  const stopGroup = () => {
    stopping ??= (async () => {
      if (!alive()) return;
      send("SIGTERM");
      const deadline = systemClock.now() + graceMs;
      while (alive() && systemClock.now() < deadline) await sleep(systemClock, CHILD_TIMINGS.pollMs);
      if (alive()) send("SIGKILL");
    })();
    return stopping;
  };
  const onAbort = () => {
    stopped = true;
    void stopGroup();
  };
  if (o.signal.aborted) onAbort();
  else o.signal.addEventListener("abort", onAbort, { once: true });

  const readers = [proc.stdout.getReader(), proc.stderr.getReader()];
  const pumps = readers.map((r) => pump(r, o.prefix));
  try {
    await proc.exited;
    // The leader is gone; whatever it left in its group (a shell's background jobs) goes with it.
    await stopGroup();
  } finally {
    o.signal.removeEventListener("abort", onAbort);
    liveGroups.delete(pgid);
    stopWatchdog?.();
  }
  // The pipes' end of file, or the drain time, whichever comes first.
  await settleOnce<void>({ deadline: systemClock.now() + CHILD_TIMINGS.drainMs }, (s) => {
    void Promise.all(pumps).then(() => s.resolve());
  });
  for (const r of readers) void r.cancel().catch(() => {});
  const sig = proc.signalCode;
  return { code: proc.exitCode, signal: sig === null ? null : String(sig), stopped, pid: proc.pid };
}

/** Copies a child's output to stderr line by line with the prefix, until end of file or cancel. */
async function pump(
  reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> },
  prefix: string,
): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        process.stderr.write(`${prefix} ${buf.slice(0, nl)}\n`);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
      }
    }
  } catch {
    // cancelled after the drain time: what is left is not ours to wait for
  }
  if (buf) process.stderr.write(`${prefix} ${buf}\n`);
}
