// `netpunch forget CONFIG TUNNEL`: removes the partner's pinned key, so the next punch pins the key the
// partner then offers (after a reinstall on its side, say). Says what it removed; exit 1 when nothing was.
import { defineCommand } from "citty";
import { forgetPin, pinFile } from "../hooks/pins.ts";
import { configName, defaultStateDir, tunnelId } from "../hooks/state-dir.ts";
import { checkArgs, logArgs } from "./common.ts";
import { CliFail } from "./hints.ts";
import { makeLogger } from "./logger.ts";
import { configPlace } from "./status.ts";

export const forgetArgs = {
  config: {
    type: "positional",
    required: true,
    description: "the config, by name (home) or path (/etc/netpunch/home.toml)",
  },
  tunnel: { type: "positional", required: true, description: "the tunnel's name in it ([tunnel.NAME])" },
  "state-dir": {
    type: "string",
    valueHint: "DIR",
    description:
      "where the pins are (default: the config's state_dir; $STATE_DIRECTORY, else /var/lib/netpunch for root, else ~/.local/state/netpunch)",
  },
  quiet: logArgs.quiet,
} as const;

export const forgetCommand = defineCommand({
  meta: {
    name: "forget",
    description: "forget a tunnel's pinned partner key, so its next punch accepts (and pins) a new one",
  },
  args: forgetArgs,
  async run({ args, rawArgs }) {
    checkArgs(rawArgs, forgetArgs);
    const logger = makeLogger({ quiet: args.quiet });
    const found = await configPlace(args.config);
    const stateDir = args["state-dir"] || found?.stateDir || defaultStateDir();
    const tunnel = tunnelId(found?.name ?? configName(args.config), args.tunnel);
    const file = pinFile(stateDir, tunnel);
    const removed = forgetPin(stateDir, tunnel);
    if (removed === undefined) throw CliFail.nothingPinned(tunnel, file);
    logger.info(`forgot the key ${removed} pinned for tunnel ${tunnel} (removed ${file})`);
  },
});
