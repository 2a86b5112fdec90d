#!/usr/bin/env -S bun --no-install
import { type ArgsDef, type CommandDef, type CommandMeta, defineCommand, runCommand } from "citty";
import { builtinHooks } from "../../plugins/index.ts";
import { NetpunchError } from "../errors.ts";
import { VERSION, versionLine } from "../version.ts";
import { connectArgs, connectCommand } from "./connect.ts";
import {
  ansiPaint,
  argumentRows,
  type HelpBlock,
  helpWidth,
  layout,
  noPaint,
  optionRows,
  usageParts,
} from "./help.ts";
import { cliHint } from "./hints.ts";
import { HOOK_LISTING_COMMANDS, hooksCommand, pluginsCommand } from "./hooks.ts";
import { type HookSelection, NO_HOOKS, selectHooks } from "./peer.ts";
import { type CommandContext, installSignalHandlers, noShutdown, type Shutdown } from "./runtime.ts";
import { seedA, seedB, seedC, seedPeerArgs, shieldSeedSecret } from "./seed.ts";

const resolve = async <T>(x: T | Promise<T> | (() => T | Promise<T>)): Promise<T> =>
  typeof x === "function" ? await (x as () => T | Promise<T>)() : await x;

/**
 * A command whose module is imported only when it runs or its help is shown, so that start-up pays for the
 * command used: a peer never loads the server, the doctor or keygen (the server's modules alone bring
 * node:crypto). citty resolves a command's meta and args when it needs them.
 */
// biome-ignore lint/suspicious/noExplicitAny: each command has its own argument types
function lazyCommand(load: () => Promise<CommandDef<any>>): CommandDef<any> {
  // biome-ignore lint/suspicious/noExplicitAny: as above
  let loaded: Promise<CommandDef<any>> | undefined;
  const def = () => {
    loaded ??= load();
    return loaded;
  };
  return {
    meta: async () => (await resolve((await def()).meta)) ?? {},
    args: async () => (await resolve((await def()).args)) ?? {},
    run: async (ctx) => (await def()).run?.(ctx),
  };
}

/** `netpunch help [COMMAND ...]`: cli() answers it as `netpunch COMMAND ... --help`; this is for the lists. */
const helpCommand = defineCommand({
  meta: {
    name: "help",
    description: "show this help, or a command's: netpunch help connect --hook openvpn",
  },
  args: {
    command: {
      type: "positional",
      required: false,
      description: "the command to explain; what follows it (such as --hook NAME) is passed on",
    },
  },
});

/**
 * The commands, built for one command line: the peer commands take the options of the hooks it selected,
 * and the listing shows them; all get the shutdown signal and the seed form's shielded secret. Passed around
 * rather than kept, so nothing outlives one cli() call.
 */
export function commandsFor(
  selected: HookSelection,
  ctx: CommandContext = { signal: noShutdown().signal },
  // biome-ignore lint/suspicious/noExplicitAny: each command has its own argument types
): Record<string, CommandDef<any>> {
  return {
    serve: lazyCommand(async () => (await import("./serve.ts")).serveCommand(ctx.signal)),
    connect: connectCommand(selected, ctx.signal),
    up: lazyCommand(async () => (await import("./up.ts")).upCommand(ctx.signal)),
    pair: lazyCommand(async () => (await import("./pair.ts")).pairCommand(ctx.signal)),
    hooks: hooksCommand(builtinHooks, selected),
    plugins: pluginsCommand(builtinHooks, selected),
    doctor: lazyCommand(async () => (await import("./doctor.ts")).doctorCommand(ctx.signal)),
    keygen: lazyCommand(async () => (await import("./keygen.ts")).keygenCommand),
    status: lazyCommand(async () => (await import("./status.ts")).statusCommand),
    forget: lazyCommand(async () => (await import("./forget.ts")).forgetCommand),
    help: helpCommand,
    a: seedA(selected, ctx),
    b: seedB(selected, ctx),
    c: seedC(ctx),
  };
}

/** The command names, for the lists and hints that need no hooks. */
const COMMAND_NAMES = Object.keys(commandsFor(NO_HOOKS));

const MAIN_META: CommandMeta = {
  name: "netpunch",
  version: VERSION,
  description:
    "UDP NAT hole punching: meet a partner through a rendezvous server, punch a direct path, run a hook",
};

/** The examples in `netpunch --help`, by topic. */
const EXAMPLES: readonly (readonly [string, readonly string[]])[] = [
  [
    "Examples:",
    [
      "netpunch keygen --output secret.txt   # once; copy secret.txt to the server and both peers",
      "netpunch serve --listen 0.0.0.0:10001 --alt-port 10002 --relay --secret-file secret.txt",
      "netpunch connect --role a --server 198.51.100.7:10001 --local :10000 --secret-file secret.txt",
      "netpunch connect --role b --server 198.51.100.7:10001 --local :10000 --secret-file secret.txt --json",
    ],
  ],
  [
    "Tunnels that stay up (a config file per host; README: Tunnels as a service):",
    [
      "netpunch up home          # every tunnel of /etc/netpunch/home.toml, supervised",
      "netpunch status home      # their state, path, RTT, rounds, last error",
      "netpunch forget home office   # accept the partner's new key at the next punch",
    ],
  ],
  [
    "Pairing by a short code (README: Pairing by a short code):",
    [
      "netpunch pair --server 198.51.100.7:10001 --secret-file secret.txt --name office   # prints 7-guitar-meadow",
      "netpunch pair --server 198.51.100.7:10001 --secret-file secret.txt --name home 7-guitar-meadow",
    ],
  ],
  [
    "Seed-compatible forms (the original netpunch):",
    ["netpunch c SECRET :10001", "netpunch a SECRET :10000 server:10001"],
  ],
  [
    "What does my NAT do, and can a direct path work?",
    ["netpunch doctor --server 198.51.100.7:10001 --secret-file secret.txt"],
  ],
  [
    "Hooks (netpunch hooks lists them with their options):",
    [
      "netpunch connect ... --hook openvpn -- --dev tun --ifconfig 198.18.200.1 198.18.200.2 --secret vpn.key",
      "netpunch connect ... --hook ./my-hook.ts --loop",
    ],
  ],
];

/** Every exit code, as the README's "Exit codes and errors" table has them (report() and main below). */
export const EXIT_CODES: readonly (readonly [string, string])[] = [
  [
    "0",
    "connected and the hooks ended (or a running tunnel was stopped by SIGINT/SIGTERM); a server stopped by a signal",
  ],
  ["1", "could not connect: server silent, partner timeout, punching failed, port in use; or a hook failed"],
  [
    "2",
    "bad usage or input: unknown option, command or hook, malformed address, missing secret, bad hook option",
  ],
  ["130", "a peer interrupted by SIGINT (Ctrl-C) before it connected"],
  ["143", "a peer stopped by SIGTERM before it connected"],
];

/** The help of `netpunch` (no command) or of one command, as blocks for help.ts to lay out. */
export async function helpBlocks(
  name: string | undefined,
  selected: HookSelection = NO_HOOKS,
): Promise<HelpBlock[]> {
  const subCommands = commandsFor(selected);
  const exitCodes: HelpBlock[] = [
    { kind: "heading", text: "Exit codes:" },
    { kind: "rows", rows: EXIT_CODES },
  ];
  const sub = name !== undefined ? subCommands[name] : undefined;
  if (!sub) {
    const meta = MAIN_META;
    const commands: [string, string][] = [];
    for (const [n, c] of Object.entries(subCommands))
      commands.push([n, ((await resolve(c.meta)) as CommandMeta | undefined)?.description ?? ""]);
    return [
      { kind: "text", text: `netpunch ${VERSION}: ${meta.description}` },
      { kind: "text", text: "" },
      { kind: "usage", command: "netpunch", parts: usageParts({}, true) },
      { kind: "heading", text: "Commands:" },
      { kind: "rows", rows: commands },
      { kind: "text", text: "" },
      { kind: "text", text: "netpunch help COMMAND (or netpunch COMMAND --help) shows a command's options." },
      { kind: "heading", text: "Options:" },
      {
        kind: "rows",
        rows: [
          ["-h, --help", "show this help"],
          ["-V, --version", "print the version, the commit it was built from and the target"],
        ],
      },
      ...EXAMPLES.flatMap(([title, lines]): HelpBlock[] => [
        { kind: "heading", text: title },
        { kind: "shell", lines },
      ]),
      ...exitCodes,
    ];
  }
  const meta = ((await resolve(sub.meta)) ?? {}) as CommandMeta;
  const args = ((await resolve(sub.args)) ?? {}) as ArgsDef;
  // Hook options are merged into the peer commands' args; show them under their hook instead.
  const hooks = name === "connect" || name === "a" || name === "b" ? selected.hooks : [];
  const fromHooks = new Set(hooks.flatMap((h) => Object.keys(h.args ?? {})));
  const own = Object.fromEntries(Object.entries(args).filter(([n]) => !fromHooks.has(n))) as ArgsDef;
  const blocks: HelpBlock[] = [
    { kind: "text", text: `netpunch ${name}: ${meta.description ?? ""} (netpunch ${VERSION})` },
    { kind: "text", text: "" },
    { kind: "usage", command: `netpunch ${name}`, parts: usageParts(own) },
  ];
  const positionals = argumentRows(own);
  if (positionals.length)
    blocks.push({ kind: "heading", text: "Arguments:" }, { kind: "rows", rows: positionals });
  const options = optionRows(own);
  if (options.length) blocks.push({ kind: "heading", text: "Options:" }, { kind: "rows", rows: options });
  for (const h of hooks) {
    const rows = optionRows((h.args ?? {}) as ArgsDef);
    if (!rows.length && !h.passthrough) continue;
    blocks.push(
      { kind: "heading", text: `Options of the ${h.name} hook:` },
      { kind: "text", text: h.description, indent: 2 },
    );
    if (rows.length) blocks.push({ kind: "rows", rows });
    if (h.passthrough) blocks.push({ kind: "rows", rows: [["after --", h.passthrough]] });
  }
  return [...blocks, ...exitCodes];
}

/** Help for a person: coloured on a terminal, plain in pipes and logs where colour codes are noise. */
async function helpText(
  name: string | undefined,
  forTerminal: boolean,
  selected: HookSelection = NO_HOOKS,
): Promise<string> {
  return layout(
    await helpBlocks(name, selected),
    helpWidth(process.env, process.stdout),
    forTerminal && process.stdout.isTTY ? ansiPaint : noPaint,
  );
}

/**
 * Runs the CLI and returns the exit code; errors become one line plus a hint on stderr. `shutdown`: what
 * SIGINT/SIGTERM abort (main installs the handlers); none reaches the default.
 */
export async function cli(argv: string[], shutdown: Shutdown = noShutdown()): Promise<number> {
  const [name, ...given] = argv;
  const { rest, secret: shieldedSecret } = shieldSeedSecret(name, given);
  const rawArgs = name === undefined ? [] : [name, ...rest];
  if ((name === "--version" || name === "-V") && !COMMAND_NAMES.includes(name)) {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  // Hooks are loaded first: their options belong to the command line and to --help.
  const listing = name !== undefined && HOOK_LISTING_COMMANDS.has(name);
  let selected = NO_HOOKS;
  if (name === "connect" || name === "a" || name === "b" || listing) {
    try {
      const reserved = name === "connect" ? connectArgs : seedPeerArgs;
      selected = await selectHooks(rest, reserved, { builtins: builtinHooks, onlyExplicit: listing });
    } catch (e) {
      return report(e, shutdown);
    }
  }
  const subCommands = commandsFor(selected, { signal: shutdown.signal, shieldedSecret });
  const sub = name !== undefined ? subCommands[name] : undefined;
  const beforeDashes = rawArgs.includes("--") ? rawArgs.slice(0, rawArgs.indexOf("--")) : rawArgs;
  const helpAsked = beforeDashes.includes("--help") || beforeDashes.includes("-h");
  if (name === "help" && !helpAsked) {
    const [topic, ...more] = rest;
    if (topic === undefined) {
      process.stdout.write(await helpText(undefined, true));
      return 0;
    }
    if (!subCommands[topic]) return unknownCommand(topic);
    return cli([topic, ...more, "--help"], shutdown);
  }
  if (!sub || helpAsked) {
    if (!sub && name !== undefined && !helpAsked) return unknownCommand(name);
    process.stdout.write(await helpText(sub ? name : undefined, true, selected));
    return name === undefined ? 2 : 0;
  }
  try {
    await runCommand(sub, { rawArgs: rest });
    return 0;
  } catch (e) {
    return report(e, shutdown, name);
  }
}

async function unknownCommand(name: string): Promise<number> {
  const what = name.startsWith("-") ? `unknown option ${name}` : `unknown command "${name}"`;
  process.stderr.write(
    `${await helpText(undefined, false)}\n[E_USAGE] ${what}\nhint: use one of: ${COMMAND_NAMES.join(", ")}\n`,
  );
  return 2;
}

function report(e: unknown, shutdown: Shutdown, command?: string): number {
  if (e instanceof NetpunchError && e.code === "E_ABORTED") return shutdown.by === "SIGTERM" ? 143 : 130;
  if (e instanceof NetpunchError) {
    const hint = cliHint(e) ?? e.hint;
    process.stderr.write(`[${e.code}] ${e.message}\n${hint ? `hint: ${hint}\n` : ""}`);
    return e.exitCode;
  }
  // citty's own argument errors (a missing positional or required option) are usage errors.
  const code = (e as { code?: string }).code;
  if (typeof code === "string" && code.startsWith("E") && (e as { name?: string }).name === "CLIError") {
    process.stderr.write(`[E_USAGE] ${(e as Error).message}\nhint: see netpunch ${command ?? ""} --help\n`);
    return 2;
  }
  process.stderr.write(
    `[E_INTERNAL] ${(e as Error)?.stack ?? String(e)}\nhint: this is a bug; please report it with the command line you ran\n`,
  );
  return 1;
}

if (import.meta.main) {
  const shutdown = installSignalHandlers();
  const code = await cli(process.argv.slice(2), shutdown);
  // Stop a server cleanly on signals (exit 0); a peer that was interrupted reports 130/143.
  process.exit(shutdown.signal.aborted && code === 0 ? 0 : code);
}
