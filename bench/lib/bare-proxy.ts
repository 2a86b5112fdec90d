// One side of the floor for a proxy written on Bun (bench/proxy.ts's `bun-fwd` path; not a bench itself):
// the same two sockets as a netpunch peer in proxy mode, one on loopback for the tunnel and one toward the
// partner, and nothing else: no sealing, no checks, no counters.
//   bun bench/lib/bare-proxy.ts LOCAL TUNNEL OUTER PARTNER
// The tunnel sends to 127.0.0.1:LOCAL; that goes out of 127.0.0.1:OUTER to the partner's OUTER (PARTNER),
// and what comes in on OUTER goes to the tunnel at 127.0.0.1:TUNNEL. Prints "ready" once both are bound.
const HOST = "127.0.0.1";
const [local, tunnel, outer, partner] = process.argv.slice(2).map(Number) as [number, number, number, number];

let toPartner: Bun.udp.Socket<"uint8array"> | undefined;
const toTunnel = await Bun.udpSocket({
  hostname: HOST,
  port: local,
  binaryType: "uint8array",
  socket: {
    data(_s, d) {
      toPartner?.send(d, partner, HOST);
    },
  },
});
toPartner = await Bun.udpSocket({
  hostname: HOST,
  port: outer,
  binaryType: "uint8array",
  socket: {
    data(_s, d) {
      toTunnel.send(d, tunnel, HOST);
    },
  },
});
console.log("ready");
