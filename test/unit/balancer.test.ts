import { describe, expect, it } from 'vitest';
import { LeastConnections, RoundRobin, StickyIp, createBalancer, fnv1a, type Balancer, type Candidate } from '../../src/daemon/cluster/balancer.js';
import { mulberry32 } from './random.js';

function slots(...ids: number[]): Candidate[] {
  return ids.map((slotId) => ({ slotId, open: 0 }));
}

function picks(balancer: Balancer, candidates: readonly Candidate[], n: number, address?: string): number[] {
  return Array.from({ length: n }, () => balancer.pick(candidates, address).slotId);
}


function randomIpv4s(count: number, seed: number): string[] {
  const random = mulberry32(seed);
  const octet = (): number => Math.floor(random() * 256);
  const out = new Set<string>();
  while (out.size < count) out.add(`${octet()}.${octet()}.${octet()}.${octet()}`);
  return [...out];
}

describe('fnv1a', () => {
  it.each([
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ])('fnv1a(%j) is the reference 32-bit FNV-1a', (text, hash) => {
    expect(fnv1a(text)).toBe(hash);
  });

  it('returns an unsigned 32-bit integer', () => {
    for (const text of randomIpv4s(200, 7)) {
      const h = fnv1a(text);
      expect(Number.isInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThan(2 ** 32);
    }
  });
});

describe('createBalancer', () => {
  it.each([
    ['round-robin', RoundRobin, false],
    ['least-connections', LeastConnections, false],
    ['sticky-ip', StickyIp, true],
  ] as const)('%s → %o, usesAddress %s', (strategy, type, usesAddress) => {
    const balancer = createBalancer(strategy);
    expect(balancer).toBeInstanceOf(type);
    // Only sticky-ip needs the client address (reading it costs a syscall per connection).
    expect(balancer.usesAddress).toBe(usesAddress);
  });
});

describe('RoundRobin', () => {
  it('cycles in slot-id order whatever the order of the candidates', () => {
    const rr = new RoundRobin();
    expect(picks(rr, slots(2, 0, 3, 1), 9)).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0]);
  });

  it('works with sparse slot ids', () => {
    expect(picks(new RoundRobin(), slots(10, 4, 7), 6)).toEqual([4, 7, 10, 4, 7, 10]);
  });

  it('a single candidate is always picked', () => {
    expect(picks(new RoundRobin(), slots(5), 3)).toEqual([5, 5, 5]);
  });

  it('returns the candidate object itself', () => {
    const candidates = [{ slotId: 1, open: 0, tag: 'a' }, { slotId: 2, open: 0, tag: 'b' }];
    const chosen = new RoundRobin().pick(candidates);
    expect(chosen).toBe(candidates[0]);
    expect(chosen.tag).toBe('a');
  });

  it.each<[string, number[], number[], number[], number[]]>([
    // [label, members before, picks before, members after, next picks]
    ['the next one leaves: skip only it', [0, 1, 2, 3], [0], [0, 2, 3], [2, 3, 0]],
    ['the last picked leaves: carry on after its id', [0, 1, 2, 3], [0, 1], [0, 2, 3], [2, 3, 0]],
    ['an already-served one leaves', [0, 1, 2, 3], [0, 1, 2], [1, 2, 3], [3, 1, 2]],
    ['the highest leaves right after being picked', [0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2], [0, 1, 2]],
    ['all but one leave', [0, 1, 2, 3], [0, 1], [0], [0, 0]],
    ['one joins after the cursor: served this round', [0, 1, 2, 3], [0, 1], [0, 1, 2, 3, 4], [2, 3, 4, 0]],
    ['one joins before the cursor: served next round', [0, 2, 3], [0, 2], [0, 1, 2, 3], [3, 0, 1, 2]],
    ['everyone is replaced by higher ids', [0, 1], [0], [5, 6], [5, 6, 5]],
    ['everyone is replaced by lower ids', [5, 6], [5, 6], [0, 1], [0, 1, 0]],
  ])('membership change: %s', (_label, membersBefore, before, after, next) => {
    const rr = new RoundRobin();
    expect(picks(rr, slots(...membersBefore), before.length)).toEqual(before);
    expect(picks(rr, slots(...after), next.length)).toEqual(next);
  });

  it('a worker restarting (leave, then rejoin) is neither skipped twice nor served twice in a round', () => {
    const rr = new RoundRobin();
    const seen: number[] = [];
    seen.push(...picks(rr, slots(0, 1, 2, 3), 2)); // 0, 1
    seen.push(...picks(rr, slots(0, 1, 3), 1)); // 2 is restarting: 3
    seen.push(...picks(rr, slots(0, 1, 2, 3), 4)); // 2 back: 0, 1, 2, 3
    expect(seen).toEqual([0, 1, 3, 0, 1, 2, 3]);
  });

  it('is fair: over many rounds with churn, every worker in rotation gets its share', () => {
    const rr = new RoundRobin();
    const random = mulberry32(3);
    const counts = new Map<number, number>();
    const present = new Map<number, number>();
    for (let round = 0; round < 2000; round++) {
      // Each slot is out of rotation 10% of the time.
      const ids = [0, 1, 2, 3].filter(() => random() >= 0.1);
      if (ids.length === 0) continue;
      for (const id of ids) present.set(id, (present.get(id) ?? 0) + 1);
      const id = rr.pick(slots(...ids)).slotId;
      expect(ids).toContain(id);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    // A worker is served about as often as a fair share of the rounds it was present for.
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    for (const id of [0, 1, 2, 3]) {
      const share = (counts.get(id) ?? 0) / total;
      expect(share, `slot ${id}`).toBeGreaterThan(0.2);
      expect(share, `slot ${id}`).toBeLessThan(0.3);
    }
  });
});

describe('LeastConnections', () => {
  it.each<[string, Array<[number, number]>, number]>([
    ['one has fewer', [[0, 3], [1, 1], [2, 5]], 1],
    ['zero open wins', [[0, 2], [1, 2], [2, 0]], 2],
    ['the last one has fewest', [[0, 9], [1, 9], [2, 9], [3, 8]], 3],
  ])('picks the fewest open: %s', (_label, table, expected) => {
    const candidates = table.map(([slotId, open]) => ({ slotId, open }));
    expect(new LeastConnections().pick(candidates).slotId).toBe(expected);
  });

  it('ties go round-robin', () => {
    const lc = new LeastConnections();
    const candidates = [
      { slotId: 0, open: 1 },
      { slotId: 1, open: 4 },
      { slotId: 2, open: 1 },
      { slotId: 3, open: 1 },
    ];
    expect(picks(lc, candidates, 6)).toEqual([0, 2, 3, 0, 2, 3]);
  });

  it('all equal: plain round-robin in slot-id order', () => {
    expect(picks(new LeastConnections(), slots(3, 1, 2, 0), 8)).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
  });

  it('spreads new connections evenly when each pick opens a connection', () => {
    const lc = new LeastConnections();
    const open = new Map([[0, 0], [1, 0], [2, 0]]);
    const order: number[] = [];
    for (let i = 0; i < 9; i++) {
      const id = lc.pick([...open].map(([slotId, n]) => ({ slotId, open: n }))).slotId;
      open.set(id, (open.get(id) as number) + 1);
      order.push(id);
    }
    expect(order).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2]);
    expect([...open.values()]).toEqual([3, 3, 3]);
  });

  it('a fresh worker with no connections takes the next ones until it catches up', () => {
    const lc = new LeastConnections();
    const candidates = [
      { slotId: 0, open: 5 },
      { slotId: 1, open: 5 },
      { slotId: 2, open: 0 },
    ];
    const order: number[] = [];
    for (let i = 0; i < 5; i++) {
      const chosen = lc.pick(candidates);
      order.push(chosen.slotId);
      (chosen as { open: number }).open += 1;
    }
    expect(order).toEqual([2, 2, 2, 2, 2]);
  });
});

describe('StickyIp', () => {
  const four = slots(0, 1, 2, 3);
  const addresses = randomIpv4s(1000, 12345);

  function assign(candidates: readonly Candidate[], balancer: Balancer = new StickyIp()): Map<string, number> {
    return new Map(addresses.map((a) => [a, balancer.pick(candidates, a).slotId]));
  }

  it('the same address always maps to the same slot, across picks and balancer instances', () => {
    const a = new StickyIp();
    const b = new StickyIp();
    for (const address of addresses.slice(0, 100)) {
      const first = a.pick(four, address).slotId;
      expect(picks(a, four, 5, address)).toEqual([first, first, first, first, first]);
      expect(b.pick(four, address).slotId).toBe(first);
    }
  });

  it('does not depend on the order of the candidates', () => {
    const sticky = new StickyIp();
    const reversed = [...four].reverse();
    for (const address of addresses) expect(sticky.pick(reversed, address).slotId).toBe(sticky.pick(four, address).slotId);
  });

  it('IPv6 and IPv4-mapped addresses are sticky too', () => {
    const sticky = new StickyIp();
    for (const address of ['::1', '2001:db8::1', '::ffff:10.0.0.1', 'fe80::1%eth0']) {
      const first = sticky.pick(four, address).slotId;
      expect(picks(sticky, four, 3, address)).toEqual([first, first, first]);
    }
  });

  it.each([1, 2, 3])('spreads 1000 random IPv4 addresses roughly evenly over 4 slots (seed %i)', (seed) => {
    const sticky = new StickyIp();
    const counts = [0, 0, 0, 0];
    for (const address of randomIpv4s(1000, seed)) counts[sticky.pick(four, address).slotId]! += 1;
    for (const count of counts) {
      expect(count).toBeGreaterThanOrEqual(150);
      expect(count).toBeLessThanOrEqual(350);
    }
  });

  it('spreads sequential addresses in one subnet, too', () => {
    const sticky = new StickyIp();
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 1000; i++) counts[sticky.pick(four, `10.0.${i >> 8}.${i & 255}`).slotId]! += 1;
    for (const count of counts) {
      expect(count).toBeGreaterThanOrEqual(150);
      expect(count).toBeLessThanOrEqual(350);
    }
  });

  it.each([0, 1, 2, 3])('removing slot %i moves only the addresses that were on it', (removed) => {
    const before = assign(four);
    const after = assign(four.filter((c) => c.slotId !== removed));
    let moved = 0;
    for (const [address, slot] of before) {
      const now = after.get(address);
      if (slot === removed) {
        expect(now).not.toBe(removed);
        moved += 1;
      } else {
        expect(now, address).toBe(slot);
      }
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('the addresses of a removed slot spread over the remaining ones', () => {
    const before = assign(four);
    const after = assign(slots(0, 1, 3));
    const landed = new Map<number, number>();
    for (const [address, slot] of before) {
      if (slot !== 2) continue;
      const now = after.get(address) as number;
      landed.set(now, (landed.get(now) ?? 0) + 1);
    }
    expect([...landed.keys()].sort()).toEqual([0, 1, 3]);
  });

  it.each([4, 7, 100])('adding slot %i moves addresses only to the new slot, about a fifth of them', (added) => {
    const before = assign(four);
    const after = assign([...four, { slotId: added, open: 0 }]);
    let moved = 0;
    for (const [address, slot] of before) {
      const now = after.get(address);
      if (now !== slot) {
        expect(now, address).toBe(added);
        moved += 1;
      }
    }
    expect(moved).toBeGreaterThan(1000 * 0.1);
    expect(moved).toBeLessThan(1000 * 0.3);
  });

  it('a slot leaving and coming back restores the original mapping', () => {
    const before = assign(four);
    assign(slots(0, 2, 3));
    expect(assign(four)).toEqual(before);
  });

  it('ignores open connections', () => {
    const busy = four.map((c) => ({ ...c, open: c.slotId * 100 }));
    expect(assign(busy)).toEqual(assign(four));
  });

  it('without an address it falls back to round-robin', () => {
    expect(picks(new StickyIp(), slots(3, 1, 0, 2), 6)).toEqual([0, 1, 2, 3, 0, 1]);
  });

  it('the round-robin fallback is not disturbed by sticky picks in between', () => {
    const sticky = new StickyIp();
    const order: number[] = [];
    for (let i = 0; i < 6; i++) {
      order.push(sticky.pick(four, undefined).slotId);
      sticky.pick(four, addresses[i]);
    }
    expect(order).toEqual([0, 1, 2, 3, 0, 1]);
  });
});
