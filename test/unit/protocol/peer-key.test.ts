// A pair's own keys (issue 15): its peers' packets authenticate with the pair key, not with the server's
// secret, and its offers carry the pair key's MAC. SecureChannel does the choosing, by type.
import { describe, expect, test } from "bun:test";
import { deriveKey } from "../../../src/protocol/auth.ts";
import { SecureChannel } from "../../../src/protocol/channel.ts";
import type { Message } from "../../../src/protocol/messages.ts";
import {
  derivePeerKey,
  keyOfPacket,
  macOffer,
  OFFER_MAC_LEN,
  openOffer,
} from "../../../src/protocol/peer-key.ts";
import type { DropReason, Endpoint } from "../../../src/types.ts";

const SECRET = "the server's admission secret, 32+ bytes";
const SERVER_KEY = deriveKey(SECRET);
const PAIR_KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const PEER_KEY = derivePeerKey(PAIR_KEY);
const FROM: Endpoint = { host: "198.51.100.10", port: 40001 };
const TO: Endpoint = { host: "203.0.113.20", port: 40002 };
const T = 1_700_000_000_000;
const PAIR = "00112233445566778899aabbccddeeff";
const PING: Message = { type: "ping", pairId: PAIR, peerId: "1111111111111111", seq: 1 };

/** A channel that records what it sent and what it delivered or dropped. */
function channel(key: Uint8Array, peerKey?: Uint8Array) {
  const sent: Uint8Array[] = [];
  const got: Message[] = [];
  const dropped: DropReason[] = [];
  let n = 0;
  const ch = new SecureChannel(
    key,
    { onFrame: (_, f) => got.push(f.msg), onDrop: (_, r) => dropped.push(r) },
    {
      clock: () => T,
      ...(peerKey ? { peerKey } : {}),
      randomBytes: (len) => Uint8Array.from({ length: len }, () => ++n & 0xff),
    },
  );
  ch.transport = {
    local: FROM,
    send: (data) => {
      sent.push(data);
      return true;
    },
    close() {},
  };
  return { ch, sent, got, dropped };
}

describe("a pair-keyed peer", () => {
  test("refuses a PING sealed with the server's key (an insider's): bad-auth, nothing delivered", () => {
    const insider = channel(SERVER_KEY);
    const peer = channel(SERVER_KEY, PEER_KEY);
    insider.ch.send(TO, PING);
    peer.ch.receive(insider.sent[0] as Uint8Array, FROM);
    expect(peer.got).toEqual([]);
    expect(peer.dropped).toEqual(["bad-auth"]);
  });

  test("accepts a PING sealed with the pair's key by its partner", () => {
    const partner = channel(SERVER_KEY, PEER_KEY);
    const peer = channel(SERVER_KEY, PEER_KEY);
    partner.ch.send(TO, PING);
    peer.ch.receive(partner.sent[0] as Uint8Array, FROM);
    expect(peer.dropped).toEqual([]);
    expect(peer.got).toEqual([PING]);
  });

  test("a peer without the pair key refuses the pair's PING (the insider cannot answer it)", () => {
    const partner = channel(SERVER_KEY, PEER_KEY);
    const insider = channel(SERVER_KEY);
    partner.ch.send(TO, PING);
    insider.ch.receive(partner.sent[0] as Uint8Array, FROM);
    expect(insider.got).toEqual([]);
    expect(insider.dropped).toEqual(["bad-auth"]);
  });

  test("server traffic stays on the server's key: a LEAVE of a pair-keyed peer opens with the secret alone", () => {
    const peer = channel(SERVER_KEY, PEER_KEY);
    const server = channel(SERVER_KEY);
    const leave: Message = { type: "leave", session: "s", role: "a", peerId: "1111111111111111" };
    peer.ch.send(TO, leave);
    server.ch.receive(peer.sent[0] as Uint8Array, FROM);
    expect(server.got).toEqual([leave]);
  });

  test("the key of a received packet follows its type byte", () => {
    const keys = { server: SERVER_KEY, peer: PEER_KEY };
    const peer = channel(SERVER_KEY, PEER_KEY);
    peer.ch.send(TO, PING);
    expect(keyOfPacket(keys, peer.sent[0] as Uint8Array)).toBe(PEER_KEY);
    peer.ch.send(TO, { type: "leave", session: "s", role: "a", peerId: "1111111111111111" });
    expect(keyOfPacket(keys, peer.sent[1] as Uint8Array)).toBe(SERVER_KEY);
  });

  test("the peer key is neither the pair key nor the server's key", () => {
    expect(PEER_KEY.length).toBe(32);
    expect([...PEER_KEY]).not.toEqual([...PAIR_KEY]);
    expect([...PEER_KEY]).not.toEqual([...SERVER_KEY]);
  });
});

describe("offers with the pair key's MAC", () => {
  const OFFER = Uint8Array.from({ length: 49 }, (_, i) => 200 - i);

  test("the partner's offer opens to the hook's bytes", () => {
    const sent = macOffer(PAIR_KEY, "np-s", "b", OFFER);
    expect(sent.length).toBe(OFFER.length + OFFER_MAC_LEN);
    expect(openOffer(PAIR_KEY, "np-s", "b", sent)).toEqual(OFFER);
  });

  test("a substituted offer (the MAC kept) is refused", () => {
    const sent = macOffer(PAIR_KEY, "np-s", "b", OFFER);
    const changed = sent.slice();
    changed[0] = (changed[0] ?? 0) ^ 1;
    expect(openOffer(PAIR_KEY, "np-s", "b", changed)).toBeUndefined();
  });

  test("an offer MACed with another key, for another session, or by the other role is refused", () => {
    const other = Uint8Array.from({ length: 32 }, (_, i) => i + 2);
    expect(openOffer(PAIR_KEY, "np-s", "b", macOffer(other, "np-s", "b", OFFER))).toBeUndefined();
    expect(openOffer(PAIR_KEY, "np-s", "b", macOffer(PAIR_KEY, "np-t", "b", OFFER))).toBeUndefined();
    // Our own offer reflected back to us is not the partner's.
    expect(openOffer(PAIR_KEY, "np-s", "b", macOffer(PAIR_KEY, "np-s", "a", OFFER))).toBeUndefined();
  });

  test("an offer without a MAC (the bare hook bytes, or fewer) is refused", () => {
    expect(openOffer(PAIR_KEY, "np-s", "b", OFFER.subarray(0, OFFER_MAC_LEN))).toBeUndefined();
    expect(openOffer(PAIR_KEY, "np-s", "b", OFFER)).toBeUndefined();
  });
});
