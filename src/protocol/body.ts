import { isIP } from "node:net";
import type { Endpoint } from "../types.ts";
import { Reader, Writer } from "./bytes.ts";
import { MessageType, REGISTER_PADDED_LEN, RELAY_PADDED_LEN } from "./constants.ts";
import { bytesToIp, ipToBytes } from "./ip.ts";
import type { Message } from "./messages.ts";

/** Message bodies <-> bytes. Pure; the envelope (header, tag) is packet.ts's job. */

const KIND_CODE = { lan: 1, public: 2 } as const;

function writeEndpoint(w: Writer, ep: Endpoint): void {
  const family = isIP(ep.host);
  w.u8(family).bytes(ipToBytes(ep.host)).u16(ep.port);
}

function readEndpoint(r: Reader): Endpoint {
  const family = r.u8();
  if (family !== 4 && family !== 6) throw new RangeError(`address family ${family}`);
  const host = bytesToIp(r.bytes(family === 4 ? 4 : 16));
  return { host, port: r.u16() };
}

const readText = (r: Reader): string => new TextDecoder("utf-8", { fatal: true }).decode(r.bytes(r.u8()));

/** Encodes a body. `headerLen` lets REGISTER pad the whole packet, not just its body, to a fixed size. */
export function encodeBody(msg: Message, packetOverhead: number): { type: number; body: Uint8Array } {
  const w = new Writer();
  switch (msg.type) {
    case "register": {
      const session = new TextEncoder().encode(msg.session);
      w.u8(session.length)
        .bytes(session)
        .u8(msg.role.charCodeAt(0))
        .hex(msg.peerId)
        .u8(msg.candidates.length);
      for (const c of msg.candidates) writeEndpoint(w, c);
      w.padTo(REGISTER_PADDED_LEN - packetOverhead);
      break;
    }
    case "registered":
      w.hex(msg.echo);
      writeEndpoint(w, msg.observed);
      break;
    case "match":
      w.hex(msg.pairId).hex(msg.partnerId);
      writeEndpoint(w, msg.observed);
      w.u8(msg.candidates.length);
      for (const c of msg.candidates) {
        w.u8(KIND_CODE[c.kind]);
        writeEndpoint(w, c);
      }
      break;
    case "matchAck": {
      const session = new TextEncoder().encode(msg.session);
      w.u8(session.length).bytes(session).hex(msg.pairId).hex(msg.peerId);
      break;
    }
    case "ping":
    case "pong":
      w.hex(msg.pairId).hex(msg.peerId).u32(msg.seq);
      break;
    case "close":
      w.hex(msg.pairId).hex(msg.peerId).u32(msg.rttMs);
      break;
    case "relayRequest": {
      const session = new TextEncoder().encode(msg.session);
      w.u8(session.length).bytes(session).hex(msg.pairId).hex(msg.peerId);
      w.padTo(RELAY_PADDED_LEN - packetOverhead);
      break;
    }
    case "relayOffer":
      w.hex(msg.pairId).u16(msg.port);
      break;
    case "relayBind":
      w.hex(msg.pairId).hex(msg.peerId);
      w.padTo(RELAY_PADDED_LEN - packetOverhead);
      break;
    case "relayBound":
      w.hex(msg.pairId).u8(msg.ready ? 1 : 0);
      break;
  }
  return { type: MessageType[msg.type], body: w.done() };
}

/** Decodes a body into an unchecked object; the caller validates it with MessageSchema. Throws on short input. */
export function decodeBody(type: number, body: Uint8Array): unknown {
  const r = new Reader(body);
  let out: Record<string, unknown>;
  switch (type) {
    case MessageType.register: {
      const session = readText(r);
      const role = String.fromCharCode(r.u8());
      const peerId = r.hex(8);
      const n = r.u8();
      const candidates = Array.from({ length: n }, () => readEndpoint(r));
      out = { type: "register", session, role, peerId, candidates };
      break;
    }
    case MessageType.registered:
      out = { type: "registered", echo: r.hex(12), observed: readEndpoint(r) };
      break;
    case MessageType.match: {
      const pairId = r.hex(16);
      const partnerId = r.hex(8);
      const observed = readEndpoint(r);
      const n = r.u8();
      const candidates = Array.from({ length: n }, () => {
        const code = r.u8();
        const kind =
          code === KIND_CODE.lan ? "lan" : code === KIND_CODE.public ? "public" : `unknown-${code}`;
        return { kind, ...readEndpoint(r) };
      });
      out = { type: "match", pairId, partnerId, observed, candidates };
      break;
    }
    case MessageType.matchAck:
      out = { type: "matchAck", session: readText(r), pairId: r.hex(16), peerId: r.hex(8) };
      break;
    case MessageType.ping:
    case MessageType.pong:
      out = {
        type: type === MessageType.ping ? "ping" : "pong",
        pairId: r.hex(16),
        peerId: r.hex(8),
        seq: r.u32(),
      };
      break;
    case MessageType.close:
      out = { type: "close", pairId: r.hex(16), peerId: r.hex(8), rttMs: r.u32() };
      break;
    case MessageType.relayRequest:
      out = { type: "relayRequest", session: readText(r), pairId: r.hex(16), peerId: r.hex(8) };
      break;
    case MessageType.relayOffer:
      out = { type: "relayOffer", pairId: r.hex(16), port: r.u16() };
      break;
    case MessageType.relayBind:
      out = { type: "relayBind", pairId: r.hex(16), peerId: r.hex(8) };
      break;
    case MessageType.relayBound: {
      const pairId = r.hex(16);
      const ready = r.u8();
      if (ready > 1) throw new RangeError("ready flag");
      out = { type: "relayBound", pairId, ready: ready === 1 };
      break;
    }
    default:
      throw new RangeError(`message type ${type}`);
  }
  // Only REGISTER is padded (with zeros); anything after any other body is an error, so every message has
  // exactly one encoding.
  const padded =
    type === MessageType.register || type === MessageType.relayRequest || type === MessageType.relayBind;
  if (padded ? !r.onlyZerosLeft() : r.remaining > 0) throw new RangeError("trailing bytes");
  return out;
}
