import { existsSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import * as v from "valibot";
import { Fail } from "../errors.ts";
import type { AnyHook } from "./hook.ts";

export type { AnyHook } from "./hook.ts";

/** A hook known by its name, its module loaded only once a command line selects it (the built-ins). */
export interface BuiltinHook {
  readonly name: string;
  load(): Promise<AnyHook>;
}

/** What a module must export to be a hook; checked, because it comes from outside. */
const HookShape = v.pipe(
  v.object({
    name: v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9._-]*$/i, "letters, digits and . _ - only")),
    description: v.string(),
    args: v.optional(v.record(v.string(), v.object({ type: v.optional(v.string()) }))),
    passthrough: v.optional(v.string()),
    tunnelOptions: v.optional(
      v.object({ interface: v.optional(v.string()), address: v.optional(v.string()) }),
    ),
    offer: v.optional(v.function()),
    partnerFingerprint: v.optional(v.function()),
    setup: v.optional(v.function()),
    run: v.function(),
    cleanup: v.optional(v.function()),
  }),
  // A hook that offers must read the partner's offer too: its key is what gets pinned.
  v.check((h) => !h.offer || h.partnerFingerprint !== undefined, "offer needs partnerFingerprint"),
);

/** A --hook value that names a file rather than a built-in or a package (the config loader resolves it too). */
export const looksLikePath = (spec: string) =>
  /^(\.{0,2}\/|[A-Za-z]:\\)/.test(spec) || /\.(m?[jt]s|tsx?)$/.test(spec);

/** Where hooks are looked for. */
export interface HookSources {
  /** The built-in hooks, found by their name first (the CLI passes plugins/index.ts's list). */
  builtins: readonly BuiltinHook[];
  /** Hook files and packages resolve from here. @default process.cwd() */
  cwd?: string;
}

/**
 * A hook by name: a built-in (print, openvpn, ...), a path to a .ts/.js file exporting a hook (default
 * export, or `plugin` from when hooks were called plugins), or an installed package: `netpunch-plugin-NAME`
 * first, then the name as given. Packages resolve from the current directory, where the user installed them.
 */
export async function loadHook(spec: string, sources: HookSources): Promise<AnyHook> {
  const { builtins, cwd = process.cwd() } = sources;
  const builtin = builtins.find((h) => h.name === spec);
  if (builtin) return builtin.load();
  if (looksLikePath(spec)) {
    const file = isAbsolute(spec) ? spec : resolve(cwd, spec);
    if (!existsSync(file)) throw Fail.hookFileMissing(file);
    return fromModule(spec, file);
  }
  const names =
    spec.startsWith("netpunch-plugin-") || spec.startsWith("@") ? [spec] : [`netpunch-plugin-${spec}`, spec];
  for (const name of names) {
    const path = installedPackage(name, cwd);
    if (path) return fromModule(spec, path);
  }
  throw Fail.unknownHook(
    spec,
    builtins.map((h) => h.name),
  );
}

let netpunchModulesProvided: Promise<void> | undefined;

/**
 * Hook files `import { defineHook } from "netpunch/hooks"` (or from "netpunch"). From a compiled binary or a
 * global install there is no netpunch package near the hook file ("Cannot find package 'netpunch'"), so the
 * running netpunch answers both imports itself, as virtual modules: they always resolve, and a hook gets the
 * same classes (NetpunchError) and version as the netpunch that runs it, even where a different copy is
 * installed. Registered once: Bun's plugins are process-wide. The whole API is imported here, when a hook
 * file is loaded, not at start-up: a peer running a built-in hook never pays for the server or the doctor.
 */
export function provideNetpunchModules(): Promise<void> {
  netpunchModulesProvided ??= registerNetpunchModules();
  return netpunchModulesProvided;
}

async function registerNetpunchModules(): Promise<void> {
  const [netpunchApi, hooksApi] = await Promise.all([import("../index.ts"), import("./index.ts")]);
  Bun.plugin({
    name: "netpunch: the running netpunch as the modules 'netpunch' and 'netpunch/hooks' for hook files",
    setup(build) {
      build.module("netpunch", () => ({ exports: { ...netpunchApi }, loader: "object" }));
      build.module("netpunch/hooks", () => ({ exports: { ...hooksApi }, loader: "object" }));
    },
  });
}

async function fromModule(spec: string, path: string): Promise<AnyHook> {
  await provideNetpunchModules();
  let mod: Record<string, unknown>;
  try {
    const { pathToFileURL } = await import("node:url"); // only for hook files: not at every start-up
    mod = await import(pathToFileURL(path).href);
  } catch (e) {
    throw Fail.hookNotLoaded(spec, path, e);
  }
  const candidate = mod.default ?? mod.plugin;
  const ok = v.safeParse(HookShape, candidate);
  if (!ok.success) {
    const issue = ok.issues[0];
    const where = issue.path?.map((p) => String(p.key)).join(".") ?? "export";
    throw Fail.notAHook(spec, path, where, issue.message);
  }
  return candidate as AnyHook;
}

/**
 * The entry file of a package installed in a node_modules folder at or above `cwd`, or undefined.
 * Only what is on disk counts: resolving a bare name with Bun can auto-install it from the npm registry
 * when there is no node_modules folder, so a typo in --hook could fetch and run a stranger's package.
 */
export function installedPackage(name: string, cwd: string): string | undefined {
  if (!/^(@[a-z0-9._~-]+\/)?[a-z0-9._~-]+$/i.test(name)) return undefined;
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const pkgDir = join(dir, "node_modules", name);
    if (existsSync(join(pkgDir, "package.json"))) {
      try {
        return Bun.resolveSync(pkgDir, dir); // an absolute path: never an install
      } catch {
        return undefined;
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** The `--hook` values of a command line, in order (before any `--`); `print` when there are none. */
export function hookSpecs(rawArgs: string[]): string[] {
  const specs: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i] ?? "";
    if (a === "--") break;
    if (a === "--hook" && rawArgs[i + 1] !== undefined) specs.push(rawArgs[++i] ?? "");
    else if (a.startsWith("--hook=")) specs.push(a.slice(7));
  }
  return specs.length > 0 ? specs : ["print"];
}

/** The command line after `--`, which goes to the one hook that takes it. */
export function passthroughArgs(rawArgs: string[]): string[] {
  const i = rawArgs.indexOf("--");
  return i < 0 ? [] : rawArgs.slice(i + 1);
}
