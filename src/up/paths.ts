import { join } from "node:path";

export { defaultRuntimeDir } from "../sys/dirs.ts";

/** The status socket's suffix: `status` looks for every file with it. */
export const SOCKET_SUFFIX = ".sock";

export { configName } from "../hooks/state-dir.ts";

/** The status socket of the config named `config` (one per config, so two instances never share one). */
export const statusSocketPath = (runtimeDir: string, config: string): string =>
  join(runtimeDir, `${config}${SOCKET_SUFFIX}`);
