import { formatEndpoint, sameEndpoint } from "../addr.ts";
import { NetpunchError } from "../errors.ts";
import type { Message } from "../protocol/messages.ts";
import type { Frame } from "../protocol/packet.ts";
import type { Candidate, CandidateKind, Endpoint, NetpunchEvent, Role } from "../types.ts";
import { DEFAULT_PEER_TIMINGS, type PeerTimings } from "./config.ts";
import { RelayClient, type RelayStep } from "./relay-client.ts";

export interface PeerSetup {
  session: string;
  role: Role;
  /** Random per run: lets the server tell a restarted peer from a retransmission. */
  peerId: string;
  server: Endpoint;
  /** This host's own addresses with the local port: offered to the partner as LAN candidates. */
  lanCandidates: Endpoint[];
  timings?: Partial<PeerTimings>;
}

/** What the punch proved: where the partner answers, how, and how fast. */
export interface PunchOutcome {
  remote: Endpoint;
  kind: CandidateKind;
  rttMs: number;
  publicAddr: Endpoint | undefined;
}

export type PeerAction =
  | { kind: "send"; to: Endpoint; msg: Message }
  | { kind: "event"; event: NetpunchEvent }
  | { kind: "done"; outcome: PunchOutcome }
  | { kind: "fail"; error: NetpunchError };

export type PeerInput =
  | { type: "start"; now: number }
  | { type: "tick"; now: number }
  | { type: "frame"; now: number; from: Endpoint; frame: Frame };

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
}

const MAX_REFLEXIVE = 4; // a partner has few real source addresses; more would be someone spraying us
const MAX_PINGS_REMEMBERED = 512;

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
  private readonly pings = new Map<number, { to: Endpoint; sentAt: number }>();
  private nextPingAt = 0;
  private pingDelay: number;
  private readonly successes: Success[] = [];
  private decideAt: number | undefined;
  private relay: RelayClient | undefined;
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
    else this.onFrame(input.from, input.frame, input.now);
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
    this.send(server, { type: "register", session, role, peerId, candidates: lanCandidates });
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
    if (now >= this.nextRegisterAt) {
      if (this.phase === "registering" && this.registerTries % 4 === 0) {
        this.emit({ type: "server-silent", tries: this.registerTries });
      }
      this.sendRegister(now);
    }
  }

  private onFrame(from: Endpoint, frame: Frame, now: number): void {
    const msg = frame.msg;
    if (sameEndpoint(from, this.setup.server)) {
      if (msg.type === "registered") return this.onRegistered(msg.observed, now);
      if (msg.type === "match") return this.onMatch(msg, now);
      if (msg.type === "relayOffer" && this.relay && msg.pairId === this.pair?.pairId)
        return this.onRelayOffer(msg.port, now);
      return this.drop(from, "unexpected");
    }
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
    if (msg.type === "ping") return this.onPing(from, msg.seq, now);
    if (msg.type === "pong") return this.onPong(from, msg.seq, now);
    return this.onClose(from, msg.rttMs, now);
  }

  private onRegistered(observed: Endpoint, now: number): void {
    const first = !this.heardFromServer;
    this.heardFromServer = true;
    this.publicAddr = observed;
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
    this.pingDelay = this.t.pingIntervalMs;
    this.emit({ type: "matched", candidates: this.candidates });
    this.pingAll(now);
  }

  private pingAll(now: number): void {
    if (!this.pair) return;
    for (const c of this.candidates) {
      const seq = this.seq++;
      this.pings.set(seq, { to: c, sentAt: now });
      this.send(c, { type: "ping", pairId: this.pair.pairId, peerId: this.setup.peerId, seq });
    }
    while (this.pings.size > MAX_PINGS_REMEMBERED)
      this.pings.delete(this.pings.keys().next().value as number);
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
    // No direct path after relayAfterMs: fall back on the server's relay, while direct PINGs go on.
    if (
      this.t.relay &&
      !this.relay &&
      this.successes.length === 0 &&
      now - this.pair.matchedAt >= this.t.relayAfterMs
    ) {
      this.relay = new RelayClient(this.setup.server, {
        session: this.setup.session,
        pairId: this.pair.pairId,
        peerId: this.setup.peerId,
      });
      this.emit({ type: "relay", state: "requested" });
      this.sendAll(this.relay.start(now));
    } else if (this.relay) this.sendAll(this.relay.tick(now));
    if (now >= this.nextPingAt) this.pingAll(now);
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
  private kindOf(from: Endpoint): CandidateKind {
    const relay = this.relay?.endpoint;
    if (relay && sameEndpoint(from, relay)) return "relay";
    return this.candidates.find((c) => sameEndpoint(c, from))?.kind ?? "reflexive";
  }

  private sendAll(steps: RelayStep): void {
    for (const s of steps) this.send(s.to, s.msg);
  }

  // 3. A PING proves partner -> us; answer with a PONG on the same path. A new source is a reflexive candidate.
  private onPing(from: Endpoint, seq: number, now: number): void {
    if (!this.pair) return;
    this.send(from, { type: "pong", pairId: this.pair.pairId, peerId: this.setup.peerId, seq });
    if (
      this.phase === "punching" &&
      this.kindOf(from) === "reflexive" &&
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
  private onPong(from: Endpoint, seq: number, now: number): void {
    const ping = this.pings.get(seq);
    if (!ping || !sameEndpoint(ping.to, from) || this.phase !== "punching") return;
    const kind = this.kindOf(from);
    const rttMs = now - ping.sentAt;
    if (!this.successes.some((s) => sameEndpoint(s.ep, from))) {
      this.successes.push({ ep: { host: from.host, port: from.port }, kind, rttMs });
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
    this.send(this.chosen.ep, { type: "close", pairId: this.pair.pairId, peerId: this.setup.peerId, rttMs });
  }

  private tickClose(now: number): void {
    if (this.closesSent < this.t.closeCount && now >= this.nextCloseAt) {
      this.sendClose();
      this.nextCloseAt = now + this.closeInterval;
    }
    if (this.closesSent >= this.t.closeCount && now >= this.closingUntil) this.finish();
  }

  // 6. A CLOSE proves our PONG arrived: both directions work on the path it came from.
  private onClose(from: Endpoint, partnerRtt: number, _now: number): void {
    if (this.phase === "punching") {
      const kind = this.kindOf(from);
      const own = this.successes.find((s) => sameEndpoint(s.ep, from));
      this.chosen = { ep: { host: from.host, port: from.port }, kind, rttMs: own?.rttMs ?? partnerRtt };
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
      const kind = this.kindOf(from);
      this.chosen = { ep: { host: from.host, port: from.port }, kind, rttMs: partnerRtt };
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
    const { ep, kind, rttMs } = this.chosen;
    this.out.push({ kind: "done", outcome: { remote: ep, kind, rttMs, publicAddr: this.publicAddr } });
  }

  private fail(error: NetpunchError): void {
    this.phase = "finished";
    this.out.push({ kind: "fail", error });
  }

  private wakeAt(): number | undefined {
    switch (this.phase) {
      case "registering":
      case "waiting": {
        let at = this.nextRegisterAt;
        if (!this.heardFromServer) at = Math.min(at, this.startedAt + this.t.serverSilentMs);
        return Math.min(at, this.startedAt + this.t.waitMs);
      }
      case "punching": {
        const end = (this.pair?.matchedAt ?? 0) + this.t.punchMs;
        const relayDue =
          this.t.relay && this.successes.length === 0
            ? (this.pair?.matchedAt ?? 0) + this.t.relayAfterMs
            : Number.POSITIVE_INFINITY;
        const relayAt = this.relay ? this.relay.wakeAt() : relayDue;
        return Math.min(this.nextPingAt, end, this.decideAt ?? Number.POSITIVE_INFINITY, relayAt);
      }
      case "closing":
        return this.closesSent < this.t.closeCount ? this.nextCloseAt : this.closingUntil;
      default:
        return undefined;
    }
  }

  private send(to: Endpoint, msg: Message): void {
    this.out.push({ kind: "send", to, msg });
  }

  private emit(event: NetpunchEvent): void {
    this.out.push({ kind: "event", event });
  }

  private drop(from: Endpoint, reason: "unexpected" | "foreign-pair"): void {
    this.emit({ type: "dropped", from, reason });
  }
}
