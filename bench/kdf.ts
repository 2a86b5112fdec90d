// What secret stretching costs, measured in the same run:
// 1. an attacker's offline guesses per second against one captured REGISTER: plain HKDF (a 32-byte secret,
//    and what every secret got in wire version 1) against scrypt + HKDF (a secret under 32 bytes);
// 2. what a user waits: a real `netpunch connect` process, from its start to its first REGISTER arriving at
//    a loopback UDP socket, with a strong secret and with a short one.
// Usage: bun bench/kdf.ts [--runs N]
import { createHmac, hkdfSync, scryptSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SCRYPT } from "../src/protocol/auth.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "10" } } });
const RUNS = Number(values.runs);
const CLI = join(import.meta.dir, "../src/cli/main.ts");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

// 1. Guesses per second: derive the key from a candidate, then check the tag of a 512-byte packet.
const packet = new Uint8Array(496);
function rate(guess: (candidate: Buffer) => Uint8Array, seconds: number): number {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const k = guess(Buffer.from(`guess-${n}`));
    createHmac("sha256", k).update(packet).digest();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}
const hkdf = (ikm: Uint8Array) =>
  new Uint8Array(hkdfSync("sha256", ikm, "netpunch", "netpunch v2 packet authentication", 32));
const plain = rate(hkdf, 1);
const stretched = rate((c) => hkdf(scryptSync(c, "netpunch v2 secret stretching", 32, SCRYPT)), 3);
console.log("offline guesses per second on one core, against one captured packet:");
console.log(`  HKDF only (32-byte secret; every secret in v1)  ${plain.toFixed(0).padStart(9)}`);
console.log(`  scrypt N=2^15 r=8 + HKDF (short secret)         ${stretched.toFixed(1).padStart(9)}`);
console.log(`  each guess at a short secret is ${(plain / stretched).toFixed(0)}x dearer`);

// 2. Process start to first REGISTER.
const dir = mkdtempSync(join(tmpdir(), "netpunch-bench-kdf-"));
const files = {
  strong: join(dir, "strong"),
  short: join(dir, "short"),
};
writeFileSync(files.strong, `${"k".repeat(43)}\n`, { mode: 0o600 });
writeFileSync(files.short, "SeCrEt\n", { mode: 0o600 });

async function firstRegister(secretFile: string): Promise<number> {
  let got: () => void = () => {};
  const arrived = new Promise<void>((r) => {
    got = r;
  });
  const sock = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data() {
        got();
      },
    },
  });
  const t0 = performance.now();
  const proc = Bun.spawn(
    [
      process.execPath,
      CLI,
      "connect",
      "--server",
      `127.0.0.1:${sock.port}`,
      "--secret-file",
      secretFile,
      "--role",
      "a",
      "--timeout",
      "5",
      "-q",
    ],
    { stdout: "ignore", stderr: "ignore" },
  );
  await arrived;
  const ms = performance.now() - t0;
  proc.kill();
  await proc.exited;
  sock.close();
  return ms;
}
const times: Record<keyof typeof files, number[]> = { strong: [], short: [] };
for (let i = 0; i < RUNS; i++) {
  for (const k of ["strong", "short"] as const) times[k].push(await firstRegister(files[k]));
}
const strong = median(times.strong);
const short = median(times.short);
console.log(`\nnetpunch connect, process start to its first REGISTER, median of ${RUNS}:`);
console.log(`  strong secret (43 chars, HKDF only)   ${strong.toFixed(1).padStart(7)} ms`);
console.log(
  `  short secret (6 chars, scrypt first)  ${short.toFixed(1).padStart(7)} ms   (${(short / strong).toFixed(2)}x, +${(short - strong).toFixed(0)} ms)`,
);
