/**
 * TraceWriter: the recording TraceSink. Events are validated, turned into
 * compact tuples and buffered; every `chunkEvents` events the batch is packed
 * with msgpack, compressed and written (frame + data) with synchronous fs
 * writes, so a recording killed with SIGKILL loses at most the chunk being
 * filled. `close(summary)` writes the last partial chunk, the footer index
 * and the trailer.
 *
 * Deterministic: the file depends only on the header, the events, the
 * summary and the options (no timestamps, no host data), so two recordings
 * of the same run are byte-identical.
 *
 * Memory is bounded by one chunk of tuples plus the footer index (three
 * numbers per chunk).
 */
import * as fs from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import type { TraceEvent, TraceSink, EventKind } from '../core/hv/events.js';
import {
  CHUNK_FRAME_SIZE, CHUNK_MAGIC, CODEC_IDS, FILE_MAGIC, FOOTER_FRAME_SIZE, FOOTER_MAGIC, FORMAT_VERSION,
  HEADER_PREFIX_SIZE, MAX_CHUNK_EVENTS, TRAILER_MAGIC, TRAILER_SIZE, TraceError, canonicalJson, crc32,
  encodeHeaderJson, writeU64, type Codec, type JsonObject, type TraceHeader,
} from './format.js';
import {
  DEFAULT_CODEC, DEFAULT_LEVEL, EVENT_KINDS, compress, eventProblem, eventToTuple, newPackr,
} from './codec.js';
import type { Packr } from 'msgpackr';

export interface TraceWriterOptions {
  /** Events per chunk (default 4096). Part of what makes the file: same value → same bytes. */
  readonly chunkEvents?: number;
  /** Compression of chunk payloads (default 'brotli'; see docs/trace-format.md for the measurements). */
  readonly codec?: Codec;
  /** deflate level 0-9 or brotli quality 0-11 (default: brotli 3, deflate-raw 1). */
  readonly level?: number;
}

export const DEFAULT_CHUNK_EVENTS = 4096;

/** What close() returns. */
export interface TraceWriteStats {
  readonly path: string;
  readonly events: number;
  readonly chunks: number;
  readonly bytes: number;
  /** ic of the last event, or null when there was none. */
  readonly lastIc: number | null;
  readonly countsByKind: { readonly [K in EventKind]: number };
  /** SHA-256 (hex) of the concatenated uncompressed chunk payloads: identical for identical event streams. */
  readonly streamSha256: string;
}

export class TraceWriter implements TraceSink {
  readonly path: string;
  readonly chunkEvents: number;
  readonly codec: Codec;
  readonly level: number;

  private fd: number;
  private closed = false;
  private offset = 0;
  private readonly packr: Packr;
  private readonly batch: unknown[][];
  private n = 0; // events buffered in batch
  private total = 0; // events accepted
  private prevIc = 0;
  private chunkFirstIc = 0;
  private readonly counts = new Float64Array(EVENT_KINDS.length);
  private readonly chunkOffsets: number[] = [];
  private readonly chunkFirstEvents: number[] = [];
  private readonly chunkFirstIcs: number[] = [];
  private readonly streamHash: Hash = createHash('sha256');
  private readonly frame = Buffer.alloc(CHUNK_FRAME_SIZE);
  private readonly frameView = new DataView(this.frame.buffer, this.frame.byteOffset, CHUNK_FRAME_SIZE);

  private constructor(path: string, fd: number, opts: TraceWriterOptions) {
    this.path = path;
    this.fd = fd;
    this.chunkEvents = opts.chunkEvents ?? DEFAULT_CHUNK_EVENTS;
    this.codec = opts.codec ?? DEFAULT_CODEC;
    this.level = opts.level ?? DEFAULT_LEVEL[this.codec];
    this.packr = newPackr();
    this.batch = new Array(this.chunkEvents);
  }

  /**
   * Creates (or truncates) `path` and writes the header. Synchronous: the
   * recorder runs inside the deterministic machine loop.
   */
  static open(path: string, header: TraceHeader, opts: TraceWriterOptions = {}): TraceWriter {
    const chunkEvents = opts.chunkEvents ?? DEFAULT_CHUNK_EVENTS;
    if (!Number.isInteger(chunkEvents) || chunkEvents < 1 || chunkEvents > MAX_CHUNK_EVENTS) {
      throw new TraceError('BAD_ARGUMENT', `chunkEvents must be an integer in [1, ${MAX_CHUNK_EVENTS}], got ${chunkEvents}`);
    }
    const codec = opts.codec ?? DEFAULT_CODEC;
    if (!(codec in CODEC_IDS)) throw new TraceError('BAD_ARGUMENT', `unknown codec ${String(codec)}`);
    const level = opts.level ?? DEFAULT_LEVEL[codec];
    const maxLevel = codec === 'brotli' ? 11 : 9;
    if (!Number.isInteger(level) || level < 0 || level > maxLevel) {
      throw new TraceError('BAD_ARGUMENT', `${codec} level must be an integer in [0, ${maxLevel}], got ${level}`);
    }
    const json = encodeHeaderJson(header);
    const prefix = Buffer.alloc(HEADER_PREFIX_SIZE);
    const view = new DataView(prefix.buffer, prefix.byteOffset, HEADER_PREFIX_SIZE);
    prefix.set(FILE_MAGIC, 0);
    view.setUint16(8, FORMAT_VERSION, true);
    view.setUint16(10, CODEC_IDS[codec], true);
    view.setUint32(12, json.length, true);
    view.setUint32(16, crc32(json, crc32(prefix.subarray(8, 16))), true);

    let fd: number;
    try {
      fd = fs.openSync(path, 'w');
    } catch (e) {
      throw new TraceError('IO', `cannot create trace file: ${(e as Error).message}`, { path });
    }
    const w = new TraceWriter(path, fd, { chunkEvents, codec, level });
    w.write(Buffer.concat([prefix, json]));
    return w;
  }

  /** Number of events accepted so far. */
  get eventCount(): number {
    return this.total;
  }
  /** Number of chunks written so far. */
  get chunkCount(): number {
    return this.chunkOffsets.length;
  }
  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.offset;
  }

  event(e: TraceEvent): void {
    if (this.closed) throw new TraceError('STATE', 'event() after close()', { path: this.path });
    const ic = e.ic;
    if (!Number.isSafeInteger(ic) || ic < 0) {
      throw new TraceError('BAD_EVENT', `${e.kind} field ic must be an integer in [0, 2^53-1], got ${String(ic)}`,
        { path: this.path, event: this.total });
    }
    let t: unknown[] | null;
    if (this.n === 0) {
      this.chunkFirstIc = ic;
      t = eventToTuple(e, ic);
    } else {
      t = eventToTuple(e, ic - this.prevIc);
    }
    if (t === null) throw new TraceError('BAD_EVENT', eventProblem(e), { path: this.path, event: this.total });
    this.prevIc = ic;
    this.counts[t[0] as number]!++;
    this.batch[this.n++] = t;
    this.total++;
    if (this.n === this.chunkEvents) this.flushChunk();
  }

  /**
   * Writes the last chunk, the footer (index, totals, `summary`: a JSON-able
   * final state description, stored as canonical JSON) and the trailer, then
   * closes the file.
   */
  close(summary: JsonObject = {}): TraceWriteStats {
    if (this.closed) throw new TraceError('STATE', 'close() called twice', { path: this.path });
    const summaryJson = canonicalJson(summary, 'summary');
    if (this.n > 0) this.flushChunk();
    const streamSha256 = this.streamHash.digest('hex');
    const lastIc = this.total > 0 ? this.prevIc : null;
    const counts = Array.from(this.counts);
    const body = this.packr.pack([
      this.total, lastIc, counts, this.chunkOffsets, this.chunkFirstEvents, this.chunkFirstIcs, streamSha256,
      summaryJson,
    ]);
    const footerOffset = this.offset;
    const frame = Buffer.alloc(FOOTER_FRAME_SIZE);
    const fv = new DataView(frame.buffer, frame.byteOffset, FOOTER_FRAME_SIZE);
    fv.setUint32(0, FOOTER_MAGIC, true);
    fv.setUint32(4, body.length, true);
    fv.setUint32(8, crc32(body, crc32(frame.subarray(4, 8))), true);
    const trailer = Buffer.alloc(TRAILER_SIZE);
    writeU64(new DataView(trailer.buffer, trailer.byteOffset, TRAILER_SIZE), 0, footerOffset);
    trailer.set(TRAILER_MAGIC, 8);
    this.write(Buffer.concat([frame, body, trailer]));
    this.closed = true;
    try {
      fs.closeSync(this.fd);
    } catch (e) {
      throw new TraceError('IO', `cannot close trace file: ${(e as Error).message}`, { path: this.path });
    }
    const byKind = {} as { [K in EventKind]: number };
    EVENT_KINDS.forEach((k, i) => { byKind[k] = counts[i] ?? 0; });
    return {
      path: this.path, events: this.total, chunks: this.chunkOffsets.length, bytes: this.offset, lastIc,
      countsByKind: byKind, streamSha256,
    };
  }

  /**
   * Closes the file without a footer (the result reads as a truncated trace).
   * For error paths of the caller; a normal recording ends with close().
   */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    try { fs.closeSync(this.fd); } catch { /* already failing */ }
  }

  private flushChunk(): void {
    const n = this.n;
    const batch = n === this.chunkEvents ? this.batch : this.batch.slice(0, n);
    const payload = this.packr.pack(batch);
    this.streamHash.update(payload);
    const data = compress(this.codec, this.level, payload);
    const firstEvent = this.total - n;
    const v = this.frameView;
    v.setUint32(0, CHUNK_MAGIC, true);
    v.setUint32(4, data.length, true);
    v.setUint32(8, payload.length, true);
    v.setUint32(12, n, true);
    writeU64(v, 16, firstEvent);
    writeU64(v, 24, this.chunkFirstIc);
    v.setUint32(32, crc32(data), true);
    v.setUint32(36, crc32(this.frame.subarray(0, 36)), true);
    this.chunkOffsets.push(this.offset);
    this.chunkFirstEvents.push(firstEvent);
    this.chunkFirstIcs.push(this.chunkFirstIc);
    this.write(this.frame);
    this.write(data);
    this.batch.fill(undefined as unknown as unknown[], 0, n); // drop references early
    this.n = 0;
  }

  private write(buf: Uint8Array): void {
    let done = 0;
    try {
      while (done < buf.length) done += fs.writeSync(this.fd, buf, done, buf.length - done, this.offset + done);
    } catch (e) {
      throw new TraceError('IO', `write failed: ${(e as Error).message}`, { path: this.path, offset: this.offset + done });
    }
    this.offset += buf.length;
  }
}
