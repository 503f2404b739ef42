import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import fc from 'fast-check';
import type { TraceEvent } from '../../core/hv/events.js';
import { TraceWriter } from '../../recorder/writer.js';
import { TraceError, canonicalJson } from '../../recorder/format.js';
import { newPackr } from '../../recorder/codec.js';
import { TraceReader } from '../../replay/reader.js';
import { HEADER, arbEvent, readAll, sampleEvents, tmpDir, writeTrace } from './helpers.js';

const isTraceError = (code?: string) => (e: unknown): boolean =>
  e instanceof TraceError && (code === undefined || e.code === code) && !e.message.includes('\n');

test('property: random event streams round-trip exactly, any chunk size, both codecs', () => {
  const t = tmpDir();
  try {
    let run = 0;
    fc.assert(
      fc.property(
        fc.array(arbEvent, { maxLength: 200 }),
        fc.integer({ min: 1, max: 70 }),
        fc.constantFrom('brotli' as const, 'deflate-raw' as const),
        fc.nat(),
        (events, chunkEvents, codec, seekSeed) => {
          const file = t.file(`p${run++}.hvt`);
          const stats = writeTrace(file, events, { chunkEvents, codec });
          assert.is(stats.events, events.length);
          assert.is(stats.chunks, Math.ceil(events.length / chunkEvents));
          const r = TraceReader.open(file);
          try {
            assert.is(r.truncated, null);
            assert.is(r.codec, codec);
            assert.is(r.eventCount, events.length);
            assert.equal([...r], events);
            const v = r.verify();
            assert.is(v.events, events.length);
            assert.equal(r.footer?.countsByKind, stats.countsByKind);
            assert.is(r.footer?.lastIc, events.length ? events[events.length - 1]!.ic : null);
            if (events.length) {
              const k = seekSeed % events.length;
              assert.equal(r.seekEvent(k).nextEvent(), events[k]);
            }
          } finally {
            r.close();
          }
          fs.rmSync(file);
        },
      ),
      { numRuns: 150 },
    );
  } finally {
    t.cleanup();
  }
});

test('the same events written twice give byte-identical files', () => {
  const t = tmpDir();
  try {
    const events = sampleEvents(1000);
    for (const codec of ['brotli', 'deflate-raw'] as const) {
      writeTrace(t.file('a.hvt'), events, { codec, chunkEvents: 128 }, { exit: 'debug-exit', code: 0 });
      // A header with the same content in another key order is the same header.
      const reordered = { inputs: HEADER.inputs, machine: { options: { serial: true, smp: 1 }, guest: 'test', memMiB: 64 }, producer: HEADER.producer };
      writeTrace(t.file('b.hvt'), events, { codec, chunkEvents: 128 }, { code: 0, exit: 'debug-exit' }, reordered);
      const a = fs.readFileSync(t.file('a.hvt'));
      const b = fs.readFileSync(t.file('b.hvt'));
      assert.ok(a.equals(b), `${codec}: files differ`);
    }
  } finally {
    t.cleanup();
  }
});

test('event tuples are compact msgpack arrays with a kind tag and delta-coded ic (golden bytes)', () => {
  const bytes = newPackr().pack([
    [0, 1000, 30, 0x3f80000, -0x7f000000, 1, 0, 0, 0, ''],
    [1, 0, 0x3f8, 1, true, 65],
    [2, -5, 0xfee000b0, 4, false, 0xffffffff, 0, 'lapic'],
    [3, 2 ** 32, 0x20, 0, -(2 ** 47)],
    [4, 2 ** 53 - 1, 'ab', ''],
  ]);
  assert.is(Buffer.from(bytes).toString('hex'),
    '95' +
    '9a00cd03e81ece03f80000d28100000001000000a0' +
    '960100cd03f801c341' +
    '9802fbcefee000b004c2ceffffffff00a56c61706963' +
    '9503cb41f00000000000002000cbc2e0000000000000' +
    '9404cb433fffffffffffffa26162a0');
});

test('header is canonical JSON after a fixed 20-byte prefix', () => {
  const t = tmpDir();
  try {
    writeTrace(t.file('h.hvt'), [], {}, {});
    const b = fs.readFileSync(t.file('h.hvt'));
    assert.is(b.subarray(0, 8).toString('hex'), '894856540d0a1a0a');
    assert.is(b.readUInt16LE(8), 1); // format version
    assert.is(b.readUInt16LE(10), 2); // brotli
    const len = b.readUInt32LE(12);
    assert.is(b.subarray(20, 20 + len).toString('utf8'), canonicalJson(HEADER, 'h'));
    assert.ok(b.subarray(20, 20 + len).toString('utf8').startsWith('{"inputs":[{"name":"bzImage","role":"kernel"'));
    const { reader, events } = readAll(t.file('h.hvt'));
    assert.equal(events, []);
    assert.equal(reader.header, JSON.parse(canonicalJson(HEADER, 'h')));
    assert.is(reader.footer?.lastIc, null);
    assert.is(reader.chunkCount, 0);
  } finally {
    t.cleanup();
  }
});

test('invalid events are refused with a TraceError naming the field; the trace stays valid', () => {
  const t = tmpDir();
  try {
    const w = TraceWriter.open(t.file('v.hvt'), HEADER, { chunkEvents: 2 });
    const good = sampleEvents(6);
    const bad: [unknown, RegExp][] = [
      [{ ...good[0]!, ic: 1.5 }, /field ic/],
      [{ ...good[0]!, ic: -1 }, /field ic/],
      [{ ...good[0]!, ic: 2 ** 53 }, /field ic/],
      [{ ...good[0]!, reason: -1 }, /exit field reason/],
      [{ ...good[0]!, qual: 2 ** 53 }, /exit field qual/],
      [{ ...good[0]!, rip: NaN }, /exit field rip/],
      [{ ...good[0]!, rule: 7 }, /exit field rule/],
      [{ ...good[1]!, size: 3 }, /pio field size must be 1, 2 or 4/],
      [{ ...good[1]!, port: 0x10000 }, /pio field port/],
      [{ ...good[1]!, write: 1 }, /pio field write must be a boolean/],
      [{ ...good[3]!, device: 'a\ud800' }, /mmio field device must be a well-formed Unicode string/],
      [{ ...good[3]!, valueHi: 2 ** 32 }, /mmio field valueHi/],
      [{ ...good[4]!, vector: 256 }, /irq field vector/],
      [{ ...good[4]!, type: 8 }, /irq field type/],
      [{ ...good[5]!, regs: null }, /digest field regs/],
      [{ kind: 'tsc', ic: 5 }, /unknown event kind "tsc"/],
    ];
    w.event(good[0]!);
    for (const [e, re] of bad) {
      assert.throws(() => w.event(e as TraceEvent), (x: unknown) => isTraceError('BAD_EVENT')(x) && re.test((x as Error).message) &&
        (x as TraceError).event === 1, re.source);
    }
    for (const e of good.slice(1)) w.event(e);
    w.close();
    assert.throws(() => w.event(good[0]!), isTraceError('STATE'));
    assert.throws(() => w.close(), isTraceError('STATE'));
    assert.equal(readAll(t.file('v.hvt')).events, good);
  } finally {
    t.cleanup();
  }
});

test('bad headers, summaries and options are refused before anything is written', () => {
  const t = tmpDir();
  try {
    const f = t.file('x.hvt');
    const badHeaders: unknown[] = [
      { ...HEADER, inputs: [{ role: 'kernel', name: 'k', size: 1, sha256: 'ABC' }] },
      { ...HEADER, inputs: [{ role: 'bios', name: 'k', size: 1, sha256: 'a'.repeat(64) }] },
      { ...HEADER, inputs: [{ role: 'disk', name: 'k', size: -1, sha256: 'a'.repeat(64) }] },
      { ...HEADER, machine: { when: new Date(0) } },
      { ...HEADER, machine: { x: NaN } },
      { ...HEADER, machine: { f: () => 1 } },
      { ...HEADER, machine: [] },
      { ...HEADER, extra: 1 },
      { machine: {}, inputs: [] },
    ];
    for (const h of badHeaders) {
      assert.throws(() => TraceWriter.open(f, h as typeof HEADER), isTraceError('BAD_ARGUMENT'));
    }
    assert.not.ok(fs.existsSync(f));
    assert.throws(() => TraceWriter.open(f, HEADER, { chunkEvents: 0 }), isTraceError('BAD_ARGUMENT'));
    assert.throws(() => TraceWriter.open(f, HEADER, { chunkEvents: 1.5 }), isTraceError('BAD_ARGUMENT'));
    assert.throws(() => TraceWriter.open(f, HEADER, { codec: 'zstd' as 'brotli' }), isTraceError('BAD_ARGUMENT'));
    assert.throws(() => TraceWriter.open(f, HEADER, { codec: 'deflate-raw', level: 10 }), isTraceError('BAD_ARGUMENT'));
    assert.throws(() => TraceWriter.open(t.file('no/such/dir/x.hvt'), HEADER), isTraceError('IO'));
    const w = TraceWriter.open(f, HEADER);
    assert.throws(() => w.close({ bad: undefined as unknown as null }), isTraceError('BAD_ARGUMENT'));
    w.close({ fine: [1, 'two', null, { three: true }] });
    const r = TraceReader.open(f);
    assert.equal(r.footer?.summary, { fine: [1, 'two', null, { three: true }] });
    r.close();
  } finally {
    t.cleanup();
  }
});

test('every full chunk is on disk before close(): an unclosed recording reads as a truncated prefix', () => {
  const t = tmpDir();
  try {
    const events = sampleEvents(2 * 50 + 7);
    const w = TraceWriter.open(t.file('open.hvt'), HEADER, { chunkEvents: 50 });
    for (const e of events) w.event(e);
    assert.is(w.chunkCount, 2);
    assert.is(fs.statSync(t.file('open.hvt')).size, w.bytesWritten);
    const { reader, events: got } = readAll(t.file('open.hvt'));
    assert.equal(got, events.slice(0, 100));
    assert.is(reader.truncated?.message, 'truncated after 2 complete chunks (100 events)');
    assert.is(reader.footer, null);
    w.abort();
  } finally {
    t.cleanup();
  }
});

test.run();
