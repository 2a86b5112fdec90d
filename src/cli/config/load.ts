import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, resolve } from "node:path";
import type { ArgsDef } from "citty";
import * as v from "valibot";
import { builtinHooks } from "../../../plugins/index.ts";
import { Fail, NetpunchError } from "../../errors.ts";
import { upDirs } from "../../sys/dirs.ts";
import { makeLogger } from "../logger.ts";
import { resolveSecret } from "../secret.ts";
import { findConfig } from "./lookup.ts";
import { TOP_KEYS, TUNNEL_KEYS, TUNNEL_NAME } from "./schema.ts";
import { closest } from "./suggest.ts";
import { hookCache, hookSpec, readTunnel, type TunnelContext } from "./tunnel.ts";
import type { LoadOptions, TunnelConfig, UpConfig } from "./types.ts";

/**
 * Finds, reads and checks the config of `netpunch up NAME` (or of a path): every error names the file, the
 * table and the key; the secret is read from secret_file as `connect --secret-file` reads it, and appears in
 * no error. Relative paths in the file (secret_file, a hook file) are the file's neighbours.
 * @example
 * const config = await loadConfig("home"); // ~/.config/netpunch/home.toml, else /etc/netpunch/home.toml
 * for (const t of config.tunnels) console.log(t.name, t.argv.join(" "));
 */
export async function loadConfig(nameOrPath: string, o: LoadOptions = {}): Promise<UpConfig> {
  const env = o.env ?? process.env;
  const cwd = o.cwd ?? process.cwd();
  const home = env.HOME || homedir();
  const { file, name } = findConfig(nameOrPath, { env, cwd, home, exists: o.exists ?? existsSync });
  const raw = parseToml(file, await readText(file, o.readFile));
  checkTopKeys(file, raw);
  // The secret first, so that no later error can quote it (a key holding it by mistake): see withoutSecret.
  const secretFile = checkKey(file, raw, "secret_file") as string;
  const secret = readSecret(file, resolve(dirname(file), secretFile), o);
  return withoutSecret(secret, async () => {
    const top = checkTop(file, raw);
    const { stateDir, runtimeDir } = upDirs({
      env,
      uid: o.uid ?? process.getuid?.() ?? -1,
      home,
      stateDir: top.state_dir,
      runtimeDir: top.runtime_dir,
    });
    const tlsCa = top.tls_ca !== undefined ? resolve(dirname(file), top.tls_ca) : undefined;
    const upstream = {
      servers: top.server ?? [],
      ...(top.server_tcp !== undefined ? { serverTcp: top.server_tcp } : {}),
      ...(tlsCa !== undefined ? { tlsCa } : {}),
    };
    const tunnels = await readTunnels(file, raw.tunnel, upstream, o, cwd);
    return { file, name, ...upstream, secret, stateDir, runtimeDir, tunnels };
  });
}

/**
 * Only where a config keeps its state and its status socket, for the commands that talk to a running `up` or
 * its pins (`status`, `forget`): the file found as `up` finds it, its state_dir and runtime_dir checked, with
 * systemd's variables winning as for `up`; the secret is not read.
 */
export async function configDirs(
  nameOrPath: string,
  o: Pick<LoadOptions, "env" | "cwd" | "uid" | "exists" | "readFile"> = {},
): Promise<{ file: string; name: string; stateDir: string; runtimeDir: string }> {
  const env = o.env ?? process.env;
  const home = env.HOME || homedir();
  const { file, name } = findConfig(nameOrPath, {
    env,
    cwd: o.cwd ?? process.cwd(),
    home,
    exists: o.exists ?? existsSync,
  });
  const raw = parseToml(file, await readText(file, o.readFile));
  const dirs = upDirs({
    env,
    uid: o.uid ?? process.getuid?.() ?? -1,
    home,
    stateDir: checkKey(file, raw, "state_dir") as string | undefined,
    runtimeDir: checkKey(file, raw, "runtime_dir") as string | undefined,
  });
  return { file, name, ...dirs };
}

async function readText(file: string, readFile?: (path: string) => Promise<string>): Promise<string> {
  try {
    return await (readFile ?? ((p) => Bun.file(p).text()))(file);
  } catch (e) {
    throw Fail.configUnreadable(file, (e as NodeJS.ErrnoException).code ?? (e as Error).message, e);
  }
}

/** Bun's TOML parser gives the reason but no line ("TOML Parse error: Cannot redefine key 'a'"). */
function parseToml(file: string, text: string): Record<string, unknown> {
  try {
    return Bun.TOML.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw Fail.configSyntax(file, String((e as Error).message).replace(/^TOML Parse error: /, ""));
  }
}

type Top = {
  server?: string[];
  server_tcp?: string;
  tls_ca?: string;
  secret_file: string;
  state_dir?: string;
  runtime_dir?: string;
};

/** One top-level key against its schema: its value, or undefined for an optional key not given. */
function checkKey(file: string, raw: Record<string, unknown>, key: keyof typeof TOP_KEYS): unknown {
  const { schema, required } = TOP_KEYS[key];
  if (raw[key] === undefined) {
    if (required) throw Fail.configInvalid(file, undefined, key, "is required", REQUIRED_EXAMPLE[key]);
    return undefined;
  }
  const r = v.safeParse(schema as v.GenericSchema, raw[key]);
  if (!r.success) throw Fail.configInvalid(file, undefined, key, r.issues[0].message);
  return r.output;
}

const REQUIRED_EXAMPLE: Partial<Record<keyof typeof TOP_KEYS, string>> = {
  server:
    'e.g. server = "rendezvous.example:10001" (or, where UDP is blocked, server_tcp = "wss://rendezvous.example:443")',
  secret_file: 'e.g. secret_file = "/etc/netpunch/secret" (made by netpunch keygen)',
};

/** The top level holds its own keys and `tunnel` only (a typo is named before a key it hides is missed). */
function checkTopKeys(file: string, raw: Record<string, unknown>): void {
  const fail = (key: string, why: string, hint?: string): never => {
    throw Fail.configInvalid(file, undefined, key, why, hint);
  };
  for (const key of Object.keys(raw)) {
    if (key in TOP_KEYS || key === "tunnel") continue;
    if (key === "secret")
      fail(
        key,
        "the secret does not go in the config",
        'put it in a file of its own, mode 0600, and name it: secret_file = "/etc/netpunch/secret"',
      );
    if (key in TUNNEL_KEYS) fail(key, "belongs in a [tunnel.NAME] table");
    const near = closest(key, [...Object.keys(TOP_KEYS), "tunnel"]);
    fail(key, near !== undefined ? `unknown key; did you mean "${near}"?` : "unknown key");
  }
}

/** The top level's own keys, each against its schema, and one server of the two kinds; `tunnel` is read after. */
function checkTop(file: string, raw: Record<string, unknown>): Top {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(TOP_KEYS) as (keyof typeof TOP_KEYS)[]) out[key] = checkKey(file, raw, key);
  const top = out as Top;
  const fail = (key: string, why: string, hint?: string): never => {
    throw Fail.configInvalid(file, undefined, key, why, hint);
  };
  if (top.server === undefined && top.server_tcp === undefined)
    fail("server", "is required", REQUIRED_EXAMPLE.server);
  if (top.tls_ca !== undefined && top.server_tcp === undefined)
    fail("tls_ca", "needs server_tcp (the CA is for a wss:// server)");
  return top;
}

function readSecret(file: string, secretFile: string, o: LoadOptions): Uint8Array {
  try {
    return resolveSecret({ secretFile, logger: o.logger ?? makeLogger({}) });
  } catch (e) {
    if (e instanceof NetpunchError) throw Fail.configPlaced(file, undefined, "secret_file", e);
    throw e;
  }
}

async function readTunnels(
  file: string,
  raw: unknown,
  upstream: Pick<TunnelContext, "servers" | "serverTcp" | "tlsCa">,
  o: LoadOptions,
  cwd: string,
): Promise<TunnelConfig[]> {
  const fail = (table: string | undefined, key: string | undefined, why: string, hint?: string): never => {
    throw Fail.configInvalid(file, table, key, why, hint);
  };
  const example = "e.g. [tunnel.office] with role and session";
  if (raw === undefined)
    return fail(undefined, "tunnel", "no [tunnel.NAME] table: the file has no tunnel", example);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || raw instanceof Date)
    return fail(undefined, "tunnel", "must be tables: [tunnel.NAME]", example);
  const entries = Object.entries(raw);
  if (entries.length === 0)
    fail(undefined, "tunnel", "no [tunnel.NAME] table: the file has no tunnel", example);

  const builtins = o.builtins ?? builtinHooks;
  let builtinOptions: Promise<ReadonlyMap<string, ArgsDef>> | undefined;
  const ctx: TunnelContext = {
    file,
    ...upstream,
    hookSpec: (value: string) => hookSpec(value, file, builtins),
    hook: hookCache(builtins, cwd),
    builtinOptions: () => {
      builtinOptions ??= Promise.all(
        builtins.map(async (b) => [b.name, (await b.load()).args ?? {}] as const),
      ).then((pairs) => new Map(pairs));
      return builtinOptions;
    },
  };
  const tunnels: TunnelConfig[] = [];
  for (const [name, table] of entries) {
    if (!TUNNEL_NAME.test(name))
      fail(`tunnel.${name}`, undefined, "a tunnel's name is letters, digits, - and _ only");
    const t = await readTunnel(name, table, ctx);
    if (t) {
      checkUnique(file, t, tunnels);
      tunnels.push(t);
    }
  }
  return tunnels;
}

/** Two tunnels of one file cannot share an interface, nor meet as the same peer of one session. */
function checkUnique(file: string, t: TunnelConfig, before: readonly TunnelConfig[]): void {
  const table = `tunnel.${t.name}`;
  const sameInterface = before.find((b) => b.interface === t.interface);
  if (sameInterface)
    throw Fail.configInvalid(
      file,
      table,
      "interface",
      `tunnel.${sameInterface.name} has the same interface (${t.interface})`,
      'give one of them an interface of its own: interface = "np-..." (at most 15 characters)',
    );
  const samePeer = before.find((b) => b.session === t.session && b.role === t.role);
  if (samePeer)
    throw Fail.configInvalid(
      file,
      table,
      "session",
      `tunnel.${samePeer.name} is the same peer (the same session and role)`,
      "the partner's config has the other role; two tunnels need two sessions",
    );
}

/**
 * Runs `fn`; an error that would carry the secret's text (a key holding it by mistake, quoted by a hook's
 * check or the address parser) has it blanked. Every occurrence goes, so a very short secret (already warned
 * about) blanks parts of words too: a garbled message, never a leaked secret.
 */
async function withoutSecret<T>(secret: Uint8Array, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const text = new TextDecoder().decode(secret);
    if (!(e instanceof NetpunchError) || !text || !(e.message.includes(text) || e.hint?.includes(text)))
      throw e;
    const blank = (s: string) => s.replaceAll(text, "(the secret)");
    throw new NetpunchError(e.code, blank(e.message), e.hint !== undefined ? blank(e.hint) : undefined, {
      detail: { ...e.detail },
    });
  }
}
