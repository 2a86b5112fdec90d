export { type ErrorCode, isNetpunchError, NetpunchError } from "./errors.ts";
// The hook API (netpunch/hooks has it too, with the toolkit the built-in hooks use).
export type { HookContext, NetpunchHook, NetpunchPlugin, PluginContext } from "./hooks/hook.ts";
export { defineHook, definePlugin } from "./hooks/hook.ts";
export { type DoctorOptions, type DoctorReport, doctor } from "./nat/doctor.ts";
// Pairing by a short code: the code, and the PAKE through the rendezvous that proves it (src/pair).
export { formatCode, newCode, type PairCode, parseCode } from "./pair/code.ts";
export { type Paired, type PairOptions, pair } from "./pair/run.ts";
export { type MapPortOptions, mapPort, type PortMapping } from "./portmap/index.ts";
/** The most bytes `ConnectOptions.offer` may have (what the rendezvous packets have room for). */
export { MAX_OFFER_LEN } from "./protocol/constants.ts";
export type { NatInfo } from "./protocol/messages.ts";
// Proxy mode's data plane over the socket connect({ keepSocket }) hands over.
export { type ProxyEvent, type ProxyOptions, type RunningProxy, startProxy } from "./proxy/driver.ts";
export { DEFAULT_LINK_TIMINGS, type LinkCounters, type LinkTimings } from "./proxy/link.ts";
export {
  choosePath,
  DEFAULT_PATH_TIMINGS,
  PathChooser,
  type PathSwitch,
  type PathTimings,
  type PathView,
  type ProxyPath,
  type SwitchRecord,
} from "./proxy/paths.ts";
export type { InterfaceAddress } from "./punch/candidates.ts";
export { DEFAULT_PEER_TIMINGS, type PeerTimings } from "./punch/config.ts";
export { type ConnectOptions, connect, type PunchedSocket } from "./punch/connect.ts";
// Several servers on one Redis: the store, the link it runs over, and the bus between the servers.
export { RedisLink, type RedisLinkOptions, type StoreStats } from "./rendezvous/redis-link.ts";
export { RedisStore, type RedisStoreOptions } from "./rendezvous/redis-store.ts";
export {
  MemoryRelayDirectory,
  RedisRelayDirectory,
  type RelayDirectory,
  type RelayPlace,
} from "./rendezvous/relay-directory.ts";
export {
  type RendezvousServer,
  type ServeOptions,
  type ServerStats,
  serve,
  type TenantChanges,
} from "./rendezvous/server.ts";
export { MemoryBus, type Notice, RedisBus, type ServerBus } from "./rendezvous/server-bus.ts";
export { MemoryNonces, RedisNonces, type SharedNonces } from "./rendezvous/shared-nonces.ts";
// Everything a store needs, for a shared one written outside (store.ts exports nothing else).
export * from "./rendezvous/store.ts";
// A multi-tenant server's tenants (serve({ tenants }), setTenants).
export { MAX_TENANTS, TENANT_NAME, type TenantOptions } from "./rendezvous/tenants.ts";
export { type StunBindingOptions, type StunBindingResult, stunBinding } from "./stun/client.ts";
export { type Clock, systemClock } from "./sys/clock.ts";
export { type Random, systemRandom } from "./sys/random.ts";
export type { WsServerOptions } from "./transport/ws-server.ts";
export type * from "./types.ts";
