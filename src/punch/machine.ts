import { sameEndpoint } from "../addr.ts";
import type { NetpunchError } from "../errors.ts";
import type { Match, Message, Unmatch } from "../protocol/messages.ts";
import type { Frame } from "../protocol/packet.ts";
import type { CandidateKind, Endpoint, NetpunchEvent } from "../types.ts";

import { SendBudget } from "./budget.ts";
import { DEFAULT_PEER_TIMINGS, type PeerTimings } from "./config.ts";
import { type PairAction, PairMachine } from "./pair-machine.ts";
import { type Path, PUNCHING } from "./path.ts";
import { type PeerIdentity, type RendezvousAction, RendezvousClient } from "./rendezvous-client.ts";

export interface PeerSetup extends PeerIdentity {
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
}

export type PeerAction =
  /**
   * `path`: how the packet leaves us (@default PUNCHING); `nonce`: seal with this nonce (REGISTER: the
   * machine checks the echo of its answers against it).
   */
  | { kind: "send"; to: Endpoint; msg: Message; path?: Path; nonce?: string }
  /** Seal and check every packet from now on in the server's time: our clock plus `offsetMs`. */
  | { kind: "clock"; offsetMs: number }
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

/**
 * A peer, as a pure state machine: inputs are the time, ticks and authenticated frames; outputs are packets
 * to send, events, and at most one `done` or `fail`. No sockets, no timers, no clock of its own: tests
 * drive it with a fake clock. It composes the rendezvous client (register, keepalive, NAT probe, clock
 * offset, MATCH checks) and one pair machine per MATCH (the punch itself), and routes each frame to the
 * one it belongs to: the server's to the rendezvous client, a pair's by its pair id. Today the rendezvous
 * client takes one MATCH at a time, so there is at most one pair; the first pair to finish finishes the peer.
 */
export class PeerMachine {
  private readonly t: PeerTimings;
  private finished = false;
  private out: PeerAction[] = [];
  private readonly rendezvous: RendezvousClient;
  private readonly pairs = new Map<string, PairMachine>();
  /** One budget for every pair: it bounds what this peer sends to an address that has not answered. */
  private readonly budget = new SendBudget();

  constructor(private readonly setup: PeerSetup) {
    this.t = { ...DEFAULT_PEER_TIMINGS, ...setup.timings };
    const random = setup.random ?? Math.random;
    this.rendezvous = new RendezvousClient(
      {
        session: setup.session,
        role: setup.role,
        peerId: setup.peerId,
        server: setup.server,
        lanCandidates: setup.lanCandidates,
        mapped: setup.mapped,
        offer: setup.offer,
        localPort: setup.localPort ?? 0,
        random,
        nonce: setup.nonce ?? (() => randomNonce(random)),
      },
      this.t,
    );
  }

  /** The peer's phase, as one word: the rendezvous client's while no pair is punched, else the pairs'. */
  get state(): Phase {
    if (this.finished) return "finished";
    for (const pair of this.pairs.values()) if (pair.phase === "closing") return "closing";
    if (this.pairs.size > 0) return "punching";
    return this.rendezvous.phase === "matched" ? "punching" : this.rendezvous.phase;
  }

  step(input: PeerInput): StepOutput {
    this.out = [];
    if (this.finished) return { actions: [], wakeAt: undefined };
    if (input.type === "start") this.apply(this.rendezvous.start(input.now));
    else if (input.type === "tick") this.tick(input.now);
    else if (input.type === "sockets")
      for (const pair of this.pairs.values()) this.fromPair(pair, pair.onSockets(input.count, input.now));
    else this.onFrame(input.from, input.frame, input.now, input.path ?? PUNCHING);
    return { actions: this.out, wakeAt: this.wakeAt() };
  }

  private tick(now: number): void {
    if (this.pairs.size === 0) return this.apply(this.rendezvous.tick(now));
    for (const pair of [...this.pairs.values()]) {
      this.fromPair(pair, pair.tick(now));
      if (this.finished) return;
    }
    // Our NAT's probe goes on while pairs punch; not once one closes: its port is about to be a tunnel's.
    if (!this.closing()) this.out.unshift(...this.rendezvous.tickProbe(now));
  }

  private onFrame(from: Endpoint, frame: Frame, now: number, arrived: Path): void {
    const msg = frame.msg;
    if (sameEndpoint(from, this.setup.server)) {
      if (msg.type === "registered") return this.apply(this.rendezvous.onRegistered(from, msg, now));
      if (msg.type === "match") return this.onMatch(from, msg, now);
      if (msg.type === "unmatch") return this.onUnmatch(from, msg, now);
      const pair =
        msg.type === "relayOffer" || (msg.type === "partnerNat" && msg.to === this.setup.peerId)
          ? this.punchingPair(msg.pairId)
          : undefined;
      if (msg.type === "relayOffer" && pair) return this.fromPair(pair, pair.onRelayOffer(msg, now));
      if (msg.type === "partnerNat" && pair) return this.fromPair(pair, pair.onPartnerNat(msg.nat, now));
      return this.drop(from, "unexpected");
    }
    const alt = this.rendezvous.altEndpoint;
    if (msg.type === "probeReply" && alt && sameEndpoint(from, alt)) {
      const { actions, nat } = this.rendezvous.onProbeReply(from, msg.probeId, msg.observed, now);
      this.apply(actions);
      // Learned after the match: the partner registered before we probed, so each pair tells its partner.
      if (nat) for (const pair of this.pairs.values()) this.fromPair(pair, pair.onOwnNat(nat, now));
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

  // 2. A MATCH the rendezvous client accepts as fresh starts a pair machine; a retransmission is only acked.
  private onMatch(from: Endpoint, msg: Match, now: number): void {
    const { actions, fresh } = this.rendezvous.onMatch(from, msg, now, this.pairs.has(msg.pairId));
    this.apply(actions);
    if (!fresh) return;
    const pair = new PairMachine(
      {
        pairId: msg.pairId,
        partnerId: msg.partnerId,
        role: this.setup.role,
        peerId: this.setup.peerId,
        session: this.setup.session,
        server: this.setup.server,
        candidates: msg.candidates,
        observed: msg.observed,
        ownNat: this.rendezvous.ownNat,
        partnerNat: msg.partnerNat,
        partnerOffer: msg.partnerOffer,
        random: this.setup.random ?? Math.random,
        budget: this.budget,
      },
      this.t,
    );
    this.pairs.set(msg.pairId, pair);
    this.fromPair(pair, pair.start(now));
    if (msg.altPort) this.apply(this.rendezvous.startProbe(msg.altPort, now));
  }

  // 2c. The partner never acknowledged its MATCH (gone, or its NAT mapping was lost): wait again, unless it
  // has already reached us, in which case its acknowledgements were merely lost.
  private onUnmatch(from: Endpoint, msg: Unmatch, now: number): void {
    const pair = msg.to === this.setup.peerId ? this.punchingPair(msg.pairId) : undefined;
    if (!pair) return this.drop(from, "unsolicited");
    if (pair.reachedPartner) return;
    this.pairs.delete(msg.pairId);
    this.apply(this.rendezvous.unmatched(msg.pairId, now));
  }

  private punchingPair(pairId: string): PairMachine | undefined {
    const pair = this.pairs.get(pairId);
    return pair?.phase === "punching" ? pair : undefined;
  }

  private closing(): boolean {
    for (const pair of this.pairs.values()) if (pair.phase !== "punching") return true;
    return false;
  }

  /** Carries a pair's actions over: its proven path, with our public address, is the peer's outcome. */
  private fromPair(pair: PairMachine, actions: PairAction[]): void {
    for (const a of actions) {
      if (this.finished) return;
      if (a.kind === "proven") {
        const { ep, kind, rttMs, path } = a.path;
        const outcome: PunchOutcome = {
          remote: ep,
          kind,
          rttMs,
          publicAddr: this.rendezvous.publicAddr,
          path,
        };
        if (pair.partnerOffer) outcome.partnerOffer = pair.partnerOffer;
        this.finished = true;
        this.out.push({ kind: "done", outcome });
      } else if (a.kind === "fail") {
        this.pairs.delete(pair.pairId);
        this.fail(a.error);
      } else this.out.push(a);
    }
  }

  private apply(actions: RendezvousAction[]): void {
    for (const a of actions) {
      if (this.finished) return;
      if (a.kind === "fail") this.fail(a.error);
      else this.out.push(a);
    }
  }

  private fail(error: NetpunchError): void {
    this.sayLeave();
    this.finished = true;
    this.out.push({ kind: "fail", error });
  }

  /**
   * We stop before the punch is done (cancelled, timed out, failed): tell the server, so the next partner, or
   * our own next attempt, is not paired with the registration we leave behind (never waits for an answer).
   */
  leave(): PeerAction[] {
    this.out = [];
    if (!this.finished) this.sayLeave();
    this.finished = true;
    return this.out;
  }

  /** Not once a pair is closing: the server has matched us for good, and the port is about to be a tunnel's. */
  private sayLeave(): void {
    if (!this.closing()) this.out.push(...this.rendezvous.leave());
  }

  private wakeAt(): number | undefined {
    if (this.finished) return undefined;
    let at = this.closing() ? Number.POSITIVE_INFINITY : this.rendezvous.wakeAt();
    for (const pair of this.pairs.values()) at = Math.min(at, pair.wakeAt() ?? Number.POSITIVE_INFINITY);
    return Number.isFinite(at) ? at : undefined;
  }

  private drop(from: Endpoint, reason: "unexpected" | "foreign-pair" | "unsolicited"): void {
    this.out.push({ kind: "event", event: { type: "dropped", from, reason } });
  }
}

function randomNonce(random: () => number): string {
  return Array.from({ length: 12 }, () =>
    Math.floor(random() * 256)
      .toString(16)
      .padStart(2, "0"),
  ).join("");
}
