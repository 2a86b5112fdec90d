// Preloaded by bench/proxy.ts (bun --preload) into a `netpunch connect` that must end on the relay: every
// datagram its sockets would send to port $BENCH_DROP_TO (the partner's punching port) is dropped, as a
// firewall between two symmetric NATs would drop it, so the pair can only meet through the server's relay.
// On loopback nothing else stops a direct path, and connect has no option to refuse one (--no-relay is the
// opposite). The check is one comparison per send, which the relayed rows pay and the direct row does not.
const dropTo = Number(process.env.BENCH_DROP_TO);
/** A flat sendMany list is (data, port, host) triples. */
const TRIPLE = 3;

const original = Bun.udpSocket;
const patched = async (options: Parameters<typeof original>[0]) => {
  const socket = await original(options);
  const send = socket.send.bind(socket) as (...args: unknown[]) => boolean;
  const sendMany = socket.sendMany.bind(socket) as (packets: unknown[]) => number;
  Object.defineProperty(socket, "send", {
    // Dropped silently, as on the wire: the caller sees a datagram that went out.
    value: (...args: unknown[]) => (args[1] === dropTo ? true : send(...args)),
  });
  Object.defineProperty(socket, "sendMany", {
    value: (packets: unknown[]) => {
      const kept: unknown[] = [];
      let dropped = 0;
      for (let i = 0; i < packets.length; i += TRIPLE) {
        if (packets[i + 1] === dropTo) dropped++;
        else kept.push(packets[i], packets[i + 1], packets[i + 2]);
      }
      return dropped + (kept.length ? sendMany(kept) : 0);
    },
  });
  return socket;
};
if (Number.isInteger(dropTo) && dropTo > 0) Object.defineProperty(Bun, "udpSocket", { value: patched });
