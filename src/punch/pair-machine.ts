import { formatEndpoint, normalizeHost, sameEndpoint } from "../addr.ts";
import { Fail, type NetpunchError } from "../errors.ts";
import type { Message, NatInfo, RelayBound, RelayChallenge, RelayOffer } from "../protocol/messages.ts";
import type { Candidate, CandidateKind, Endpoint, NetpunchEvent, Role } from "../types.ts";
import type { SendBudget } from "./budget.ts";
import type { PeerTimings } from "./config.ts";
import { type FallbackAction, Fallbacks, type PunchView } from "./fallbacks.ts";
import { bestPath, type Path, type ProvenPath, PUNCHING, samePath } from "./path.ts";
import type { RelayClient } from "./relay-client.ts";

export interface PairSetup {
  pairId: string;
  partnerId: string;
  /** Our role: when both sides choose a path at once, role a's choice wins. */
  role: Role;
  peerId: string;
  session: string;
  server: Endpoint;
  /** The partner's candidates from the MATCH. */
  candidates: readonly Candidate[];
  /** Our address as the server saw it (the MATCH says), if known: whether a LAN path can exist at all. */
  observed?: Endpoint;
  /** Our own NAT's behaviour, if already known; later news comes by onOwnNat. */
  ownNat: NatInfo | undefined;
  partnerNat: NatInfo | undefined;
  /** The partner's offer (hex) from the MATCH, handed on with the outcome whichever path wins. */
  partnerOffer?: string;
  random: () => number;
  /** Shared by every pair of the peer: the bound on what we send to an address that has not answered. */
  budget: SendBudget;
}

export type PairAction =
  /** `path`: how the packet leaves us. @default PUNCHING */
  | { kind: "send"; to: Endpoint; msg: Message; path?: Path }
  /** Birthday probing: the driver opens this many extra sockets and reports how many with a `sockets` input. */
  | { kind: "open-sockets"; count: number }
  | { kind: "event"; event: NetpunchEvent }
  /** The pair is done: this path works both ways and both sides know it. */
  | { kind: "proven"; path: ProvenPath }
  | { kind: "fail"; error: NetpunchError };

type Phase = "punching" | "closing" | "finished";

/** A PING, PONG or CLOSE of this pair, as the peer hands it over. */
export type PairFrame = Extract<Message, { type: "ping" | "pong" | "close" }>;

const MAX_REFLEXIVE = 4; // a partner has few real source addresses; more would be someone spraying us
const MAX_PINGS_REMEMBERED = 4_096; // a whole spray, plus the plain rounds
const MAX_MERGED_CANDIDATES = 32; // three servers' MATCHes of MAX_CANDIDATES + 1, with room for reflexive ones
const MAX_ANSWERED = 16; // sources we answered: a partner has few; past this we no longer skip the answer

/**
 * One pair's punch, pure (README steps 2-6): PING every candidate of the partner, answer its PINGs, take a
 * PONG as proof of a path, choose the best (path.ts) and say so with a CLOSE burst; the fallbacks beside it
 * when plain punching cannot work. The peer creates one per MATCH and routes the pair's frames to it by
 * pair id, so several pairs can share one socket.
 */
export class PairMachine {
  private state: Phase = "punching";
  private out: PairAction[] = [];
  private matchedAt = 0;
  private readonly candidates: Candidate[];
  private seq = 0;
  private readonly pings = new Map<number, { to: Endpoint; sentAt: number; path: Path }>();
  private nextPingAt = 0;
  private pingDelay: number;
  private readonly successes: ProvenPath[] = [];
  /** Where we answered the partner's PINGs while punching (a few: one per source and socket). */
  private readonly answered: { ep: Endpoint; path: Path }[] = [];
  private decideAt: number | undefined;
  /** Whether a PONG from one of the partner's LAN candidates is worth waiting for (lanReachable). */
  private readonly lanMayAnswer: boolean;
  private readonly fallbacks: Fallbacks;
  /** An authenticated packet of this pair came from the partner. */
  heardFromPartner = false;
  // closing
  private chosen: ProvenPath | undefined;
  private closesSent = 0;
  private nextCloseAt = 0;
  private closeInterval = 0;
  private closingUntil = 0;
  private closingHardStop = 0;

  constructor(
    private readonly setup: PairSetup,
    private readonly t: PeerTimings,
  ) {
    this.candidates = setup.candidates.map((c) => ({ ...c }));
    this.lanMayAnswer = lanReachable(setup.observed, setup.candidates);
    this.pingDelay = t.pingIntervalMs;
    const { server, session, peerId, random } = setup;
    this.fallbacks = new Fallbacks(t, { server, session, peerId, random }, setup.ownNat, setup.partnerNat);
  }

  get phase(): Phase {
    return this.state;
  }
  get pairId(): string {
    return this.setup.pairId;
  }
  get partnerId(): string {
    return this.setup.partnerId;
  }
  get partnerOffer(): string | undefined {
    return this.setup.partnerOffer;
  }
  /** Our port at the server's relay, once offered: its BIND answers and relayed packets come from there. */
  get relayEndpoint(): Endpoint | undefined {
    return this.fallbacks.relayEndpoint;
  }
  /** The relay client, if the relay was asked for: proxy mode takes it over once the punch is done. */
  get relayClient(): RelayClient | undefined {
    return this.fallbacks.relayClient;
  }
  /**
   * Where the partner may be reached straight from the punching socket, for proxy mode's probes after the
   * punch: the paths proven on that socket first, then its candidates (not the relay), at most `max`.
   */
  directTargets(max: number): Endpoint[] {
    const out: Endpoint[] = [];
    const add = (e: Endpoint) => {
      if (out.length < max && !out.some((x) => sameEndpoint(x, e))) out.push({ host: e.host, port: e.port });
    };
    for (const s of this.successes) if (samePath(s.path, PUNCHING)) add(s.ep);
    for (const c of this.candidates) if (c.kind !== "relay") add(c);
    return out;
  }
  /** Whether a path has been proven: the pair is not given up for an UNMATCH then. */
  get reachedPartner(): boolean {
    return this.heardFromPartner || this.successes.length > 0;
  }

  // 2. Matched: punch all of the partner's candidates at once; go beyond plain punching if the NATs say so.
  start(now: number): PairAction[] {
    this.out = [];
    this.matchedAt = now;
    this.emit({ type: "matched", candidates: this.candidates });
    this.pingAll(now);
    this.run(this.fallbacks.pick(this.view(), now), now);
    return this.out;
  }

  tick(now: number): PairAction[] {
    this.out = [];
    if (this.state === "punching") this.tickPunch(now);
    else if (this.state === "closing") this.tickClose(now);
    return this.out;
  }

  /** A PING, PONG or CLOSE with this pair's id; `arrived` is how it came in, as far as the driver knows. */
  onFrame(from: Endpoint, msg: PairFrame, arrived: Path, now: number): PairAction[] {
    this.out = [];
    if (this.state === "finished") return [];
    // Bound to this pair's partner: the same pair id from anyone else is a forgery or a replay.
    if (msg.peerId !== this.setup.partnerId) {
      this.emit({ type: "dropped", from, reason: "foreign-pair" });
      return this.out;
    }
    this.heardFromPartner = true;
    this.setup.budget.answer(from.host);
    const path = this.pathOf(from, arrived);
    if (msg.type === "ping") this.onPing(from, msg.seq, now, path);
    else if (msg.type === "pong") this.onPong(from, msg.seq, now, path);
    else this.onClose(from, msg.rttMs, path);
    return this.out;
  }

  /**
   * Another server matched us with the same partner (see PeerMachine): punch the addresses that server saw
   * too, at once, as one punch (so both sides' choices stay one). Bounded: a few servers' candidates.
   */
  addCandidates(candidates: readonly Candidate[], now: number): PairAction[] {
    return this.punching(now, () => {
      for (const c of candidates) {
        if (this.candidates.length >= MAX_MERGED_CANDIDATES) break;
        if (this.candidates.some((x) => sameEndpoint(x, c))) continue;
        this.candidates.push({ ...c });
        const path: Path =
          c.kind === "relay" ? { kind: "relay", relay: { host: c.host, port: c.port } } : PUNCHING;
        this.sendPing(c, now, path);
      }
      return [];
    });
  }

  onRelayOffer(offer: RelayOffer, now: number): PairAction[] {
    return this.punching(now, () => this.fallbacks.onRelayOffer(offer, now));
  }
  onPartnerNat(nat: NatInfo, now: number): PairAction[] {
    return this.punching(now, () => this.fallbacks.onPartnerNat(nat, this.view(), now));
  }
  /** What our relay port answers a BIND with. */
  onRelayReply(msg: RelayChallenge | RelayBound, now: number): PairAction[] {
    return this.punching(now, () => this.fallbacks.onRelayReply(msg, now));
  }
  /** The driver opened `count` birthday sockets. */
  onSockets(count: number, now: number): PairAction[] {
    return this.punching(now, () => this.fallbacks.onSockets(count, this.view(), now));
  }
  /** 2b. Our NAT's behaviour, learned after the match: the partner registered before we probed, tell it. */
  onOwnNat(nat: NatInfo, now: number): PairAction[] {
    return this.punching(now, () => this.fallbacks.announce(nat, this.view(), now));
  }

  wakeAt(): number | undefined {
    if (this.state === "punching") {
      return Math.min(
        this.nextPingAt,
        this.matchedAt + this.t.punchMs,
        this.decideAt ?? Number.POSITIVE_INFINITY,
        this.fallbacks.wakeAt(this.view()),
      );
    }
    if (this.state === "closing")
      return this.closesSent < this.t.closeCount ? this.nextCloseAt : this.closingUntil;
    return undefined;
  }

  /** The fallbacks act only while we punch. */
  private punching(now: number, fn: () => FallbackAction[]): PairAction[] {
    this.out = [];
    if (this.state === "punching") this.run(fn(), now);
    return this.out;
  }

  /** The punch as the fallbacks see it. */
  private view(): PunchView {
    return {
      pairId: this.setup.pairId,
      matchedAt: this.matchedAt,
      target: this.candidates.find((c) => c.kind === "public"),
      nothingYet: this.successes.length === 0,
    };
  }

  /** Carries out what the fallbacks asked for, in order. */
  private run(actions: FallbackAction[], now: number): void {
    for (const a of actions) {
      if (a.kind === "send") this.send(a.to, a.msg);
      else if (a.kind === "ping") this.sendPing(a.to, now, a.path);
      else if (a.kind === "event") this.emit(a.event);
      else if (a.kind === "open-sockets") this.out.push(a);
      else if (a.kind === "allow") this.setup.budget.allow(a.host, a.extra);
      else {
        this.candidates.push(a.candidate);
        this.pingAll(now);
      }
    }
  }

  private sendPing(to: Endpoint, now: number, path: Path): void {
    if (!this.setup.budget.take(to.host)) return;
    const seq = this.seq++;
    this.pings.set(seq, { to: { host: to.host, port: to.port }, sentAt: now, path });
    this.send(to, { type: "ping", pairId: this.setup.pairId, peerId: this.setup.peerId, seq }, path);
    if (this.pings.size > MAX_PINGS_REMEMBERED) this.pings.delete(this.pings.keys().next().value as number);
  }

  private pingAll(now: number): void {
    for (const c of this.candidates) {
      const path: Path =
        c.kind === "relay" ? { kind: "relay", relay: { host: c.host, port: c.port } } : PUNCHING;
      this.sendPing(c, now, path);
    }
    this.nextPingAt = now + this.pingDelay;
    this.pingDelay = Math.min(this.pingDelay * 1.5, this.t.pingIntervalMaxMs);
  }

  private tickPunch(now: number): void {
    if (this.decideAt !== undefined && now >= this.decideAt) return this.choose(now);
    if (now - this.matchedAt >= this.t.punchMs) {
      const tried = this.candidates.map(formatEndpoint).join(", ");
      const note = this.fallbacks.failureNote();
      const seconds = Math.round(this.t.punchMs / 1000);
      this.state = "finished";
      this.out.push({
        kind: "fail",
        error: Fail.punchFailed({ heard: this.heardFromPartner, seconds, tried, note }),
      });
      return;
    }
    this.run(this.fallbacks.tickPunch(this.view(), now), now);
    if (now >= this.nextPingAt) this.pingAll(now);
  }

  /** The driver knows the socket a packet came in on; whether it came through our relay, the machine knows. */
  private pathOf(from: Endpoint, arrived: Path): Path {
    const relay = this.fallbacks.relayEndpoint;
    if (samePath(arrived, PUNCHING) && relay && sameEndpoint(from, relay)) return { kind: "relay", relay };
    return arrived;
  }

  /** What a source address is to us: one of the partner's candidates, our relay, or a new (reflexive) source. */
  private kindOf(from: Endpoint, path: Path): CandidateKind {
    if (path.kind === "relay") return "relay";
    if (path.socket !== 0) return "birthday"; // one of our extra sockets won
    const known = this.candidates.find((c) => sameEndpoint(c, from))?.kind;
    if (known && known !== "reflexive") return known;
    const target = this.candidates.find((c) => c.kind === "public");
    return this.fallbacks.kindOf(from, target) ?? known ?? "reflexive";
  }

  // 3. A PING proves partner -> us; answer with a PONG on the same path. A new source is a reflexive candidate.
  private onPing(from: Endpoint, seq: number, now: number, path: Path): void {
    this.send(from, { type: "pong", pairId: this.setup.pairId, peerId: this.setup.peerId, seq }, path);
    if (
      this.state === "punching" &&
      this.answered.length < MAX_ANSWERED &&
      !this.answered.some((x) => sameEndpoint(x.ep, from) && samePath(x.path, path))
    )
      this.answered.push({ ep: { host: from.host, port: from.port }, path });
    if (
      this.state === "punching" &&
      samePath(path, PUNCHING) &&
      this.kindOf(from, path) === "reflexive" &&
      !this.candidates.some((c) => sameEndpoint(c, from))
    ) {
      if (this.candidates.filter((c) => c.kind === "reflexive").length < MAX_REFLEXIVE) {
        this.candidates.push({ ...from, kind: "reflexive" });
      }
    }
    if (this.state === "closing" && this.chosen && sameEndpoint(from, this.chosen.ep)) {
      // The partner is still pinging: it has not seen our CLOSE yet. Send another and linger a little longer.
      this.sendClose();
      this.closingUntil = Math.min(
        Math.max(this.closingUntil, now + this.closeInterval * 2),
        this.closingHardStop,
      );
    }
  }

  // 4. A PONG to our PING proves both directions on that path.
  private onPong(from: Endpoint, seq: number, now: number, path: Path): void {
    const ping = this.pings.get(seq);
    // A PONG counts on the path its PING took: same address, same local socket.
    if (!ping || !sameEndpoint(ping.to, from) || !samePath(ping.path, path) || this.state !== "punching")
      return;
    const kind = this.kindOf(from, path);
    const rttMs = now - ping.sentAt;
    if (!this.successes.some((s) => sameEndpoint(s.ep, from) && samePath(s.path, path))) {
      this.successes.push({ ep: { host: from.host, port: from.port }, kind, rttMs, path });
      this.emit({ type: "punch-ok", from, kind, rttMs });
    }
    if (kind === "lan") return this.choose(now);
    const lanPending = this.lanMayAnswer && this.candidates.some((c) => c.kind === "lan");
    if (!lanPending) return this.choose(now);
    // Every round pings all candidates at once and a working LAN path is shorter than any path through the
    // NAT, so its PONG normally comes first; the grace only absorbs jitter between the two, and is short so a
    // partner's unreachable LAN address costs little.
    this.decideAt ??= now + Math.min(this.t.lanGraceMs, Math.max(10, rttMs / 4));
  }

  // 5. Choose the path and send the CLOSE burst on it (TIME-WAIT): the partner adopts the path CLOSE came on.
  private choose(now: number): void {
    const best = bestPath(this.successes);
    if (!best) return;
    this.chosen = best;
    this.emit({ type: "proven", remote: best.ep, kind: best.kind });
    if (this.answerNotNeeded(best)) {
      // The whole burst at once, and done: the socket is the tunnel's now (answerNotNeeded says why).
      while (this.closesSent < this.t.closeCount) this.sendClose();
      return this.finish();
    }
    this.state = "closing";
    this.closeInterval = Math.min(Math.max(best.rttMs / 2, 10), 100);
    this.closesSent = 0;
    this.closingUntil = now + this.closeInterval * this.t.closeCount;
    this.closingHardStop = now + this.t.closeLingerMaxMs;
    this.sendClose();
    this.nextCloseAt = now + this.closeInterval;
  }

  /**
   * Whether we may close at once instead of waiting for the partner's CLOSE (README, "How it works", step 4).
   * The wait serves two ends: that the partner learns the path works (else it pings on into our tunnel and
   * fails at its punch timeout), and, when both chose at once, that both end on role a's path. Neither needs
   * it when (1) we answered a PING of the partner's on the chosen path: that PONG proves the path to the
   * partner by itself, as our CLOSE burst does, so only the loss of both stands between it and success; and
   * (2) we are role a, whose choice the partner adopts from our CLOSE, or every PING we answered came on the
   * chosen path: every path the partner can have proven is then the one we chose, seen from its end, so no
   * choice of its can differ from ours. Otherwise we wait, as before.
   *
   * What closing early costs: the partner's PINGs already under way, and the one CLOSE it answers ours with,
   * arrive at a port the tunnel program owns (or nobody yet: the kernel answers with an ICMP error the
   * partner ignores). At most an RTT's worth of datagrams of about 60 bytes: WireGuard discards them (no
   * WireGuard message type), OpenVPN drops them as failing its packet authentication (a log line), the
   * socat hook drains netpunch's packets from the port before it starts (hooks/drain.ts). What it saves: the
   * half RTT (both chose at once) to one RTT (the partner was still punching) until the partner's CLOSE.
   */
  private answerNotNeeded(best: ProvenPath): boolean {
    const onBest = (x: { ep: Endpoint; path: Path }) =>
      sameEndpoint(x.ep, best.ep) && samePath(x.path, best.path);
    if (!this.answered.some(onBest)) return false;
    return this.setup.role === "a" || (this.answered.length < MAX_ANSWERED && this.answered.every(onBest));
  }

  private sendClose(): void {
    if (!this.chosen) return;
    this.closesSent++;
    const rttMs = Math.round(this.chosen.rttMs);
    const msg: Message = { type: "close", pairId: this.setup.pairId, peerId: this.setup.peerId, rttMs };
    this.send(this.chosen.ep, msg, this.chosen.path);
  }

  private tickClose(now: number): void {
    if (this.closesSent < this.t.closeCount && now >= this.nextCloseAt) {
      this.sendClose();
      this.nextCloseAt = now + this.closeInterval;
    }
    if (this.closesSent >= this.t.closeCount && now >= this.closingUntil) this.finish();
  }

  // 6. A CLOSE proves our PONG arrived: both directions work on the path it came from.
  private onClose(from: Endpoint, partnerRtt: number, path: Path): void {
    if (this.state === "punching") {
      const kind = this.kindOf(from, path);
      const own = this.successes.find((s) => sameEndpoint(s.ep, from) && samePath(s.path, path));
      this.chosen = { ep: { host: from.host, port: from.port }, kind, rttMs: own?.rttMs ?? partnerRtt, path };
      this.emit({ type: "proven", remote: this.chosen.ep, kind });
      // One CLOSE back tells the chooser we are done, so it stops its burst instead of lingering into the port
      // our tunnel is about to own.
      this.sendClose();
      return this.finish();
    }
    if (this.state !== "closing" || !this.chosen) return;
    if (sameEndpoint(from, this.chosen.ep)) {
      // Both chose the same path at once: the partner has proven both ways and no longer pings, so there is
      // nobody left to linger for.
      return this.finish();
    }
    // Both chose at once, differently: role a's choice wins, so both end on the same path. Role b confirms
    // a's path with one CLOSE (which also ends a's linger) and is done.
    if (this.setup.role === "b") {
      const kind = this.kindOf(from, path);
      this.chosen = { ep: { host: from.host, port: from.port }, kind, rttMs: partnerRtt, path };
      this.sendClose();
      this.finish();
    }
  }

  private finish(): void {
    if (!this.chosen) return;
    // One more MATCH_ACK: if every earlier one was lost, the server would keep resending MATCH to this port,
    // which the hook's tunnel is about to own.
    const { session, pairId, peerId, server } = this.setup;
    this.send(server, { type: "matchAck", session, pairId, peerId });
    this.state = "finished";
    this.out.push({ kind: "proven", path: this.chosen });
  }

  /** The punching socket is the default, left out so most actions read as plain sends. */
  private send(to: Endpoint, msg: Message, path: Path = PUNCHING): void {
    this.out.push(samePath(path, PUNCHING) ? { kind: "send", to, msg } : { kind: "send", to, msg, path });
  }

  private emit(event: NetpunchEvent): void {
    this.out.push({ kind: "event", event });
  }
}

/**
 * Whether the partner's LAN candidates can answer us, as far as the MATCH tells: not when the server saw us
 * and the partner at different public IP addresses. Then each is behind its own NAT (or has no NAT), and a
 * private address behind the partner's NAT is out of our reach, so the LAN grace would only wait for
 * nothing. The same public IP keeps the grace: one NAT (hairpinning or not, LAN is the better path), or one
 * carrier-grade NAT over two home NATs (the LAN candidates cannot answer then, but nothing here can tell).
 * Two hosts of one LAN that leave through different public addresses (a router balancing two uplinks, a
 * site-to-site VPN) lose the grace: a LAN PONG still wins when it comes first, as a shorter path's usually
 * does, but not when it comes a little after the public one. Unknown addresses keep the grace. Pure.
 */
export function lanReachable(observed: Endpoint | undefined, partner: readonly Candidate[]): boolean {
  const partnerPublic = partner.find((c) => c.kind === "public");
  if (!observed || !partnerPublic) return true;
  return normalizeHost(observed.host) === normalizeHost(partnerPublic.host);
}
