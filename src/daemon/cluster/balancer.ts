/**
 * Balancing strategies: which worker gets the next connection. Pure code over the list of
 * workers currently in rotation, so each is unit-tested without sockets.
 */
import type { BalanceStrategy } from '../../shared/app-spec.js';

export interface Candidate {
  /** The slot id: stable across restarts of the slot, which keeps sticky clients in place. */
  readonly slotId: number;
  /** Connections handed to it and not yet closed. */
  readonly open: number;
}

export interface Balancer {
  /** Whether pick() looks at the client address (reading it costs a syscall per connection). */
  readonly usesAddress: boolean;
  /** Whether pick() looks at open counts, which workers then report as connections close. */
  readonly needsCloses: boolean;
  /** Picks one of `candidates` (never empty) for a connection from `remoteAddress`. */
  pick<C extends Candidate>(candidates: readonly C[], remoteAddress: string | undefined): C;
}

/** Cycles through the workers. The cursor is a slot id, so a worker leaving does not skip one. */
export class RoundRobin implements Balancer {
  readonly usesAddress = false;
  readonly needsCloses = false;
  #lastSlotId = -1;

  pick<C extends Candidate>(candidates: readonly C[]): C {
    let next: C | undefined;
    let lowest = candidates[0] as C;
    for (const c of candidates) {
      if (c.slotId < lowest.slotId) lowest = c;
      if (c.slotId > this.#lastSlotId && (next === undefined || c.slotId < next.slotId)) next = c;
    }
    const chosen = next ?? lowest;
    this.#lastSlotId = chosen.slotId;
    return chosen;
  }
}

/** The worker with the fewest open connections; ties go round-robin so load still spreads. */
export class LeastConnections implements Balancer {
  readonly usesAddress = false;
  readonly needsCloses = true;
  readonly #tieBreak = new RoundRobin();

  pick<C extends Candidate>(candidates: readonly C[]): C {
    let fewest = Infinity;
    for (const c of candidates) fewest = Math.min(fewest, c.open);
    return this.#tieBreak.pick(candidates.filter((c) => c.open === fewest));
  }
}

/**
 * Rendezvous (highest random weight) hashing of the client address over slot ids: a client
 * keeps its worker while that worker is in rotation, and when workers come or go only the
 * clients of those workers move. Without an address (Unix sockets) it falls back to round-robin.
 */
export class StickyIp implements Balancer {
  readonly usesAddress = true;
  readonly needsCloses = false;
  readonly #fallback = new RoundRobin();

  pick<C extends Candidate>(candidates: readonly C[], remoteAddress: string | undefined): C {
    if (remoteAddress === undefined) return this.#fallback.pick(candidates);
    const addressHash = fnv1a(remoteAddress);
    let best = candidates[0] as C;
    let bestWeight = -1;
    for (const c of candidates) {
      const weight = mix(addressHash ^ Math.imul(c.slotId + 1, 0x9e3779b1));
      if (weight > bestWeight || (weight === bestWeight && c.slotId < best.slotId)) {
        best = c;
        bestWeight = weight;
      }
    }
    return best;
  }
}

/**
 * The strategy for an address the daemon accepts on. 'os' apps normally get a shared socket and
 * no balancer; they reach this only when they join an address another app bound in hand-off
 * mode, or when shared sockets are not available, and then go round-robin.
 */
export function createBalancer(strategy: BalanceStrategy): Balancer {
  switch (strategy) {
    case 'round-robin':
    case 'os':
      return new RoundRobin();
    case 'least-connections':
      return new LeastConnections();
    case 'sticky-ip':
      return new StickyIp();
  }
}

/** 32-bit FNV-1a of a string: fast, and good enough to spread addresses. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A 32-bit finaliser (from murmur3) so that nearby inputs give unrelated weights. */
function mix(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
