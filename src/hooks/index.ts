// The "netpunch/hooks" entry: what a hook needs, the built-ins' toolkit included. Re-exports only.

export { type ParsedAddress, parseAddress } from "../addr.ts";
export { type ErrorCode, isNetpunchError, NetpunchError } from "../errors.ts";
/** The longest seconds option netpunch takes (24 days): a hook bounds its own duration options by it. */
export { MAX_SECONDS } from "../sys/clock.ts";
export type { PunchResult } from "../types.ts";
export { CHILD_TIMINGS, type ChildExit, type ChildOptions, runChild } from "./child.ts";
export { DRAIN_TIMINGS, type DrainReport, type DrainTimings, drainPunchedPort } from "./drain.ts";
export { childEnv } from "./env.ts";
export { execReplace } from "./execve.ts";
export {
  type AnyHook,
  defineHook,
  definePlugin,
  type HookContext,
  type NetpunchHook,
  type NetpunchPlugin,
  type OfferContext,
  type PluginContext,
} from "./hook.ts";
export { decodeOffer, encodeOffer, OFFER_MAX_BYTES, OFFER_VERSION } from "./offer.ts";
export { pinnedFingerprint } from "./pins.ts";
export { fillTemplate, resultEnv, TEMPLATE_FIELDS, templateProblem } from "./result-env.ts";
export { sleep } from "./sleep.ts";
export {
  connectTunnelId,
  defaultStateDir,
  keyDir,
  PRIVATE_FILE_MODE,
  readIfThere,
  readKeyFile,
  tunnelId,
  writePrivateFile,
  zeroConfigPlace,
} from "./state-dir.ts";
export { missingProgram } from "./which.ts";
