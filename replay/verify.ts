/**
 * VerifySink: the replaying TraceSink. The machine runs exactly as when
 * recording; every event it produces is compared field by field with the next
 * recorded event. The first difference stops the run with a DivergenceError
 * that says where (event number, instruction count, RIP), what (both events,
 * the differing fields) and what led there (the last matching events).
 */
import type { TraceEvent, TraceSink } from '../core/hv/events.js';
import type { EventCursor, TraceReader } from './reader.js';
import {
  differingFields, eventRip, formatAddress, formatComparison, formatEvent, formatField, sameEvent,
} from './format-event.js';

export type DivergenceKind =
  /** The live event differs from the recorded one. */
  | 'mismatch'
  /** The live run produced an event after the last recorded one. */
  | 'extra'
  /** The live run ended (finish()) before the last recorded event. */
  | 'missing';

export interface NumberedEvent {
  readonly n: number;
  readonly event: TraceEvent;
}

export class DivergenceError extends Error {
  override readonly name = 'DivergenceError';
  readonly kind: DivergenceKind;
  /** Number (0-based) of the first event that differs / is extra / is missing. */
  readonly eventNumber: number;
  /** Instruction count there: the recorded event's, or the live one's for an extra event. */
  readonly ic: number;
  /** RIP of the event when it carries one (exit, irq), else the last RIP seen in a matching event; null if none. */
  readonly rip: number | null;
  /** True when `rip` comes from the differing event itself, false when it is the last known RIP. */
  readonly ripFromEvent: boolean;
  readonly recorded: TraceEvent | null;
  readonly actual: TraceEvent | null;
  /** Differing fields in wire order (`kind` first); empty for extra/missing. */
  readonly fields: readonly string[];
  /** The last matching events before the divergence, oldest first. */
  readonly context: readonly NumberedEvent[];
  /** The recording was truncated (killed): an 'extra' event may just be past its end. */
  readonly traceTruncated: boolean;

  constructor(init: {
    kind: DivergenceKind; eventNumber: number; ic: number; rip: number | null; ripFromEvent: boolean;
    recorded: TraceEvent | null; actual: TraceEvent | null; fields: readonly string[];
    context: readonly NumberedEvent[]; traceTruncated: boolean; recordedCount: number;
  }) {
    super(divergenceMessage(init));
    this.kind = init.kind;
    this.eventNumber = init.eventNumber;
    this.ic = init.ic;
    this.rip = init.rip;
    this.ripFromEvent = init.ripFromEvent;
    this.recorded = init.recorded;
    this.actual = init.actual;
    this.fields = init.fields;
    this.context = init.context;
    this.traceTruncated = init.traceTruncated;
  }
}

function where(n: number, ic: number, rip: number | null, fromEvent: boolean): string {
  const r = rip === null ? '' : `, ${fromEvent ? 'rip' : 'last rip'} ${formatAddress(rip)}`;
  return `event #${n} (ic ${ic}${r})`;
}

function divergenceMessage(d: {
  kind: DivergenceKind; eventNumber: number; ic: number; rip: number | null; ripFromEvent: boolean;
  recorded: TraceEvent | null; actual: TraceEvent | null; fields: readonly string[]; traceTruncated: boolean;
  recordedCount: number;
}): string {
  const at = where(d.eventNumber, d.ic, d.rip, d.ripFromEvent);
  switch (d.kind) {
    case 'mismatch': {
      const r = d.recorded!;
      const a = d.actual!;
      const shown = d.fields.slice(0, 3).map((f) => {
        const rv = formatField(r.kind, f, (r as unknown as Record<string, unknown>)[f]);
        const av = formatField(a.kind, f, (a as unknown as Record<string, unknown>)[f]);
        return f === 'kind' ? `kind (recorded ${r.kind}, actual ${a.kind})` : `${f} (recorded ${rv}, actual ${av})`;
      });
      const more = d.fields.length > 3 ? ` and ${d.fields.length - 3} more` : '';
      return `replay diverged at ${at}: ${shown.join(', ')}${more}`;
    }
    case 'extra':
      return `replay diverged at ${at}: the live run produced an event after the last recorded one ` +
        `(the trace has ${d.recordedCount} events${d.traceTruncated ? ' and is truncated' : ''})`;
    case 'missing':
      return `replay diverged at ${at}: the live run ended after ${d.eventNumber} events, the trace has ${d.recordedCount}`;
  }
}

export interface VerifyOptions {
  /** Matching events kept for the report (default 5). */
  readonly context?: number;
}

export interface VerifyResult {
  /** Events compared and found equal. */
  readonly events: number;
  /** The trace was truncated (the prefix was verified). */
  readonly truncated: boolean;
}

export class VerifySink implements TraceSink {
  private readonly reader: TraceReader;
  private readonly cursor: EventCursor;
  private readonly k: number;
  private readonly ring: (TraceEvent | undefined)[];
  private matchedCount = 0;
  private lastRip: number | null = null;
  private failure: DivergenceError | null = null;

  constructor(reader: TraceReader, opts: VerifyOptions = {}) {
    this.reader = reader;
    this.cursor = reader.seekEvent(0);
    const k = opts.context ?? 5;
    this.k = Number.isInteger(k) && k >= 0 ? k : 5;
    this.ring = new Array(this.k);
  }

  /** Events matched so far. */
  get matched(): number {
    return this.matchedCount;
  }

  /** The divergence, once one was found. */
  get divergence(): DivergenceError | null {
    return this.failure;
  }

  event(e: TraceEvent): void {
    if (this.failure !== null) throw this.failure;
    const rec = this.cursor.nextEvent();
    if (rec === undefined) throw this.diverge('extra', null, e, []);
    if (!sameEvent(rec, e)) throw this.diverge('mismatch', rec, e, differingFields(rec, e));
    if (this.k > 0) this.ring[this.matchedCount % this.k] = rec;
    this.matchedCount++;
    if (rec.kind === 'exit' || rec.kind === 'irq') this.lastRip = rec.rip;
  }

  /**
   * Call when the live run ends. Throws a DivergenceError ('missing') when
   * recorded events remain; otherwise returns how many events matched.
   */
  finish(): VerifyResult {
    if (this.failure !== null) throw this.failure;
    const rec = this.cursor.peek();
    if (rec !== undefined) throw this.diverge('missing', rec, null, []);
    return { events: this.matchedCount, truncated: this.reader.truncated !== null };
  }

  private diverge(kind: DivergenceKind, recorded: TraceEvent | null, actual: TraceEvent | null, fields: string[]): DivergenceError {
    const own = eventRip(recorded) ?? eventRip(actual);
    const context: NumberedEvent[] = [];
    const have = Math.min(this.k, this.matchedCount);
    for (let i = this.matchedCount - have; i < this.matchedCount; i++) {
      context.push({ n: i, event: this.ring[i % this.k]! });
    }
    this.failure = new DivergenceError({
      kind, eventNumber: this.matchedCount, ic: (recorded ?? actual)!.ic,
      rip: own ?? this.lastRip, ripFromEvent: own !== undefined,
      recorded, actual: actual === null ? null : ({ ...actual } as TraceEvent), fields, context,
      traceTruncated: this.reader.truncated !== null, recordedCount: this.reader.eventCount,
    });
    return this.failure;
  }
}

/** Multi-line report: headline, side-by-side table (differing fields marked), last matching events. */
export function formatDivergence(err: DivergenceError): string {
  const lines: string[] = [];
  lines.push(`DIVERGENCE (${err.kind}) at ${where(err.eventNumber, err.ic, err.rip, err.ripFromEvent)}`);
  if (err.kind === 'mismatch') lines.push(`differing field${err.fields.length === 1 ? '' : 's'}: ${err.fields.join(', ')}`);
  if (err.kind === 'extra') {
    lines.push(`the live run produced an event after the last recorded one${err.traceTruncated ? ' (the trace is truncated)' : ''}`);
  }
  if (err.kind === 'missing') lines.push(`the live run ended before recorded event #${err.eventNumber}`);
  lines.push('');
  for (const l of formatComparison(err.recorded, err.actual, err.fields, ['recorded', 'actual'])) lines.push('  ' + l);
  lines.push('');
  if (err.context.length === 0) {
    lines.push('no matching events before it');
  } else {
    lines.push(`last ${err.context.length} matching event${err.context.length === 1 ? '' : 's'}:`);
    for (const c of err.context) lines.push('  ' + formatEvent(c.event, c.n));
  }
  return lines.join('\n');
}
