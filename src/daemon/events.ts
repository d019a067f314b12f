/**
 * The daemon's event bus: log lines, process status changes and app messages (pm2's bus),
 * fanned out to subscribed client connections. Publishing with no subscribers costs one check.
 */
import type { BusPacket } from '../shared/messages.js';
import type { EventFrame, LogEvent, ProcessEvent } from '../shared/protocol.js';

export interface Subscriber {
  logs: boolean;
  events: boolean;
  /** App messages `{ type, data, topic }` (launchBus). */
  messages: boolean;
  /** Only these apps' events (one app, or a namespace's apps), or every app's when null. */
  apps: ReadonlySet<string> | null;
  /** Only this process id's events, when set. */
  id: number | null;
  deliver(frame: EventFrame): void;
}

export class EventBus {
  readonly #subscribers = new Set<Subscriber>();

  get wantsLogs(): boolean {
    for (const s of this.#subscribers) if (s.logs) return true;
    return false;
  }

  get wantsMessages(): boolean {
    for (const s of this.#subscribers) if (s.messages) return true;
    return false;
  }

  subscribe(subscriber: Subscriber): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  log(event: LogEvent): void {
    for (const s of this.#subscribers) {
      if (s.logs && matches(s, event.app, event.id)) s.deliver({ event: 'log', data: event });
    }
  }

  process(event: ProcessEvent): void {
    for (const s of this.#subscribers) {
      if (s.events && matches(s, event.app, event.id)) s.deliver({ event: 'process', data: event });
    }
  }

  /** Returns how many subscribers got the packet. */
  message(packet: BusPacket): number {
    let delivered = 0;
    for (const s of this.#subscribers) {
      if (s.messages && matches(s, packet.process.name, packet.process.id)) {
        s.deliver({ event: 'message', data: packet });
        delivered += 1;
      }
    }
    return delivered;
  }
}

function matches(s: Subscriber, app: string, id: number): boolean {
  return (s.apps === null || s.apps.has(app)) && (s.id === null || s.id === id);
}
