import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import type { TraceEvent } from '../../core/hv/events.js';
import { TraceError } from '../../recorder/format.js';
import { inspectTrace, formatInspection } from '../../replay/inspect.js';
import { diffTraces, formatDiff } from '../../replay/diff.js';
import { EXIT_REASON_NAMES, exitReasonName, formatEvent } from '../../replay/format-event.js';
import { HEADER, sampleEvents, tmpDir, writeTrace } from '../recorder/helpers.js';

const KBASE = -0x7f000000;

test('formatEvent: one readable line per kind, exit reasons by SDM name', () => {
  const cases: [TraceEvent, string][] = [
    [{ kind: 'exit', ic: 1000, reason: 30, qual: (0x3f8 << 16) | 8, rip: KBASE + 0x10, len: 1, info: 0, gpa: 0, gla: 0, rule: '' },
      '#3 ic=1000 exit 30 I/O instruction (IN port 0x3f8/1) qual=0x3f80008 rip=0xffffffff81000010 len=1'],
    [{ kind: 'exit', ic: 5, reason: 48, qual: 0x182, rip: 0x7c00, len: 3, info: 0, gpa: 0xfee000b0, gla: KBASE, rule: '' },
      '#3 ic=5 exit 48 EPT violation qual=0x182 rip=0x7c00 len=3 gpa=0xfee000b0 gla=0xffffffff81000000'],
    [{ kind: 'exit', ic: 0, reason: 0x80000021, qual: 0, rip: 0, len: 0, info: 0, gpa: 0, gla: 0, rule: 'guest.cr0.pg-requires-pe' },
      '#3 ic=0 exit 33 VM-entry failure due to invalid guest state [VM-entry failure] qual=0x0 rip=0x0 len=0 rule="guest.cr0.pg-requires-pe"'],
    [{ kind: 'pio', ic: 7, port: 0x3f8, size: 1, write: true, value: 0x41 }, '#3 ic=7 pio OUT port=0x3f8 size=1 value=0x41'],
    [{ kind: 'pio', ic: 7, port: 0xcfc, size: 4, write: false, value: 0xffffffff }, '#3 ic=7 pio IN  port=0xcfc size=4 value=0xffffffff'],
    [{ kind: 'mmio', ic: 8, gpa: 0xfee000b0, size: 8, write: true, valueLo: 1, valueHi: 0x12, device: 'lapic' },
      '#3 ic=8 mmio write gpa=0xfee000b0 size=8 value=0x1200000001 device="lapic"'],
    [{ kind: 'irq', ic: 9, vector: 0xec, type: 0, rip: KBASE }, '#3 ic=9 irq vector=0xec type=0 (external interrupt) rip=0xffffffff81000000'],
    [{ kind: 'digest', ic: 10, regs: 'ab', mem: 'cd' }, '#3 ic=10 digest regs=ab mem=cd'],
  ];
  for (const [e, s] of cases) assert.is(formatEvent(e, 3), s);
  assert.is(formatEvent(cases[3]![0]), 'ic=7 pio OUT port=0x3f8 size=1 value=0x41');
});

test('exit reason table covers SDM Appendix C reasons 0-69', () => {
  for (let r = 0; r <= 69; r++) {
    if (r === 35 || r === 38 || r === 42) assert.is(EXIT_REASON_NAMES[r], undefined);
    else assert.type(EXIT_REASON_NAMES[r], 'string');
  }
  assert.is(EXIT_REASON_NAMES[10], 'CPUID');
  assert.is(EXIT_REASON_NAMES[48], 'EPT violation');
  assert.is(EXIT_REASON_NAMES[69], 'LOADIWKEY');
  assert.is(exitReasonName(0x80000022), 'VM-entry failure due to MSR loading [VM-entry failure]');
  assert.is(exitReasonName(99), 'unknown basic reason 99');
});

test('inspectTrace: header, counts by kind and exit reason, filtered window', () => {
  const t = tmpDir();
  try {
    const events = sampleEvents(60); // 10 of each of the six shapes
    writeTrace(t.file('a.hvt'), events, { chunkEvents: 16 }, { exit: 'ok' });
    const x = inspectTrace(t.file('a.hvt'), { from: 10, limit: 3, kind: 'pio' });
    assert.equal(x.header, HEADER);
    assert.is(x.eventCount, 60);
    assert.is(x.chunks, 4);
    assert.equal(x.countsByKind, { exit: 20, pio: 10, mmio: 10, irq: 10, digest: 10 });
    assert.equal(x.countsByExitReason, [
      { reason: 30, name: 'I/O instruction', count: 10 },
      { reason: 48, name: 'EPT violation', count: 10 },
    ]);
    assert.equal(x.events.map((e) => e.n), [13, 19, 25]);
    assert.equal(x.events.map((e) => e.event), [events[13], events[19], events[25]]);
    assert.is(x.firstIc, events[0]!.ic);
    assert.is(x.lastIc, events[59]!.ic);
    assert.equal(x.footer?.summary, { exit: 'ok' });
    assert.is(x.truncated, null);
    const y = inspectTrace(t.file('a.hvt'), { reason: 48, limit: 2 });
    assert.equal(y.events.map((e) => e.n), [2, 8]);
    assert.equal(inspectTrace(t.file('a.hvt'), { kind: ['irq', 'digest'], limit: 4 }).events.map((e) => e.n), [4, 5, 10, 11]);
    assert.is(inspectTrace(t.file('a.hvt')).events.length, 60);
    const text = formatInspection(x);
    assert.match(text, /hvtrace format v1, brotli, \d+ bytes, 4 chunks, 60 events/);
    assert.match(text, /events by kind: exit 20, pio 10, mmio 10, irq 10, digest 10/);
    assert.match(text, / {2}#13 ic=\d+ pio OUT port=0x3f8/);
    assert.throws(() => inspectTrace(t.file('a.hvt'), { kind: 'nope' as 'pio' }), (e: unknown) => e instanceof TraceError);
    assert.throws(() => inspectTrace(t.file('a.hvt'), { from: -1 }), (e: unknown) => e instanceof TraceError);
    fs.writeFileSync(t.file('b.hvt'), fs.readFileSync(t.file('a.hvt')).subarray(0, 700));
    const z = inspectTrace(t.file('b.hvt'));
    assert.ok(z.truncated !== null);
    assert.is(z.eventCount, z.truncated.events);
    assert.match(formatInspection(z), /TRUNCATED: truncated after \d+ complete chunks? \(\d+ events?\)/);
  } finally {
    t.cleanup();
  }
});

test('diffTraces: identical, first differing event and fields, different lengths, header differences', () => {
  const t = tmpDir();
  try {
    const events = sampleEvents(80);
    writeTrace(t.file('a.hvt'), events, { chunkEvents: 16 });
    writeTrace(t.file('b.hvt'), events, { chunkEvents: 7, codec: 'deflate-raw' });
    const same = diffTraces(t.file('a.hvt'), t.file('b.hvt'));
    assert.is(same.eventsIdentical, true);
    assert.is(same.identical, false);
    assert.equal(same.headerDifferences, ['codec']);
    assert.is(same.firstDifference, null);
    assert.is(same.a.events, 80);
    assert.is(same.b.chunks, 12);

    const changed = events.slice();
    changed[42] = { ...(events[42] as Extract<TraceEvent, { kind: 'exit' }>), qual: 0x999, rip: 0 };
    writeTrace(t.file('c.hvt'), changed, { chunkEvents: 16 }, { ok: true },
      { ...HEADER, machine: { ...HEADER.machine, memMiB: 128 } });
    const d = diffTraces(t.file('a.hvt'), t.file('c.hvt'));
    assert.is(d.identical, false);
    assert.equal(d.headerDifferences, ['machine.memMiB']);
    assert.is(d.firstDifference?.eventNumber, 42);
    assert.equal(d.firstDifference?.fields, ['qual', 'rip']);
    assert.equal(d.firstDifference?.a, events[42]);
    assert.equal(d.firstDifference?.b, changed[42]);
    assert.equal(d.a.countsByKind, d.b.countsByKind);
    const text = formatDiff(d);
    assert.match(text, /header differs: machine\.memMiB/);
    assert.match(text, /first difference at event #42: qual, rip/);
    assert.match(text, /\* qual\s+\| 0x3f80000\s+\| 0x999\s+<-- differs/);

    writeTrace(t.file('d.hvt'), events.slice(0, 50), { chunkEvents: 16 });
    const short = diffTraces(t.file('a.hvt'), t.file('d.hvt'));
    assert.is(short.firstDifference?.eventNumber, 50);
    assert.equal(short.firstDifference?.a, events[50]);
    assert.is(short.firstDifference?.b, null);
    assert.is(short.b.events, 50);
    assert.is(short.a.lastIc, events[79]!.ic);
    assert.match(formatDiff(short), /B ends here, A continues/);
    assert.is(diffTraces(t.file('a.hvt'), t.file('a.hvt')).identical, true);
    assert.throws(() => diffTraces(t.file('a.hvt'), t.file('missing.hvt')), (e: unknown) => e instanceof TraceError && e.code === 'IO');
  } finally {
    t.cleanup();
  }
});

test.run();
