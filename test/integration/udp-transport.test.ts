// The UDP transport on loopback: a pending ICMP error from an earlier datagram must not eat the next one.
import { expect, test } from "bun:test";
import { freeUdpPort, openUdp } from "../../src/transport/udp.ts";

test("after an ICMP port unreachable, the next datagram to another address still goes out", async () => {
  const got: string[] = [];
  const receiver = await openUdp({ host: "127.0.0.1", port: 0 }, (d) =>
    got.push(new TextDecoder().decode(d)),
  );
  const closed = await freeUdpPort("127.0.0.1"); // nothing listens there: the kernel answers ICMP
  const errors: string[] = [];
  const sender = await openUdp(
    { host: "127.0.0.1", port: 0 },
    () => {},
    (code) => errors.push(code),
  );
  for (let i = 0; i < 5; i++) {
    // Both in one go, as a PING round sends to every candidate: on loopback the ICMP answer to the first is
    // pending on the socket before the second is sent.
    sender.send(new TextEncoder().encode(`lost ${i}`), { host: "127.0.0.1", port: closed });
    expect(sender.send(new TextEncoder().encode(`ok ${i}`), receiver.local)).toBe(true);
    await Bun.sleep(5);
  }
  await Bun.sleep(50);
  sender.close();
  receiver.close();
  expect(got).toEqual(["ok 0", "ok 1", "ok 2", "ok 3", "ok 4"]);
  expect(errors).toContain("ECONNREFUSED");
});
