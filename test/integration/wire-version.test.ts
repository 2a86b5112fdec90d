// Issue 8 item 7: the wire version bump (v1 -> v2), and how an old peer fails, against the real serve process.
// A version 1 peer (netpunch 0.1) seals with version 1's key and header; a version 2 server that gets such a
// packet with the right secret says "upgrade it" (once a minute per address) and never answers it, so the old
// peer sees what it sees of a dead server: no authenticated answer, until its own 10 s timeout.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { deriveKey, deriveKeyV1, tag } from "../../src/protocol/auth.ts";
import { NONCE_LEN, TAG_LEN } from "../../src/protocol/constants.ts";
import type { Message } from "../../src/protocol/messages.ts";
import { open, seal } from "../../src/protocol/packet.ts";
import { secretFile, startServer, stopAll, waitFor } from "./cli.ts";

setDefaultTimeout(20_000);
afterAll(stopAll);

const SECRET = "wire-version-test-secret-long-enough-to-skip-scrypt";
/** Byte 2 of every packet: the wire version. */
const VERSION_BYTE = 2;
const OLD_VERSION = 1;

const register = (peerId: string): Message => ({
  type: "register",
  session: "old",
  role: "a",
  peerId,
  candidates: [],
});

/** A REGISTER as a version 1 peer sends it: version byte 1, tagged with version 1's key. */
function v1Register(): Uint8Array {
  const p = seal(deriveKeyV1(SECRET), register("1111111111111111"), {
    timestamp: Date.now(),
    nonce: randomBytes(NONCE_LEN),
  });
  p[VERSION_BYTE] = OLD_VERSION;
  const signed = p.subarray(0, p.length - TAG_LEN);
  return new Uint8Array([...signed, ...tag(deriveKeyV1(SECRET), signed)]);
}

test("a version 1 peer with the right secret: the server says upgrade it, once, and answers it nothing", async () => {
  const { p: server, port } = await startServer(secretFile(SECRET));
  const got: Uint8Array[] = [];
  let answered: () => void = () => {};
  const first = new Promise<void>((r) => {
    answered = r;
  });
  const sock = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_s, data) {
        got.push(new Uint8Array(data));
        answered();
      },
    },
  });
  try {
    const to = { hostname: "127.0.0.1", port };
    for (let i = 0; i < 3; i++) sock.send(v1Register(), port, to.hostname);
    await waitFor(server, /speaks netpunch wire version 1 with the right secret; upgrade it/);
    // Then a version 2 REGISTER from the same socket: its answer is the first and only datagram we get, so the
    // three version 1 packets before it were dropped unanswered.
    const v2 = seal(deriveKey(SECRET), register("2222222222222222"), {
      timestamp: Date.now(),
      nonce: randomBytes(NONCE_LEN),
    });
    sock.send(v2, port, to.hostname);
    await first;
    const opened = got.map((d) => {
      const r = open(deriveKey(SECRET), d);
      return r.ok ? r.frame.msg.type : r.reason;
    });
    expect(opened).toEqual(["registered"]);
    const said = server.errSoFar().match(/speaks netpunch wire version 1/g) ?? [];
    expect(said).toHaveLength(1);
    expect(server.errSoFar()).not.toContain("different secret");
  } finally {
    sock.close();
    server.proc.kill();
  }
});
