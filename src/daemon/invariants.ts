/**
 * The daemon's consistency check: what must hold between any two operations, whatever
 * interleaved. Tests call it (the `check` method, `supervisor check`) after every fault they
 * inject; an empty list means healthy. Each problem is one line naming what is wrong.
 */
import { MAX_WAITING } from './operations.js';
import type { Registry } from './registry.js';

export function checkInvariants(registry: Registry): string[] {
  const problems: string[] = [];
  const owned = new Set<unknown>();
  const ids = new Set<number>();

  for (const app of registry.apps.values()) {
    // No check of spec.instances against the slots: App derives the one from the other.
    const instances = new Set<number>();
    if (app.ops.waiting > MAX_WAITING) problems.push(`app ${app.name}: ${app.ops.waiting} operations waiting (limit ${MAX_WAITING})`);
    for (const slot of app.slots) {
      if (ids.has(slot.id)) problems.push(`slot id ${slot.id} is used twice`);
      ids.add(slot.id);
      if (instances.has(slot.instance)) problems.push(`app ${app.name}: instance ${slot.instance} is used twice`);
      instances.add(slot.instance);
      for (const process of slot.processes()) owned.add(process);
      const status = slot.state.status;
      const hasProcess = slot.worker !== null && !slot.worker.exit;
      if ((status === 'online' || status === 'launching') && !hasProcess) {
        problems.push(`process ${slot.id} of ${app.name} is ${status} without a running process`);
      }
      if ((status === 'stopped' || status === 'waiting-restart' || status === 'errored') && slot.worker !== null) {
        problems.push(`process ${slot.id} of ${app.name} is ${status} but still has pid ${slot.worker.pid}`);
      }
    }
    const allStopped = app.slots.every((slot) => slot.state.status === 'stopped');
    if (allStopped && app.ops.idle && app.sockets.size > 0) {
      problems.push(`app ${app.name} is stopped but still holds ${[...app.sockets.values()].map((s) => s.label).join(', ')}`);
    }
  }

  for (const process of registry.processes) {
    if (process.exit || process.abandoned || owned.has(process)) continue;
    problems.push(`pid ${process.pid} (${process.label}) was started by the daemon but belongs to no app (orphaned)`);
  }
  return problems;
}
