import { isIP } from "node:net";
import type { Endpoint } from "../types.ts";
import { Reader, Writer } from "./bytes.ts";
import {
  COOKIE_LEN,
  MessageType,
  PROBE_PADDED_LEN,
  REGISTER_PADDED_LEN,
  RELAY_PADDED_LEN,
  RELAY_TOKEN_LEN,
} from "./constants.ts";
import { bytesToIp, ipToBytes } from "./ip.ts";
import { kindCode, kindOfCode } from "./kinds.ts";
import type { Message, NatInfo } from "./messages.ts";

/** Message bodies <-> bytes. Pure; the envelope (header, tag) is packet.ts's job. */

const STATUS_CODE = { challenge: 1, waiting: 2, busy: 3, full: 4, limit: 5 } as const;
const STATUS_NAME = [undefined, "challenge", "waiting", "busy", "full", "limit"] as const;

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

const NAT_CODE = { none: 1, independent: 2, sequential: 3, random: 4 } as const;
const NAT_NAME = ["unknown", "none", "independent", "sequential", "random"] as const;

/** NAT info as 3 bytes: mapping code (0 = unknown) and step as a signed 16-bit number. */
function writeNat(w: Writer, nat: NatInfo | undefined): void {
  w.u8(nat ? NAT_CODE[nat.mapping] : 0).u16(nat ? nat.step & 0xffff : 0);
}
function readNat(r: Reader): NatInfo | undefined {
  const code = r.u8();
  const raw = r.u16();
  const mapping = NAT_NAME[code];
  if (mapping === undefined) throw new RangeError(`nat code ${code}`);
  if (mapping === "unknown") return undefined;
  return { mapping, step: raw >= 0x8000 ? raw - 0x10000 : raw };
}
/** Optional fields decode to absent, so a message without them round-trips to itself. */
const withOptional = (out: Record<string, unknown>, extra: Record<string, unknown>) => {
  for (const [k, val] of Object.entries(extra)) if (val !== undefined && val !== 0) out[k] = val;
  return out;
};

/** RELAY_OFFER's status byte; anything else is malformed. */
const OFFER_STATUS = ["ok", "off", "full", "limit"] as const;
/** RELAY_BIND without a token sends this many zeros in its place (a real token is all zeros 1 in 2^128). */
const NO_TOKEN = "00".repeat(RELAY_TOKEN_LEN);

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
      writeNat(w, msg.nat);
      if (msg.mapped) writeEndpoint(w, msg.mapped);
      else w.u8(0); // family 0: no mapped port
      if (msg.cookie) w.u8(COOKIE_LEN).hex(msg.cookie);
      else w.u8(0); // no cookie yet (first contact); the same byte as padding
      w.padTo(REGISTER_PADDED_LEN - packetOverhead);
      break;
    }
    case "registered":
      w.hex(msg.echo).u8(STATUS_CODE[msg.status]);
      writeEndpoint(w, msg.observed);
      w.u64(msg.serverTime)
        .hex(msg.cookie)
        .u16(msg.altPort ?? 0);
      break;
    case "match":
      w.hex(msg.to).hex(msg.echo).u64(msg.serverTime).hex(msg.cookie).hex(msg.pairId).hex(msg.partnerId);
      writeEndpoint(w, msg.observed);
      w.u8(msg.candidates.length);
      for (const c of msg.candidates) {
        w.u8(kindCode(c.kind));
        writeEndpoint(w, c);
      }
      w.u16(msg.altPort ?? 0);
      writeNat(w, msg.partnerNat);
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
    case "probe":
      w.u32(msg.probeId).u8(msg.fromOtherPort ? 1 : 0);
      w.padTo(PROBE_PADDED_LEN - packetOverhead);
      break;
    case "probeReply":
      w.u32(msg.probeId);
      writeEndpoint(w, msg.observed);
      w.u16(msg.receivedOn).u16(msg.altPort);
      break;
    case "natUpdate": {
      const session = new TextEncoder().encode(msg.session);
      w.u8(session.length).bytes(session).hex(msg.pairId).hex(msg.peerId);
      writeNat(w, msg.nat);
      w.padTo(PROBE_PADDED_LEN - packetOverhead);
      break;
    }
    case "partnerNat":
      w.hex(msg.to).hex(msg.pairId);
      writeNat(w, msg.nat);
      break;
    case "unmatch":
      w.hex(msg.to).hex(msg.pairId);
      break;
    case "leave": {
      const session = new TextEncoder().encode(msg.session);
      w.u8(session.length).bytes(session).u8(msg.role.charCodeAt(0)).hex(msg.peerId);
      break;
    }
    case "relayRequest": {
      const session = new TextEncoder().encode(msg.session);
      w.u8(session.length).bytes(session).hex(msg.pairId).hex(msg.peerId);
      w.padTo(RELAY_PADDED_LEN - packetOverhead);
      break;
    }
    case "relayOffer":
      w.hex(msg.pairId).hex(msg.to).u8(OFFER_STATUS.indexOf(msg.status)).u16(msg.port);
      break;
    case "relayBind":
      w.hex(msg.pairId)
        .hex(msg.peerId)
        .hex(msg.token ?? NO_TOKEN);
      w.padTo(RELAY_PADDED_LEN - packetOverhead);
      break;
    case "relayChallenge":
      w.hex(msg.pairId).hex(msg.token);
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
      const nat = readNat(r);
      // Family 0 means no mapped port, cookie length 0 no cookie; the rest is zero padding.
      let mapped: Endpoint | undefined;
      if (r.peek() !== 0) mapped = readEndpoint(r);
      else r.u8();
      const cookieLen = r.u8();
      if (cookieLen !== 0 && cookieLen !== COOKIE_LEN) throw new RangeError(`cookie length ${cookieLen}`);
      const cookie = cookieLen ? r.hex(COOKIE_LEN) : undefined;
      out = withOptional({ type: "register", session, role, peerId, candidates }, { nat, mapped, cookie });
      break;
    }
    case MessageType.registered: {
      const echo = r.hex(12);
      const status = STATUS_NAME[r.u8()];
      if (!status) throw new RangeError("register status");
      const observed = readEndpoint(r);
      const serverTime = r.u64();
      const cookie = r.hex(COOKIE_LEN);
      out = withOptional(
        { type: "registered", echo, status, observed, serverTime, cookie },
        { altPort: r.u16() },
      );
      break;
    }
    case MessageType.unmatch:
      out = { type: "unmatch", to: r.hex(8), pairId: r.hex(16) };
      break;
    case MessageType.leave:
      out = { type: "leave", session: readText(r), role: String.fromCharCode(r.u8()), peerId: r.hex(8) };
      break;
    case MessageType.match: {
      const to = r.hex(8);
      const echo = r.hex(12);
      const serverTime = r.u64();
      const cookie = r.hex(COOKIE_LEN);
      const pairId = r.hex(16);
      const partnerId = r.hex(8);
      const observed = readEndpoint(r);
      const n = r.u8();
      const candidates = Array.from({ length: n }, () => {
        const code = r.u8();
        // An unknown code decodes to a kind the schema refuses, so the packet is dropped as malformed.
        const kind = kindOfCode(code) ?? `unknown-${code}`;
        return { kind, ...readEndpoint(r) };
      });
      out = withOptional(
        { type: "match", to, echo, serverTime, cookie, pairId, partnerId, observed, candidates },
        { altPort: r.u16(), partnerNat: readNat(r) },
      );
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
    case MessageType.probe: {
      const probeId = r.u32();
      const other = r.u8();
      if (other > 1) throw new RangeError("probe flag");
      out = { type: "probe", probeId, fromOtherPort: other === 1 };
      break;
    }
    case MessageType.probeReply:
      out = {
        type: "probeReply",
        probeId: r.u32(),
        observed: readEndpoint(r),
        receivedOn: r.u16(),
        altPort: r.u16(),
      };
      break;
    case MessageType.natUpdate:
    case MessageType.partnerNat: {
      const session = type === MessageType.natUpdate ? readText(r) : undefined;
      const to = type === MessageType.partnerNat ? r.hex(8) : undefined;
      const pairId = r.hex(16);
      const peerId = type === MessageType.natUpdate ? r.hex(8) : undefined;
      const nat = readNat(r);
      if (!nat) throw new RangeError("NAT info is required");
      out =
        type === MessageType.natUpdate
          ? { type: "natUpdate", session, pairId, peerId, nat }
          : { type: "partnerNat", to, pairId, nat };
      break;
    }
    case MessageType.relayRequest:
      out = { type: "relayRequest", session: readText(r), pairId: r.hex(16), peerId: r.hex(8) };
      break;
    case MessageType.relayOffer: {
      const pairId = r.hex(16);
      const to = r.hex(8);
      const status = OFFER_STATUS[r.u8()];
      const port = r.u16();
      // A port exactly when the status is ok, so every offer has one meaning.
      if (!status || (status === "ok") !== (port !== 0)) throw new RangeError("relay offer status");
      out = { type: "relayOffer", pairId, to, status, port };
      break;
    }
    case MessageType.relayBind: {
      const pairId = r.hex(16);
      const peerId = r.hex(8);
      const token = r.hex(RELAY_TOKEN_LEN);
      out = { type: "relayBind", pairId, peerId, ...(token === NO_TOKEN ? {} : { token }) };
      break;
    }
    case MessageType.relayChallenge:
      out = { type: "relayChallenge", pairId: r.hex(16), token: r.hex(RELAY_TOKEN_LEN) };
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
    type === MessageType.register ||
    type === MessageType.relayRequest ||
    type === MessageType.relayBind ||
    type === MessageType.probe ||
    type === MessageType.natUpdate;
  if (padded ? !r.onlyZerosLeft() : r.remaining > 0) throw new RangeError("trailing bytes");
  return out;
}
