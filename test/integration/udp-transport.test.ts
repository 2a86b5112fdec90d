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

test("sendMany sends every datagram in one call, past a pending ICMP error, and skips v6 on a v4 socket", async () => {
  const got: string[] = [];
  const receiver = await openUdp({ host: "127.0.0.1", port: 0 }, (d) =>
    got.push(new TextDecoder().decode(d)),
  );
  const closed = await freeUdpPort("127.0.0.1");
  const errors: string[] = [];
  const sender = await openUdp(
    { host: "127.0.0.1", port: 0 },
    () => {},
    (code) => errors.push(code),
  );
  const text = (s: string) => new TextEncoder().encode(s);
  const counts: number[] = [];
  for (let i = 0; i < 3; i++) {
    // The first goes to a closed port: on loopback its ICMP answer is pending before the next is sent, and
    // the kernel's batch stops there.
    counts.push(
      sender.sendMany?.([
        { data: text(`lost ${i}`), to: { host: "127.0.0.1", port: closed } },
        { data: text(`a ${i}`), to: receiver.local },
        { data: text("v6"), to: { host: "::1", port: receiver.local.port } },
        { data: text(`b ${i}`), to: receiver.local },
      ]) ?? -1,
    );
    await Bun.sleep(5);
  }
  await Bun.sleep(50);
  sender.close();
  expect(sender.sendMany?.([{ data: text("late"), to: receiver.local }])).toBe(0);
  receiver.close();
  expect(got).toEqual(["a 0", "b 0", "a 1", "b 1", "a 2", "b 2"]);
  expect(counts).toEqual([3, 3, 3]); // the lost one counts as sent: the kernel took it
  expect(errors).toContain("ECONNREFUSED");
});

test("copiesOnSend: a buffer rewritten as soon as send() returns arrives as it was sent (proxy mode reuses one)", async () => {
  const got: string[] = [];
  const receiver = await openUdp({ host: "127.0.0.1", port: 0 }, (d) =>
    got.push(new TextDecoder().decode(d)),
  );
  const sender = await openUdp({ host: "127.0.0.1", port: 0 }, () => {});
  expect(sender.copiesOnSend).toBe(true);
  const buf = new Uint8Array(5);
  const texts = ["one-0", "two-1", "thr-2", "fou-3"];
  for (const t of texts) {
    new TextEncoder().encodeInto(t, buf);
    expect(sender.send(buf, receiver.local)).toBe(true);
  }
  new TextEncoder().encodeInto("xxxxx", buf);
  // The receiver reads on the event loop; a bounded wait for all four.
  for (let i = 0; i < 100 && got.length < texts.length; i++) await Bun.sleep(5);
  sender.close();
  receiver.close();
  expect(got).toEqual(texts);
});
