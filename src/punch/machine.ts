import { formatEndpoint, sameEndpoint } from "../addr.ts";
import { Backoff } from "../backoff.ts";
import { Fail, type NetpunchError } from "../errors.ts";
import type { Match, Message, Registered, Unmatch } from "../protocol/messages.ts";
import type { Frame } from "../protocol/packet.ts";
import type { Candidate, CandidateKind, Endpoint, NetpunchEvent, Role } from "../types.ts";

import { SendBudget } from "./budget.ts";
import { DEFAULT_PEER_TIMINGS, type PeerTimings } from "./config.ts";
import { type FallbackAction, Fallbacks, type PunchView } from "./fallbacks.ts";
import { bestPath, type Path, type ProvenPath, PUNCHING, samePath } from "./path.ts";

export interface PeerSetup {
  session: string;
  role: Role;
  /** Random per run: lets the server tell a restarted peer from a retransmission. */
  peerId: string;
  server: Endpoint;
  /** This host's own addresses with the local port: offered to the partner as LAN candidates. */
  lanCandidates: Endpoint[];
  /** A public port our gateway forwards to us (PCP/NAT-PMP): announced as an extra candidate. */
  mapped?: Endpoint;
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
}

export type PeerAction =
  /** `nonce`: seal with this nonce (REGISTER: the machine checks the echo of its answers against it). */
  /** `path`: how the packet leaves us. @default PUNCHING */
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

type Success = ProvenPath;

const MAX_REGISTERS_REMEMBERED = 32; // two keepalive periods' worth of REGISTER retries; older echoes are refused
const MAX_REFLEXIVE = 4;
const LEAVE_COPIES = 3; // at 20% loss all three are lost 0.8% of the time; then the role is held 20 s at most // a partner has few real source addresses; more would be someone spraying us
const MAX_PINGS_REMEMBERED = 4_096; // a whole spray, plus the plain rounds

/**
 * A peer, as a pure state machine: inputs are the time, ticks and authenticated frames; outputs are packets
 * to send, events, and at most one `done` or `fail`. Numbered comments follow the message sequence in
 * README.md. No sockets, no timers, no clock of its own: tests drive it with a fake clock.
 */
export class PeerMachine {
  private readonly t: PeerTimings;
  private phase: Phase = "idle";
  private startedAt = 0;
  private out: PeerAction[] = [];
  // registering / waiting
  private nextRegisterAt = 0;
  /** REGISTER retries while no answer has come (README step 1); keepalives use keepaliveMs instead. */
  private readonly registerRetry: Backoff;
  private registerTries = 0;
  private heardFromServer = false;
  private publicAddr: Endpoint | undefined;
  /** REGISTERs we sent, by nonce, with the time: answers must echo one of them, and only once. */
  private readonly registers = new Map<string, number>();
  private readonly answeredRegisters = new Set<string>();
  private cookie: string | undefined;
  private busyReported = false;
  private readonly budget = new SendBudget();
  private heardFromPartner = false;
  private waitReports = 0;
  /** Pairs the server undid (UNMATCH): a late retransmission of their MATCH must not start them again. */
  private readonly undone = new Set<string>();
  // punching
  private pair: { pairId: string; partnerId: string; matchedAt: number } | undefined;
  private candidates: Candidate[] = [];
  private seq = 0;
  private readonly pings = new Map<number, { to: Endpoint; sentAt: number; path: Path }>();
  private nextPingAt = 0;
  private pingDelay: number;
  private readonly successes: Success[] = [];
  private decideAt: number | undefined;
  // NAT behaviour, birthday probing, prediction and the relay
  private readonly fallbacks: Fallbacks;
  // closing
  private chosen: Success | undefined;
  private closesSent = 0;
  private nextCloseAt = 0;
  private closeInterval = 0;
  private closingUntil = 0;
  private closingHardStop = 0;

  constructor(private readonly setup: PeerSetup) {
    this.t = { ...DEFAULT_PEER_TIMINGS, ...setup.timings };
    this.registerRetry = new Backoff({
      firstMs: this.t.registerRetryMs,
      factor: 2,
      maxMs: this.t.registerRetryMaxMs,
      maxTries: Number.POSITIVE_INFINITY, // serverSilentMs bounds it, in time
    });
    this.pingDelay = this.t.pingIntervalMs;
    this.fallbacks = new Fallbacks(this.t, {
      server: setup.server,
      session: setup.session,
      peerId: setup.peerId,
      localPort: setup.localPort ?? 0,
      ownHosts: setup.lanCandidates.map((c) => c.host),
      random: setup.random ?? Math.random,
    });
  }

  /** Carries out what the fallbacks asked for, in order. */
  private run(actions: FallbackAction[], now: number): void {
    for (const a of actions) {
      if (a.kind === "send") this.send(a.to, a.msg);
      else if (a.kind === "ping") this.sendPing(a.to, now, a.path);
      else if (a.kind === "event") this.emit(a.event);
      else if (a.kind === "open-sockets") this.out.push(a);
      else if (a.kind === "allow") this.budget.allow(a.host, a.extra);
      else {
        this.candidates.push(a.candidate);
        this.pingAll(now);
      }
    }
  }

  /** The punch as the fallbacks see it; undefined outside punching. */
  private view(): PunchView | undefined {
    if (!this.pair || this.phase !== "punching") return undefined;
    return {
      pairId: this.pair.pairId,
      matchedAt: this.pair.matchedAt,
      target: this.candidates.find((c) => c.kind === "public"),
      nothingYet: this.successes.length === 0,
    };
  }

  get state(): Phase {
    return this.phase;
  }

  step(input: PeerInput): StepOutput {
    this.out = [];
    if (this.phase === "finished") return { actions: [], wakeAt: undefined };
    if (input.type === "start") this.start(input.now);
    else if (input.type === "tick") this.tick(input.now);
    else if (input.type === "sockets") {
      const view = this.view();
      if (view) this.run(this.fallbacks.onSockets(input.count, view, input.now), input.now);
    } else this.onFrame(input.from, input.frame, input.now, input.path ?? PUNCHING);
    return { actions: this.out, wakeAt: this.wakeAt() };
  }

  // 1. Register with the server, retrying with a doubling wait until it answers.
  private start(now: number): void {
    this.phase = "registering";
    this.startedAt = now;
    this.sendRegister(now);
  }

  private sendRegister(now: number): void {
    const { session, role, peerId, lanCandidates, server } = this.setup;
    const nat = this.fallbacks.ownNat;
    const { mapped } = this.setup;
    const nonce = this.newNonce();
    this.registers.set(nonce, now);
    if (this.registers.size > MAX_REGISTERS_REMEMBERED)
      this.registers.delete(this.registers.keys().next().value as string);
    const msg: Message = {
      type: "register",
      session,
      role,
      peerId,
      candidates: lanCandidates,
      ...(nat ? { nat } : {}),
      ...(mapped ? { mapped } : {}),
      ...(this.cookie ? { cookie: this.cookie } : {}),
    };
    this.out.push({ kind: "send", to: server, msg, nonce });
    this.registerTries++;
    if (this.phase === "registering") {
      this.nextRegisterAt = this.registerRetry.sent(now);
    } else {
      this.nextRegisterAt = now + this.t.keepaliveMs;
    }
  }

  private tick(now: number): void {
    switch (this.phase) {
      case "registering":
      case "waiting":
        return this.tickRendezvous(now);
      case "punching":
        return this.tickPunch(now);
      case "closing":
        return this.tickClose(now);
    }
  }

  private tickRendezvous(now: number): void {
    const { server, session, role } = this.setup;
    const waited = now - this.startedAt;
    // A --timeout shorter than the server timeout must not disguise a silent server as a missing partner.
    if (!this.heardFromServer && (waited >= this.t.serverSilentMs || waited >= this.t.waitMs)) {
      return this.fail(Fail.serverSilent(server, this.registerTries, Math.round(waited / 1000)));
    }
    if (now - this.startedAt >= this.t.waitMs) {
      const partner = role === "a" ? "b" : "a";
      return this.fail(Fail.partnerTimeout(partner, session, Math.round(this.t.waitMs / 1000)));
    }
    this.run(this.fallbacks.tickRendezvous(now), now);
    if (this.phase === "waiting" && now - this.startedAt >= waitReportAt(this.waitReports)) {
      this.waitReports++;
      const partner = role === "a" ? "b" : "a";
      this.emit({ type: "still-waiting", session, partnerRole: partner, waitedMs: now - this.startedAt });
    }
    if (now >= this.nextRegisterAt) {
      // Only while nothing at all came back: a challenge, or "busy", is an answer.
      if (this.phase === "registering" && !this.heardFromServer && this.registerTries % 4 === 0) {
        this.emit({ type: "server-silent", tries: this.registerTries });
      }
      this.sendRegister(now);
    }
  }

  private onFrame(from: Endpoint, frame: Frame, now: number, arrived: Path): void {
    const msg = frame.msg;
    if (sameEndpoint(from, this.setup.server)) {
      if (msg.type === "registered") return this.onRegistered(from, msg, now);
      if (msg.type === "match") return this.onMatch(from, msg, now);
      if (msg.type === "unmatch") return this.onUnmatch(from, msg, now);
      const view =
        (msg.type === "relayOffer" || (msg.type === "partnerNat" && msg.to === this.setup.peerId)) &&
        msg.pairId === this.pair?.pairId
          ? this.view()
          : undefined;
      if (msg.type === "relayOffer" && view) return this.run(this.fallbacks.onRelayOffer(msg, now), now);
      if (msg.type === "partnerNat" && view)
        return this.run(this.fallbacks.onPartnerNat(msg.nat, view, now), now);
      return this.drop(from, "unexpected");
    }
    const altEp = this.fallbacks.altEndpoint;
    if (msg.type === "probeReply" && altEp && sameEndpoint(from, altEp))
      return this.onProbeReply(from, msg.probeId, msg.observed, now);
    const relayEp = this.fallbacks.relayEndpoint;
    if (
      (msg.type === "relayBound" || msg.type === "relayChallenge") &&
      relayEp &&
      sameEndpoint(from, relayEp) &&
      msg.pairId === this.pair?.pairId
    ) {
      if (this.phase === "punching") this.run(this.fallbacks.onRelayReply(msg, now), now);
      return;
    }
    if (msg.type !== "ping" && msg.type !== "pong" && msg.type !== "close")
      return this.drop(from, "unexpected");
    // Bound to this pair: a packet from any other session, or an old run, is ignored.
    if (!this.pair || msg.pairId !== this.pair.pairId || msg.peerId !== this.pair.partnerId) {
      return this.drop(from, "foreign-pair");
    }
    this.heardFromPartner = true;
    this.budget.answer(from.host);
    const path = this.pathOf(from, arrived);
    if (msg.type === "ping") return this.onPing(from, msg.seq, now, path);
    if (msg.type === "pong") return this.onPong(from, msg.seq, now, path);
    return this.onClose(from, msg.rttMs, now, path);
  }

  /** 1a. The server's answer: it must echo a REGISTER of ours that it has not answered yet. */
  private onRegistered(from: Endpoint, msg: Registered, now: number): void {
    const sentAt = this.registers.get(msg.echo);
    if (sentAt === undefined || this.answeredRegisters.has(msg.echo)) return this.drop(from, "unsolicited");
    this.answeredRegisters.add(msg.echo);
    if (this.answeredRegisters.size > MAX_REGISTERS_REMEMBERED)
      this.answeredRegisters.delete(this.answeredRegisters.values().next().value as string);
    // The server stamped its clock when it answered, about half a round trip ago.
    this.out.push({ kind: "clock", offsetMs: Math.round(msg.serverTime + (now - sentAt) / 2 - now) });
    this.cookie = msg.cookie;
    const first = !this.heardFromServer;
    this.heardFromServer = true;
    this.publicAddr = msg.observed;
    if (msg.altPort) this.run(this.fallbacks.startProbe(msg.altPort, now), now);
    if (msg.status === "full" || msg.status === "limit")
      return this.fail(Fail.serverFull(this.setup.server, msg.status === "full" ? "server" : "address"));
    if (this.phase !== "registering" && this.phase !== "waiting") return;
    // Prove that we receive at our address: send again at once, with the cookie.
    if (msg.status === "challenge") return this.sendRegister(now);
    if (msg.status === "busy") {
      if (!this.busyReported)
        this.emit({ type: "role-busy", session: this.setup.session, role: this.setup.role });
      this.busyReported = true;
      return;
    }
    if (this.phase !== "registering") return;
    // 1b. Registered; keep the NAT mapping to the server alive while the partner is away.
    this.phase = "waiting";
    this.nextRegisterAt = now + this.t.keepaliveMs;
    if (first) this.emit({ type: "registered", publicAddr: msg.observed });
    this.emit({ type: "waiting", session: this.setup.session });
  }

  // 2. The server pushed the partner's candidates: acknowledge, and punch all of them at once.
  private onMatch(from: Endpoint, msg: Match, now: number): void {
    // Bound to us and to a REGISTER of this run; a new pair only while we wait for one, the current pair's
    // retransmission at any time. Anything else is a replay or someone else's.
    const ours = msg.to === this.setup.peerId && this.registers.has(msg.echo) && !this.undone.has(msg.pairId);
    const retransmit = ours && this.pair?.pairId === msg.pairId;
    const fresh = ours && (this.phase === "registering" || this.phase === "waiting");
    if (!retransmit && !fresh) return this.drop(from, "unsolicited");
    if (fresh) {
      // Matched on first contact, REGISTERED may never come: the MATCH brings the server's clock and a cookie.
      const sentAt = this.registers.get(msg.echo) ?? now;
      this.out.push({ kind: "clock", offsetMs: Math.round(msg.serverTime + (now - sentAt) / 2 - now) });
      this.cookie = msg.cookie;
    }
    this.heardFromServer = true;
    this.publicAddr = msg.observed;
    this.send(this.setup.server, {
      type: "matchAck",
      session: this.setup.session,
      pairId: msg.pairId,
      peerId: this.setup.peerId,
    });
    if (retransmit) return;
    this.phase = "punching";
    this.heardFromPartner = false;
    this.pair = { pairId: msg.pairId, partnerId: msg.partnerId, matchedAt: now };
    this.candidates = msg.candidates.map((c) => ({ ...c }));
    this.pings.clear();
    this.successes.length = 0;
    this.decideAt = undefined;
    this.fallbacks.reset(msg.partnerNat);
    this.pingDelay = this.t.pingIntervalMs;
    this.emit({ type: "matched", candidates: this.candidates });
    this.pingAll(now);
    if (msg.altPort) this.run(this.fallbacks.startProbe(msg.altPort, now), now);
    const view = this.view();
    if (view) this.run(this.fallbacks.pick(view, now), now);
  }

  // 2c. The partner never acknowledged its MATCH (gone, or its NAT mapping was lost): wait again, unless it
  // has already reached us, in which case its acknowledgements were merely lost.
  private onUnmatch(from: Endpoint, msg: Unmatch, now: number): void {
    if (msg.to !== this.setup.peerId || msg.pairId !== this.pair?.pairId || this.phase !== "punching")
      return this.drop(from, "unsolicited");
    if (this.heardFromPartner || this.successes.length > 0) return;
    this.undone.add(msg.pairId);
    this.phase = "waiting";
    this.pair = undefined;
    this.candidates = [];
    this.pings.clear();
    this.decideAt = undefined;
    this.fallbacks.reset(undefined);
    this.emit({ type: "partner-lost", session: this.setup.session });
    this.sendRegister(now);
  }

  // 2b. Our NAT's behaviour: register it while waiting (the server tells a later partner); after the match,
  // tell the partner through the server.
  private onProbeReply(from: Endpoint, probeId: number, observedViaAlt: Endpoint, now: number): void {
    if (!this.fallbacks.isOurProbe(probeId)) return this.drop(from, "unsolicited");
    const learned = this.fallbacks.onProbeReply(observedViaAlt, this.publicAddr);
    if (!learned) return;
    this.run(learned.actions, now);
    if (this.phase === "waiting") this.sendRegister(now);
    const view = this.view();
    if (view) this.run(this.fallbacks.announce(learned.nat, view, now), now);
  }

  private sendPing(to: Endpoint, now: number, path: Path): void {
    if (!this.pair || !this.budget.take(to.host)) return;
    const seq = this.seq++;
    this.pings.set(seq, { to: { host: to.host, port: to.port }, sentAt: now, path });
    this.send(to, { type: "ping", pairId: this.pair.pairId, peerId: this.setup.peerId, seq }, path);
    if (this.pings.size > MAX_PINGS_REMEMBERED) this.pings.delete(this.pings.keys().next().value as number);
  }

  private pingAll(now: number): void {
    if (!this.pair) return;
    for (const c of this.candidates)
      this.sendPing(
        c,
        now,
        c.kind === "relay" ? { kind: "relay", relay: { host: c.host, port: c.port } } : PUNCHING,
      );
    this.nextPingAt = now + this.pingDelay;
    this.pingDelay = Math.min(this.pingDelay * 1.5, this.t.pingIntervalMaxMs);
  }

  private tickPunch(now: number): void {
    if (!this.pair) return;
    if (this.decideAt !== undefined && now >= this.decideAt) return this.choose(now);
    if (now - this.pair.matchedAt >= this.t.punchMs) {
      const tried = this.candidates.map(formatEndpoint).join(", ");
      const relayNote = this.fallbacks.failureNote();
      const secs = Math.round(this.t.punchMs / 1000);
      return this.fail(
        Fail.punchFailed({ heard: this.heardFromPartner, seconds: secs, tried, note: relayNote }),
      );
    }
    const view = this.view();
    if (view) this.run(this.fallbacks.tickPunch(view, now), now);
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
    if (!this.pair) return;
    this.send(from, { type: "pong", pairId: this.pair.pairId, peerId: this.setup.peerId, seq }, path);
    if (
      this.phase === "punching" &&
      samePath(path, PUNCHING) &&
      this.kindOf(from, path) === "reflexive" &&
      !this.candidates.some((c) => sameEndpoint(c, from))
    ) {
      if (this.candidates.filter((c) => c.kind === "reflexive").length < MAX_REFLEXIVE) {
        this.candidates.push({ ...from, kind: "reflexive" });
      }
    }
    if (this.phase === "closing" && this.chosen && sameEndpoint(from, this.chosen.ep)) {
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
    if (!ping || !sameEndpoint(ping.to, from) || !samePath(ping.path, path) || this.phase !== "punching")
      return;
    const kind = this.kindOf(from, path);
    const rttMs = now - ping.sentAt;
    if (!this.successes.some((s) => sameEndpoint(s.ep, from) && samePath(s.path, path))) {
      this.successes.push({ ep: { host: from.host, port: from.port }, kind, rttMs, path });
      this.emit({ type: "punch-ok", from, kind, rttMs });
    }
    if (kind === "lan") return this.choose(now);
    const lanPending = this.candidates.some((c) => c.kind === "lan");
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
    this.phase = "closing";
    this.emit({ type: "proven", remote: best.ep, kind: best.kind });
    this.closeInterval = Math.min(Math.max(best.rttMs / 2, 10), 100);
    this.closesSent = 0;
    this.closingUntil = now + this.closeInterval * this.t.closeCount;
    this.closingHardStop = now + this.t.closeLingerMaxMs;
    this.sendClose();
    this.nextCloseAt = now + this.closeInterval;
  }

  private sendClose(): void {
    if (!this.pair || !this.chosen) return;
    this.closesSent++;
    const rttMs = Math.round(this.chosen.rttMs);
    const msg: Message = { type: "close", pairId: this.pair.pairId, peerId: this.setup.peerId, rttMs };
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
  private onClose(from: Endpoint, partnerRtt: number, _now: number, path: Path): void {
    if (this.phase === "punching") {
      const kind = this.kindOf(from, path);
      const own = this.successes.find((s) => sameEndpoint(s.ep, from) && samePath(s.path, path));
      this.chosen = {
        ep: { host: from.host, port: from.port },
        kind,
        rttMs: own?.rttMs ?? partnerRtt,
        path,
      };
      this.emit({ type: "proven", remote: this.chosen.ep, kind });
      // One CLOSE back tells the chooser we are done, so it stops its burst instead of lingering into the port
      // our tunnel is about to own.
      this.sendClose();
      return this.finish();
    }
    if (this.phase !== "closing" || !this.chosen) return;
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
    if (this.pair) {
      const { session, peerId, server } = this.setup;
      this.send(server, { type: "matchAck", session, pairId: this.pair.pairId, peerId });
    }
    this.phase = "finished";
    const { ep, kind, rttMs, path } = this.chosen;
    this.out.push({
      kind: "done",
      outcome: { remote: ep, kind, rttMs, publicAddr: this.publicAddr, path },
    });
  }

  private fail(error: NetpunchError): void {
    this.sayLeave();
    this.phase = "finished";
    this.out.push({ kind: "fail", error });
  }

  /**
   * We stop before the punch is done (cancelled, timed out, failed): tell the server, so the next partner, or
   * our own next attempt, is not paired with the registration we leave behind. Sent LEAVE_COPIES times at
   * once instead of retried: exit must never wait for an answer.
   */
  leave(): PeerAction[] {
    this.out = [];
    if (this.phase !== "finished") this.sayLeave();
    this.phase = "finished";
    return this.out;
  }

  private sayLeave(): void {
    if (!this.heardFromServer || this.phase === "closing" || this.phase === "finished") return;
    const { session, role, peerId, server } = this.setup;
    for (let i = 0; i < LEAVE_COPIES; i++) this.send(server, { type: "leave", session, role, peerId });
  }

  private wakeAt(): number | undefined {
    switch (this.phase) {
      case "registering":
      case "waiting": {
        let at = Math.min(this.nextRegisterAt, this.fallbacks.wakeAt(undefined));
        if (this.phase === "waiting") at = Math.min(at, this.startedAt + waitReportAt(this.waitReports));
        if (!this.heardFromServer) at = Math.min(at, this.startedAt + this.t.serverSilentMs);
        return Math.min(at, this.startedAt + this.t.waitMs);
      }
      case "punching": {
        const matched = this.pair?.matchedAt ?? 0;
        return Math.min(
          this.nextPingAt,
          matched + this.t.punchMs,
          this.decideAt ?? Number.POSITIVE_INFINITY,
          this.fallbacks.wakeAt(this.view()),
        );
      }
      case "closing":
        return this.closesSent < this.t.closeCount ? this.nextCloseAt : this.closingUntil;
      default:
        return undefined;
    }
  }

  private newNonce(): string {
    if (this.setup.nonce) return this.setup.nonce();
    const r = this.setup.random ?? Math.random;
    return Array.from({ length: 12 }, () =>
      Math.floor(r() * 256)
        .toString(16)
        .padStart(2, "0"),
    ).join("");
  }

  /** The punching socket is the default, left out so most actions read as plain sends. */
  private send(to: Endpoint, msg: Message, path: Path = PUNCHING): void {
    this.out.push(samePath(path, PUNCHING) ? { kind: "send", to, msg } : { kind: "send", to, msg, path });
  }

  private emit(event: NetpunchEvent): void {
    this.out.push({ kind: "event", event });
  }

  private drop(from: Endpoint, reason: "unexpected" | "foreign-pair" | "unsolicited"): void {
    this.emit({ type: "dropped", from, reason });
  }
}

/**
 * When to say "still waiting": after 1, 2 and 5 minutes, then every 10 minutes, so a long wait is visible
 * without filling the log.
 */
const WAIT_REPORTS_MS = [60_000, 120_000, 300_000, 600_000] as const;
function waitReportAt(done: number): number {
  const last = WAIT_REPORTS_MS[WAIT_REPORTS_MS.length - 1] ?? 600_000;
  return WAIT_REPORTS_MS[done] ?? last + (done - WAIT_REPORTS_MS.length + 1) * 600_000;
}
