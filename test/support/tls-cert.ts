// A self-signed certificate for one IP address (its subjectAltName, which TLS clients check), made with
// @peculiar/x509 as plugins/openvpn-keys.ts makes OpenVPN's, for the wss:// tests.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
/** A day either side of now: a clock a little off still accepts it. */
const SLACK_MS = 86_400_000;

/** Writes cert.pem and key.pem into `dir`; returns their paths. */
export async function selfSignedFiles(dir: string, ip: string): Promise<{ cert: string; key: string }> {
  await import("reflect-metadata"); // @peculiar/x509's dependency injection needs it before it loads
  const x509 = await import("@peculiar/x509");
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=${ip}`,
    notBefore: new Date(Date.now() - SLACK_MS),
    notAfter: new Date(Date.now() + SLACK_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.SubjectAlternativeNameExtension([{ type: "ip", value: ip }]),
    ],
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  writeFileSync(cert, `${certificate.toString("pem")}\n`);
  writeFileSync(
    key,
    `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)?.join("\n")}\n-----END PRIVATE KEY-----\n`,
    {
      mode: 0o600,
    },
  );
  return { cert, key };
}
