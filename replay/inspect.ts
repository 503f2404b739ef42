/**
 * inspectTrace: what a person wants to know about a trace file: header,
 * totals by kind and by exit reason, truncation, and a filtered window of
 * events. One lazy pass over the chunks (bounded memory).
 */
import type { EventKind, TraceEvent } from '../core/hv/events.js';
import { EVENT_KINDS } from '../recorder/codec.js';
import { TraceError, describeValue, type Codec, type TraceHeader } from '../recorder/format.js';
import { TraceReader, type TraceFooterInfo, type TruncationInfo } from './reader.js';
import { exitReasonName, formatEvent } from './format-event.js';

export interface InspectOptions {
  /** First event number considered for `events` (default 0). */
  readonly from?: number;
  /** Maximum number of events returned in `events` (default 100). */
  readonly limit?: number;
  /** Only events of this kind (or these kinds). */
  readonly kind?: EventKind | readonly EventKind[];
  /** Only exits with this basic exit reason (bits 15:0). */
  readonly reason?: number;
}

export interface ExitReasonCount {
  /** Full exit-reason field value (flag bits included). */
  readonly reason: number;
  readonly name: string;
  readonly count: number;
}

export interface TraceInspection {
  readonly path: string;
  readonly fileSize: number;
  readonly formatVersion: number;
  readonly codec: Codec;
  readonly header: TraceHeader;
  readonly footer: TraceFooterInfo | null;
  readonly truncated: TruncationInfo | null;
  readonly chunks: number;
  readonly eventCount: number;
  readonly firstIc: number | null;
  readonly lastIc: number | null;
  readonly countsByKind: { readonly [K in EventKind]: number };
  /** Sorted by reason value. */
  readonly countsByExitReason: readonly ExitReasonCount[];
  /** The selected events with their numbers. */
  readonly events: readonly { readonly n: number; readonly event: TraceEvent }[];
}

export function inspectTrace(path: string, opts: InspectOptions = {}): TraceInspection {
  const from = opts.from ?? 0;
  const limit = opts.limit ?? 100;
  if (!Number.isSafeInteger(from) || from < 0) throw new TraceError('BAD_ARGUMENT', `inspect: bad from ${describeValue(from)}`);
  if (!(limit === Infinity || (Number.isSafeInteger(limit) && limit >= 0))) {
    throw new TraceError('BAD_ARGUMENT', `inspect: bad limit ${describeValue(limit)}`);
  }
  const kinds = opts.kind === undefined ? null : new Set<EventKind>(typeof opts.kind === 'string' ? [opts.kind] : opts.kind);
  if (kinds !== null) {
    for (const k of kinds) if (!EVENT_KINDS.includes(k)) throw new TraceError('BAD_ARGUMENT', `inspect: unknown kind ${describeValue(k)}`);
  }
  const reason = opts.reason;
  const r = TraceReader.open(path);
  try {
    const counts = Object.fromEntries(EVENT_KINDS.map((k) => [k, 0])) as { [K in EventKind]: number };
    const byReason = new Map<number, number>();
    const events: { n: number; event: TraceEvent }[] = [];
    let firstIc: number | null = null;
    let lastIc: number | null = null;
    let n = 0;
    const cur = r.events();
    for (let e = cur.nextEvent(); e !== undefined; e = cur.nextEvent(), n++) {
      counts[e.kind]++;
      if (firstIc === null) firstIc = e.ic;
      lastIc = e.ic;
      if (e.kind === 'exit') byReason.set(e.reason, (byReason.get(e.reason) ?? 0) + 1);
      if (n >= from && events.length < limit && (kinds === null || kinds.has(e.kind)) &&
        (reason === undefined || (e.kind === 'exit' && (e.reason & 0xffff) === reason))) {
        events.push({ n, event: e });
      }
    }
    const countsByExitReason = [...byReason.entries()].sort((a, b) => a[0] - b[0])
      .map(([reason, count]) => ({ reason, name: exitReasonName(reason), count }));
    return {
      path, fileSize: r.fileSize, formatVersion: r.formatVersion, codec: r.codec, header: r.header, footer: r.footer,
      truncated: r.truncated, chunks: r.chunkCount, eventCount: n, firstIc, lastIc, countsByKind: counts,
      countsByExitReason, events,
    };
  } finally {
    r.close();
  }
}

/** Multi-line text rendering of an inspection. */
export function formatInspection(x: TraceInspection): string {
  const l: string[] = [];
  l.push(`${x.path}: hvtrace format v${x.formatVersion}, ${x.codec}, ${x.fileSize} bytes, ${x.chunks} chunks, ${x.eventCount} events`);
  l.push(`producer: ${x.header.producer.name} ${x.header.producer.version}`);
  l.push(`machine: ${JSON.stringify(x.header.machine)}`);
  for (const i of x.header.inputs) l.push(`input ${i.role}: ${i.name} (${i.size} bytes, sha256 ${i.sha256})`);
  if (x.truncated !== null) l.push(`TRUNCATED: ${x.truncated.message}; ${x.truncated.reason}`);
  if (x.footer !== null) l.push(`summary: ${JSON.stringify(x.footer.summary)}`);
  l.push(`instruction counts: ${x.firstIc ?? '-'} .. ${x.lastIc ?? '-'}`);
  l.push('events by kind: ' + EVENT_KINDS.map((k) => `${k} ${x.countsByKind[k]}`).join(', '));
  if (x.countsByExitReason.length) {
    l.push('exits by reason:');
    for (const c of x.countsByExitReason) l.push(`  ${String(c.reason & 0xffff).padStart(3)} ${c.name.padEnd(44)} ${c.count}`);
  }
  if (x.events.length) {
    l.push('events:');
    for (const e of x.events) l.push('  ' + formatEvent(e.event, e.n));
  }
  return l.join('\n');
}
