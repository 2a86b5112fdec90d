// Preloaded by bench/server.ts (bun --preload) into its generators, and into the server with --rcvbuf:
// every socket Bun.udpSocket makes gets SO_RCVBUF = $BENCH_RCVBUF bytes, through bun:ffi on the socket's fd,
// since Bun.udpSocket has no such option (Bun 1.4.5). Into the server, it shows what a larger receive buffer
// does for it without changing it (what an operator gets from `sysctl net.core.rmem_default`). The kernel
// caps the value at net.core.rmem_max and doubles it.
import { dlopen, FFIType, ptr } from "bun:ffi";

const SOL_SOCKET = 1; // Linux <asm-generic/socket.h>
const SO_RCVBUF = 8;
const INT_BYTES = 4;
const bytes = Number(process.env.BENCH_RCVBUF);
const libc = dlopen("libc.so.6", {
  setsockopt: {
    args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32],
    returns: FFIType.i32,
  },
});
const original = Bun.udpSocket;
const patched = async (options: Parameters<typeof original>[0]) => {
  const socket = await original(options);
  // `fd` is there at run time, though Bun's types do not declare it.
  const fd = (socket as unknown as { fd: number }).fd;
  const value = new Int32Array([bytes]);
  if (libc.symbols.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, ptr(value), INT_BYTES) !== 0)
    console.error(`bench: setsockopt(SO_RCVBUF, ${bytes}) failed on fd ${fd}`);
  return socket;
};
Object.defineProperty(Bun, "udpSocket", { value: patched });
