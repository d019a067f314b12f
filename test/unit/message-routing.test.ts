/**
 * The message router is loaded on first use (src/daemon/message-routing.ts): not for
 * lifecycle traffic or other plain messages; at the first message that is its, which it then
 * routes at once; and with the peer events of what happened before it existed.
 */
import { describe, expect, it } from 'vitest';
import { MessageRouting } from '../../src/daemon/message-routing.js';
import * as routerModule from '../../src/daemon/messages/router.js';
import { fakeSpec, world, type FakeProcess } from './fakes.js';

function setup(): { w: ReturnType<typeof world>; routing: MessageRouting; loads: () => number } {
  let loads = 0;
  let routing: MessageRouting | null = null;
  const w = world({}, { processStarted: (app, slotId, process) => routing?.attach(app, slotId, process) });
  routing = new MessageRouting(w.registry.apps, w.bus, () => {
    loads += 1;
    return routerModule;
  });
  return { w, routing, loads: () => loads };
}

async function started(w: ReturnType<typeof world>, instances: number): Promise<FakeProcess[]> {
  const [app] = await w.registry.create([{ spec: fakeSpec({ instances }) }]);
  void app?.start();
  await w.clock.advance(5000);
  return w.live();
}

describe('message routing, loaded on first use', () => {
  it('is not loaded by lifecycle traffic or plain sends, and shows zero counters meanwhile', async () => {
    const { w, routing, loads } = setup();
    const [a] = await started(w, 1);
    a?.fromRuntime({ t: 'drained' });
    a?.emit('message', 'hello');
    a?.emit('message', { no: 'type' });
    expect(loads()).toBe(0);
    const slot = w.registry.apps.get('web')?.slots[0];
    expect(slot && routing.counters(slot)).toEqual({ in: 0, out: 0, dropped: 0 });
  });

  it('loads at the first message that is the router`s and routes that message in the same turn', async () => {
    const { w, routing, loads } = setup();
    const [a, b] = await started(w, 2);
    a?.fromRuntime({ t: 'peers', seq: 1, app: null });
    expect(loads()).toBe(1);
    expect(routing.loaded).toBe(true);
    const list = a?.runtimeSent.find((m) => m.t === 'peer-list');
    expect(list && 'peers' in list && list.peers.map((p) => p.pid)).toEqual([a?.pid, b?.pid]);
    a?.emit('message', { type: 'process:msg', data: 1 });
    expect(loads()).toBe(1);
  });

  it('a bus message with no subscriber loads it and is counted as dropped', async () => {
    const { w, routing, loads } = setup();
    const [a] = await started(w, 1);
    a?.emit('message', { type: 'process:msg', data: { hello: 1 } });
    expect(loads()).toBe(1);
    const slot = w.registry.apps.get('web')?.slots[0];
    expect(slot && routing.counters(slot)).toEqual({ in: 0, out: 0, dropped: 1 });
  });

  it('gives a listener that came later the right peer events for processes announced before the router existed', async () => {
    const { w, loads } = setup();
    const [a, b] = await started(w, 2);
    expect(loads()).toBe(0);
    a?.fromRuntime({ t: 'wants', messages: false, requests: false, peers: true });
    expect(loads()).toBe(1);
    b?.die(1, null);
    await w.clock.advance(5000);
    const events = a?.runtimeSent.flatMap((m) => (m.t === 'peer' ? [m.event] : [])) ?? [];
    // b was online before the router loaded: its crash is an exit, and its replacement a restart.
    expect(events.map((e) => [e.event, e.pid, e.previousPid])).toEqual([
      ['exit', b?.pid, null],
      ['restart', w.live().find((p) => p !== a)?.pid, b?.pid],
    ]);
  });

  it('sendData from a client loads it', async () => {
    const { w, routing, loads } = setup();
    await started(w, 1);
    const id = w.registry.apps.get('web')?.slots[0]?.id ?? -1;
    routing.sendData(id, { topic: 't', data: 1 });
    expect(loads()).toBe(1);
    expect(() => routing.sendData(999, {})).toThrow(/unknown/);
  });
});
