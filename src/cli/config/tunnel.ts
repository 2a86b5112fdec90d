import { dirname, isAbsolute, resolve } from "node:path";
import { type ArgsDef, parseArgs } from "citty";
import * as v from "valibot";
import { Fail, NetpunchError } from "../../errors.ts";
import { type AnyHook, type BuiltinHook, loadHook, looksLikePath } from "../../hooks/load.ts";
import { mergedHookArgs } from "../../hooks/run.ts";
import { connectArgs } from "../connect.ts";
import { connectOptionProblem, connectTunnelOptions, NOT_PER_TUNNEL, optionArgv } from "./options.ts";
import { defaultInterface, TUNNEL_KEYS } from "./schema.ts";
import { closest } from "./suggest.ts";
import type { TunnelConfig } from "./types.ts";

/** What reading one tunnel table needs besides the table. */
export interface TunnelContext {
  /** The config file, named in every error. */
  file: string;
  /** The file's top-level servers, for a tunnel without its own (none when the top level has server_tcp). */
  servers: string[];
  /** The file's top-level server_tcp and tls_ca (an absolute path), for a tunnel without a server of its own. */
  serverTcp?: string;
  tlsCa?: string;
  /** The `hook` value as the spec to load and to write in argv (hookSpec). */
  hookSpec: (value: string) => string;
  /** Loads a hook by its spec, once per spec. */
  hook: (spec: string) => Promise<AnyHook>;
  /** Every built-in's options by hook name, to say whose option a misplaced key is. */
  builtinOptions: () => Promise<ReadonlyMap<string, ArgsDef>>;
}

/** The `hook` value as a spec loadHook finds from anywhere: a relative hook file is the config's neighbour. */
export const hookSpec = (value: string, file: string, builtins: readonly BuiltinHook[]): string =>
  builtins.some((b) => b.name === value) || !looksLikePath(value) || isAbsolute(value)
    ? value
    : resolve(dirname(file), value);

/** A loader of hooks that loads each spec once (several tunnels often share a hook). */
export function hookCache(builtins: readonly BuiltinHook[], cwd: string): (spec: string) => Promise<AnyHook> {
  const loaded = new Map<string, Promise<AnyHook>>();
  return (spec) => {
    let hook = loaded.get(spec);
    if (!hook) {
      hook = loadHook(spec, { builtins, cwd });
      loaded.set(spec, hook);
    }
    return hook;
  };
}

/**
 * One `[tunnel.NAME]` table, checked key by key, as a TunnelConfig (or undefined when `enabled = false`; a
 * disabled tunnel is still checked, so turning it on later cannot reveal a typo).
 */
export async function readTunnel(
  name: string,
  raw: unknown,
  ctx: TunnelContext,
): Promise<TunnelConfig | undefined> {
  const table = `tunnel.${name}`;
  const fail = (key: string | undefined, why: string, hint?: string): never => {
    throw Fail.configInvalid(ctx.file, table, key, why, hint);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || raw instanceof Date)
    return fail(undefined, "must be a table");
  const t = raw as Record<string, unknown>;

  // 1. Its own keys, each against its schema.
  for (const [key, { schema, required }] of Object.entries(TUNNEL_KEYS)) {
    if (t[key] === undefined) {
      if (required)
        fail(key, "is required", key === "role" ? 'one side says "a", its partner "b"' : undefined);
      continue;
    }
    const r = v.safeParse(schema as v.GenericSchema, t[key]);
    if (!r.success) fail(key, r.issues[0].message);
  }
  const own = v.parse(
    v.object(Object.fromEntries(Object.entries(TUNNEL_KEYS).map(([k, d]) => [k, v.optional(d.schema)]))),
    t,
  ) as { [K in keyof typeof TUNNEL_KEYS]?: v.InferOutput<(typeof TUNNEL_KEYS)[K]["schema"]> };
  const role = own.role as "a" | "b";
  const session = own.session as string;
  const local = own.local ?? String(connectArgs.local.default);
  const hookValue = ctx.hookSpec(own.hook ?? String(connectArgs.hook.default));
  const upstream = serverOf(own, ctx, fail);

  // 2. The hook, whose options the table may hold too.
  let hook: AnyHook;
  let hookArgs: ArgsDef;
  try {
    hook = await ctx.hook(hookValue);
    hookArgs = mergedHookArgs([hook], connectArgs);
  } catch (e) {
    if (e instanceof NetpunchError) throw Fail.configPlaced(ctx.file, table, "hook", e);
    throw e;
  }
  for (const option of Object.keys(hookArgs))
    if (option in TUNNEL_KEYS)
      fail("hook", `the ${hook.name} hook has an option "${option}", which a tunnel table uses for itself`);

  // 3. Every other key: a connect option or the hook's, turned into command-line words in file order.
  const options: ArgsDef = { ...connectTunnelOptions, ...hookArgs };
  const argv = [
    "--role",
    role,
    "--session",
    session,
    "--local",
    local,
    "--hook",
    hookValue,
    ...upstream.argv,
    ...(own.pair_key_file !== undefined
      ? ["--pair-key-file", resolve(dirname(ctx.file), own.pair_key_file)]
      : []),
  ];
  const given: string[] = [];
  for (const [key, value] of Object.entries(t)) {
    if (key in TUNNEL_KEYS) continue;
    const def = options[key];
    if (def === undefined || def.type === "positional") {
      fail(key, await unknownKeyWhy(key, hook.name, options, ctx.builtinOptions));
      continue;
    }
    const words = optionArgv(key, def, value);
    if ("why" in words) return fail(key, words.why);
    const problem = key in connectTunnelOptions ? connectOptionProblem(key, def, String(value)) : undefined;
    if (problem) fail(key, problem);
    argv.push(...words.argv);
    given.push(key);
  }
  const extra = own.args ?? [];
  if (extra.length > 0 && !hook.passthrough)
    fail("args", `the ${hook.name} hook takes no arguments after --`);
  if (extra.length > 0) argv.push("--", ...extra);

  // 4. The hook's own check of the values the table gave (a missing one may yet come from elsewhere).
  checkHookValues(hook, argv, { ...connectArgs, ...hookArgs }, given, fail);

  if (own.enabled === false) return undefined;
  return {
    name,
    role,
    session,
    servers: upstream.servers,
    local,
    hook: hookValue,
    interface: own.interface ?? defaultInterface(name),
    ...(own.address !== undefined ? { address: own.address } : {}),
    argv,
  };
}

/**
 * The tunnel's servers: its own `server` and/or `server_tcp`, else the file's (both, when it has both: UDP
 * first, then the WebSocket, as connect's --server with --server-tcp); a tunnel naming either of its own
 * inherits neither. `tls_ca` goes with a server_tcp, the tunnel's own or else the file's (a tunnel naming its
 * own server_tcp does not inherit the file's CA). A server_tcp becomes connect's --server-tcp and --tls-ca
 * in argv.
 */
function serverOf(
  own: { server?: string[]; server_tcp?: string; tls_ca?: string },
  ctx: Pick<TunnelContext, "file" | "servers" | "serverTcp" | "tlsCa">,
  fail: (key: string, why: string, hint?: string) => never,
): { servers: string[]; argv: string[] } {
  const inherits = own.server === undefined && own.server_tcp === undefined;
  const url = inherits ? ctx.serverTcp : own.server_tcp;
  const servers = inherits ? ctx.servers : (own.server ?? []);
  const ca =
    own.tls_ca !== undefined
      ? resolve(dirname(ctx.file), own.tls_ca)
      : own.server_tcp === undefined
        ? ctx.tlsCa
        : undefined;
  if (url === undefined) {
    if (own.tls_ca !== undefined) fail("tls_ca", "needs server_tcp (the CA is for a wss:// server)");
    return { servers, argv: [] };
  }
  // A URL starts with ws(s):// and an absolute path with "/": neither is taken for an option.
  return { servers, argv: ["--server-tcp", url, ...(ca !== undefined ? ["--tls-ca", ca] : [])] };
}

/** Runs the hook's `check` over the tunnel's options as connect would parse them; reports given keys only. */
function checkHookValues(
  hook: AnyHook,
  argv: string[],
  defs: ArgsDef,
  given: readonly string[],
  fail: (key: string, why: string) => never,
): void {
  if (!hook.check) return;
  // --server is required by connect's parser; any address does, it is not what is checked.
  const parsed = parseArgs(["--server", "192.0.2.1:1", ...argv], defs);
  const r = v.safeParse(hook.check as v.GenericSchema, parsed);
  if (r.success) return;
  for (const issue of r.issues) {
    const key = issue.path?.[0]?.key;
    if (typeof key === "string" && given.includes(key)) fail(key, issue.message);
  }
}

/** Why a key is not one of this tunnel's: misplaced, another hook's, or a typo (with the likely key). */
async function unknownKeyWhy(
  key: string,
  hookName: string,
  options: ArgsDef,
  builtinOptions: () => Promise<ReadonlyMap<string, ArgsDef>>,
): Promise<string> {
  const misplaced = NOT_PER_TUNNEL[key];
  if (misplaced) return `is not a tunnel's setting: ${misplaced}`;
  for (const [other, args] of await builtinOptions())
    if (other !== hookName && key in args)
      return `is an option of the ${other} hook, and this tunnel's hook is ${hookName}`;
  const near = closest(key, [...Object.keys(TUNNEL_KEYS), ...Object.keys(options)]);
  return near !== undefined ? `unknown key; did you mean "${near}"?` : "unknown key";
}
