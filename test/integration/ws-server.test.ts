// serve({ tcp }) on loopback through Bun's WebSocket client: what a client that has not authenticated gets
// back (nothing), and the operator's message size limit.
import { afterEach, describe, expect, test } from "bun:test";
import { serve } from "../../src/index.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import { frameWs, TO_SERVER } from "../../src/transport/ws-frame.ts";

const MAX_MESSAGE = 4096;
let server: RendezvousServer | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

async function start() {
  server = await serve({
    listen: { host: "127.0.0.1", port: 0 },
    secret: "ws-server-test-secret-of-32-bytes!!",
    relay: {},
    tcp: { listen: { host: "127.0.0.1", port: 0 }, idleTimeoutS: 60, maxMessageBytes: MAX_MESSAGE },
  });
  const tcp = server.localTcp;
  if (!tcp) throw new Error("no TCP listener");
  return `ws://127.0.0.1:${tcp.port}`;
}

/** Opens a WebSocket, counts the bytes of every message it gets, and says how it closed. */
async function client(url: string) {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  let received = 0;
  const closed = Promise.withResolvers<number>();
  ws.onmessage = (ev) => {
    received += (ev.data as ArrayBuffer).byteLength;
  };
  ws.onclose = (ev) => closed.resolve(ev.code);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("no connection"));
  });
  return { ws, received: () => received, closed: closed.promise };
}

describe("serve({ tcp })", () => {
  test("a client that has not authenticated gets nothing back, whatever it sends", async () => {
    const c = await client(await start());
    const junk = new Uint8Array(200).fill(0x4e); // starts like a netpunch packet ("NN..."), is not one
    for (let i = 0; i < 20; i++) {
      c.ws.send(frameWs(TO_SERVER, junk));
      c.ws.send(frameWs(20_000 + i, junk)); // to relay ports no offer named
    }
    c.ws.send("a text message is not a datagram");
    // A round trip that must come back: the server has seen all of the above once the ping's pong is here.
    const pong = Promise.withResolvers<void>();
    (c.ws as unknown as EventTarget).addEventListener("pong", () => pong.resolve());
    (c.ws as unknown as { ping(): void }).ping();
    await pong.promise;
    expect(c.received()).toBe(0);
    expect(server?.stats().packetsIn).toBe(20);
    expect(server?.stats().dropped.malformed ?? 0).toBeGreaterThan(0);
    c.ws.close();
  });

  test("a message larger than the limit closes its connection (1009), and only its own", async () => {
    const url = await start();
    const big = await client(url);
    const other = await client(url);
    big.ws.send(frameWs(TO_SERVER, new Uint8Array(MAX_MESSAGE)));
    expect(await big.closed).toBe(1009);
    expect(other.ws.readyState).toBe(WebSocket.OPEN);
    other.ws.close();
  });

  test("a plain HTTP request is refused with an empty body", async () => {
    const url = (await start()).replace("ws:", "http:");
    const res = await fetch(url);
    expect(res.status).toBe(426);
    expect(await res.text()).toBe("");
  });
});
