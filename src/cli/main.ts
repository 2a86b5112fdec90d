#!/usr/bin/env -S bun --no-install
import { type CommandDef, defineCommand, renderUsage, runCommand } from "citty";
import { NetpunchError } from "../errors.ts";
import { VERSION, versionLine } from "../version.ts";
import { stripAnsi } from "./common.ts";
import { connectArgs, connectCommand } from "./connect.ts";
import { doctorCommand } from "./doctor.ts";
import { keygenCommand } from "./keygen.ts";
import { prepareHooks } from "./peer.ts";
import { pluginsCommand } from "./plugins.ts";
import { installSignalHandlers, shutdown, shutdownSignal } from "./runtime.ts";
import { seedA, seedB, seedC, seedPeerArgs, shieldSeedSecret } from "./seed.ts";
import { serveCommand } from "./serve.ts";

// biome-ignore lint/suspicious/noExplicitAny: each command has its own argument types
const subCommands: Record<string, CommandDef<any>> = {
  serve: serveCommand,
  connect: connectCommand,
  plugins: pluginsCommand,
  doctor: doctorCommand,
  keygen: keygenCommand,
  a: seedA,
  b: seedB,
  c: seedC,
};

const main = defineCommand({
  meta: {
    name: "netpunch",
    version: VERSION,
    description:
      "UDP NAT hole punching: meet a partner through a rendezvous server, punch a direct path, run a hook",
  },
  subCommands,
});

const EXAMPLES = `
Examples:
  netpunch keygen --output secret.txt          # once; copy secret.txt to the server and both peers
  netpunch serve --listen 0.0.0.0:10001 --alt-port 10002 --relay --secret-file secret.txt
  netpunch connect --role a --server 198.51.100.7:10001 --local :10000 --secret-file secret.txt
  netpunch connect --role b --server 198.51.100.7:10001 --local :10000 --secret-file secret.txt --json

Seed-compatible forms (the original netpunch):
  netpunch c SECRET :10001
  netpunch a SECRET :10000 server:10001

What does my NAT do, and can a direct path work?
  netpunch doctor --server 198.51.100.7:10001 --secret-file secret.txt

Hooks (netpunch plugins lists them with their options):
  netpunch connect ... --hook openvpn -- --dev tun --ifconfig 198.18.200.1 198.18.200.2 --secret vpn.key
  netpunch connect ... --hook ./my-plugin.ts --loop

Exit codes: 0 connected, 1 could not connect, 2 bad usage or input, 130 interrupted.
`;

/** Runs the CLI and returns the exit code; errors become one line plus a hint on stderr. */
export async function cli(argv: string[]): Promise<number> {
  const [name, ...given] = argv;
  const rest = shieldSeedSecret(name, given);
  const rawArgs = name === undefined ? [] : [name, ...rest];
  const sub = name !== undefined ? subCommands[name] : undefined;
  if ((name === "--version" || name === "-V") && !sub) {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  // Hooks are loaded first: their options belong to the command line and to --help.
  if (name === "connect" || name === "a" || name === "b" || name === "plugins") {
    try {
      await prepareHooks(rest, name === "connect" ? connectArgs : seedPeerArgs, name === "plugins");
    } catch (e) {
      return report(e);
    }
  }
  const beforeDashes = rawArgs.includes("--") ? rawArgs.slice(0, rawArgs.indexOf("--")) : rawArgs;
  if (!sub || beforeDashes.includes("--help") || beforeDashes.includes("-h")) {
    const usage = sub ? await renderUsage(sub, main) : `${await renderUsage(main)}\n${EXAMPLES}`;
    const helpAsked = beforeDashes.includes("--help") || beforeDashes.includes("-h");
    if (!sub && name !== undefined && !helpAsked) {
      const what = name.startsWith("-") ? `unknown option ${name}` : `unknown command "${name}"`;
      process.stderr.write(
        `${stripAnsi(usage)}\n[E_USAGE] ${what}\nhint: use one of: ${Object.keys(subCommands).join(", ")}\n`,
      );
      return 2;
    }
    // Help is read in pipes and logs too, where colour codes are noise.
    process.stdout.write(`${process.stdout.isTTY ? usage : stripAnsi(usage)}\n`);
    return name === undefined ? 2 : 0;
  }
  try {
    await runCommand(sub, { rawArgs: rest });
    return 0;
  } catch (e) {
    return report(e, name);
  }
}

function report(e: unknown, command?: string): number {
  if (e instanceof NetpunchError && e.code === "E_ABORTED") return shutdownSignal === "SIGTERM" ? 143 : 130;
  if (e instanceof NetpunchError) {
    process.stderr.write(`[${e.code}] ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ""}`);
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
  installSignalHandlers();
  const code = await cli(process.argv.slice(2));
  // Stop a server cleanly on signals (exit 0); a peer that was interrupted reports 130/143.
  process.exit(shutdown.aborted && code === 0 ? 0 : code);
}
