// A private CA and a server certificate it signs for one IP address (its subjectAltName, which TLS clients
// check), made with the openssl command line into a directory of the test's, for a TLS redis-server.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** @default 2 days: the test's run and a clock a little off; nothing keeps these files longer. */
const VALID_DAYS = "2";

function openssl(args: string[], cwd: string): void {
  const r = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString()}`);
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/** A self-signed CA named `name`: NAME.pem (its certificate, what a client trusts) and NAME.key. */
export function makeCa(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  openssl(
    ["req", "-x509", ...EC_KEY, "-keyout", key, "-out", cert, "-days", VALID_DAYS, "-subj", `/CN=${name}`],
    dir,
  );
  return { cert, key };
}

/** A server certificate for `ip`, signed by `ca`: server.pem and server.key. */
export function serverCert(dir: string, ca: { cert: string; key: string }, ip: string) {
  const key = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const cert = join(dir, "server.pem");
  const ext = join(dir, "server.ext");
  openssl(["req", ...EC_KEY, "-keyout", key, "-out", csr, "-subj", `/CN=${ip}`], dir);
  writeFileSync(ext, `subjectAltName=IP:${ip}\n`);
  openssl(
    ["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", cert].concat([
      "-days",
      VALID_DAYS,
      "-extfile",
      ext,
    ]),
    dir,
  );
  return { cert, key };
}
