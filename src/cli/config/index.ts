// The config file of `netpunch up`: found (lookup), checked (schema, options, tunnel), loaded (load).
export { SYSTEM_RUNTIME_DIR, SYSTEM_STATE_DIR, type UpDirs, upDirs } from "../../sys/dirs.ts";
export { loadConfig } from "./load.ts";
export { type ConfigLocation, configPlaces, findConfig, isConfigPath, SYSTEM_CONFIG_DIR } from "./lookup.ts";
export { connectTunnelOptions, NOT_PER_TUNNEL } from "./options.ts";
export { defaultInterface, INTERFACE_PREFIX, MAX_INTERFACE_NAME } from "./schema.ts";
export type { LoadOptions, TunnelConfig, UpConfig } from "./types.ts";
