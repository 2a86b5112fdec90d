import { dlopen, FFIType, ptr } from "bun:ffi";

/**
 * Replaces this process with `argv` (execve(2)), keeping the PID, like the original netpunch's -command.
 * Bun has no exec of its own, so libc's execve is called through FFI. Returns only by throwing.
 */
export function execReplace(argv: string[], extraEnv: Record<string, string>): never {
  const [cmd] = argv;
  const path = cmd === undefined ? null : cmd.includes("/") ? cmd : Bun.which(cmd);
  if (!path) throw new Error(`${cmd ?? "(no command)"} not found in PATH`);
  const env = { ...process.env, ...extraEnv };
  const envList = Object.entries(env).map(([k, val]) => `${k}=${val ?? ""}`);
  const cstr = (s: string) => Buffer.from(`${s}\0`, "utf8");
  // Keep the buffers referenced until the call: the pointer arrays point into them.
  const argBufs = argv.map(cstr);
  const envBufs = envList.map(cstr);
  const table = (bufs: Buffer[]) => {
    const t = new BigUint64Array(bufs.length + 1);
    bufs.forEach((b, i) => {
      t[i] = BigInt(ptr(b));
    });
    return t;
  };
  const argvTable = table(argBufs);
  const envTable = table(envBufs);
  const libc = openLibc();
  const pathBuf = cstr(path);
  libc.symbols.execve(ptr(pathBuf), ptr(argvTable), ptr(envTable));
  libc.close();
  throw new Error(`execve ${path} failed`);
}

const EXECVE = { execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 } } as const;

/** glibc, musl (Alpine: the -musl builds) or macOS's libSystem, whichever this host has. */
function openLibc() {
  const names =
    process.platform === "darwin"
      ? ["libSystem.B.dylib"]
      : ["libc.so.6", `libc.musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`, "libc.so"];
  for (const name of names) {
    try {
      return dlopen(name, EXECVE);
    } catch {
      // try the next name
    }
  }
  throw new Error(`cannot load the C library (tried ${names.join(", ")}) for execve`);
}
