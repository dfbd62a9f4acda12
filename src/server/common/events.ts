/**
 * A run's events on disk: `.chard/runs/RUN/events.jsonl`, one numbered envelope
 * (`{"seq":N,"event":{...}}`) a line, appended and handed to the kernel per event. Any process can
 * replay a run from any point (`after: seq`) and follow it live: a reader in the writing process
 * is woken at once, one in another process polls the file.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';

import type { IRunEventEnvelope } from '../../core/api.js';
import { isRecord } from '../../core/notebook.js';
import type { IRunRecord, RunEvent } from '../../core/runs.js';
import {
  isFinished,
  runFinishedEvent,
  runStartedEvent,
  stepFinishedEvent
} from '../../core/runs.js';

/** Appends a run's events to its `events.jsonl`, numbering them after those already there. */
export class EventLog {
  constructor(readonly file: string) {
    this._seq = Private.lastSeq(file);
  }

  /** The number of the last event written. */
  get seq(): number {
    return this._seq;
  }

  /** Write one event (synchronously, so the order on disk is the order of the calls). */
  append(event: RunEvent): IRunEventEnvelope {
    const envelope: IRunEventEnvelope = { seq: this._seq + 1, event };
    fs.appendFileSync(this.file, JSON.stringify(envelope) + '\n');
    this._seq = envelope.seq;
    Private.wake(this.file);
    return envelope;
  }

  private _seq: number;
}

export namespace EventFollow {
  export interface IOptions {
    /** Replay the events after this one (default 0: all of them). */
    after?: number;
    /** Stop following. */
    signal?: AbortSignal;
    /**
     * The run's record now (a backend may settle a run whose runner is gone here); following
     * stops when it is finished and the file holds nothing more.
     */
    record: () => Promise<IRunRecord>;
    /** How often another process's writes are looked for (ms). */
    pollMs?: number;
    /**
     * Is a backend in this process still reporting on the run? Then its run-finished event is
     * waited for even when the record already says finished.
     */
    live?: () => boolean;
  }
}

/** How many followEvents are following a run in this process now (each holds a watcher). */
export function activeFollowers(): number {
  return Private.counts.following;
}

/**
 * The envelopes of a run after `after`, then the ones that follow as they are written, until
 * the run-finished event or the abort. A run without an event file (recorded before events
 * were kept) yields events rebuilt from its record.
 */
export async function* followEvents(
  file: string,
  options: EventFollow.IOptions
): AsyncGenerator<IRunEventEnvelope> {
  Private.counts.following += 1;
  try {
    yield* Private.follow(file, options);
  } finally {
    Private.counts.following -= 1;
  }
}

namespace Private {
  export const counts = { following: 0 };

  export async function* follow(
    file: string,
    options: EventFollow.IOptions
  ): AsyncGenerator<IRunEventEnvelope> {
    const after = options.after ?? 0;
    if (!fs.existsSync(file)) {
      const record = await options.record();
      if (isFinished(record.status) && !fs.existsSync(file)) {
        yield* eventsFromRecord(record).filter(e => e.seq > after);
        return;
      }
    }
    const reader = new Private.Reader(file);
    for (;;) {
      if (options.signal?.aborted) {
        return;
      }
      for (const envelope of await reader.next()) {
        if (envelope.seq <= after) {
          continue; // (a resumed run's folder holds its earlier attempts too)
        }
        if (options.signal?.aborted) {
          return; // (a client that went away gets nothing more of the batch read before)
        }
        yield envelope;
        if (envelope.event.event === 'run-finished') {
          return;
        }
      }
      const record = await options.record();
      if (isFinished(record.status) && !options.live?.()) {
        // The record can be finished a moment before its run-finished event is written.
        for (let tries = 0; tries < 10; tries++) {
          yield* (await reader.next()).filter(e => e.seq > after);
          if (reader.lastKind === 'run-finished') {
            return;
          }
          await Private.waitForWrite(file, 100, options.signal);
        }
        if (reader.lastKind !== 'run-finished') {
          // A run that ended without its last event (its writer died): the record tells how.
          const seq = reader.lastSeq + 1;
          if (seq > after) {
            yield {
              seq,
              event: runFinishedEvent(record)
            };
          }
        }
        return;
      }
      await Private.waitForWrite(file, options.pollMs ?? 200, options.signal);
    }
  }
}

/** The events of a finished run rebuilt from its record (runs recorded before events.jsonl). */
export function eventsFromRecord(record: IRunRecord): IRunEventEnvelope[] {
  const events: RunEvent[] = [runStartedEvent(record, record.startedAt ?? record.createdAt)];
  for (const step of record.steps) {
    if (isFinished(step.status)) {
      events.push(stepFinishedEvent(record.id, step));
    }
  }
  if (isFinished(record.status)) {
    events.push(runFinishedEvent(record, record.finishedAt ?? record.createdAt));
  }
  return events.map((event, i) => ({ seq: i + 1, event }));
}

/** Type guard for one line of events.jsonl. */
export function isEnvelope(value: unknown): value is IRunEventEnvelope {
  return (
    isRecord(value) &&
    typeof value.seq === 'number' &&
    isRecord(value.event) &&
    typeof value.event.event === 'string' &&
    typeof value.event.run === 'string'
  );
}

namespace Private {
  const waiters = new Map<string, Set<() => void>>();

  export function wake(file: string): void {
    const set = waiters.get(file);
    if (set) {
      waiters.delete(file);
      set.forEach(fn => fn());
    }
  }

  /** Resolves on a write by this process, after `pollMs`, or on abort. */
  export function waitForWrite(file: string, pollMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise(resolve => {
      let set = waiters.get(file);
      if (!set) {
        set = new Set();
        waiters.set(file, set);
      }
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        waiters.get(file)?.delete(done);
        resolve();
      };
      const timer = setTimeout(done, pollMs);
      signal?.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  export function lastSeq(file: string): number {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return 0;
    }
    const lines = text.split('\n').filter(l => l.trim() !== '');
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        const value: unknown = JSON.parse(lines[i]);
        if (isEnvelope(value)) {
          return value.seq;
        }
      } catch {
        // a line cut short by a crash: the one before it counts
      }
    }
    return 0;
  }

  /** Reads the complete lines added to a file since the last call. */
  export class Reader {
    constructor(private readonly _file: string) {}

    lastSeq = 0;
    /** The kind of the last event read. */
    lastKind = '';

    async next(): Promise<IRunEventEnvelope[]> {
      let handle: fsp.FileHandle;
      try {
        handle = await fsp.open(this._file, 'r');
      } catch {
        return [];
      }
      let text = '';
      try {
        const buffer = Buffer.alloc(64 * 1024);
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, this._offset);
          if (bytesRead === 0) {
            break;
          }
          this._offset += bytesRead;
          text += this._decoder.write(buffer.subarray(0, bytesRead));
        }
      } finally {
        await handle.close();
      }
      const lines = (this._partial + text).split('\n');
      this._partial = lines.pop() ?? '';
      const out: IRunEventEnvelope[] = [];
      for (const line of lines) {
        try {
          const value: unknown = JSON.parse(line);
          if (isEnvelope(value)) {
            out.push(value);
            this.lastSeq = value.seq;
            this.lastKind = value.event.event;
          }
        } catch {
          // not an event line (a crash cut it): skipped
        }
      }
      return out;
    }

    private _offset = 0;
    private _partial = '';
    private readonly _decoder = new StringDecoder('utf8');
  }
}
