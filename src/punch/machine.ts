import { formatEndpoint, sameEndpoint } from "../addr.ts";
import { NetpunchError } from "../errors.ts";
import { isEasy, isHard } from "../nat.ts";
import type { Message, NatInfo } from "../protocol/messages.ts";
import type { Frame } from "../protocol/packet.ts";
import type { Candidate, CandidateKind, Endpoint, NetpunchEvent, Role } from "../types.ts";
import { Spray, sprayPorts, strategyFor } from "./birthday.ts";
import { DEFAULT_PEER_TIMINGS, type PeerTimings } from "./config.ts";
import { NatProbe } from "./nat-probe.ts";
import { RelayClient, type RelayStep } from "./relay-client.ts";

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
  /** Randomness for the port spray; injected so tests are repeatable. @default Math.random */
  random?: () => number;
  timings?: Partial<PeerTimings>;
}

/** What the punch proved: where the partner answers, how, and how fast. */
export interface PunchOutcome {
  remote: Endpoint;
  kind: CandidateKind;
  rttMs: number;
  publicAddr: Endpoint | undefined;
  /** Which socket won: 0 is the punching socket, 1.. the extra birthday sockets. */
  socket: number;
}

export type PeerAction =
  | { kind: "send"; to: Endpoint; msg: Message; socket?: number }
  /** Birthday probing: the driver opens this many extra sockets and reports how many with a `sockets` input. */
  | { kind: "open-sockets"; count: number }
  | { kind: "event"; event: NetpunchEvent }
  | { kind: "done"; outcome: PunchOutcome }
  | { kind: "fail"; error: NetpunchError };

export type PeerInput =
  | { type: "start"; now: number }
  | { type: "tick"; now: number }
  | { type: "frame"; now: number; from: Endpoint; frame: Frame; socket?: number }
  | { type: "sockets"; now: number; count: number };

export interface StepOutput {
  actions: PeerAction[];
  /** When the machine wants the next tick; undefined once it has finished. */
  wakeAt: number | undefined;
}

type Phase = "idle" | "registering" | "waiting" | "punching" | "closing" | "finished";

interface Success {
  ep: Endpoint;
  kind: CandidateKind;
  rttMs: number;
  socket: number;
}

const MAX_REFLEXIVE = 4; // a partner has few real source addresses; more would be someone spraying us
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
  private registerDelay: number;
  private registerTries = 0;
  private heardFromServer = false;
  private publicAddr: Endpoint | undefined;
  // punching
  private pair: { pairId: string; partnerId: string; matchedAt: number } | undefined;
  private candidates: Candidate[] = [];
  private seq = 0;
  private readonly pings = new Map<number, { to: Endpoint; sentAt: number; socket: number }>();
  private nextPingAt = 0;
  private pingDelay: number;
  private readonly successes: Success[] = [];
  private decideAt: number | undefined;
  private relay: RelayClient | undefined;
  // NAT behaviour and the strategy it implies
  private probe: NatProbe | undefined;
  private partnerNat: NatInfo | undefined;
  private strategy: "plain" | "hard" | "easy" | "relay" | undefined;
  private spray: Spray | undefined;
  private birthday: { sockets: number; nextAt: number } | undefined;
  // closing
  private chosen: Success | undefined;
  private closesSent = 0;
  private nextCloseAt = 0;
  private closeInterval = 0;
  private closingUntil = 0;
  private closingHardStop = 0;

  constructor(private readonly setup: PeerSetup) {
    this.t = { ...DEFAULT_PEER_TIMINGS, ...setup.timings };
    this.registerDelay = this.t.registerRetryMs;
    this.pingDelay = this.t.pingIntervalMs;
  }

  get state(): Phase {
    return this.phase;
  }

  step(input: PeerInput): StepOutput {
    this.out = [];
    if (this.phase === "finished") return { actions: [], wakeAt: undefined };
    if (input.type === "start") this.start(input.now);
    else if (input.type === "tick") this.tick(input.now);
    else if (input.type === "sockets") this.onSockets(input.count, input.now);
    else this.onFrame(input.from, input.frame, input.now, input.socket ?? 0);
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
    const nat = this.probe?.nat;
    const { mapped } = this.setup;
    this.send(server, {
      type: "register",
      session,
      role,
      peerId,
      candidates: lanCandidates,
      ...(nat ? { nat } : {}),
      ...(mapped ? { mapped } : {}),
    });
    this.registerTries++;
    if (this.phase === "registering") {
      this.nextRegisterAt = now + this.registerDelay;
      this.registerDelay = Math.min(this.registerDelay * 2, this.t.registerRetryMaxMs);
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
      const port = server.port;
      return this.fail(
        new NetpunchError(
          "E_SERVER_SILENT",
          `no authenticated answer from the rendezvous server ${formatEndpoint(server)} after ${this.registerTries} tries (${Math.round((now - this.startedAt) / 1000)} s)`,
          `check that the secret is the same here and on the server, that the server address is right and runs netpunch, and that UDP port ${port} is open on the server`,
        ),
      );
    }
    if (now - this.startedAt >= this.t.waitMs) {
      const partner = role === "a" ? "b" : "a";
      return this.fail(
        new NetpunchError(
          "E_TIMEOUT",
          `no partner (role ${partner}) joined session "${session}" within ${Math.round(this.t.waitMs / 1000)} s`,
          `start the other peer with --role ${partner} and the same --session, server and secret, or raise --timeout`,
        ),
      );
    }
    if (this.probe) this.sendSteps(this.probe.tick(now));
    if (now >= this.nextRegisterAt) {
      if (this.phase === "registering" && this.registerTries % 4 === 0) {
        this.emit({ type: "server-silent", tries: this.registerTries });
      }
      this.sendRegister(now);
    }
  }

  private onFrame(from: Endpoint, frame: Frame, now: number, socket: number): void {
    const msg = frame.msg;
    if (sameEndpoint(from, this.setup.server)) {
      if (msg.type === "registered") return this.onRegistered(msg.observed, now, msg.altPort);
      if (msg.type === "match") return this.onMatch(msg, now);
      if (msg.type === "relayOffer" && this.relay && msg.pairId === this.pair?.pairId)
        return this.onRelayOffer(msg.port, now);
      if (msg.type === "partnerNat" && msg.pairId === this.pair?.pairId && this.phase === "punching") {
        this.partnerNat ??= msg.nat;
        return this.pickStrategy(now);
      }
      return this.drop(from, "unexpected");
    }
    const altEp = this.probe?.alt;
    if (msg.type === "probeReply" && altEp && sameEndpoint(from, altEp))
      return this.onProbeReply(msg.observed, now);
    const relayEp = this.relay?.endpoint;
    if (
      msg.type === "relayBound" &&
      relayEp &&
      sameEndpoint(from, relayEp) &&
      msg.pairId === this.pair?.pairId
    ) {
      return this.onRelayBound(msg.ready, now);
    }
    if (msg.type !== "ping" && msg.type !== "pong" && msg.type !== "close")
      return this.drop(from, "unexpected");
    // Bound to this pair: a packet from any other session, or an old run, is ignored.
    if (!this.pair || msg.pairId !== this.pair.pairId || msg.peerId !== this.pair.partnerId) {
      return this.drop(from, "foreign-pair");
    }
    if (msg.type === "ping") return this.onPing(from, msg.seq, now, socket);
    if (msg.type === "pong") return this.onPong(from, msg.seq, now, socket);
    return this.onClose(from, msg.rttMs, now, socket);
  }

  private onRegistered(observed: Endpoint, now: number, altPort: number | undefined): void {
    const first = !this.heardFromServer;
    this.heardFromServer = true;
    this.publicAddr = observed;
    if (altPort) this.startProbe(altPort, now);
    if (this.phase !== "registering") return;
    // 1b. Registered; keep the NAT mapping to the server alive while the partner is away.
    this.phase = "waiting";
    this.nextRegisterAt = now + this.t.keepaliveMs;
    if (first) this.emit({ type: "registered", publicAddr: observed });
    this.emit({ type: "waiting", session: this.setup.session });
  }

  // 2. The server pushed the partner's candidates: acknowledge, and punch all of them at once.
  private onMatch(msg: Extract<Message, { type: "match" }>, now: number): void {
    this.heardFromServer = true;
    this.publicAddr = msg.observed;
    this.send(this.setup.server, {
      type: "matchAck",
      session: this.setup.session,
      pairId: msg.pairId,
      peerId: this.setup.peerId,
    });
    if (this.pair?.pairId === msg.pairId || this.phase === "closing") return; // a retransmission
    this.phase = "punching";
    this.pair = { pairId: msg.pairId, partnerId: msg.partnerId, matchedAt: now };
    this.candidates = msg.candidates.map((c) => ({ ...c }));
    this.pings.clear();
    this.successes.length = 0;
    this.decideAt = undefined;
    this.relay = undefined;
    this.partnerNat = msg.partnerNat;
    this.strategy = undefined;
    this.spray = undefined;
    this.birthday = undefined;
    this.pingDelay = this.t.pingIntervalMs;
    this.emit({ type: "matched", candidates: this.candidates });
    this.pingAll(now);
    if (msg.altPort) this.startProbe(msg.altPort, now);
    this.pickStrategy(now);
  }

  // 2b. Our own NAT's behaviour, from the server's second port; the partner learns it through the server.
  private startProbe(altPort: number, now: number): void {
    this.probe ??= new NatProbe(this.setup.server, {
      port: this.setup.localPort ?? 0,
      hosts: this.setup.lanCandidates.map((c) => c.host),
    });
    this.sendSteps(this.probe.start(altPort, now));
  }

  private onProbeReply(observedViaAlt: Endpoint, now: number): void {
    const nat = this.probe?.onReply(observedViaAlt, this.publicAddr);
    if (!nat) return;
    this.emit({ type: "nat", nat });
    if (this.phase === "waiting") this.sendRegister(now); // the server tells our future partner
    if (this.phase === "punching" && this.pair) {
      // The partner registered before we probed: tell it now, through the server, so it need not guess.
      const { session, peerId, server } = this.setup;
      this.send(server, { type: "natUpdate", session, pairId: this.pair.pairId, peerId, nat });
      this.pickStrategy(now);
    }
  }

  /** Once both behaviours are known, go beyond plain punching: birthday probing, or the relay at once. */
  private pickStrategy(now: number): void {
    if (!this.pair) return;
    const s = strategyFor(this.probe?.nat, this.partnerNat);
    // Both symmetric: go to the relay at once, even if we had started guessing with birthday probing.
    if (s === "relay") {
      if (this.relay || !this.t.relay) return;
      this.strategy = s;
      this.emit({
        type: "strategy",
        strategy: s,
        detail: "both NATs are symmetric: no direct path can exist",
      });
      return this.startRelay(now);
    }
    if (this.strategy || s === "plain") return;
    if (s === "hard") return this.startBirthday(now, "our NAT is symmetric, the partner's is not");
    this.startSpray(now, "the partner's NAT is symmetric");
  }

  private startBirthday(now: number, why: string): void {
    if (this.birthday) return;
    this.strategy = "hard";
    const n = this.t.birthdaySockets;
    this.emit({
      type: "strategy",
      strategy: "hard",
      detail: `${why}: opening ${n} sockets toward the partner`,
    });
    this.birthday = { sockets: 0, nextAt: now };
    this.out.push({ kind: "open-sockets", count: n });
  }

  private startSpray(_now: number, why: string): void {
    if (this.spray || !this.pair) return;
    this.strategy = "easy";
    const target = this.candidates.find((c) => c.kind === "public");
    if (!target) return;
    const ports = sprayPorts(target, this.partnerNat, this.t.sprayCount, this.setup.random ?? Math.random);
    const predicted = this.partnerNat?.mapping === "sequential" ? Math.min(32, ports.length) : 0;
    this.spray = new Spray(target.host, ports, this.t.sprayPerTick, this.t.sprayTickMs, predicted);
    this.emit({ type: "strategy", strategy: "easy", detail: `${why}: probing ${ports.length} of its ports` });
  }

  private onSockets(count: number, now: number): void {
    if (!this.birthday || this.phase !== "punching") return;
    this.birthday.sockets = count;
    this.birthday.nextAt = now;
    this.tickBirthday(now);
  }

  /** Every extra socket PINGs the partner's public address: its mapping opens, and once the partner's spray
   * has hit that mapping's port, the PING gets through. */
  private tickBirthday(now: number): void {
    const b = this.birthday;
    const target = this.candidates.find((c) => c.kind === "public");
    if (!b || !target || b.sockets === 0 || now < b.nextAt) return;
    for (let socket = 1; socket <= b.sockets; socket++) this.sendPing(target, now, socket);
    b.nextAt = now + this.t.birthdayPingMs;
  }

  private sendSteps(steps: { to: Endpoint; msg: Message }[]): void {
    for (const s of steps) this.send(s.to, s.msg);
  }

  private sendPing(to: Endpoint, now: number, socket = 0): void {
    if (!this.pair) return;
    const seq = this.seq++;
    this.pings.set(seq, { to: { host: to.host, port: to.port }, sentAt: now, socket });
    this.send(to, { type: "ping", pairId: this.pair.pairId, peerId: this.setup.peerId, seq }, socket);
    if (this.pings.size > MAX_PINGS_REMEMBERED) this.pings.delete(this.pings.keys().next().value as number);
  }

  private pingAll(now: number): void {
    if (!this.pair) return;
    for (const c of this.candidates) this.sendPing(c, now);
    this.nextPingAt = now + this.pingDelay;
    this.pingDelay = Math.min(this.pingDelay * 1.5, this.t.pingIntervalMaxMs);
  }

  private tickPunch(now: number): void {
    if (!this.pair) return;
    if (this.decideAt !== undefined && now >= this.decideAt) return this.choose(now);
    if (now - this.pair.matchedAt >= this.t.punchMs) {
      const tried = this.candidates.map(formatEndpoint).join(", ");
      const relayNote =
        this.relay?.phase === "refused"
          ? "; the server has no relay to fall back on (start it with serve --relay)"
          : this.relay
            ? "; the relay fallback did not complete either"
            : "";
      return this.fail(
        new NetpunchError(
          "E_PUNCH_FAILED",
          `no path to the partner after ${Math.round(this.t.punchMs / 1000)} s (tried ${tried})${relayNote}`,
          "both NATs may allocate a new port per destination (symmetric NAT), or a firewall drops UDP between the peers; run netpunch doctor on both sides, use a server with --relay, or run one peer on a public address",
        ),
      );
    }
    const since = now - this.pair.matchedAt;
    const nothingYet = this.successes.length === 0;
    // No direct path after relayAfterMs: fall back on the server's relay, while direct PINGs go on.
    if (this.t.relay && !this.relay && nothingYet && since >= this.relayAfter()) this.startRelay(now);
    else if (this.relay) this.sendAll(this.relay.tick(now));
    // The partner's NAT is unknown (it registered before it had probed) and no path yet: it may be the
    // other half of a birthday pair, so play our half anyway.
    if (!this.strategy && nothingYet && !this.partnerNat && since >= this.t.sprayAfterMs) {
      if (isEasy(this.probe?.nat))
        this.startSpray(now, "no direct path yet and the partner's NAT is unknown");
      else if (isHard(this.probe?.nat))
        this.startBirthday(now, "no direct path yet and our NAT is symmetric");
    }
    if (this.probe) this.sendSteps(this.probe.tick(now));
    for (const ep of this.spray?.next(now) ?? []) this.sendPing(ep, now);
    this.tickBirthday(now);
    if (now >= this.nextPingAt) this.pingAll(now);
  }

  /** Birthday probing gets its full chance (about 2 s of spray) before the relay is asked for. */
  private relayAfter(): number {
    return this.spray || this.birthday
      ? Math.max(this.t.relayAfterMs, this.t.sprayAfterMs + 3_000)
      : this.t.relayAfterMs;
  }

  private startRelay(now: number): void {
    if (this.relay || !this.pair) return;
    this.relay = new RelayClient(this.setup.server, {
      session: this.setup.session,
      pairId: this.pair.pairId,
      peerId: this.setup.peerId,
    });
    this.emit({ type: "relay", state: "requested" });
    this.sendAll(this.relay.start(now));
  }

  private onRelayOffer(port: number, now: number): void {
    if (!this.relay || this.phase !== "punching") return;
    const steps = this.relay.onOffer(port, now);
    if (this.relay.phase === "refused") this.emit({ type: "relay", state: "unavailable" });
    else if (steps.length > 0) this.emit({ type: "relay", state: "binding", relay: this.relay.endpoint });
    this.sendAll(steps);
  }

  private onRelayBound(ready: boolean, now: number): void {
    const ep = this.relay?.endpoint;
    if (!this.relay?.onBound(ready) || !ep || this.phase !== "punching") return;
    this.emit({ type: "relay", state: "ready", relay: ep });
    this.candidates.push({ ...ep, kind: "relay" });
    this.pingAll(now);
  }

  /** What a source address is to us: one of the partner's candidates, our relay, or a new (reflexive) source. */
  private kindOf(from: Endpoint, socket = 0): CandidateKind {
    if (socket !== 0) return "birthday"; // one of our extra sockets won
    const relay = this.relay?.endpoint;
    if (relay && sameEndpoint(from, relay)) return "relay";
    const known = this.candidates.find((c) => sameEndpoint(c, from))?.kind;
    if (known) return known;
    if (
      this.spray &&
      from.host === this.candidates.find((c) => c.kind === "public")?.host &&
      this.spray.ports.includes(from.port)
    ) {
      return this.spray.isPredicted(from.port) ? "predicted" : "birthday";
    }
    return "reflexive";
  }

  private sendAll(steps: RelayStep): void {
    for (const s of steps) this.send(s.to, s.msg);
  }

  // 3. A PING proves partner -> us; answer with a PONG on the same path. A new source is a reflexive candidate.
  private onPing(from: Endpoint, seq: number, now: number, socket: number): void {
    if (!this.pair) return;
    this.send(from, { type: "pong", pairId: this.pair.pairId, peerId: this.setup.peerId, seq }, socket);
    if (
      this.phase === "punching" &&
      socket === 0 &&
      this.kindOf(from, socket) === "reflexive" &&
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
  private onPong(from: Endpoint, seq: number, now: number, socket: number): void {
    const ping = this.pings.get(seq);
    // A PONG counts on the path its PING took: same address, same local socket.
    if (!ping || !sameEndpoint(ping.to, from) || ping.socket !== socket || this.phase !== "punching") return;
    const kind = this.kindOf(from, socket);
    const rttMs = now - ping.sentAt;
    if (!this.successes.some((s) => sameEndpoint(s.ep, from) && s.socket === socket)) {
      this.successes.push({ ep: { host: from.host, port: from.port }, kind, rttMs, socket });
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
    const rank = (s: Success) => (s.kind === "lan" ? 0 : s.kind === "relay" ? 2 : 1);
    const best = [...this.successes].sort((x, y) => rank(x) - rank(y) || x.rttMs - y.rttMs)[0];
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
    this.send(this.chosen.ep, msg, this.chosen.socket);
  }

  private tickClose(now: number): void {
    if (this.closesSent < this.t.closeCount && now >= this.nextCloseAt) {
      this.sendClose();
      this.nextCloseAt = now + this.closeInterval;
    }
    if (this.closesSent >= this.t.closeCount && now >= this.closingUntil) this.finish();
  }

  // 6. A CLOSE proves our PONG arrived: both directions work on the path it came from.
  private onClose(from: Endpoint, partnerRtt: number, _now: number, socket: number): void {
    if (this.phase === "punching") {
      const kind = this.kindOf(from, socket);
      const own = this.successes.find((s) => sameEndpoint(s.ep, from) && s.socket === socket);
      this.chosen = {
        ep: { host: from.host, port: from.port },
        kind,
        rttMs: own?.rttMs ?? partnerRtt,
        socket,
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
      const kind = this.kindOf(from, socket);
      this.chosen = { ep: { host: from.host, port: from.port }, kind, rttMs: partnerRtt, socket };
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
    const { ep, kind, rttMs, socket } = this.chosen;
    this.out.push({
      kind: "done",
      outcome: { remote: ep, kind, rttMs, publicAddr: this.publicAddr, socket },
    });
  }

  private fail(error: NetpunchError): void {
    this.phase = "finished";
    this.out.push({ kind: "fail", error });
  }

  private wakeAt(): number | undefined {
    switch (this.phase) {
      case "registering":
      case "waiting": {
        let at = Math.min(this.nextRegisterAt, this.probe?.wakeAt() ?? Number.POSITIVE_INFINITY);
        if (!this.heardFromServer) at = Math.min(at, this.startedAt + this.t.serverSilentMs);
        return Math.min(at, this.startedAt + this.t.waitMs);
      }
      case "punching": {
        const matched = this.pair?.matchedAt ?? 0;
        const never = Number.POSITIVE_INFINITY;
        const nothingYet = this.successes.length === 0;
        const relayDue = this.t.relay && nothingYet ? matched + this.relayAfter() : never;
        const mine = this.probe?.nat;
        const sprayDue =
          !this.strategy && nothingYet && !this.partnerNat && (isEasy(mine) || isHard(mine))
            ? matched + this.t.sprayAfterMs
            : never;
        const birthdayAt = this.birthday?.sockets ? this.birthday.nextAt : never;
        return Math.min(
          this.nextPingAt,
          matched + this.t.punchMs,
          this.decideAt ?? never,
          this.relay ? this.relay.wakeAt() : relayDue,
          sprayDue,
          this.spray?.wakeAt() ?? never,
          birthdayAt,
          this.probe?.wakeAt() ?? never,
        );
      }
      case "closing":
        return this.closesSent < this.t.closeCount ? this.nextCloseAt : this.closingUntil;
      default:
        return undefined;
    }
  }

  private send(to: Endpoint, msg: Message, socket = 0): void {
    this.out.push(socket ? { kind: "send", to, msg, socket } : { kind: "send", to, msg });
  }

  private emit(event: NetpunchEvent): void {
    this.out.push({ kind: "event", event });
  }

  private drop(from: Endpoint, reason: "unexpected" | "foreign-pair"): void {
    this.emit({ type: "dropped", from, reason });
  }
}
