// One HTTP exchange of UPnP (description, SOAP), bounded by the caller's deadline on the injected clock and
// by its signal: on either the request, and the body being read, are aborted.
import { settleOnce } from "../../sys/settle.ts";
import type { PortMapEffects } from "../effects.ts";

/**
 * fetch(url) with redirects refused (the gateway must not send us elsewhere), then `read` on the response;
 * undefined on any failure, at the deadline and on abort.
 */
export function httpWithin<T>(
  fx: Pick<PortMapEffects, "clock" | "fetch">,
  url: string,
  init: RequestInit,
  deadline: number,
  signal: AbortSignal | undefined,
  read: (res: Response) => Promise<T | undefined> | T | undefined,
): Promise<T | undefined> {
  if (signal?.aborted || fx.clock.now() >= deadline) return Promise.resolve(undefined);
  return settleOnce<T | undefined>(
    { clock: fx.clock, deadline, signal, onDeadline: () => undefined },
    (s) => {
      fx.fetch(url, { ...init, signal: s.signal, redirect: "error" })
        .then(read)
        .then(s.resolve, () => s.resolve(undefined));
    },
  );
}
