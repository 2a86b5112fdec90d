// A real redis-server as a child process on a free loopback port, without persistence (a password, and TLS
// only, if asked), stopped by its PID.
import type { Subprocess } from "bun";

/** @default 10 s: redis-server is ready in milliseconds; a loaded CI machine gets room. */
const READY_MS = 10_000;

export interface RedisChild {
  readonly port: number;
  /** redis://127.0.0.1:PORT/0, rediss:// with TLS */
  readonly url: string;
  /** Kills the server (SIGKILL, as a crash); its data is gone (no persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
}

const children = new Set<Subprocess>();

/** A TCP port that was free a moment ago (listen on :0 and release). */
function freeTcpPort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** Redis serves TLS only, on its one port, with this certificate and key (PEM files); clients show none. */
export interface RedisTls {
  cert: string;
  key: string;
  /** The CA that signed `cert` (redis-server wants one even when it asks clients for no certificate). */
  ca: string;
}

async function spawnRedis(
  port: number,
  password?: string,
  tls?: RedisTls,
): Promise<Subprocess<Blob, "pipe", "inherit">> {
  if (!Bun.which("redis-server"))
    throw new Error(
      "redis-server is not installed: these tests run a real one (as root: bash scripts/setup.sh, or apt-get install redis-server)",
    );
  // The configuration on stdin ("redis-server -"): a password never goes on a command line.
  const config = [
    ...(tls
      ? [
          "port 0",
          `tls-port ${port}`,
          `tls-cert-file ${tls.cert}`,
          `tls-key-file ${tls.key}`,
          `tls-ca-cert-file ${tls.ca}`,
          "tls-auth-clients no",
        ]
      : [`port ${port}`]),
    "bind 127.0.0.1",
    'save ""',
    "appendonly no",
    ...(password ? [`requirepass ${password}`] : []),
  ].join("\n");
  const proc = Bun.spawn(["redis-server", "-"], {
    stdin: new Blob([`${config}\n`]),
    stdout: "pipe",
    stderr: "inherit",
  });
  children.add(proc);
  void proc.exited.then(() => children.delete(proc));
  let out = "";
  const dec = new TextDecoder();
  const reader = proc.stdout.getReader();
  const deadline = Date.now() + READY_MS;
  while (!out.includes("Ready to accept connections")) {
    const left = deadline - Date.now();
    const next = await Promise.race([reader.read(), Bun.sleep(Math.max(0, left)).then(() => undefined)]);
    if (!next || next.done) {
      proc.kill("SIGKILL");
      throw new Error(`redis-server on port ${port} did not get ready:\n${out}`);
    }
    out += dec.decode(next.value, { stream: true });
  }
  // Keep draining its log so that it never blocks on a full pipe.
  void (async () => {
    for (;;) if ((await reader.read()).done) return;
  })();
  return proc;
}

/**
 * @param password makes Redis require it (AUTH), given on its stdin.
 * @param tls makes its one port TLS (test/support/redis-certs.ts makes the files).
 */
export async function startRedis(password?: string, tls?: RedisTls): Promise<RedisChild> {
  const port = freeTcpPort();
  let proc: Subprocess | undefined = await spawnRedis(port, password, tls);
  return {
    port,
    url: `${tls ? "rediss" : "redis"}://127.0.0.1:${port}/0`,
    async stop() {
      const p = proc;
      proc = undefined;
      if (!p) return;
      p.kill("SIGKILL");
      await p.exited;
    },
    async start() {
      if (!proc) proc = await spawnRedis(port, password, tls);
    },
  };
}

/** Every redis-server these helpers started and that still runs, by PID (for afterAll). */
export async function stopAllRedis(): Promise<void> {
  const all = [...children];
  for (const p of all) p.kill("SIGKILL");
  await Promise.all(all.map((p) => p.exited));
}
