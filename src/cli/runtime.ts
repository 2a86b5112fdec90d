/**
 * Process-wide cancellation: SIGINT/SIGTERM abort this signal, and every command passes it down so sockets,
 * timers and child processes end cleanly instead of the process being killed mid-way.
 */
const controller = new AbortController();
export const shutdown = controller.signal;
export let shutdownSignal: NodeJS.Signals | undefined;

export function installSignalHandlers(): void {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      // A second Ctrl-C while shutting down means "now".
      if (controller.signal.aborted) process.exit(130);
      shutdownSignal = sig;
      controller.abort();
    });
  }
}
