// A bench child process that speaks JSON lines: the server and relay benches drive their load generators
// and forwarders through it.

/** A child speaking JSON lines on stdout (and, for generators, reading commands on stdin). */
export class Child {
  private lines: string[] = [];
  private waiting: ((line: string) => void)[] = [];
  readonly proc: Bun.Subprocess<"pipe", "pipe", "inherit">;
  constructor(cmd: string[], env: Record<string, string> = {}) {
    this.proc = Bun.spawn(cmd, {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
      env: { ...process.env, ...env },
    });
    void this.read();
  }
  private async read(): Promise<void> {
    let buf = "";
    for await (const chunk of this.proc.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const w = this.waiting.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    }
  }
  next<T>(): Promise<T> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(JSON.parse(line) as T);
    return new Promise((resolve, reject) => {
      this.waiting.push((l) => resolve(JSON.parse(l) as T));
      // A child that dies (its error is on stderr) fails the bench instead of hanging it.
      void this.proc.exited.then((code) => reject(new Error(`${this.proc.pid} exited (${code})`)));
    });
  }
  ask<T>(command: object): Promise<T> {
    this.proc.stdin.write(`${JSON.stringify(command)}\n`);
    this.proc.stdin.flush();
    return this.next<T>();
  }
  get pid(): number {
    return this.proc.pid;
  }
  stop(): void {
    this.proc.kill();
  }
}
