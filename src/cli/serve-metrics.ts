// serve --metrics: the rendezvous server's families (its stats, its store's operations) on the listener.
import type { ConsolaInstance } from "consola";
import { rendezvousFamilies } from "../metrics/rendezvous.ts";
import { instrumentStore, StoreMetrics } from "../metrics/store.ts";
import type { RendezvousServer } from "../rendezvous/server.ts";
import { MemoryStore, type RendezvousStore } from "../rendezvous/store.ts";
import { metricsListen, type RunningMetrics, startMetrics } from "./metrics-option.ts";

/**
 * The parts of serve --metrics: the address (checked now), the store to give serve() (counting its
 * operations), and `start`, once the server runs.
 * @param base the store to instrument. @default a MemoryStore, as serve() makes without one
 */
export function serverMetrics(
  address: string,
  base: RendezvousStore = new MemoryStore(),
): {
  store: RendezvousStore;
  /** Another store counted with `store` (a tenant's, serve --secrets-file). */
  instrument(store: RendezvousStore): RendezvousStore;
  start(server: RendezvousServer, logger: Pick<ConsolaInstance, "info">): RunningMetrics;
} {
  const listen = metricsListen(address);
  const storeMetrics = new StoreMetrics();
  return {
    store: instrumentStore(base, storeMetrics),
    instrument: (store) => instrumentStore(store, storeMetrics),
    start: (server, logger) =>
      startMetrics({
        listen,
        logger,
        families: () => [...rendezvousFamilies(server.stats()), ...storeMetrics.families()],
        health: () => server.health(),
      }),
  };
}
