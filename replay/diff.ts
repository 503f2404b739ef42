/**
 * diffTraces: compare two traces event by event (lazily, one chunk of each
 * in memory) and report the first differing event plus per-trace totals, and
 * which header fields differ.
 */
import type { EventKind, TraceEvent } from '../core/hv/events.js';
import { EVENT_KINDS } from '../recorder/codec.js';
import { TraceReader } from './reader.js';
import { differingFields, formatComparison, formatEvent, sameEvent } from './format-event.js';

export interface TraceSideSummary {
  readonly path: string;
  readonly events: number;
  readonly chunks: number;
  /** Truncation message, or null for a complete trace. */
  readonly truncated: string | null;
  readonly countsByKind: { readonly [K in EventKind]: number };
  readonly lastIc: number | null;
}

export interface FirstDifference {
  readonly eventNumber: number;
  /** Null when trace A ended before this event. */
  readonly a: TraceEvent | null;
  /** Null when trace B ended before this event. */
  readonly b: TraceEvent | null;
  /** Differing fields in wire order; empty when one side has no event. */
  readonly fields: readonly string[];
}

export interface TraceDiff {
  /** Same header (producer, machine, inputs, codec) and same events. */
  readonly identical: boolean;
  readonly eventsIdentical: boolean;
  /** Dotted paths of header values that differ, e.g. "machine.memMiB", "inputs[0].sha256", "codec". */
  readonly headerDifferences: readonly string[];
  readonly firstDifference: FirstDifference | null;
  readonly a: TraceSideSummary;
  readonly b: TraceSideSummary;
}

export function diffTraces(pathA: string, pathB: string): TraceDiff {
  const ra = TraceReader.open(pathA);
  try {
    const rb = TraceReader.open(pathB);
    try {
      const headerDifferences: string[] = [];
      jsonDiff(ra.header, rb.header, '', headerDifferences);
      if (ra.codec !== rb.codec) headerDifferences.push('codec');
      const ca = ra.events();
      const cb = rb.events();
      const countsA = zeroCounts();
      const countsB = zeroCounts();
      let lastA: number | null = null;
      let lastB: number | null = null;
      let first: FirstDifference | null = null;
      for (let n = 0; ; n++) {
        const ea = ca.nextEvent();
        const eb = cb.nextEvent();
        if (ea === undefined && eb === undefined) break;
        if (ea !== undefined) { countsA[ea.kind]++; lastA = ea.ic; }
        if (eb !== undefined) { countsB[eb.kind]++; lastB = eb.ic; }
        if (first === null) {
          if (ea === undefined || eb === undefined) {
            first = { eventNumber: n, a: ea ?? null, b: eb ?? null, fields: [] };
          } else if (!sameEvent(ea, eb)) {
            first = { eventNumber: n, a: ea, b: eb, fields: differingFields(ea, eb) };
          }
        }
      }
      const side = (r: TraceReader, counts: { [K in EventKind]: number }, lastIc: number | null): TraceSideSummary => ({
        path: r.path, events: r.eventCount, chunks: r.chunkCount, truncated: r.truncated?.message ?? null,
        countsByKind: counts, lastIc,
      });
      return {
        identical: first === null && headerDifferences.length === 0, eventsIdentical: first === null,
        headerDifferences, firstDifference: first, a: side(ra, countsA, lastA), b: side(rb, countsB, lastB),
      };
    } finally {
      rb.close();
    }
  } finally {
    ra.close();
  }
}

function zeroCounts(): { [K in EventKind]: number } {
  return Object.fromEntries(EVENT_KINDS.map((k) => [k, 0])) as { [K in EventKind]: number };
}

function jsonDiff(a: unknown, b: unknown, path: string, out: string[]): void {
  if (a === b) return;
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) jsonDiff(a[i], b[i], `${path}[${i}]`, out);
    return;
  }
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) jsonDiff(a[k], b[k], path ? `${path}.${k}` : k, out);
    return;
  }
  out.push(path || '(root)');
}

/** Multi-line text rendering of a diff. */
export function formatDiff(d: TraceDiff): string {
  const l: string[] = [];
  const sum = (label: string, s: TraceSideSummary): string =>
    `${label}: ${s.path}: ${s.events} events in ${s.chunks} chunks${s.truncated ? ` (${s.truncated})` : ''}; ` +
    EVENT_KINDS.map((k) => `${k} ${s.countsByKind[k]}`).join(', ');
  l.push(sum('A', d.a));
  l.push(sum('B', d.b));
  if (d.headerDifferences.length) l.push(`header differs: ${d.headerDifferences.join(', ')}`);
  const f = d.firstDifference;
  if (f === null) {
    l.push(d.identical ? 'traces are identical' : 'events are identical');
  } else {
    if (f.a === null) l.push(`first difference at event #${f.eventNumber}: A ends here, B continues`);
    else if (f.b === null) l.push(`first difference at event #${f.eventNumber}: B ends here, A continues`);
    else l.push(`first difference at event #${f.eventNumber}: ${f.fields.join(', ')}`);
    for (const line of formatComparison(f.a, f.b, f.fields, ['A', 'B'])) l.push('  ' + line);
    if (f.a) l.push('  A: ' + formatEvent(f.a, f.eventNumber));
    if (f.b) l.push('  B: ' + formatEvent(f.b, f.eventNumber));
  }
  return l.join('\n');
}
