/**
 * CPU, memory and open-connection figures, gathered only when someone asks (list, describe):
 * an idle daemon does no periodic work at all.
 */
import { pidusage } from './pidusage.js';
import type { ProcessInfo } from '../shared/protocol.js';
import type { WorkerToDaemon } from '../shared/worker-messages.js';
import type { Registry } from './registry.js';

const STATS_TIMEOUT_MS = 250;
let nextSeq = 1;

export async function withMetrics(registry: Registry, rows: ProcessInfo[]): Promise<ProcessInfo[]> {
  const pids = rows.map((r) => r.pid).filter((pid): pid is number => pid !== null);
  const [usage] = await Promise.all([sampleUsage(pids), refreshConnectionCounts(registry)]);
  const fresh = registry.allInfo();
  return rows.map((row) => {
    const stats = row.pid !== null ? usage[row.pid] : undefined;
    const current = fresh.find((r) => r.id === row.id);
    return {
      ...row,
      cpu: stats ? Math.round(stats.cpu * 10) / 10 : 0,
      memory: stats ? stats.memory : 0,
      connections: current?.connections ?? row.connections,
      handled: current?.handled ?? row.handled,
    };
  });
}

export async function sampleUsage(pids: number[]): Promise<Record<number, { cpu: number; memory: number }>> {
  if (pids.length === 0) return {};
  const out: Record<number, { cpu: number; memory: number }> = {};
  // One call for all: pidusage reads the system's clock tick and uptime once per call (and on
  // its first call runs `getconf` twice), not once per pid. With several pids a vanished one is
  // left out rather than failing the batch; a single vanished pid rejects.
  try {
    const stats = await pidusage(pids);
    for (const pid of pids) {
      const s = stats[pid];
      if (s) out[pid] = { cpu: s.cpu, memory: s.memory };
    }
  } catch {
    // Exited between the listing and the sample.
  }
  return out;
}

/** Asks each cluster worker how many handed connections it has open (exact, unlike counting acks). */
export async function refreshConnectionCounts(registry: Registry): Promise<void> {
  const asks: Promise<void>[] = [];
  for (const app of registry.apps.values()) {
    if (app.spec.mode !== 'cluster' || app.spec.balance === 'least-connections') continue;
    for (const slot of app.slots) {
      const member = slot.member;
      if (!member || !member.worker.connected) continue;
      const seq = nextSeq++;
      asks.push(
        new Promise<void>((resolve) => {
          const timer = setTimeout(done, STATS_TIMEOUT_MS);
          function done(): void {
            clearTimeout(timer);
            member?.worker.off('runtime', onStats);
            resolve();
          }
          function onStats(message: WorkerToDaemon): void {
            if (message.t !== 'stats' || message.seq !== seq || !member) return;
            if (Number.isSafeInteger(message.open)) member.open = message.open;
            done();
          }
          member.worker.on('runtime', onStats);
          if (!member.worker.sendRuntime({ t: 'stats', seq })) done();
        }),
      );
    }
  }
  await Promise.all(asks);
}
