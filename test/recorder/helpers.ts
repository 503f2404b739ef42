/** Shared helpers of the recorder/replay tests (not a test file itself). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import type { TraceEvent } from '../../core/hv/events.js';
import { TraceWriter, type TraceWriterOptions, type TraceWriteStats } from '../../recorder/writer.js';
import type { JsonObject, TraceHeader } from '../../recorder/format.js';
import { TraceReader } from '../../replay/reader.js';

export const HEADER: TraceHeader = {
  producer: { name: 'hvtrace-test', version: '0.0.0' },
  machine: { memMiB: 64, guest: 'test', options: { smp: 1, serial: true } },
  inputs: [
    { role: 'kernel', name: 'bzImage', size: 123, sha256: 'a'.repeat(64) },
    { role: 'cmdline', name: 'cmdline', size: 14, sha256: '0123456789abcdef'.repeat(4) },
  ],
};

export interface TmpDir {
  readonly dir: string;
  file(name: string): string;
  cleanup(): void;
}

export function tmpDir(): TmpDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvtrace-test-'));
  return {
    dir,
    file: (name) => path.join(dir, name),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export function writeTrace(
  file: string, events: readonly TraceEvent[], opts: TraceWriterOptions = {}, summary: JsonObject = { ok: true },
  header: TraceHeader = HEADER,
): TraceWriteStats {
  const w = TraceWriter.open(file, header, opts);
  for (const e of events) w.event(e);
  return w.close(summary);
}

/** All events of a trace (small traces only). */
export function readAll(file: string): { reader: TraceReader; events: TraceEvent[] } {
  const reader = TraceReader.open(file);
  try {
    return { reader, events: [...reader] };
  } finally {
    reader.close();
  }
}

const KBASE = -0x7f000000; // 0xffffffff81000000 in canonical signed form

/** A deterministic hand-made stream with every kind, n events, ic non-decreasing. */
export function sampleEvents(n: number): TraceEvent[] {
  const out: TraceEvent[] = [];
  let ic = 1000;
  for (let i = 0; out.length < n; i++) {
    ic += 17 + (i % 7) * 100;
    switch (i % 6) {
      case 0:
        out.push({ kind: 'exit', ic, reason: 30, qual: (0x3f8 << 16) | 0, rip: KBASE + 0x1234 + i, len: 1, info: 0, gpa: 0, gla: 0, rule: '' });
        break;
      case 1:
        out.push({ kind: 'pio', ic, port: 0x3f8, size: 1, write: true, value: 0x41 + (i % 26) });
        break;
      case 2:
        out.push({ kind: 'exit', ic, reason: 48, qual: 0x182, rip: KBASE + 0x2000, len: 3, info: 0, gpa: 0xfee000b0, gla: 0, rule: '' });
        break;
      case 3:
        out.push({ kind: 'mmio', ic, gpa: 0xfee000b0, size: 4, write: true, valueLo: i, valueHi: 0, device: 'lapic' });
        break;
      case 4:
        out.push({ kind: 'irq', ic, vector: 0x20 + (i % 16), type: 0, rip: KBASE + 0x3000 });
        break;
      default:
        out.push({ kind: 'digest', ic, regs: (i * 0x9e3779b1 >>> 0).toString(16).padStart(32, '0'), mem: 'f'.repeat(32) });
        break;
    }
  }
  return out;
}

// ------------------------------------------------------------ fast-check arbitraries

const u53 = fc.oneof(
  fc.constantFrom(0, 1, 0xffffffff, 0x1_0000_0000, Number.MAX_SAFE_INTEGER),
  fc.maxSafeNat(),
  fc.integer({ min: 0, max: 0xffff }),
);
const i53 = fc.oneof(
  fc.constantFrom(0, -1, -0x7f000000, -0x8000_0000_0000, 0x7fff_ffff_ffff, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  fc.maxSafeInteger(),
  fc.integer({ min: -0x8000_0000_0000, max: 0x7fff_ffff_ffff }),
);
const u32 = fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));
const str = fc.oneof(
  fc.constant(''),
  fc.constantFrom('lapic', 'ioapic', 'virtio-blk', 'vmcs.guest.cr0.pg-requires-pe', 'ürät', '串口', '😀'),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
);

export const arbEvent: fc.Arbitrary<TraceEvent> = fc.oneof(
  fc.record({
    kind: fc.constant('exit' as const), ic: u53, reason: u32, qual: u53, rip: i53, len: u32, info: u32, gpa: u53, gla: i53, rule: str,
  }),
  fc.record({
    kind: fc.constant('pio' as const), ic: u53, port: fc.integer({ min: 0, max: 0xffff }), size: fc.constantFrom(1 as const, 2 as const, 4 as const),
    write: fc.boolean(), value: u32,
  }),
  fc.record({
    kind: fc.constant('mmio' as const), ic: u53, gpa: u53, size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
    write: fc.boolean(), valueLo: u32, valueHi: u32, device: str,
  }),
  fc.record({
    kind: fc.constant('irq' as const), ic: u53, vector: fc.integer({ min: 0, max: 255 }), type: fc.integer({ min: 0, max: 7 }), rip: i53,
  }),
  fc.record({ kind: fc.constant('digest' as const), ic: u53, regs: str, mem: str }),
).map((e) => ({ ...e }) as TraceEvent); // plain objects (fc.record builds null-prototype ones)

// ------------------------------------------------------------ hand-crafted files

/** Independent implementation of the v1 framing, to craft valid-CRC files with arbitrary contents. */
export interface CraftChunk {
  /** Uncompressed payload (msgpack) or a JS value to pack. */
  readonly payload?: Uint8Array;
  readonly value?: unknown;
  /** Compressed bytes override (e.g. garbage that fails to decompress). */
  readonly data?: Uint8Array;
  readonly count: number;
  readonly firstEvent: number;
  readonly firstIc: number;
  /** Uncompressed length override. */
  readonly ulen?: number;
}

export interface CraftFooter {
  readonly total: number;
  readonly lastIc: number | null;
  readonly counts: readonly number[];
  /** Defaults to the real chunk offsets. */
  readonly offsets?: readonly number[];
  readonly firstEvents: readonly number[];
  readonly firstIcs: readonly number[];
  readonly streamSha256?: string;
  readonly summary?: string;
}

const packr = new Packr({ useRecords: false });

function u64(v: DataView, off: number, x: number): void {
  v.setUint32(off, x >>> 0, true);
  v.setUint32(off + 4, Math.floor(x / 2 ** 32), true);
}

export function craftTrace(opts: {
  header?: unknown; headerJson?: string; version?: number; codecId?: number;
  chunks: readonly CraftChunk[]; footer?: CraftFooter;
}): Buffer {
  const json = Buffer.from(opts.headerJson ?? JSON.stringify(opts.header ?? HEADER), 'utf8');
  const prefix = Buffer.alloc(20);
  prefix.set([0x89, 0x48, 0x56, 0x54, 0x0d, 0x0a, 0x1a, 0x0a]);
  prefix.writeUInt16LE(opts.version ?? 1, 8);
  prefix.writeUInt16LE(opts.codecId ?? 2, 10);
  prefix.writeUInt32LE(json.length, 12);
  prefix.writeUInt32LE(zlib.crc32(json, zlib.crc32(prefix.subarray(8, 16))), 16);
  const parts: Buffer[] = [prefix, json];
  let off = 20 + json.length;
  const offsets: number[] = [];
  for (const c of opts.chunks) {
    const payload = c.payload ?? packr.pack(c.value);
    const data = c.data ?? ((opts.codecId ?? 2) === 1 ? zlib.deflateRawSync(payload) : zlib.brotliCompressSync(payload));
    const frame = Buffer.alloc(40);
    const v = new DataView(frame.buffer, frame.byteOffset, 40);
    frame.write('HVCK', 0, 'latin1');
    v.setUint32(4, data.length, true);
    v.setUint32(8, c.ulen ?? payload.length, true);
    v.setUint32(12, c.count, true);
    u64(v, 16, c.firstEvent);
    u64(v, 24, c.firstIc);
    v.setUint32(32, zlib.crc32(data), true);
    v.setUint32(36, zlib.crc32(frame.subarray(0, 36)), true);
    offsets.push(off);
    parts.push(frame, Buffer.from(data));
    off += 40 + data.length;
  }
  if (opts.footer) {
    const f = opts.footer;
    const body = packr.pack([f.total, f.lastIc, f.counts, f.offsets ?? offsets, f.firstEvents, f.firstIcs,
      f.streamSha256 ?? '0'.repeat(64), f.summary ?? '{}']);
    const frame = Buffer.alloc(12);
    frame.write('HVFT', 0, 'latin1');
    frame.writeUInt32LE(body.length, 4);
    frame.writeUInt32LE(zlib.crc32(body, zlib.crc32(frame.subarray(4, 8))), 8);
    const trailer = Buffer.alloc(16);
    u64(new DataView(trailer.buffer, trailer.byteOffset, 16), 0, off);
    trailer.write('HVTEND\r\n', 8, 'latin1');
    parts.push(frame, body, trailer);
  }
  return Buffer.concat(parts);
}
