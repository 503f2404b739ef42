import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import fc from 'fast-check';
import type { TraceEvent } from '../../core/hv/events.js';
import { TraceError } from '../../recorder/format.js';
import { TraceReader } from '../../replay/reader.js';
import { HEADER, craftTrace, readAll, sampleEvents, tmpDir, writeTrace } from '../recorder/helpers.js';

const isTraceError = (code?: string, re?: RegExp) => (e: unknown): boolean =>
  e instanceof TraceError && (code === undefined || e.code === code) && !e.message.includes('\n') &&
  (re === undefined || re.test(e.message));

/** Open + read every event + verify; returns the events or the thrown error. */
function readFully(file: string): { events: TraceEvent[]; reader: TraceReader } | { error: unknown } {
  let r: TraceReader | undefined;
  try {
    r = TraceReader.open(file);
    const events = [...r];
    r.verify();
    return { events, reader: r };
  } catch (error) {
    return { error };
  } finally {
    r?.close();
  }
}

test('seekEvent / seekInstruction use the index, also across chunk boundaries with equal ic', () => {
  const t = tmpDir();
  try {
    // ic: 10 x5 (straddles the 4-event chunks), then 20, 30, ... 
    const events: TraceEvent[] = [];
    for (let i = 0; i < 5; i++) events.push({ kind: 'pio', ic: 10, port: i, size: 1, write: false, value: i });
    for (let i = 0; i < 20; i++) events.push({ kind: 'irq', ic: 20 + 10 * i, vector: i, type: 0, rip: -0x7f000000 });
    writeTrace(t.file('s.hvt'), events, { chunkEvents: 4 });
    const r = TraceReader.open(t.file('s.hvt'));
    try {
      assert.is(r.chunkCount, 7);
      assert.equal(r.chunk(1), { index: 1, offset: r.chunk(1).offset, firstEvent: 4, firstIc: 10, eventCount: 4, byteLength: r.chunk(1).byteLength });
      for (let n = 0; n <= events.length; n++) {
        const c = r.seekEvent(n);
        assert.is(c.position, n);
        assert.equal([...c], events.slice(n));
      }
      assert.is(r.seekInstruction(0).position, 0);
      assert.is(r.seekInstruction(10).position, 0);
      assert.is(r.seekInstruction(11).position, 5);
      assert.is(r.seekInstruction(20).position, 5);
      assert.is(r.seekInstruction(55).position, 9);
      assert.equal(r.seekInstruction(55).nextEvent(), events[9]);
      assert.is(r.seekInstruction(210).position, 24);
      assert.is(r.seekInstruction(211).position, 25);
      assert.is(r.seekInstruction(211).nextEvent(), undefined);
      assert.throws(() => r.seekEvent(26), isTraceError('BAD_ARGUMENT', /event 26.*25 events/));
      assert.throws(() => r.seekEvent(-1), isTraceError('BAD_ARGUMENT'));
      assert.throws(() => r.seekEvent(1.5), isTraceError('BAD_ARGUMENT'));
      assert.throws(() => r.seekInstruction(-3), isTraceError('BAD_ARGUMENT'));
      assert.throws(() => r.chunk(7), isTraceError('BAD_ARGUMENT'));
      const c = r.seekEvent(3);
      assert.equal(c.peek(), events[3]);
      assert.equal(c.nextEvent(), events[3]);
      assert.is(c.position, 4);
    } finally {
      r.close();
    }
    assert.throws(() => r.readChunk(0), isTraceError('STATE'));
  } finally {
    t.cleanup();
  }
});

test('every truncation of a 3-chunk trace is a clear TraceError or a flagged complete-chunk prefix', () => {
  const t = tmpDir();
  try {
    const events = sampleEvents(300);
    writeTrace(t.file('full.hvt'), events, { chunkEvents: 100 });
    const full = fs.readFileSync(t.file('full.hvt'));
    const f = t.file('cut.hvt');
    let prefixes = 0;
    let errors = 0;
    const seen = new Set<number>();
    for (let len = 0; len < full.length; len++) {
      fs.writeFileSync(f, full.subarray(0, len));
      const res = readFully(f);
      if ('error' in res) {
        assert.ok(isTraceError('TRUNCATED')(res.error), `length ${len}: ${String(res.error)}`);
        errors++;
        continue;
      }
      const tr = res.reader.truncated;
      assert.ok(tr !== null, `length ${len} not flagged as truncated`);
      assert.is(tr.events, tr.completeChunks * 100);
      assert.is(tr.message, `truncated after ${tr.completeChunks} complete chunk${tr.completeChunks === 1 ? '' : 's'} (${tr.events} events)`);
      assert.equal(res.events, events.slice(0, tr.events), `length ${len}`);
      seen.add(tr.completeChunks);
      prefixes++;
    }
    assert.ok(errors > 0 && prefixes > 0);
    assert.equal([...seen].sort(), [0, 1, 2, 3]);
    const res = readFully(t.file('full.hvt'));
    assert.ok('events' in res && res.reader.truncated === null);
  } finally {
    t.cleanup();
  }
});

test('every single-bit flip anywhere in a trace is detected', () => {
  const t = tmpDir();
  try {
    writeTrace(t.file('full.hvt'), sampleEvents(120), { chunkEvents: 50 });
    const full = fs.readFileSync(t.file('full.hvt'));
    const f = t.file('flip.hvt');
    for (let i = 0; i < full.length; i++) {
      const b = Buffer.from(full);
      b[i] = b[i]! ^ (1 << (i % 8));
      fs.writeFileSync(f, b);
      const res = readFully(f);
      assert.ok('error' in res && isTraceError()(res.error), `flip at ${i} not detected: ${'error' in res ? String(res.error) : 'read ok'}`);
    }
  } finally {
    t.cleanup();
  }
});

test('property: random byte corruption gives a TraceError or the original trace', () => {
  const t = tmpDir();
  try {
    const events = sampleEvents(300);
    writeTrace(t.file('full.hvt'), events, { chunkEvents: 100 });
    const full = fs.readFileSync(t.file('full.hvt'));
    const f = t.file('flip.hvt');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(full.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (flips) => {
        const b = Buffer.from(full);
        for (const [i, x] of flips) b[i] = b[i]! ^ x;
        fs.writeFileSync(f, b);
        const res = readFully(f);
        if ('error' in res) {
          assert.ok(isTraceError()(res.error), String(res.error));
        } else {
          assert.equal(res.events, events);
          assert.equal(res.reader.header, HEADER);
          assert.is(res.reader.truncated, null);
        }
      }),
      { numRuns: 300 },
    );
  } finally {
    t.cleanup();
  }
});

test('not a trace: wrong magic, empty, missing, directory, wrong version, unknown codec', () => {
  const t = tmpDir();
  try {
    const f = t.file('x');
    fs.writeFileSync(f, Buffer.from('7f454c46020101000000000000000000', 'hex'));
    assert.throws(() => TraceReader.open(f), isTraceError('BAD_MAGIC', /not an hvtrace file \(bad magic 7f 45 4c 46/));
    fs.writeFileSync(f, 'hello');
    assert.throws(() => TraceReader.open(f), isTraceError('BAD_MAGIC'));
    fs.writeFileSync(f, '');
    assert.throws(() => TraceReader.open(f), isTraceError('TRUNCATED', /empty file/));
    assert.throws(() => TraceReader.open(t.file('missing.hvt')), isTraceError('IO', /missing\.hvt/));
    assert.throws(() => TraceReader.open(t.dir), isTraceError('IO'));
    fs.writeFileSync(f, craftTrace({ version: 2, chunks: [] }));
    assert.throws(() => TraceReader.open(f), isTraceError('UNSUPPORTED_VERSION', /version 2 \(this reader supports 1\)/));
    fs.writeFileSync(f, craftTrace({ codecId: 9, chunks: [] }));
    assert.throws(() => TraceReader.open(f), isTraceError('BAD_HEADER', /codec id 9/));
    fs.writeFileSync(f, craftTrace({ headerJson: '{"producer":', chunks: [] }));
    assert.throws(() => TraceReader.open(f), isTraceError('BAD_HEADER', /not valid UTF-8 JSON/));
    fs.writeFileSync(f, craftTrace({ header: { ...HEADER, extra: 1 }, chunks: [] }));
    assert.throws(() => TraceReader.open(f), isTraceError('BAD_HEADER', /unknown header field "extra"/));
    fs.writeFileSync(f, craftTrace({ header: { ...HEADER, inputs: [{ role: 'kernel', name: 'k', size: 1, sha256: 'x' }] }, chunks: [] }));
    assert.throws(() => TraceReader.open(f), isTraceError('BAD_HEADER', /inputs\[0\]\.sha256/));
    fs.writeFileSync(f, craftTrace({ chunks: [] }));
    const r = TraceReader.open(f); // header only: an empty, truncated trace
    assert.is(r.truncated?.message, 'truncated after 0 complete chunks (0 events)');
    r.close();
  } finally {
    t.cleanup();
  }
});

const EXIT = [0, 100, 30, 0, 0, 1, 0, 0, 0, ''];

test('malformed chunk contents (valid CRCs) give TraceErrors naming chunk, offset and event', () => {
  const t = tmpDir();
  try {
    const f = t.file('m.hvt');
    const cases: [Parameters<typeof craftTrace>[0]['chunks'], string, RegExp][] = [
      [[{ value: [EXIT, [9, 1, 2]], count: 2, firstEvent: 0, firstIc: 100 }], 'EVENT_SHAPE', /chunk 0, offset 0x[0-9a-f]+, event #1: .*unknown event kind tag 9/],
      [[{ value: [[1, 100, 0x3f8, 1, true]], count: 1, firstEvent: 0, firstIc: 100 }], 'EVENT_SHAPE', /event #0: .*pio event must have 6 elements, has 5/],
      [[{ value: [[1, 100, 'x', 1, true, 0]], count: 1, firstEvent: 0, firstIc: 100 }], 'EVENT_SHAPE', /pio field port \(element 2\) must be an integer in \[0, 0xffff\], got "x"/],
      [[{ value: [[1, 100, 1, 3, true, 0]], count: 1, firstEvent: 0, firstIc: 100 }], 'EVENT_SHAPE', /pio field size .* must be 1, 2 or 4, got 3/],
      [[{ value: [EXIT, [4, -101, 'a', 'b']], count: 2, firstEvent: 0, firstIc: 100 }], 'EVENT_SHAPE', /delta -101 gives -1/],
      [[{ value: [EXIT], count: 1, firstEvent: 0, firstIc: 99 }], 'EVENT_SHAPE', /instruction count 100, the chunk frame says 99/],
      [[{ value: [EXIT], count: 2, firstEvent: 0, firstIc: 100 }], 'EVENT_SHAPE', /holds 1 events, the chunk frame says 2/],
      [[{ value: { a: 1 }, count: 1, firstEvent: 0, firstIc: 100 }], 'EVENT_SHAPE', /must be a msgpack array of events/],
      [[{ value: [7], count: 1, firstEvent: 0, firstIc: 100 }], 'EVENT_SHAPE', /event must be a msgpack array, got 7/],
      [[{ payload: Buffer.from([0x91, 0xa5, 0x61]), count: 1, firstEvent: 0, firstIc: 100 }], 'MSGPACK', /undecodable msgpack/],
      [[{ payload: Buffer.from([0x91, 0xc1]), count: 1, firstEvent: 0, firstIc: 100 }], 'EVENT_SHAPE', /event must be a msgpack array/],
      [[{ payload: Buffer.from([0x92, 0x90]), count: 2, firstEvent: 0, firstIc: 100 }], 'MSGPACK', /undecodable msgpack/],
      [[{ payload: Buffer.from([0x91, 0x90, 0x90]), count: 1, firstEvent: 0, firstIc: 100 }], 'MSGPACK', /undecodable msgpack/],
      [[{ payload: Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x00]), count: 1, firstEvent: 0, firstIc: 100 }], 'MSGPACK', /undecodable/],
      [[{ payload: Buffer.alloc(200000, 0x91), count: 1, firstEvent: 0, firstIc: 100 }], 'MSGPACK', /undecodable/],
      [[{ value: [EXIT], data: Buffer.from('definitely not brotli data'), count: 1, firstEvent: 0, firstIc: 100 }], 'DECOMPRESS', /brotli decompression failed/],
      [[{ value: [EXIT], ulen: 5, count: 1, firstEvent: 0, firstIc: 100 }], 'DECOMPRESS', /decompress/],
      [[{ value: [EXIT], ulen: 500, count: 1, firstEvent: 0, firstIc: 100 }], 'DECOMPRESS', /decompressed to \d+ bytes, the chunk frame says 500/],
    ];
    for (const [chunks, code, re] of cases) {
      fs.writeFileSync(f, craftTrace({ chunks }));
      const res = readFully(f);
      assert.ok('error' in res && isTraceError(code, re)(res.error), `${re.source}: ${'error' in res ? String(res.error) : 'read ok'}`);
      assert.ok((res as { error: TraceError }).error.message.startsWith(f + ': chunk 0, offset 0x'), String((res as { error: unknown }).error));
    }
    // Chunk numbering that does not follow on is caught by the scan.
    fs.writeFileSync(f, craftTrace({ chunks: [
      { value: [EXIT], count: 1, firstEvent: 0, firstIc: 100 },
      { value: [EXIT], count: 1, firstEvent: 0, firstIc: 100 },
    ] }));
    assert.throws(() => TraceReader.open(f), isTraceError('BAD_CHUNK', /chunk 1, .*first event 0, expected 1/));
    // Garbage after the last chunk is not a truncation.
    fs.writeFileSync(f, Buffer.concat([craftTrace({ chunks: [{ value: [EXIT], count: 1, firstEvent: 0, firstIc: 100 }] }), Buffer.from('garbage!')]));
    assert.throws(() => TraceReader.open(f), isTraceError('BAD_CHUNK', /expected chunk marker "HVCK" or footer marker "HVFT", found 67 61 72 62/));
  } finally {
    t.cleanup();
  }
});

test('a footer inconsistent with the chunks is reported', () => {
  const t = tmpDir();
  try {
    const f = t.file('f.hvt');
    const chunks = [
      { value: [EXIT, EXIT.map((x, i) => (i === 1 ? 0 : x))], count: 2, firstEvent: 0, firstIc: 100 },
      { value: [EXIT.map((x, i) => (i === 1 ? 200 : x))], count: 1, firstEvent: 2, firstIc: 200 },
    ];
    const footer: { total: number; lastIc: number | null; counts: number[]; firstEvents: number[]; firstIcs: number[] } = { total: 3, lastIc: 200, counts: [3, 0, 0, 0, 0], firstEvents: [0, 2], firstIcs: [100, 200] };
    fs.writeFileSync(f, craftTrace({ chunks, footer }));
    {
      const r = TraceReader.open(f);
      assert.is(r.eventCount, 3);
      assert.equal([...r].map((e) => e.ic), [100, 100, 200]);
      // The crafted stream digest is zeros: only verify() notices.
      assert.throws(() => r.verify(), isTraceError('BAD_FOOTER', /stream digest/));
      r.close();
    }
    const bad: [typeof footer, RegExp, boolean][] = [
      [{ ...footer, firstEvents: [0, 1] }, /does not match the footer index/, false],
      [{ ...footer, firstIcs: [100, 201] }, /does not match the footer index/, false],
      [{ ...footer, total: 4, counts: [4, 0, 0, 0, 0] }, /does not match the footer index/, false],
      [{ ...footer, lastIc: 300 }, /last event has ic 300/, false],
      [{ ...footer, counts: [2, 1, 0, 0, 0] }, /footer counts 2 exit events, the chunks hold 3/, false],
      [{ ...footer, counts: [3, 1, 0, 0, 0] }, /do not add up/, true],
      [{ ...footer, firstEvents: [1, 2] }, /chunk 0 does not start at event 0/, true],
      [{ ...footer, firstEvents: [0, 3] }, /impossible event range/, true],
      [{ ...footer, firstIcs: [100] }, /different lengths/, true],
      [{ ...footer, lastIc: null }, /last ic/, true],
    ];
    for (const [ft, re, atOpen] of bad) {
      fs.writeFileSync(f, craftTrace({ chunks, footer: ft }));
      if (atOpen) {
        assert.throws(() => TraceReader.open(f), isTraceError('BAD_FOOTER', re), re.source);
      } else {
        const res = readFully(f);
        assert.ok('error' in res && isTraceError('BAD_FOOTER', re)(res.error), `${re.source}: ${'error' in res ? String(res.error) : 'ok'}`);
      }
    }
    const offs = [1000, 2000];
    fs.writeFileSync(f, craftTrace({ chunks, footer: { ...footer, offsets: offs } }));
    assert.throws(() => TraceReader.open(f), isTraceError('BAD_FOOTER', /chunk 0 at 0x3e8, expected/));
  } finally {
    t.cleanup();
  }
});

test('a trace killed inside close() (footer written, trailer not) still reads as a truncated prefix', () => {
  const t = tmpDir();
  try {
    const events = sampleEvents(30);
    writeTrace(t.file('a.hvt'), events, { chunkEvents: 10 });
    const full = fs.readFileSync(t.file('a.hvt'));
    fs.writeFileSync(t.file('b.hvt'), full.subarray(0, full.length - 3));
    const { reader, events: got } = readAll(t.file('b.hvt'));
    assert.equal(got, events);
    assert.match(reader.truncated!.reason, /partial trailer \(13 of 16 bytes\)/);
    // Extra bytes after a complete trace are corruption, not truncation.
    fs.writeFileSync(t.file('c.hvt'), Buffer.concat([full, Buffer.from([0])]));
    assert.throws(() => TraceReader.open(t.file('c.hvt')), isTraceError('BAD_FOOTER', /unexpected bytes after the trailer/));
  } finally {
    t.cleanup();
  }
});

test.run();
