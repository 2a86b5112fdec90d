import { constants } from "node:os";
import { CHILD_TIMINGS, stopAllChildrenNow } from "../hooks/child.ts";
import { stuckAfterSignal } from "./hints.ts";

/**
 * Process-wide cancellation: SIGINT/SIGTERM abort `signal`, and every command passes it down so sockets,
 * timers and child processes end cleanly instead of the process being killed mid-way. Made once by main and
 * passed to cli(), not kept in a module: an in-process cli() (the tests) gets its own.
 */
export interface Shutdown {
  readonly signal: AbortSignal;
  /** The signal that started the shutdown, once one has. */
  readonly by: NodeJS.Signals | undefined;
}

/** A shutdown no process signal reaches: for cli() called in-process, where no handlers are installed. */
export const noShutdown = (): Shutdown => ({ signal: new AbortController().signal, by: undefined });

/** What one cli() call hands the commands it builds, beside the hooks its command line selected. */
export interface CommandContext {
  /** Aborted by SIGINT/SIGTERM (Shutdown.signal). */
  signal: AbortSignal;
  /** A seed form's secret that starts with "-", kept from the option parser (seed.ts shieldSeedSecret). */
  shieldedSecret?: string;
}

/**
 * @default 1_000: after a second signal, the hooks' programs have been SIGKILLed, so the normal path ends in
 * milliseconds (reap, close sockets); past this, something else hangs (a silent gateway while a port mapping
 * is removed) and netpunch exits anyway.
 */
export const FORCE_EXIT_MS = 1_000;

/**
 * @default CHILD_TIMINGS.graceMs + 5_000: after one signal, every built-in hook's children have had their grace
 * and their SIGKILL by then, and the shutdown ends in milliseconds; a process still running is held by a
 * third-party hook that ignores its abort signal, and netpunch exits anyway rather than hang until a second
 * signal nobody may send (a service manager waits, then SIGKILLs, leaving the children).
 */
export const STUCK_EXIT_MS = CHILD_TIMINGS.graceMs + 5_000;

/** 128 + the signal's number, as a shell reports death by that signal: 130 for SIGINT, 143 for SIGTERM. */
export const signalExitCode = (sig: NodeJS.Signals): number => 128 + (constants.signals[sig] ?? 2);

/** Installs the SIGINT/SIGTERM handlers (once per process) and returns the shutdown they drive. */
export function installSignalHandlers(): Shutdown {
  const controller = new AbortController();
  let by: NodeJS.Signals | undefined;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (!controller.signal.aborted) {
        by = sig;
        controller.abort();
        setTimeout(() => {
          process.stderr.write(`${stuckAfterSignal(sig, STUCK_EXIT_MS / 1000)}\n`);
          stopAllChildrenNow();
          process.exit(signalExitCode(sig));
        }, STUCK_EXIT_MS).unref();
        return;
      }
      // A second signal means "now": the children's groups get SIGKILL instead of the rest of their grace.
      // The exit code stays the one the shutdown gives: GNU timeout, for one, sends its signal twice (to
      // netpunch, then to its own process group), and whether the second lands before or after the first
      // was handled must not change the result.
      stopAllChildrenNow();
      setTimeout(() => process.exit(signalExitCode(by ?? sig)), FORCE_EXIT_MS).unref();
    });
  }
  // However netpunch exits (an error, process.exit), no child's group outlives it.
  process.on("exit", stopAllChildrenNow);
  return {
    signal: controller.signal,
    get by() {
      return by;
    },
  };
}
