import { describe, expect, test } from "bun:test";
import { upDirs } from "../../../src/sys/dirs.ts";

const home = "/home/ana";

describe("the state and runtime directories", () => {
  test.each([
    ["root, nothing set: the system's", {}, 0, {}, "/var/lib/netpunch", "/run/netpunch"],
    [
      "the file's state_dir and runtime_dir over the defaults",
      {},
      0,
      { stateDir: "/srv/np", runtimeDir: "/srv/np-run" },
      "/srv/np",
      "/srv/np-run",
    ],
    [
      "systemd's $STATE_DIRECTORY and $RUNTIME_DIRECTORY over the file's",
      { STATE_DIRECTORY: "/var/lib/netpunch-home", RUNTIME_DIRECTORY: "/run/netpunch-home" },
      0,
      { stateDir: "/srv/np", runtimeDir: "/srv/np-run" },
      "/var/lib/netpunch-home",
      "/run/netpunch-home",
    ],
    [
      "the first path of a systemd colon list",
      { STATE_DIRECTORY: "/var/lib/a:/var/lib/b", RUNTIME_DIRECTORY: "/run/a:/run/b" },
      0,
      {},
      "/var/lib/a",
      "/run/a",
    ],
    [
      "an empty systemd variable counts as unset",
      { STATE_DIRECTORY: "", RUNTIME_DIRECTORY: "" },
      0,
      {},
      "/var/lib/netpunch",
      "/run/netpunch",
    ],
    [
      "a user: the XDG state and runtime directories",
      { XDG_STATE_HOME: "/home/ana/st", XDG_RUNTIME_DIR: "/run/user/1000" },
      1000,
      {},
      "/home/ana/st/netpunch",
      "/run/user/1000/netpunch",
    ],
    [
      "a user without XDG variables: ~/.local/state, and a run folder in it",
      {},
      1000,
      {},
      "/home/ana/.local/state/netpunch",
      "/home/ana/.local/state/netpunch/run",
    ],
    [
      "a user: relative XDG variables are ignored",
      { XDG_STATE_HOME: "st", XDG_RUNTIME_DIR: "run" },
      1000,
      {},
      "/home/ana/.local/state/netpunch",
      "/home/ana/.local/state/netpunch/run",
    ],
    [
      "a user under systemd (a user unit): systemd's still win",
      { STATE_DIRECTORY: "/home/ana/.local/state/np", RUNTIME_DIRECTORY: "/run/user/1000/np" },
      1000,
      {},
      "/home/ana/.local/state/np",
      "/run/user/1000/np",
    ],
  ] as const)("%s", (_, env, uid, file, stateDir, runtimeDir) => {
    expect(upDirs({ env, uid, home, ...file })).toEqual({ stateDir, runtimeDir });
  });
});
