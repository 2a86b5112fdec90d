// The library's failures come from one factory per case (all their text in errors.ts); their hints never
// name a command-line flag, and the CLI words its own from the error's detail.
import { describe, expect, test } from "bun:test";
import { cliHint } from "../../src/cli/hints.ts";
import { Fail, NetpunchError } from "../../src/errors.ts";

const SERVER = { host: "198.51.100.7", port: 10001 };
const all: NetpunchError[] = [
  Fail.serverSilent(SERVER, 8, 10),
  Fail.serverPortClosed(SERVER),
  Fail.partnerTimeout("b", "s1", 5),
  Fail.punchFailed({ heard: true, seconds: 10, tried: "203.0.113.9:1", note: "" }),
  Fail.punchFailed({ heard: false, seconds: 10, tried: "203.0.113.9:1", note: "" }),
  Fail.serverFull(SERVER, "server"),
  Fail.serverFull(SERVER, "address"),
  Fail.badSession("a b", "letters only"),
  Fail.portInUse(10000, "0.0.0.0:10000"),
  Fail.bindDenied("0.0.0.0:80"),
  Fail.bindFailed("192.0.2.1:10000", "EADDRNOTAVAIL"),
  Fail.unresolved("example.invalid"),
  Fail.stunRefused("198.51.100.7:3478", "answered without a mapped address"),
  Fail.noAltPort(SERVER),
  Fail.aborted("connect()"),
  Fail.stunUnsendable("[2001:db8::1]:3478"),
  Fail.stunPortClosed({ host: "198.51.100.7", port: 3478 }),
  Fail.stunSilent("198.51.100.7:3478", 3478, 7, 10),
  Fail.doctorUnanswered("198.51.100.7:10001"),
  Fail.altPortSilent(10002),
  Fail.notPositive("timeoutMs", -1),
  Fail.hookFileMissing("/tmp/no-such-hook.ts"),
  Fail.unknownHook("nope", ["print", "exec"]),
  Fail.hookNotLoaded("x", "/tmp/x.ts", new Error("SyntaxError")),
  Fail.notAHook("x", "/tmp/x.ts", "name", "Invalid type"),
  Fail.hookOptionTwice("a", "b", "port"),
  Fail.hookOptionReserved("a", "server"),
  Fail.hookRefused("exec", "give the command"),
  Fail.hookOptionInvalid("exec", "exec-shell", "Invalid type"),
  Fail.passthroughTwice(["exec", "openvpn"]),
  Fail.passthroughUnused(["echo", "hi"]),
  Fail.hookFailed("print", "failed in run", new Error("boom")),
  Fail.hooksFailed([new Error("one"), new Error("two")]),
  Fail.secretOnCommandLine("openvpn", "start"),
  Fail.childNotStarted("openvpn", new Error("ENOENT")),
  Fail.commandNotFound("no-such-command"),
  Fail.noExecve(),
  Fail.execveFailed("/bin/true", new Error("EACCES")),
  Fail.execveReturned("/bin/true"),
];

describe("library failures", () => {
  test.each(all.map((e) => [e.code, e] as const))("%s: one line, a hint, no CLI flag in it", (_c, e) => {
    expect(e).toBeInstanceOf(NetpunchError);
    expect(e.message).not.toContain("\n");
    expect(e.hint ?? "").not.toMatch(/(^|\s)--[a-z]/);
  });

  test("the CLI names its flags where the library speaks of what to do", () => {
    expect(cliHint(Fail.partnerTimeout("b", "s1", 5))).toBe(
      "start the other peer with --role b and the same --session, server and secret, or raise --timeout",
    );
    expect(cliHint(all[4] as NetpunchError)).toContain("a server started with serve --relay");
    expect(cliHint(Fail.serverFull(SERVER, "server"))).toContain("serve --max-sessions");
    expect(cliHint(Fail.serverFull(SERVER, "address"))).toContain("serve --max-per-address");
    expect(cliHint(Fail.noAltPort(SERVER))).toContain("serve --alt-port");
    expect(cliHint(Fail.serverSilent(SERVER, 8, 10))).toBeUndefined(); // the library's is already right
    expect(cliHint(Fail.hookFailed("print", "failed in run", new Error("boom")))).toContain("--verbose");
    expect(cliHint(Fail.hooksFailed([new Error("one"), new Error("two")]))).toContain("--verbose");
    expect(cliHint(Fail.commandNotFound("no-such-command"))).toBe("check the command after --");
    expect(cliHint(Fail.noExecve())).toContain("drop --exec-replace");
    expect(cliHint(Fail.childNotStarted("openvpn", new Error("ENOENT")))).toBeUndefined();
  });

  test("exit codes: usage and input 2, everything at run time 1", () => {
    expect(Fail.badSession("x", "y").exitCode).toBe(2);
    expect(Fail.serverSilent(SERVER, 1, 1).exitCode).toBe(1);
  });
});
