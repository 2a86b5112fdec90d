import { Backoff } from "../backoff.ts";
import { Fail, type NetpunchError } from "../errors.ts";
import { MAX_CANDIDATES } from "../protocol/constants.ts";
import type { Match, Message, NatInfo, Register, Registered } from "../protocol/messages.ts";
import type { Endpoint, NetpunchEvent, Role } from "../types.ts";
import type { PeerTimings } from "./config.ts";
import { NatProbe } from "./nat-probe.ts";

/** Who we are and where we register: given to the peer, kept by its rendezvous client. */
export interface PeerIdentity {
  session: string;
  role: Role;
  /** Random per run: lets the server tell a restarted peer from a retransmission. */
  peerId: string;
  server: Endpoint;
  /** This host's own addresses with the local port: offered to the partner as LAN candidates. */
  lanCandidates: Endpoint[];
  /** A public port our gateway forwards to us (PCP/NAT-PMP): announced as an extra candidate. */
  mapped?: Endpoint;
  /**
   * The hook's offer for the partner, as hex (checked by connect(): 1 to MAX_OFFER_LEN bytes). Every REGISTER
   * carries it: it rides in the padding, so it costs no byte, and the server always holds the latest.
   */
  offer?: string;
  /**
   * Proxy mode (src/proxy): every REGISTER says so, and the server tells the partner in its MATCH (and us its
   * mode in ours), so a pair whose peers disagree fails on both sides before any tunnel starts.
   */
  proxy?: boolean;
}

export interface RendezvousSetup extends PeerIdentity {
  localPort: number;
  random: () => number;
  nonce: () => string;
}

export type RendezvousAction =
  /** `nonce`: seal with this nonce (REGISTER: its answers must echo it). */
  | { kind: "send"; to: Endpoint; msg: Message; nonce?: string }
  /** Seal and check every packet from now on in the server's time: our clock plus `offsetMs`. */
  | { kind: "clock"; offsetMs: number }
  | { kind: "event"; event: NetpunchEvent }
  | { kind: "fail"; error: NetpunchError };

/** `matched`: a pair is being punched; no more REGISTERs (the server holds us as matched). */
type Phase = "idle" | "registering" | "waiting" | "matched";

const MAX_REGISTERS_REMEMBERED = 32; // two keepalive periods' worth of REGISTER retries; older echoes are refused
const LEAVE_COPIES = 3; // at 20% loss all three are lost 0.8% of the time; then the role is held 20 s at most

/**
 * The peer's side of the rendezvous, pure: REGISTER until the server answers (README step 1), keepalives
 * while the partner is away, "server silent" and "partner timeout", the clock offset from the server's
 * answers, the MATCH checks (2), and our own NAT's behaviour from the server's alt port (2b). It hands each
 * fresh MATCH to the peer, which starts a pair machine for it. Every method returns actions.
 */
export class RendezvousClient {
  private state: Phase = "idle";
  private startedAt = 0;
  private nextRegisterAt = 0;
  /** REGISTER retries while no answer has come (README step 1); keepalives use keepaliveMs instead. */
  private readonly registerRetry: Backoff;
  private registerTries = 0;
  private heard = false;
  private observed: Endpoint | undefined;
  /** REGISTERs we sent, by nonce, with the time: answers must echo one of them, and only once. */
  private readonly registers = new Map<string, number>();
  private readonly answeredRegisters = new Set<string>();
  private cookie: string | undefined;
  private busyReported = false;
  private waitReports = 0;
  /** Pairs the server undid (UNMATCH): a late retransmission of their MATCH must not start them again. */
  private readonly undone = new Set<string>();
  private probe: NatProbe | undefined;
  private out: RendezvousAction[] = [];

  constructor(
    private readonly setup: RendezvousSetup,
    private readonly t: PeerTimings,
  ) {
    this.registerRetry = new Backoff({
      firstMs: t.registerRetryMs,
      factor: 2,
      maxMs: t.registerRetryMaxMs,
      maxTries: Number.POSITIVE_INFINITY, // serverSilentMs bounds it, in time
    });
  }

  get phase(): Phase {
    return this.state;
  }
  /** REGISTERs sent so far (the error that names several silent servers counts them). */
  get tries(): number {
    return this.registerTries;
  }
  get server(): Endpoint {
    return this.setup.server;
  }
  /** Whether the server has answered at all (then a LEAVE is worth sending). */
  get heardFromServer(): boolean {
    return this.heard;
  }
  /** Our address as the server saw it last. */
  get publicAddr(): Endpoint | undefined {
    return this.observed;
  }
  /** Our NAT's mapping behaviour, once the probe has learned it. */
  get ownNat(): NatInfo | undefined {
    return this.probe?.nat;
  }
  /** The server's alt port, once it has told us: PROBE_REPLY comes from there. */
  get altEndpoint(): Endpoint | undefined {
    return this.probe?.alt;
  }

  // 1. Register with the server, retrying with a doubling wait until it answers.
  start(now: number): RendezvousAction[] {
    this.out = [];
    this.state = "registering";
    this.startedAt = now;
    this.sendRegister(now);
    return this.out;
  }

  /** Registering or waiting: timeouts, probe retries, wait reports, REGISTER retries and keepalives. */
  tick(now: number): RendezvousAction[] {
    this.out = [];
    if (this.state === "matched") return this.tickProbe(now);
    if (this.state === "idle") return [];
    const { server, session, role } = this.setup;
    const waited = now - this.startedAt;
    // A --timeout shorter than the server timeout must not disguise a silent server as a missing partner.
    if (!this.heard && (waited >= this.t.serverSilentMs || waited >= this.t.waitMs)) {
      return [fail(Fail.serverSilent(server, this.registerTries, Math.round(waited / 1000)))];
    }
    if (waited >= this.t.waitMs) {
      return [fail(Fail.partnerTimeout(partnerOf(role), session, Math.round(this.t.waitMs / 1000)))];
    }
    this.out.push(...this.tickProbe(now));
    if (this.state === "waiting" && waited >= waitReportAt(this.waitReports)) {
      this.waitReports++;
      this.emit({ type: "still-waiting", session, partnerRole: partnerOf(role), waitedMs: waited });
    }
    if (now >= this.nextRegisterAt) {
      // Only while nothing at all came back: a challenge, or "busy", is an answer.
      if (this.state === "registering" && !this.heard && this.registerTries % 4 === 0) {
        this.emit({ type: "server-silent", tries: this.registerTries, server });
      }
      this.sendRegister(now);
    }
    return this.out;
  }

  /** Probe retries only (while a pair is punched). */
  tickProbe(now: number): RendezvousAction[] {
    return sends(this.probe?.tick(now) ?? []);
  }

  /** 1a. The server's answer: it must echo a REGISTER of ours that it has not answered yet. */
  onRegistered(from: Endpoint, msg: Registered, now: number): RendezvousAction[] {
    this.out = [];
    const sentAt = this.registers.get(msg.echo);
    if (sentAt === undefined || this.answeredRegisters.has(msg.echo)) return [dropped(from, "unsolicited")];
    this.answeredRegisters.add(msg.echo);
    if (this.answeredRegisters.size > MAX_REGISTERS_REMEMBERED)
      this.answeredRegisters.delete(this.answeredRegisters.values().next().value as string);
    // The server stamped its clock when it answered, about half a round trip ago.
    this.out.push({ kind: "clock", offsetMs: Math.round(msg.serverTime + (now - sentAt) / 2 - now) });
    this.cookie = msg.cookie;
    const first = !this.heard;
    this.heard = true;
    this.observed = msg.observed;
    if (msg.altPort) this.startProbe(msg.altPort, now);
    if (msg.status === "full" || msg.status === "limit") {
      this.out.push(fail(Fail.serverFull(this.setup.server, msg.status === "full" ? "server" : "address")));
      return this.out;
    }
    if (this.state !== "registering" && this.state !== "waiting") return this.out;
    // Prove that we receive at our address: send again at once, with the cookie.
    if (msg.status === "challenge") {
      this.sendRegister(now);
      return this.out;
    }
    if (msg.status === "busy") {
      if (!this.busyReported)
        this.emit({ type: "role-busy", session: this.setup.session, role: this.setup.role });
      this.busyReported = true;
      return this.out;
    }
    if (this.state !== "registering") return this.out;
    // 1b. Registered; keep the NAT mapping to the server alive while the partner is away.
    this.state = "waiting";
    this.nextRegisterAt = now + this.t.keepaliveMs;
    const { server, session } = this.setup;
    if (first) this.emit({ type: "registered", publicAddr: msg.observed, server });
    this.emit({ type: "waiting", session, server });
    return this.out;
  }

  /**
   * 2. The server pushed the partner's candidates: acknowledge. `fresh` is true when this MATCH starts a new
   * pair; `current` says whether its pair is being punched already (then this is a retransmission).
   */
  onMatch(
    from: Endpoint,
    msg: Match,
    now: number,
    current: boolean,
  ): { actions: RendezvousAction[]; fresh: boolean } {
    this.out = [];
    // Bound to us and to a REGISTER of this run; a new pair only while we wait for one, the current pair's
    // retransmission at any time. Anything else is a replay or someone else's.
    const ours = msg.to === this.setup.peerId && this.registers.has(msg.echo) && !this.undone.has(msg.pairId);
    const retransmit = ours && current;
    const fresh = ours && !current && (this.state === "registering" || this.state === "waiting");
    if (!retransmit && !fresh) return { actions: [dropped(from, "unsolicited")], fresh: false };
    if (fresh) {
      // Matched on first contact, REGISTERED may never come: the MATCH brings the server's clock and a cookie.
      const sentAt = this.registers.get(msg.echo) ?? now;
      this.out.push({ kind: "clock", offsetMs: Math.round(msg.serverTime + (now - sentAt) / 2 - now) });
      this.cookie = msg.cookie;
    }
    this.heard = true;
    this.observed = msg.observed;
    this.out.push({ kind: "send", to: this.setup.server, msg: this.matchAck(msg.pairId) });
    if (fresh) this.state = "matched";
    return { actions: this.out, fresh };
  }

  private matchAck(pairId: string): Message {
    const { session, peerId } = this.setup;
    return { type: "matchAck", session, pairId, peerId };
  }

  /** 2a. The server's alt port: learn our NAT's behaviour from it (once). */
  startProbe(altPort: number, now: number): RendezvousAction[] {
    this.probe ??= new NatProbe(
      this.setup.server,
      { port: this.setup.localPort, hosts: this.setup.lanCandidates.map((c) => c.host) },
      this.setup.random,
    );
    const steps = sends(this.probe.start(altPort, now));
    this.out.push(...steps);
    return steps;
  }

  /**
   * 2b. Our NAT's behaviour: register it while waiting (the server tells a later partner). Returns it when
   * this reply completes it, so the peer can tell the pairs being punched.
   */
  onProbeReply(
    from: Endpoint,
    probeId: number,
    observedViaAlt: Endpoint,
    now: number,
  ): { actions: RendezvousAction[]; nat: NatInfo | undefined } {
    this.out = [];
    if (!this.probe?.claim(probeId)) return { actions: [dropped(from, "unsolicited")], nat: undefined };
    const nat = this.probe.onReply(observedViaAlt, this.observed);
    if (!nat) return { actions: [], nat: undefined };
    this.emit({ type: "nat", nat });
    if (this.state === "waiting") this.sendRegister(now);
    return { actions: this.out, nat };
  }

  /** 2c. The server undid our pair: wait for a partner again (and never take that pair's MATCH again). */
  unmatched(pairId: string, now: number): RendezvousAction[] {
    this.out = [];
    this.undone.add(pairId);
    this.state = "waiting";
    this.emit({ type: "partner-lost", session: this.setup.session });
    this.sendRegister(now);
    return this.out;
  }

  /**
   * We stop before the punch is done: tell the server, so the next partner, or our own next attempt, is not
   * paired with the registration we leave behind. LEAVE_COPIES at once instead of retried: exit must never
   * wait for an answer.
   */
  leave(): RendezvousAction[] {
    if (!this.heard) return [];
    const { session, role, peerId, server } = this.setup;
    const msg: Message = { type: "leave", session, role, peerId };
    return Array.from({ length: LEAVE_COPIES }, () => ({ kind: "send", to: server, msg }) as const);
  }

  wakeAt(): number {
    const probeAt = this.probe?.wakeAt() ?? Number.POSITIVE_INFINITY;
    if (this.state === "matched") return probeAt;
    if (this.state === "idle") return Number.POSITIVE_INFINITY;
    let at = Math.min(this.nextRegisterAt, probeAt);
    if (this.state === "waiting") at = Math.min(at, this.startedAt + waitReportAt(this.waitReports));
    if (!this.heard) at = Math.min(at, this.startedAt + this.t.serverSilentMs);
    return Math.min(at, this.startedAt + this.t.waitMs);
  }

  private sendRegister(now: number): void {
    const { session, role, peerId, lanCandidates, server, mapped, offer, proxy } = this.setup;
    const nat = this.probe?.nat;
    const nonce = this.setup.nonce();
    this.registers.set(nonce, now);
    if (this.registers.size > MAX_REGISTERS_REMEMBERED)
      this.registers.delete(this.registers.keys().next().value as string);
    const msg: Message = {
      type: "register",
      session,
      role,
      peerId,
      candidates: announced(lanCandidates, mapped),
      ...(nat ? { nat } : {}),
      ...(this.cookie ? { cookie: this.cookie } : {}),
      ...(offer ? { offer } : {}),
      ...(proxy ? { proxy: true } : {}),
    };
    this.out.push({ kind: "send", to: server, msg, nonce });
    this.registerTries++;
    this.nextRegisterAt =
      this.state === "registering" ? this.registerRetry.sent(now) : now + this.t.keepaliveMs;
  }

  private emit(event: NetpunchEvent): void {
    this.out.push({ kind: "event", event });
  }
}

const partnerOf = (role: Role): Role => (role === "a" ? "b" : "a");

const fail = (error: NetpunchError): RendezvousAction => ({ kind: "fail", error });

const dropped = (from: Endpoint, reason: "unsolicited"): RendezvousAction => ({
  kind: "event",
  event: { type: "dropped", from, reason },
});

const sends = (steps: { to: Endpoint; msg: Message }[]): RendezvousAction[] =>
  steps.map(({ to, msg }) => ({ kind: "send", to, msg }));

/**
 * When to say "still waiting": after 1, 2 and 5 minutes, then every 10 minutes, so a long wait is visible
 * without filling the log.
 */
const WAIT_REPORTS_MS = [60_000, 120_000, 300_000, 600_000] as const;
function waitReportAt(done: number): number {
  const last = WAIT_REPORTS_MS[WAIT_REPORTS_MS.length - 1] ?? 600_000;
  return WAIT_REPORTS_MS[done] ?? last + (done - WAIT_REPORTS_MS.length + 1) * 600_000;
}

/**
 * What a REGISTER lists about us: the mapped port first (it works across the NATs, which a LAN address
 * only does for a partner on the same LAN), then the LAN addresses, at most MAX_CANDIDATES in all.
 */
export function announced(lan: readonly Endpoint[], mapped: Endpoint | undefined): Register["candidates"] {
  const all: Register["candidates"] = mapped
    ? [{ kind: "mapped", host: mapped.host, port: mapped.port }]
    : [];
  for (const c of lan) all.push({ kind: "lan", host: c.host, port: c.port });
  return all.slice(0, MAX_CANDIDATES);
}
