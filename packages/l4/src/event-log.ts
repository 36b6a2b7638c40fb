import type { DeviceEvent, DeviceEventBody } from "./types.js";

/** The device's event stream: a bounded ring of recent events plus live listeners. */
export class EventLog {
  private readonly ring: DeviceEvent[] = [];
  private readonly listeners = new Set<(e: DeviceEvent) => void>();
  private seq = 0;

  constructor(
    private readonly capacity = 2000,
    private readonly onListenerError: (err: unknown) => void = () => {},
  ) {}

  emit(body: DeviceEventBody): DeviceEvent {
    const atMs = Date.now();
    const event = { ...body, seq: ++this.seq, at: new Date(atMs).toISOString(), atMs } as DeviceEvent;
    this.ring.push(event);
    if (this.ring.length > this.capacity) this.ring.shift();
    for (const listener of this.listeners) {
      // A faulty subscriber must not break the device's state transitions.
      try {
        listener(event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
    return event;
  }

  /** Events with `seq > sinceSeq` still held in the ring. */
  since(sinceSeq = 0): DeviceEvent[] {
    const first = this.ring[0];
    if (!first || sinceSeq < first.seq) return this.ring.slice();
    return this.ring.slice(sinceSeq - first.seq + 1);
  }

  subscribe(listener: (e: DeviceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get lastSeq(): number {
    return this.seq;
  }
}
