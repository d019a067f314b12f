/**
 * The daemon's side of messages (docs/MESSAGES.md), with the router (./messages/) made on
 * first use: most apps never send a message, and a daemon of such apps keeps no per-process
 * message state for them.
 *
 * This listens to every process the daemon starts and to the status events; the first time a
 * process sends something that is the router's (a runtime message of `supervisor-node/process`:
 * msg, req, cancel, answer, peers, wants; or a pm2-style `process.send({ type, data })`), or a
 * client calls `sendData`, the router is made and is handed every process still running, then
 * that message, in the same turn: nothing waits in a buffer that would need a bound, and
 * nothing can be overtaken by a later message. Until then nothing was routed, so the counters
 * `describe` shows are zero, as they would have been; and the one thing the router needs from
 * before, what each slot last announced to peer listeners, is kept here from the start
 * (peer-events.ts).
 *
 * The router's code itself is loaded when the daemon starts: the daemon runs as one bundle
 * (docs/ARCHITECTURE.md, "Build"), where loading it is running a few class definitions already
 * in the file (no difference in resident memory that bench/cli.mjs can see). It used to be
 * require()d on first use, when each module of the daemon was a file of its own.
 */
import type { MessageCounters } from '../shared/messages.js';
import type { ProcessEvent } from '../shared/protocol.js';
import { ROUTED_RUNTIME_MESSAGES, type WorkerToDaemon } from '../shared/worker-messages.js';
import type { App } from './app.js';
import type { EventBus } from './events.js';
import type { ManagedProcess } from './managed-process.js';
import * as router from './messages/router.js';
import { isBusMessage, type MessageRouter } from './messages/router.js';
import { PeerEvents } from './peer-events.js';
import type { Slot } from './slot.js';

type RouterModule = typeof router;
/** Returns the router's module (tests pass their own). */
export type LoadRouter = () => RouterModule;

/** The router's module, part of the daemon from its start (see above: the router is made on first use). */
export const loadRouter: LoadRouter = () => router;

export class MessageRouting {
  /** What each slot announced to peer listeners, followed from the daemon's start. */
  readonly #peerEvents = new PeerEvents();
  #router: MessageRouter | null = null;
  /** Processes running while the router is not loaded, in start order, to hand it when it is. */
  readonly #running = new Map<ManagedProcess, { app: App; slot: Slot }>();
  readonly #unsubscribe: () => void;

  constructor(
    private readonly apps: ReadonlyMap<string, App>,
    private readonly bus: EventBus,
    private readonly load: LoadRouter,
  ) {
    this.#unsubscribe = bus.subscribe({
      logs: false,
      events: true,
      messages: false,
      apps: null,
      id: null,
      deliver: (frame) => {
        if (frame.event === 'process') this.#onProcessEvent(frame.data);
      },
    });
  }

  /** Whether the router has been loaded (tests). */
  get loaded(): boolean {
    return this.#router !== null;
  }

  /** A process the app just started for slot `slotId`: route what it sends, forget it when it exits. */
  attach(app: App, slotId: number, worker: ManagedProcess): void {
    const slot = app.slots.find((s) => s.id === slotId);
    if (!slot) return;
    if (this.#router) this.#router.attach(app, slot, worker);
    else this.#running.set(worker, { app, slot });
    worker.on('runtime', (message) => {
      if (this.#router || ROUTED_RUNTIME_MESSAGES.has(message.t)) this.#loaded().runtime(worker, message);
    });
    worker.on('message', (data) => {
      if (this.#router || isBusMessage(data)) this.#loaded().appMessage(worker, data);
    });
    worker.once('exit', () => {
      if (this.#router) this.#router.exited(worker);
      else this.#running.delete(worker);
    });
  }

  /** The slot's message counters, for `describe`; zero while nothing has been routed. */
  counters(slot: Slot): MessageCounters {
    return this.#router ? this.#router.counters(slot) : { in: 0, out: 0, dropped: 0 };
  }

  /** pm2's sendDataToProcessId (see MessageRouter.sendData). */
  sendData(id: number, packet: Record<string, unknown>): void {
    this.#loaded().sendData(id, packet);
  }

  close(): void {
    this.#unsubscribe();
  }

  #loaded(): MessageRouter {
    if (this.#router) return this.#router;
    const router = new (this.load().MessageRouter)(this.apps, this.bus, this.#peerEvents);
    for (const [worker, { app, slot }] of this.#running) router.attach(app, slot, worker);
    this.#running.clear();
    this.#router = router;
    return router;
  }

  #onProcessEvent(event: ProcessEvent): void {
    if (this.#router) return this.#router.processEvent(event);
    // Nobody listens for peer events yet; remember what each slot announced, so that the first
    // event a listener gets later is right (a restart, not an online; an exit after an online).
    const slot = this.apps.get(event.app)?.slots.find((s) => s.id === event.id);
    if (slot) this.#peerEvents.translate(event, slot);
  }
}
