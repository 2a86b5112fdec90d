import { sameEndpoint } from "../addr.ts";
import { punchFailureNote } from "../errors.ts";
import { isEasy, isHard } from "../nat/classify.ts";
import type { Message, NatInfo, RelayBound, RelayChallenge, RelayOffer } from "../protocol/messages.ts";
import type { Candidate, CandidateKind, Endpoint, NetpunchEvent } from "../types.ts";
import { Spray, sprayPorts, strategyFor } from "./birthday.ts";
import type { PeerTimings } from "./config.ts";
import { type Path, PUNCHING } from "./path.ts";
import { RelayClient } from "./relay-client.ts";

/** What the fallbacks ask the pair machine to do; it carries them out in order. */
export type FallbackAction =
  /** A packet to the server, its alt port or our relay port, from the punching socket. */
  | { kind: "send"; to: Endpoint; msg: Message }
  /** A PING to the partner on `path`: the pair machine numbers it, remembers it, counts it against the budget. */
  | { kind: "ping"; to: Endpoint; path: Path }
  | { kind: "event"; event: NetpunchEvent }
  /** Birthday probing: open this many extra sockets (the driver reports them back, to onSockets). */
  | { kind: "open-sockets"; count: number }
  /** Lets birthday probing send `extra` more packets to `host` before it answers (see SendBudget). */
  | { kind: "allow"; host: string; extra: number }
  /** A new candidate (the relay) that every PING round from now on includes; PINGed at once. */
  | { kind: "candidate"; candidate: Candidate };

/** The punch as the fallbacks see it. */
export interface PunchView {
  pairId: string;
  matchedAt: number;
  /** The partner's public address as the server saw it: the target of birthday probing. */
  target: Candidate | undefined;
  /** No path has answered yet. */
  nothingYet: boolean;
}

interface Ids {
  server: Endpoint;
  session: string;
  peerId: string;
  random: () => number;
}

/**
 * Everything beyond plain punching for one pair, pure: telling the partner our NAT's behaviour, and the
 * strategies that follow from both sides' (birthday probing, prediction, the relay). The pair machine feeds
 * it events and ticks; every method returns what to do, as actions, like the sub-machines it drives.
 */
export class Fallbacks {
  private strategy: "hard" | "easy" | "relay" | undefined;
  private spray: Spray | undefined;
  private birthday: { sockets: number; nextAt: number } | undefined;
  private relay: RelayClient | undefined;

  /** `ownNat`, `partnerNat`: each side's NAT behaviour as far as known at the match. */
  constructor(
    private readonly t: PeerTimings,
    private readonly ids: Ids,
    private ownNat: NatInfo | undefined,
    private partnerNat: NatInfo | undefined,
  ) {}

  get relayEndpoint(): Endpoint | undefined {
    return this.relay?.endpoint;
  }
  /** The relay client, in whatever phase it is (proxy mode drives it on after the punch). */
  get relayClient(): RelayClient | undefined {
    return this.relay;
  }

  /** Learned after the match: the partner registered before we probed, so tell it through the server. */
  announce(nat: NatInfo, view: PunchView, now: number): FallbackAction[] {
    this.ownNat ??= nat;
    const { server, session, peerId } = this.ids;
    const msg: Message = { type: "natUpdate", session, pairId: view.pairId, peerId, nat };
    return [{ kind: "send", to: server, msg }, ...this.pick(view, now)];
  }

  onPartnerNat(nat: NatInfo, view: PunchView, now: number): FallbackAction[] {
    this.partnerNat ??= nat;
    return this.pick(view, now);
  }

  /** Once both behaviours are known, go beyond plain punching: birthday probing, or the relay at once. */
  pick(view: PunchView, now: number): FallbackAction[] {
    const s = strategyFor(this.ownNat, this.partnerNat);
    // Both symmetric: the relay at once, even if we had started guessing with birthday probing.
    if (s === "relay") {
      if (this.relay || !this.t.relay) return [];
      this.strategy = s;
      const detail = "both NATs are symmetric: no direct path can exist";
      return [event({ type: "strategy", strategy: s, detail }), ...this.startRelay(view, now)];
    }
    if (this.strategy || s === "plain") return [];
    if (s === "hard") return this.startBirthday(view, now, "our NAT is symmetric, the partner's is not");
    return this.startSpray(view, "the partner's NAT is symmetric");
  }

  private startBirthday(view: PunchView, now: number, why: string): FallbackAction[] {
    if (this.birthday) return [];
    this.strategy = "hard";
    const n = this.t.birthdaySockets;
    const out: FallbackAction[] = [
      event({
        type: "strategy",
        strategy: "hard",
        detail: `${why}: opening ${n} sockets toward the partner`,
      }),
    ];
    this.birthday = { sockets: 0, nextAt: now };
    // Each socket PINGs the partner's one public address every half second until a probe opens the path.
    if (view.target) out.push({ kind: "allow", host: view.target.host, extra: this.t.sprayCount });
    out.push({ kind: "open-sockets", count: n });
    return out;
  }

  private startSpray(view: PunchView, why: string): FallbackAction[] {
    if (this.spray || !view.target) return [];
    this.strategy = "easy";
    const ports = sprayPorts(view.target, this.partnerNat, this.t.sprayCount, this.ids.random);
    const predicted = this.partnerNat?.mapping === "sequential" ? Math.min(32, ports.length) : 0;
    this.spray = new Spray(view.target.host, ports, this.t.sprayPerTick, this.t.sprayTickMs, predicted);
    // The spray is the one time we send many packets to an address that has not answered: bounded by its size.
    return [
      { kind: "allow", host: view.target.host, extra: ports.length },
      event({ type: "strategy", strategy: "easy", detail: `${why}: probing ${ports.length} of its ports` }),
    ];
  }

  onSockets(count: number, view: PunchView, now: number): FallbackAction[] {
    if (!this.birthday) return [];
    this.birthday.sockets = count;
    this.birthday.nextAt = now;
    return this.tickBirthday(view, now);
  }

  /** Every extra socket PINGs the partner's public address: its mapping opens, and once the partner's probes
   * have hit that mapping's port, the PING gets through. */
  private tickBirthday(view: PunchView, now: number): FallbackAction[] {
    const b = this.birthday;
    const target = view.target;
    if (!b || !target || b.sockets === 0 || now < b.nextAt) return [];
    b.nextAt = now + this.t.birthdayPingMs;
    return Array.from({ length: b.sockets }, (_, i) => ({
      kind: "ping" as const,
      to: target,
      path: { kind: "direct" as const, socket: i + 1 },
    }));
  }

  /** Birthday probing gets its full chance (about 2 s of probes) before the relay is asked for. */
  private relayAfter(): number {
    return this.spray || this.birthday
      ? Math.max(this.t.relayAfterMs, this.t.sprayAfterMs + 3_000)
      : this.t.relayAfterMs;
  }

  private startRelay(view: PunchView, now: number): FallbackAction[] {
    if (this.relay) return [];
    this.relay = new RelayClient(this.ids.server, {
      session: this.ids.session,
      pairId: view.pairId,
      peerId: this.ids.peerId,
    });
    return [event({ type: "relay", state: "requested" }), ...sends(this.relay.start(now))];
  }

  onRelayOffer(offer: RelayOffer, now: number): FallbackAction[] {
    if (!this.relay) return [];
    const asking = this.relay.phase === "requesting";
    const steps = this.relay.onOffer(offer, now);
    const refusal = this.relay.refusal;
    if (asking && refusal) return [event({ type: "relay", state: refusal }), ...sends(steps)];
    if (steps.length === 0) return [];
    return [event({ type: "relay", state: "binding", relay: this.relay.endpoint }), ...sends(steps)];
  }

  /** What our relay port answers a BIND with: a challenge to echo, or that we (and the partner) are bound. */
  onRelayReply(msg: RelayChallenge | RelayBound, now: number): FallbackAction[] {
    if (msg.type === "relayChallenge") return sends(this.relay?.onChallenge(msg, now) ?? []);
    const ep = this.relay?.endpoint;
    if (!this.relay?.onBound(msg.ready) || !ep) return [];
    return [
      event({ type: "relay", state: "ready", relay: ep }),
      { kind: "candidate", candidate: { ...ep, kind: "relay" } },
    ];
  }

  tickPunch(view: PunchView, now: number): FallbackAction[] {
    const out: FallbackAction[] = [];
    const since = now - view.matchedAt;
    // No direct path after relayAfterMs: fall back on the server's relay, while direct PINGs go on.
    if (this.t.relay && !this.relay && view.nothingYet && since >= this.relayAfter())
      out.push(...this.startRelay(view, now));
    else if (this.relay) out.push(...sends(this.relay.tick(now)));
    // The partner's NAT is still unknown (its news was lost) and no path yet: it may be the other half of a
    // birthday pair, so play our half anyway.
    if (!this.strategy && view.nothingYet && !this.partnerNat && since >= this.t.sprayAfterMs) {
      if (isEasy(this.ownNat))
        out.push(...this.startSpray(view, "no direct path yet and the partner's NAT is unknown"));
      else if (isHard(this.ownNat))
        out.push(...this.startBirthday(view, now, "no direct path yet and our NAT is symmetric"));
    }
    for (const to of this.spray?.next(now) ?? []) out.push({ kind: "ping", to, path: PUNCHING });
    out.push(...this.tickBirthday(view, now));
    return out;
  }

  wakeAt(view: PunchView): number {
    const never = Number.POSITIVE_INFINITY;
    const mine = this.ownNat;
    const relayDue = this.t.relay && view.nothingYet ? view.matchedAt + this.relayAfter() : never;
    const guessDue =
      !this.strategy && view.nothingYet && !this.partnerNat && (isEasy(mine) || isHard(mine))
        ? view.matchedAt + this.t.sprayAfterMs
        : never;
    return Math.min(
      this.relay ? this.relay.wakeAt() : relayDue,
      guessDue,
      this.spray?.wakeAt() ?? never,
      this.birthday?.sockets ? this.birthday.nextAt : never,
    );
  }

  /** What a source is when it is none of the partner's candidates: our relay, or a probed port. */
  kindOf(from: Endpoint, target: Candidate | undefined): CandidateKind | undefined {
    const relay = this.relay?.endpoint;
    if (relay && sameEndpoint(from, relay)) return "relay";
    if (this.spray && from.host === target?.host && this.spray.ports.includes(from.port)) {
      return this.spray.isPredicted(from.port) ? "predicted" : "birthday";
    }
    return undefined;
  }

  /** Why punching failed, as far as the fallbacks know; appended to E_PUNCH_FAILED. */
  failureNote(): string {
    return punchFailureNote(this.relay ? (this.relay.refusal ?? "incomplete") : undefined);
  }
}

const sends = (steps: { to: Endpoint; msg: Message }[]): FallbackAction[] =>
  steps.map(({ to, msg }) => ({ kind: "send", to, msg }));

const event = (e: NetpunchEvent): FallbackAction => ({ kind: "event", event: e });
