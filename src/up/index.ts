// `netpunch up`'s supervision, status socket and address watcher: what the up command wires together.
export { ADDRESS_POLL_MS, type AddressWatcher, addressSet, watchAddresses } from "./addresses.ts";
export { configName, defaultRuntimeDir, statusSocketPath } from "./paths.ts";
export { HEALTHY_ROUND_MS, RETRYABLE_CODES, ROUND_RETRY } from "./retry.ts";
export {
  runTunnel,
  type SubscribeAddresses,
  type TunnelHandle,
  type TunnelJob,
  tunnelError,
} from "./run-tunnel.ts";
export { readStatus, statusSockets } from "./status-client.ts";
export { type StatusDocument, statusDocument } from "./status-document.ts";
export { type StatusServer, serveStatus } from "./status-server.ts";
export {
  type ProxyStatus,
  type SupervisedTunnel,
  type Supervision,
  superviseAll,
  type TunnelRow,
} from "./supervise-all.ts";
export { ADDRESS_REPUNCH_GAP_MS, type TunnelState, type TunnelStatus } from "./supervisor.ts";
