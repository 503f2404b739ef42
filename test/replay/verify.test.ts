import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { TraceEvent } from '../../core/hv/events.js';
import { EVENT_FIELDS, type FieldType } from '../../recorder/codec.js';
import { TraceWriter } from '../../recorder/writer.js';
import { TraceReader } from '../../replay/reader.js';
import { DivergenceError, VerifySink, formatDivergence } from '../../replay/verify.js';
import { HEADER, arbEvent, sampleEvents, tmpDir, writeTrace } from '../recorder/helpers.js';

const isDivergence = (kind: string) => (e: unknown): boolean => e instanceof DivergenceError && e.kind === kind;

function replay(file: string, live: readonly TraceEvent[], context?: number): DivergenceError | { events: number } {
  const r = TraceReader.open(file);
  try {
    const sink = new VerifySink(r, context === undefined ? {} : { context });
    try {
      for (const e of live) sink.event(e);
      return sink.finish();
    } catch (e) {
      if (e instanceof DivergenceError) return e;
      throw e;
    }
  } finally {
    r.close();
  }
}

/** A different value in the same domain. */
function otherValue(type: FieldType, v: unknown): unknown {
  switch (type) {
    case 'bool': return !v;
    case 'str': return `${v as string}x`;
    case 'pio-size': return v === 1 ? 2 : 1;
    case 'mmio-size': return v === 8 ? 4 : 8;
    default: return (v as number) === 0 ? 1 : (v as number) - 1;
  }
}

test('an identical live stream verifies; finish() reports the count', () => {
  const t = tmpDir();
  try {
    const events = sampleEvents(500);
    writeTrace(t.file('a.hvt'), events, { chunkEvents: 64 });
    assert.equal(replay(t.file('a.hvt'), events), { events: 500, truncated: false });
    // Live events are compared by value, not identity.
    assert.equal(replay(t.file('a.hvt'), events.map((e) => ({ ...e }))), { events: 500, truncated: false });
  } finally {
    t.cleanup();
  }
});

test('property: a changed field in event k is reported at exactly event k with exactly that field', () => {
  const t = tmpDir();
  try {
    let run = 0;
    fc.assert(
      fc.property(fc.array(arbEvent, { minLength: 1, maxLength: 40 }), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 9 }),
        (events, kSeed, fSeed, chunkEvents) => {
          const file = t.file(`v${run++}.hvt`);
          writeTrace(file, events, { chunkEvents });
          const k = kSeed % events.length;
          const rec = events[k]!;
          const fields = EVENT_FIELDS[rec.kind];
          const [field, type] = fields[fSeed % fields.length]!;
          const changed = { ...rec, [field]: otherValue(type, (rec as unknown as Record<string, unknown>)[field]) } as TraceEvent;
          const live = events.slice();
          live[k] = changed;
          const d = replay(file, live);
          assert.ok(d instanceof DivergenceError, 'no divergence reported');
          assert.is(d.kind, 'mismatch');
          assert.is(d.eventNumber, k);
          assert.equal(d.fields, [field]);
          assert.equal(d.recorded, rec);
          assert.equal(d.actual, changed);
          assert.is(d.ic, rec.ic);
          assert.equal(d.context.map((c) => c.n), Array.from({ length: Math.min(5, k) }, (_, i) => k - Math.min(5, k) + i));
          assert.equal(d.context.map((c) => c.event), events.slice(Math.max(0, k - 5), k));
          // RIP: the event's own, else the last one seen in a matching event.
          const own = rec.kind === 'exit' || rec.kind === 'irq' ? rec.rip : undefined;
          let last: number | null = null;
          for (const e of events.slice(0, k)) if (e.kind === 'exit' || e.kind === 'irq') last = e.rip;
          assert.is(d.ripFromEvent, own !== undefined);
          assert.is(d.rip, own ?? last);
          assert.ok(d.message.startsWith(`replay diverged at event #${k} (ic ${rec.ic}`));
          assert.not.ok(d.message.includes('\n'));
        }),
      { numRuns: 200 },
    );
  } finally {
    t.cleanup();
  }
});

test('fewer and more live events are clear divergences; a failed sink stays failed', () => {
  const t = tmpDir();
  try {
    const events = sampleEvents(100);
    writeTrace(t.file('a.hvt'), events, { chunkEvents: 16 });
    const fewer = replay(t.file('a.hvt'), events.slice(0, 70));
    assert.ok(isDivergence('missing')(fewer));
    const f = fewer as DivergenceError;
    assert.is(f.eventNumber, 70);
    assert.equal(f.recorded, events[70]);
    assert.is(f.actual, null);
    assert.match(f.message, /the live run ended after 70 events, the trace has 100/);

    const extra: TraceEvent = { kind: 'pio', ic: 999999, port: 0x80, size: 1, write: true, value: 0 };
    const more = replay(t.file('a.hvt'), [...events, extra]);
    assert.ok(isDivergence('extra')(more));
    const m = more as DivergenceError;
    assert.is(m.eventNumber, 100);
    assert.is(m.recorded, null);
    assert.equal(m.actual, extra);
    assert.is(m.ic, 999999);
    assert.is(m.traceTruncated, false);
    assert.match(m.message, /produced an event after the last recorded one \(the trace has 100 events\)/);

    const r = TraceReader.open(t.file('a.hvt'));
    const sink = new VerifySink(r);
    sink.event(events[0]!);
    assert.throws(() => sink.event(events[2]!), isDivergence('mismatch'));
    const first = sink.divergence;
    assert.throws(() => sink.event(events[1]!), (e: unknown) => e === first);
    assert.throws(() => sink.finish(), (e: unknown) => e === first);
    r.close();
  } finally {
    t.cleanup();
  }
});

test('a different kind lists kind and every differing field; formatDivergence renders a marked table', () => {
  const t = tmpDir();
  try {
    const events = sampleEvents(12);
    writeTrace(t.file('a.hvt'), events);
    const live = events.slice();
    // event 7 is a pio; replace it by an exit at the same ic
    live[7] = { kind: 'exit', ic: events[7]!.ic, reason: 12, qual: 0, rip: -0x7f000000 + 0x42, len: 1, info: 0, gpa: 0, gla: 0, rule: '' };
    const d = replay(t.file('a.hvt'), live) as DivergenceError;
    assert.is(d.eventNumber, 7);
    assert.equal(d.fields, ['kind', 'port', 'size', 'write', 'value', 'reason', 'qual', 'rip', 'len', 'info', 'gpa', 'gla', 'rule']);
    assert.is(d.rip, -0x7f000000 + 0x42); // the live exit carries a RIP
    const text = formatDivergence(d);
    const lines = text.split('\n');
    assert.match(lines[0]!, /^DIVERGENCE \(mismatch\) at event #7 \(ic \d+, rip 0xffffffff81000042\)$/);
    assert.ok(lines.some((l) => /^\s+field\s+\| recorded\s+\| actual$/.test(l)), text);
    assert.ok(lines.some((l) => /^\s+\* kind\s+\| pio\s+\| exit\s+<-- differs$/.test(l)), text);
    assert.ok(lines.some((l) => /^\s+ {2}ic\s+\| \d+\s+\| \d+$/.test(l)), text);
    assert.ok(lines.some((l) => /^\s+\* reason\s+\| —\s+\| 12 \(HLT\)\s+<-- differs$/.test(l)), text);
    assert.ok(text.includes('last 5 matching events:'));
    assert.ok(text.includes(`#6 ic=${events[6]!.ic} exit 30 I/O instruction`), text);

    // context option, and a single-field change in a pio event
    const live2 = events.slice();
    live2[1] = { ...(events[1] as Extract<TraceEvent, { kind: 'pio' }>), value: 0x99 };
    const d2 = replay(t.file('a.hvt'), live2, 0) as DivergenceError;
    assert.equal(d2.fields, ['value']);
    assert.equal(d2.context, []);
    assert.is(d2.ripFromEvent, false);
    assert.is(d2.rip, (events[0] as Extract<TraceEvent, { kind: 'exit' }>).rip);
    assert.match(d2.message, /last rip 0xffffffff81001234\): value \(recorded 0x42, actual 0x99\)$/);
    const text2 = formatDivergence(d2);
    assert.ok(text2.includes('no matching events before it'));
    assert.ok(/\* value\s+\| 0x42\s+\| 0x99\s+<-- differs/.test(text2), text2);
  } finally {
    t.cleanup();
  }
});

test('replaying a truncated trace: extra events are flagged as past its end', () => {
  const t = tmpDir();
  try {
    const events = sampleEvents(50);
    const w = TraceWriter.open(t.file('k.hvt'), HEADER, { chunkEvents: 20 });
    for (const e of events) w.event(e);
    w.abort(); // 2 complete chunks on disk
    const d = replay(t.file('k.hvt'), events) as DivergenceError;
    assert.is(d.kind, 'extra');
    assert.is(d.eventNumber, 40);
    assert.is(d.traceTruncated, true);
    assert.match(d.message, /and is truncated/);
    assert.equal(replay(t.file('k.hvt'), events.slice(0, 40)), { events: 40, truncated: true });
  } finally {
    t.cleanup();
  }
});

test.run();
