// Tiny UDP listener/sender for lab tests, run inside a namespace with `lab.spawn(host, ["bun", UDP_TOOL, ...])`.
// Every loop is bounded by a count and a timeout so a broken lab cannot hang a test.
//
//   bun udp-tool.ts listen PORT MAX_COUNT TIMEOUT_MS
//       prints "listening PORT", then "from ADDR PORT PAYLOAD" per datagram; exits after MAX_COUNT
//       datagrams or TIMEOUT_MS, whichever comes first.
//   bun udp-tool.ts send LOCAL_PORT COUNT INTERVAL_MS DEST_IP:PORT [DEST_IP:PORT ...]
//       sends "seq N" COUNT times to every destination from one socket bound to LOCAL_PORT
//       (0 = any), INTERVAL_MS apart, then exits.

function int(value: string | undefined, what: string): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < 0)
    throw new Error(`udp-tool: bad ${what}: ${value}`);
  return n;
}

function parseDest(spec: string): { address: string; port: number } {
  const colon = spec.lastIndexOf(":");
  if (colon < 1) throw new Error(`udp-tool: destination must be IP:PORT, got ${spec}`);
  return { address: spec.slice(0, colon), port: int(spec.slice(colon + 1), "destination port") };
}

async function listen(args: string[]): Promise<void> {
  const port = int(args[0], "port");
  const maxCount = int(args[1], "max count");
  const timeoutMs = int(args[2], "timeout");
  let received = 0;
  const done = Promise.withResolvers<void>();
  const socket = await Bun.udpSocket({
    hostname: "0.0.0.0",
    port,
    socket: {
      data(_socket, data, fromPort, fromAddress) {
        received++;
        console.log(`from ${fromAddress} ${fromPort} ${data.toString()}`);
        if (received >= maxCount) done.resolve();
      },
    },
  });
  console.log(`listening ${socket.port}`);
  const timer = setTimeout(done.resolve, timeoutMs);
  await done.promise;
  clearTimeout(timer);
  socket.close();
}

async function send(args: string[]): Promise<void> {
  const localPort = int(args[0], "local port");
  const count = int(args[1], "count");
  const intervalMs = int(args[2], "interval");
  const dests = args.slice(3).map(parseDest);
  if (dests.length === 0) throw new Error("udp-tool: send needs at least one destination");
  const socket = await Bun.udpSocket({ hostname: "0.0.0.0", port: localPort });
  console.log(`bound ${socket.port}`);
  for (let seq = 0; seq < count; seq++) {
    for (const dest of dests) socket.send(`seq ${seq}`, dest.port, dest.address);
    if (intervalMs > 0) await Bun.sleep(intervalMs);
  }
  socket.close();
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === "listen") await listen(rest);
else if (mode === "send") await send(rest);
else {
  console.error(
    "usage: udp-tool.ts listen PORT MAX_COUNT TIMEOUT_MS | send LOCAL_PORT COUNT INTERVAL_MS DEST...",
  );
  process.exit(2);
}
