export { connect, type ConnectOptions } from "./punch/connect.ts";
export { serve, type ServeOptions, type RendezvousServer, type ServerStats } from "./rendezvous/server.ts";
export { MemoryStore, type RendezvousStore, type SessionRecord, type Registration } from "./rendezvous/store.ts";
export { NetpunchError, isNetpunchError, type ErrorCode } from "./errors.ts";
export { DEFAULT_PEER_TIMINGS, type PeerTimings } from "./punch/config.ts";
export { definePlugin, type NetpunchPlugin, type PluginContext } from "./plugin.ts";
export type * from "./types.ts";
