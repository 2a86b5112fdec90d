import { sameEndpoint } from "../addr.ts";
import { Fail, type NetpunchError } from "../errors.ts";
import type { Match, Message, NatInfo, Unmatch } from "../protocol/messages.ts";
import type { Frame } from "../protocol/packet.ts";
import { isSynthetic } from "../transport/ws-frame.ts";
import type { CandidateKind, Endpoint, NetpunchEvent } from "../types.ts";

import { SendBudget } from "./budget.ts";
import { DEFAULT_PEER_TIMINGS, type PeerTimings } from "./config.ts";
import { type PairAction, PairMachine } from "./pair-machine.ts";
import { type Path, PUNCHING } from "./path.ts";
import type { RelayClient } from "./relay-client.ts";
import { type PeerIdentity, type RendezvousAction, RendezvousClient } from "./rendezvous-client.ts";

export interface PeerSetup extends Omit<PeerIdentity, "server"> {
  /**
   * The rendezvous server, or several: the peer registers with every one at once and punches every MATCH
   * they send (see PeerMachine). Listed twice, a server counts once.
   */
  server: Endpoint | readonly Endpoint[];
  /** The punching socket's port, to tell "no NAT" from "NAT that keeps the port". @default 0 */
  localPort?: number;
  /** Randomness for the port spray and probe ids; injected so tests are repeatable. @default Math.random */
  random?: () => number;
  /** A fresh 12-byte nonce, as hex, for each REGISTER (its answers echo it). @default from `random` */
  nonce?: () => string;
  timings?: Partial<PeerTimings>;
}

/** What the punch proved: where the partner answers, how, and how fast. */
export interface PunchOutcome {
  remote: Endpoint;
  kind: CandidateKind;
  rttMs: number;
  publicAddr: Endpoint | undefined;
  /** How the winning path leaves us: the socket the hook must bind, or the relay. */
  path: Path;
  /** The partner's offer (hex), from the MATCH of the pair that won, if it made one. */
  partnerOffer?: string;
  /** The pair that won (proxy mode's DATA names it). */
  pairId: string;
}

/** What proxy mode takes over from the pair that won (PeerMachine.handover). */
export interface ProxyHandover {
  session: string;
  /** Whether the relay may be used (timings.relay): the proxy asks for one itself if the punch had not. */
  relayAllowed: boolean;
  /** Our peer id and the partner's: the proxy's probes (PING/PONG of the pair) carry and check them. */
  peerId: string;
  partnerId: string;
  /** Where the partner may be reached straight from this socket (its candidates, proven ones first). */
  directTargets: Endpoint[];
  /**
   * The pair's relay client, if the relay was asked for, in whatever phase the punch left it (asking, binding,
   * ready): the proxy drives it on, to have the relay to fall back to.
   */
  relay?: RelayClient;
  /** The server that made the pair (relay requests go there). */
  server: Endpoint;
  /** Our clock plus this is the pair's server's time: the pair's control packets are sealed and checked in it. */
  clockOffsetMs: number;
}

/** The most direct addresses proxy mode probes: a partner has few (LAN, public, mapped, a reflexive one). */
export const MAX_DIRECT_TARGETS = 8;

export type PeerAction =
  /**
   * `path`: how the packet leaves us (@default PUNCHING); `nonce`: seal with this nonce (REGISTER: the
   * machine checks the echo of its answers against it).
   */
  | { kind: "send"; to: Endpoint; msg: Message; path?: Path; nonce?: string }
  /** Birthday probing: the driver opens this many extra sockets and reports how many with a `sockets` input. */
  | { kind: "open-sockets"; count: number }
  | { kind: "event"; event: NetpunchEvent }
  | { kind: "done"; outcome: PunchOutcome }
  | { kind: "fail"; error: NetpunchError };

export type PeerInput =
  | { type: "start"; now: number }
  | { type: "tick"; now: number }
  /** `path`: how the packet reached us, as far as the driver knows (which socket). @default PUNCHING */
  | { type: "frame"; now: number; from: Endpoint; frame: Frame; path?: Path }
  | { type: "sockets"; now: number; count: number };

export interface StepOutput {
  actions: PeerAction[];
  /** When the machine wants the next tick; undefined once it has finished. */
  wakeAt: number | undefined;
}

type Phase = "idle" | "registering" | "waiting" | "punching" | "closing" | "finished";

/** One server the peer registers with: its rendezvous client, its clock, and why it is out, once it is. */
interface ServerLink {
  readonly client: RendezvousClient;
  /** Our clock plus this is the server's time, once it has told us (REGISTERED, or a first-contact MATCH). */
  offsetMs: number | undefined;
  /** Why the server is out of the race (silent, full, the wait is over); undefined while it is in. */
  out: NetpunchError | undefined;
}

/**
 * A peer, as a pure state machine: inputs are the time, ticks and authenticated frames; outputs are packets
 * to send, events, and at most one `done` or `fail`. No sockets, no timers, no clock of its own: tests
 * drive it with a fake clock. It composes one rendezvous client per server (register, keepalive, NAT probe,
 * clock offset, MATCH checks) and one pair machine per MATCH (the punch itself), and routes each frame to the
 * one it belongs to: a server's to that server's client, a pair's by its pair id.
 *
 * Several servers (README, "Several servers"): the peer registers with every one at once. Each server makes
 * its own pair (its own pair id) when both peers have registered there, and the two peers need not take the
 * same server's MATCH first (each takes whichever arrives first, and the server that matched them both is
 * not the same one on both sides when their paths to the servers differ). So the peer takes every server's
 * MATCH (one per server at a time) and acknowledges each. A MATCH with the partner of a pair already being
 * punched joins that punch: its pair id is routed to the same pair machine, which punches the candidates
 * that server saw too (a symmetric NAT shows each server another port). So whichever MATCH each side took
 * first, every PING, PONG and CLOSE between them reaches one machine on each side, and their choice of path
 * is one (role a's wins when both choose at once). A MATCH with another partner (an old registration a
 * server still holds) starts a pair of its own; the first pair to prove a path finishes the peer, the last
 * to fail fails it. Once done or failed the peer sends LEAVE to the servers that have not matched it and
 * nothing more to those that have (as with one server). A silent server costs nothing: it is out after serverSilentMs, and E_SERVER_SILENT
 * only when every server is out. Each server has its own clock offset; see clockOffset for whose time each
 * packet is sealed in.
 */
export class PeerMachine {
  private readonly t: PeerTimings;
  private finished = false;
  private out: PeerAction[] = [];
  private startedAt = 0;
  private readonly links: ServerLink[] = [];
  /**
   * The pairs being punched, by pair id. Two servers' MATCHes with the same partner are one punch under two
   * ids (onMatch), so one pair machine may be here twice.
   */
  private readonly pairs = new Map<string, PairMachine>();
  /** The server whose MATCH brought each pair id: that id's packets are sealed in its time. */
  private readonly pairLink = new Map<string, ServerLink>();
  /** The first server that told us its time: the time base of packets that belong to no known server or pair. */
  private firstClock: ServerLink | undefined;
  /** One budget for every pair: it bounds what this peer sends to an address that has not answered. */
  private readonly budget = new SendBudget();
  /**
   * One set of birthday sockets for every pair (two servers' pairs with one partner both want them): how many
   * were asked for, how many the driver has opened, and the pairs that asked once they were open.
   */
  private socketsAsked = 0;
  private socketsOpen = 0;
  private readonly lateForSockets = new Set<PairMachine>();

  constructor(private readonly setup: PeerSetup) {
    this.t = { ...DEFAULT_PEER_TIMINGS, ...setup.timings };
    const random = setup.random ?? Math.random;
    const nonce = setup.nonce ?? (() => randomNonce(random));
    for (const server of serversOf(setup.server)) {
      if (this.links.some((l) => sameEndpoint(l.client.server, server))) continue;
      const client = new RendezvousClient(
        {
          session: setup.session,
          role: setup.role,
          peerId: setup.peerId,
          server,
          lanCandidates: setup.lanCandidates,
          mapped: setup.mapped,
          offer: setup.offer,
          proxy: setup.proxy,
          localPort: setup.localPort ?? 0,
          random,
          nonce,
        },
        this.t,
      );
      this.links.push({ client, offsetMs: undefined, out: undefined });
    }
    if (this.links.length === 0) throw new RangeError("PeerMachine needs at least one server");
  }

  /** The peer's phase, as one word: the servers' furthest while no pair is punched, else the pairs'. */
  get state(): Phase {
    if (this.finished) return "finished";
    for (const pair of this.punches()) if (pair.phase === "closing") return "closing";
    if (this.pairs.size > 0) return "punching";
    const phases = this.links.filter((l) => !l.out).map((l) => l.client.phase);
    if (phases.includes("matched")) return "punching";
    if (phases.includes("waiting")) return "waiting";
    return phases.includes("registering") ? "registering" : "idle";
  }

  /**
   * In whose time a packet to or from `peer` is sealed and checked, as an offset from our clock. A pair's
   * packets (anything with its pair id: PING, PONG, CLOSE, the relay's, MATCH_ACK) in the time of the server
   * that made the pair: both peers of a pair got its MATCH from that one server and both learned its time
   * from it, so they agree to within their round trips to it, however far the servers' clocks are apart.
   * A server's other packets in that server's time (each server's offset is its own, from its REGISTERED).
   * Anything else (another pair's, a stranger's) in the first server's time, and before any server has
   * answered, in our own.
   *
   * One replay memory serves every time base (a packet replayed to us from another server's address is
   * still a replay). Its generations turn by the latest time it was asked about, so servers whose clocks
   * differ by D make it keep nonces D less long in the slower server's time: honest packets stay safe as long
   * as D plus the round trip stays under its window (10 s), which NTP-synced servers always do.
   */
  clockOffset(peer: Endpoint, msg: Message): number {
    const link =
      ("pairId" in msg ? this.pairLink.get(msg.pairId) : undefined) ??
      this.links.find((l) => sameEndpoint(peer, l.client.server) || isAlt(l, peer));
    return link ? (link.offsetMs ?? 0) : (this.firstClock?.offsetMs ?? 0);
  }

  /**
   * What proxy mode needs of a pair once the punch is done (connect({ keepSocket })): our id and the
   * partner's (its probes carry and check them), where the partner may be reached straight from the punching
   * socket, the pair's relay client in whatever phase (the proxy drives it on), the pair's server and the
   * offset of its time (the proxy seals and checks its probes in it). Undefined for an unknown pair.
   */
  handover(pairId: string): ProxyHandover | undefined {
    const pair = this.pairs.get(pairId);
    const link = this.pairLink.get(pairId);
    if (!pair || !link) return undefined;
    const h: ProxyHandover = {
      session: this.setup.session,
      relayAllowed: this.t.relay,
      peerId: this.setup.peerId,
      partnerId: pair.partnerId,
      // A WebSocket peer's "public address" is the server's name for its connection (240.0.0.0/4): no UDP
      // reaches it, so it is never probed.
      directTargets: pair.directTargets(MAX_DIRECT_TARGETS).filter((t) => !isSynthetic(t.host)),
      server: link.client.server,
      clockOffsetMs: link.offsetMs ?? 0,
    };
    if (pair.relayClient) h.relay = pair.relayClient;
    return h;
  }

  step(input: PeerInput): StepOutput {
    this.out = [];
    if (this.finished) return { actions: [], wakeAt: undefined };
    if (input.type === "start") {
      this.startedAt = input.now;
      for (const link of this.links) this.apply(link, link.client.start(input.now), input.now);
    } else if (input.type === "tick") this.tick(input.now);
    else if (input.type === "sockets") {
      this.socketsOpen = input.count;
      for (const pair of this.punches()) this.fromPair(pair, pair.onSockets(input.count, input.now));
    } else this.onFrame(input.from, input.frame, input.now, input.path ?? PUNCHING);
    for (const pair of this.lateForSockets) {
      this.lateForSockets.delete(pair);
      if (this.punches().has(pair)) this.fromPair(pair, pair.onSockets(this.socketsOpen, input.now));
    }
    return { actions: this.out, wakeAt: this.wakeAt() };
  }

  private tick(now: number): void {
    for (const pair of this.punches()) {
      this.fromPair(pair, pair.tick(now));
      if (this.finished) return;
    }
    // No rendezvous once a pair closes: its port is about to be a tunnel's.
    if (this.closing()) return;
    const fromPairs = this.out;
    this.out = [];
    // A server that matched us only probes our NAT now; the others go on registering and waiting, so a
    // MATCH of theirs can still start a pair.
    for (const link of this.links) {
      if (link.out) continue;
      const c = link.client;
      this.apply(link, c.phase === "matched" ? c.tickProbe(now) : c.tick(now), now);
      if (this.finished) break;
    }
    this.out = this.finished ? [...fromPairs, ...this.out] : [...this.out, ...fromPairs];
  }

  private onFrame(from: Endpoint, frame: Frame, now: number, arrived: Path): void {
    const msg = frame.msg;
    const link = this.links.find((l) => sameEndpoint(from, l.client.server));
    if (link) {
      if (link.out) return this.drop(from, "unexpected");
      if (msg.type === "registered") return this.apply(link, link.client.onRegistered(from, msg, now), now);
      if (msg.type === "match") return this.onMatch(link, from, msg, now);
      if (msg.type === "unmatch") return this.onUnmatch(link, from, msg, now);
      const pair =
        msg.type === "relayOffer" || (msg.type === "partnerNat" && msg.to === this.setup.peerId)
          ? this.punchingPair(msg.pairId, link)
          : undefined;
      if (msg.type === "relayOffer" && pair) return this.fromPair(pair, pair.onRelayOffer(msg, now));
      if (msg.type === "partnerNat" && pair) return this.fromPair(pair, pair.onPartnerNat(msg.nat, now));
      return this.drop(from, "unexpected");
    }
    const probed = msg.type === "probeReply" ? this.links.find((l) => !l.out && isAlt(l, from)) : undefined;
    if (msg.type === "probeReply" && probed) {
      const known = this.ownNat();
      const { actions, nat } = probed.client.onProbeReply(from, msg.probeId, msg.observed, now);
      this.apply(probed, actions, now);
      // Learned after the match: the partner registered before we probed, so each pair tells its partner.
      if (nat && !known) for (const pair of this.punches()) this.fromPair(pair, pair.onOwnNat(nat, now));
      return;
    }
    if (msg.type === "relayBound" || msg.type === "relayChallenge") {
      const pair = this.pairs.get(msg.pairId);
      const relay = pair?.relayEndpoint;
      if (pair && relay && sameEndpoint(from, relay)) return this.fromPair(pair, pair.onRelayReply(msg, now));
    }
    if (msg.type !== "ping" && msg.type !== "pong" && msg.type !== "close")
      return this.drop(from, "unexpected");
    // Demultiplexed by pair id: a packet from any other session, or an old run, is ignored.
    const pair = this.pairs.get(msg.pairId);
    if (!pair) return this.drop(from, "foreign-pair");
    this.fromPair(pair, pair.onFrame(from, msg, arrived, now));
  }

  // 2. A MATCH the server's client accepts as fresh starts a pair machine; a retransmission is only acked.
  private onMatch(link: ServerLink, from: Endpoint, msg: Match, now: number): void {
    const { actions, fresh } = link.client.onMatch(from, msg, now, this.pairs.has(msg.pairId));
    this.apply(link, actions, now);
    if (!fresh || this.finished) return;
    // The partner's mode is not ours: neither tunnel could read what the other sends. Both peers get their
    // MATCH at once and fail here; our LEAVE undoes the pair at the server (its MATCH is acknowledged).
    if ((msg.partnerProxy === true) !== (this.setup.proxy === true))
      return this.fail(Fail.modeMismatch(this.setup.session, this.setup.role, this.setup.proxy === true));
    // The same partner through another server: one punch, under both pair ids. The partner may punch under
    // either (it took either MATCH first); this way its PINGs, PONGs and CLOSEs of both reach one machine,
    // whose choice of path (role a's wins when both choose at once) is the one both sides end on.
    const same = [...this.punches()].find((p) => p.partnerId === msg.partnerId && p.phase === "punching");
    if (same) {
      this.pairs.set(msg.pairId, same);
      this.pairLink.set(msg.pairId, link);
      this.fromPair(same, same.addCandidates(msg.candidates, now));
      if (msg.altPort && !this.finished) this.apply(link, link.client.startProbe(msg.altPort, now), now);
      return;
    }
    const pair = new PairMachine(
      {
        pairId: msg.pairId,
        partnerId: msg.partnerId,
        role: this.setup.role,
        peerId: this.setup.peerId,
        session: this.setup.session,
        server: link.client.server,
        candidates: msg.candidates,
        observed: msg.observed,
        ownNat: this.ownNat(),
        partnerNat: msg.partnerNat,
        partnerOffer: msg.partnerOffer,
        random: this.setup.random ?? Math.random,
        budget: this.budget,
      },
      this.t,
    );
    this.pairs.set(msg.pairId, pair);
    this.pairLink.set(msg.pairId, link);
    this.fromPair(pair, pair.start(now));
    if (msg.altPort && !this.finished) this.apply(link, link.client.startProbe(msg.altPort, now), now);
  }

  // 2c. The partner never acknowledged its MATCH (gone, or its NAT mapping was lost): wait again, unless it
  // has already reached us, in which case its acknowledgements were merely lost.
  private onUnmatch(link: ServerLink, from: Endpoint, msg: Unmatch, now: number): void {
    const pair = msg.to === this.setup.peerId ? this.punchingPair(msg.pairId, link) : undefined;
    if (!pair) return this.drop(from, "unsolicited");
    if (pair.reachedPartner) return;
    this.forget(msg.pairId);
    this.apply(link, link.client.unmatched(msg.pairId, now), now);
  }

  /** A pair being punched that `link`'s server made: only that server may speak for it. */
  private punchingPair(pairId: string, link: ServerLink): PairMachine | undefined {
    const pair = this.pairs.get(pairId);
    return pair?.phase === "punching" && this.pairLink.get(pairId) === link ? pair : undefined;
  }

  /** Each pair machine once, though it may be punching under two servers' ids. */
  private punches(): Set<PairMachine> {
    return new Set(this.pairs.values());
  }

  private forget(pairId: string): void {
    this.pairs.delete(pairId);
    this.pairLink.delete(pairId);
  }

  private closing(): boolean {
    for (const pair of this.punches()) if (pair.phase !== "punching") return true;
    return false;
  }

  /** Our NAT's behaviour, from whichever server's probe learned it first. */
  private ownNat(): NatInfo | undefined {
    for (const link of this.links) if (link.client.ownNat) return link.client.ownNat;
    return undefined;
  }

  /** Carries a pair's actions over: its proven path, with our public address, is the peer's outcome. */
  private fromPair(pair: PairMachine, actions: PairAction[]): void {
    for (const a of actions) {
      if (this.finished) return;
      if (a.kind === "proven") {
        const { ep, kind, rttMs, path } = a.path;
        // Our address as the server that made this pair saw it: the one the partner punched.
        const publicAddr = this.pairLink.get(pair.pairId)?.client.publicAddr;
        // The servers that have not matched us hold a registration nobody will use: LEAVE, before `done`
        // (the driver stops reading actions there).
        this.sayLeave();
        this.finished = true;
        const outcome: PunchOutcome = { remote: ep, kind, rttMs, publicAddr, path, pairId: pair.pairId };
        if (pair.partnerOffer) outcome.partnerOffer = pair.partnerOffer;
        this.out.push({ kind: "done", outcome });
      } else if (a.kind === "open-sockets") {
        if (a.count > this.socketsAsked)
          this.out.push({ kind: "open-sockets", count: a.count - this.socketsAsked });
        else if (this.socketsOpen > 0) this.lateForSockets.add(pair);
        this.socketsAsked = Math.max(this.socketsAsked, a.count);
      } else if (a.kind === "fail") {
        for (const [id, p] of this.pairs) if (p === pair) this.forget(id);
        // Another server's pair (with another partner) may still get through; the peer fails with the last.
        if (this.pairs.size === 0) this.fail(a.error);
      } else this.out.push(a);
    }
  }

  /** Carries a server's client's actions over: its clock is kept for its packets; its failure put in context. */
  private apply(link: ServerLink, actions: RendezvousAction[], now: number): void {
    for (const a of actions) {
      if (this.finished) return;
      if (a.kind === "clock") {
        link.offsetMs = a.offsetMs;
        this.firstClock ??= link;
      } else if (a.kind === "fail") this.serverOut(link, a.error, now);
      else this.out.push(a);
    }
  }

  /**
   * A server's client gave up: the server is silent or full (the others may answer), or the wait for the
   * partner is over (the same deadline for every server; a pair being punched has its own).
   */
  private serverOut(link: ServerLink, error: NetpunchError, now: number): void {
    link.out = error;
    if (error.code === "E_TIMEOUT") {
      if (this.pairs.size === 0) this.fail(error);
      return;
    }
    if (this.links.every((l) => l.out)) this.fail(this.allOut(now));
  }

  /** Why no server is left: one server's own error; every one silent; else the first that said why. */
  private allOut(now: number): NetpunchError {
    const errors = this.links.map((l) => l.out as NetpunchError);
    const loud = errors.find((e) => e.code !== "E_SERVER_SILENT");
    if (errors.length === 1 || loud) return loud ?? (errors[0] as NetpunchError);
    const tries = Math.min(...this.links.map((l) => l.client.tries));
    const servers = this.links.map((l) => l.client.server);
    return Fail.serversSilent(servers, tries, Math.round((now - this.startedAt) / 1000));
  }

  private fail(error: NetpunchError): void {
    this.sayLeave();
    this.finished = true;
    this.out.push({ kind: "fail", error });
  }

  /**
   * We stop before the punch is done (cancelled, timed out, failed): tell the servers, so the next partner, or
   * our own next attempt, is not paired with the registration we leave behind (never waits for an answer).
   */
  leave(): PeerAction[] {
    this.out = [];
    if (!this.finished) this.sayLeave();
    this.finished = true;
    return this.out;
  }

  /**
   * LEAVE to every server that has heard of us, but, once a pair is closing (or done), not to those that
   * matched us: they have matched us for good, and the port is about to be a tunnel's.
   */
  private sayLeave(): void {
    const closing = this.closing();
    for (const link of this.links) {
      if (closing && link.client.phase === "matched") continue;
      for (const a of link.client.leave()) if (a.kind === "send") this.out.push(a);
    }
  }

  private wakeAt(): number | undefined {
    if (this.finished) return undefined;
    let at = Number.POSITIVE_INFINITY;
    if (!this.closing())
      for (const link of this.links) if (!link.out) at = Math.min(at, link.client.wakeAt());
    for (const pair of this.punches()) at = Math.min(at, pair.wakeAt() ?? Number.POSITIVE_INFINITY);
    return Number.isFinite(at) ? at : undefined;
  }

  private drop(from: Endpoint, reason: "unexpected" | "foreign-pair" | "unsolicited"): void {
    this.out.push({ kind: "event", event: { type: "dropped", from, reason } });
  }
}

const serversOf = (server: Endpoint | readonly Endpoint[]): readonly Endpoint[] =>
  "host" in server ? [server as Endpoint] : (server as readonly Endpoint[]);

/** Whether `from` is the server's alt port (its NAT probe's answers come from there). */
const isAlt = (link: ServerLink, from: Endpoint): boolean => {
  const alt = link.client.altEndpoint;
  return alt !== undefined && sameEndpoint(from, alt);
};

function randomNonce(random: () => number): string {
  return Array.from({ length: 12 }, () =>
    Math.floor(random() * 256)
      .toString(16)
      .padStart(2, "0"),
  ).join("");
}
