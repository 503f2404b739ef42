/**
 * TraceReader: opens a trace file, validates its header, and iterates its
 * events chunk by chunk (one decoded chunk in memory at a time).
 *
 * Complete traces are indexed by their footer: seeking to an event number or
 * instruction count is a binary search over chunk first-event/first-ic
 * numbers. A trace without a valid footer (a recording killed mid-way) is
 * indexed by scanning chunk frames from the header forward: every complete
 * chunk whose CRCs are right is used and `truncated` says where and why the
 * readable prefix ends.
 *
 * Every malformed input raises a TraceError with a one-line message naming
 * what is wrong and where (file, byte offset, chunk number, event number).
 */
import * as fs from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import type { EventKind, TraceEvent } from '../core/hv/events.js';
import {
  CHUNK_FRAME_SIZE, CHUNK_MAGIC, FILE_MAGIC, FOOTER_FRAME_SIZE, FOOTER_MAGIC, FORMAT_VERSION, HEADER_PREFIX_SIZE,
  MAX_CHUNK_BYTES, MAX_CHUNK_EVENTS, MAX_FOOTER_BYTES, MAX_HEADER_JSON, TRAILER_MAGIC, TRAILER_SIZE, TraceError,
  bytesEqual, codecFromId, crc32, describeValue, hex, headerProblem, readU64,
  type Codec, type JsonObject, type TraceErrorCode, type TraceHeader,
} from '../recorder/format.js';
import { EVENT_KINDS, decompress, newUnpackr, tuplesToEvents } from '../recorder/codec.js';
import type { Unpackr } from 'msgpackr';

export interface ChunkEntry {
  readonly index: number;
  readonly offset: number;
  /** Number of the chunk's first event (events are numbered from 0). */
  readonly firstEvent: number;
  /** Instruction count of the chunk's first event. */
  readonly firstIc: number;
  readonly eventCount: number;
  /** Bytes of the chunk in the file, frame included. */
  readonly byteLength: number;
}

/** Why and where the readable prefix of a footer-less trace ends. */
export interface TruncationInfo {
  readonly completeChunks: number;
  readonly events: number;
  /** Bytes of the readable prefix (header + complete chunks). */
  readonly validBytes: number;
  readonly fileSize: number;
  /** What follows the last complete chunk, e.g. "partial chunk data (812 of 20871 bytes)". */
  readonly reason: string;
  /** "truncated after N complete chunks (M events)". */
  readonly message: string;
}

export interface TraceFooterInfo {
  readonly offset: number;
  readonly eventCount: number;
  readonly lastIc: number | null;
  readonly countsByKind: { readonly [K in EventKind]: number };
  /** SHA-256 of the concatenated uncompressed chunk payloads (checked by verify()). */
  readonly streamSha256: string;
  /** The final-state summary the recorder passed to close(). */
  readonly summary: JsonObject;
}

interface Frame {
  readonly clen: number;
  readonly ulen: number;
  readonly count: number;
  readonly firstEvent: number;
  readonly firstIc: number;
  readonly dataCrc: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export class TraceReader implements Iterable<TraceEvent> {
  readonly path: string;
  readonly fileSize: number;
  readonly formatVersion: number;
  readonly codec: Codec;
  readonly header: TraceHeader;
  /** Byte offset of the first chunk (= header length). */
  readonly headerEnd: number;
  /** The footer of a complete trace; null for a truncated one. */
  readonly footer: TraceFooterInfo | null;
  /** Set when the trace has no valid footer (recording killed); null for a complete trace. */
  readonly truncated: TruncationInfo | null;

  private fd: number;
  private readonly offsets: number[];
  private readonly ends: number[];
  private readonly firstEvents: number[];
  private readonly firstIcs: number[];
  private readonly total: number;
  private readonly unpackr: Unpackr = newUnpackr();
  private cacheIndex = -1;
  private cacheEvents: readonly TraceEvent[] = [];

  private constructor(path: string, fd: number, fileSize: number) {
    this.path = path;
    this.fd = fd;
    this.fileSize = fileSize;
    const h = this.readHeader();
    this.formatVersion = h.version;
    this.codec = h.codec;
    this.header = h.header;
    this.headerEnd = h.end;
    const idx = this.hasTrailer() ? this.readFooter() : this.scan();
    this.footer = idx.footer;
    this.truncated = idx.truncated;
    this.offsets = idx.offsets;
    this.ends = idx.ends;
    this.firstEvents = idx.firstEvents;
    this.firstIcs = idx.firstIcs;
    this.total = idx.total;
  }

  /** Opens and validates a trace (header, footer/index or chunk scan). Synchronous. */
  static open(path: string): TraceReader {
    let fd: number;
    let size: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new TraceError('IO', `cannot open trace: ${(e as Error).message}`, { path });
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new TraceError('IO', 'not a regular file', { path });
      size = st.size;
      return new TraceReader(path, fd, size);
    } catch (e) {
      try { fs.closeSync(fd); } catch { /* ignore */ }
      throw e instanceof TraceError ? e : new TraceError('IO', `cannot read trace: ${describeError(e)}`, { path });
    }
  }

  /** Total number of readable events (all events, or the complete-chunk prefix when truncated). */
  get eventCount(): number {
    return this.total;
  }
  get chunkCount(): number {
    return this.offsets.length;
  }

  chunk(i: number): ChunkEntry {
    if (!Number.isInteger(i) || i < 0 || i >= this.offsets.length) {
      throw new TraceError('BAD_ARGUMENT', `no chunk ${i} (the trace has ${this.offsets.length})`, { path: this.path });
    }
    const offset = this.offsets[i]!;
    return {
      index: i, offset, firstEvent: this.firstEvents[i]!, firstIc: this.firstIcs[i]!,
      eventCount: this.chunkEventCount(i), byteLength: this.ends[i]! - offset,
    };
  }

  /** The decoded events of chunk i (validated; cached: the last chunk read stays in memory). */
  readChunk(i: number): readonly TraceEvent[] {
    this.chunk(i); // range check
    return this.loadChunk(i, null);
  }

  /** A cursor over all readable events. */
  events(from = 0): EventCursor {
    return this.seekEvent(from);
  }

  [Symbol.iterator](): EventCursor {
    return this.seekEvent(0);
  }

  /** A cursor whose next event is event number n (0-based); n = eventCount gives an exhausted cursor. */
  seekEvent(n: number): EventCursor {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.total) {
      throw new TraceError('BAD_ARGUMENT', `cannot seek to event ${describeValue(n)}: the trace has ${this.total} events`,
        { path: this.path });
    }
    if (n === this.total) return new EventCursor(this, this.offsets.length, 0, n);
    const c = lastLessOrEqual(this.firstEvents, n);
    return new EventCursor(this, c, n - this.firstEvents[c]!, n);
  }

  /**
   * A cursor whose next event is the first one with instruction count >= ic
   * (exhausted when there is none). Uses the chunk index, then scans at most
   * the chunks whose range can hold it. Assumes instruction counts never
   * decrease, which holds for every trace of a correct machine.
   */
  seekInstruction(ic: number): EventCursor {
    if (!Number.isSafeInteger(ic) || ic < 0) {
      throw new TraceError('BAD_ARGUMENT', `cannot seek to instruction count ${describeValue(ic)}`, { path: this.path });
    }
    // Last chunk whose first ic is < ic: the wanted event is in it or later
    // (events sharing one ic may straddle a chunk boundary).
    let c = lastLess(this.firstIcs, ic);
    if (c < 0) c = 0;
    for (; c < this.offsets.length; c++) {
      const evs = this.loadChunk(c, null);
      for (let j = 0; j < evs.length; j++) {
        if (evs[j]!.ic >= ic) return new EventCursor(this, c, j, this.firstEvents[c]! + j);
      }
    }
    return new EventCursor(this, this.offsets.length, 0, this.total);
  }

  /**
   * Reads and checks every chunk (CRC, decompression, decoding, event
   * shapes, index consistency) and, for a complete trace, the footer totals
   * and stream digest. Returns the counts; throws TraceError on the first
   * problem.
   */
  verify(): { chunks: number; events: number; countsByKind: { [K in EventKind]: number } } {
    const hash = createHash('sha256');
    const counts = Object.fromEntries(EVENT_KINDS.map((k) => [k, 0])) as { [K in EventKind]: number };
    let events = 0;
    for (let i = 0; i < this.offsets.length; i++) {
      this.cacheIndex = -1; // force a real read so the digest sees every payload
      const evs = this.loadChunk(i, hash);
      for (const e of evs) counts[e.kind]++;
      events += evs.length;
    }
    const f = this.footer;
    if (f !== null) {
      for (const k of EVENT_KINDS) {
        if (counts[k] !== f.countsByKind[k]) {
          this.fail('BAD_FOOTER', `footer counts ${f.countsByKind[k]} ${k} events, the chunks hold ${counts[k]}`, f.offset);
        }
      }
      const digest = hash.digest('hex');
      if (digest !== f.streamSha256) {
        this.fail('BAD_FOOTER', `footer stream digest ${f.streamSha256.slice(0, 16)}... does not match the chunks (${digest.slice(0, 16)}...)`, f.offset);
      }
    }
    return { chunks: this.offsets.length, events, countsByKind: counts };
  }

  close(): void {
    if (this.fd >= 0) {
      try { fs.closeSync(this.fd); } catch { /* ignore */ }
      this.fd = -1;
    }
    this.cacheIndex = -1;
    this.cacheEvents = [];
  }

  // ------------------------------------------------------------ internals

  /** @internal */
  loadChunk(i: number, hash: Hash | null): readonly TraceEvent[] {
    if (i === this.cacheIndex) return this.cacheEvents;
    const offset = this.offsets[i]!;
    const end = this.ends[i]!;
    const buf = this.readAt(offset, end - offset, `chunk ${i}`);
    const fr = this.parseFrame(buf, offset, i);
    const inFooter = this.footer !== null;
    const indexCode: TraceErrorCode = inFooter ? 'BAD_FOOTER' : 'BAD_CHUNK';
    const indexWhat = inFooter ? 'the footer index' : 'the chunk scan';
    if (fr.firstEvent !== this.firstEvents[i] || fr.firstIc !== this.firstIcs[i] ||
      fr.count !== this.chunkEventCount(i) || CHUNK_FRAME_SIZE + fr.clen !== end - offset) {
      this.fail(indexCode,
        `chunk frame (first event ${fr.firstEvent}, first ic ${fr.firstIc}, ${fr.count} events, ${CHUNK_FRAME_SIZE + fr.clen} bytes) ` +
        `does not match ${indexWhat} (first event ${this.firstEvents[i]}, first ic ${this.firstIcs[i]}, ` +
        `${this.chunkEventCount(i)} events, ${end - offset} bytes)`, offset, i);
    }
    const data = buf.subarray(CHUNK_FRAME_SIZE);
    const crc = crc32(data);
    if (crc !== fr.dataCrc) {
      this.fail('CHUNK_CRC', `CRC-32 mismatch of compressed data (stored ${hex(fr.dataCrc)}, computed ${hex(crc)})`, offset, i);
    }
    let payload: Buffer;
    try {
      payload = decompress(this.codec, data, fr.ulen);
    } catch (e) {
      return this.fail('DECOMPRESS', `${this.codec} decompression failed: ${describeError(e)}`, offset, i);
    }
    if (payload.length !== fr.ulen) {
      this.fail('DECOMPRESS', `decompressed to ${payload.length} bytes, the chunk frame says ${fr.ulen}`, offset, i);
    }
    if (hash !== null) hash.update(payload);
    let batch: unknown;
    try {
      batch = this.unpackr.unpack(payload);
    } catch (e) {
      return this.fail('MSGPACK', `undecodable msgpack payload: ${describeError(e)}`, offset, i);
    }
    const events = tuplesToEvents(batch, fr.count, fr.firstIc, (j, msg) => {
      throw new TraceError('EVENT_SHAPE', j < 0 ? msg : `malformed event (index ${j} in chunk): ${msg}`, {
        path: this.path, offset, chunk: i, ...(j >= 0 ? { event: fr.firstEvent + j } : {}),
      });
    });
    const f = this.footer;
    if (f !== null && i === this.offsets.length - 1 && events[events.length - 1]!.ic !== f.lastIc) {
      this.fail('BAD_FOOTER', `footer says the last event has ic ${f.lastIc}, the last chunk ends at ic ${events[events.length - 1]!.ic}`, f.offset);
    }
    this.cacheIndex = i;
    this.cacheEvents = events;
    return events;
  }

  private chunkEventCount(i: number): number {
    const next = i + 1 < this.firstEvents.length ? this.firstEvents[i + 1]! : this.total;
    return next - this.firstEvents[i]!;
  }

  private fail(code: TraceErrorCode, msg: string, offset?: number, chunk?: number): never {
    throw new TraceError(code, msg, {
      path: this.path, ...(chunk !== undefined ? { chunk } : {}), ...(offset !== undefined ? { offset } : {}),
    });
  }

  private readAt(offset: number, length: number, what: string): Buffer {
    if (this.fd < 0) throw new TraceError('STATE', 'reader is closed', { path: this.path });
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    try {
      while (done < length) {
        const n = fs.readSync(this.fd, buf, done, length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
    } catch (e) {
      this.fail('IO', `cannot read ${what}: ${describeError(e)}`, offset + done);
    }
    if (done < length) this.fail('IO', `file shrank while reading ${what} (${done} of ${length} bytes)`, offset);
    return buf;
  }

  private readHeader(): { version: number; codec: Codec; header: TraceHeader; end: number } {
    const size = this.fileSize;
    if (size === 0) this.fail('TRUNCATED', 'empty file (no trace header)');
    const head = this.readAt(0, Math.min(size, HEADER_PREFIX_SIZE), 'header');
    const magicBytes = Math.min(head.length, FILE_MAGIC.length);
    if (!bytesEqual(FILE_MAGIC.subarray(0, magicBytes), 0, head.subarray(0, magicBytes))) {
      this.fail('BAD_MAGIC', `not an hvtrace file (bad magic ${hexBytes(head.subarray(0, magicBytes))}, expected ${hexBytes(FILE_MAGIC)})`, 0);
    }
    if (head.length < HEADER_PREFIX_SIZE) {
      this.fail('TRUNCATED', `file ends inside the header prefix (${head.length} of ${HEADER_PREFIX_SIZE} bytes)`, 0);
    }
    const v = new DataView(head.buffer, head.byteOffset, HEADER_PREFIX_SIZE);
    const version = v.getUint16(8, true);
    if (version !== FORMAT_VERSION) {
      this.fail('UNSUPPORTED_VERSION', `unsupported trace format version ${version} (this reader supports ${FORMAT_VERSION})`, 8);
    }
    const codecId = v.getUint16(10, true);
    const jsonLen = v.getUint32(12, true);
    const storedCrc = v.getUint32(16, true);
    if (jsonLen > MAX_HEADER_JSON) this.fail('BAD_HEADER', `header length ${jsonLen} exceeds the ${MAX_HEADER_JSON}-byte limit`, 12);
    if (HEADER_PREFIX_SIZE + jsonLen > size) {
      this.fail('TRUNCATED', `file ends inside the header (${size} of ${HEADER_PREFIX_SIZE + jsonLen} bytes)`, HEADER_PREFIX_SIZE);
    }
    const json = this.readAt(HEADER_PREFIX_SIZE, jsonLen, 'header');
    const crc = crc32(json, crc32(head.subarray(8, 16)));
    if (crc !== storedCrc) {
      this.fail('BAD_HEADER', `header CRC-32 mismatch (stored ${hex(storedCrc)}, computed ${hex(crc)})`, 16);
    }
    const codec = codecFromId(codecId);
    if (codec === undefined) this.fail('BAD_HEADER', `unknown compression codec id ${codecId}`, 10);
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
    } catch (e) {
      this.fail('BAD_HEADER', `header is not valid UTF-8 JSON: ${describeError(e)}`, HEADER_PREFIX_SIZE);
    }
    const problem = headerProblem(header);
    if (problem !== null) this.fail('BAD_HEADER', problem, HEADER_PREFIX_SIZE);
    return { version, codec, header: header as TraceHeader, end: HEADER_PREFIX_SIZE + jsonLen };
  }

  private hasTrailer(): boolean {
    if (this.fileSize < this.headerEnd + FOOTER_FRAME_SIZE + TRAILER_SIZE) return false;
    const t = this.readAt(this.fileSize - 8, 8, 'trailer');
    return bytesEqual(t, 0, TRAILER_MAGIC);
  }

  private parseFrame(buf: Buffer, offset: number, chunk: number): Frame {
    const v = new DataView(buf.buffer, buf.byteOffset, CHUNK_FRAME_SIZE);
    const magic = v.getUint32(0, true);
    if (magic !== CHUNK_MAGIC) {
      this.fail('BAD_CHUNK', `expected chunk marker "HVCK", found ${hexBytes(buf.subarray(0, 4))}`, offset, chunk);
    }
    const stored = v.getUint32(36, true);
    const crc = crc32(buf.subarray(0, 36));
    if (stored !== crc) {
      this.fail('BAD_CHUNK', `chunk frame CRC-32 mismatch (stored ${hex(stored)}, computed ${hex(crc)})`, offset, chunk);
    }
    const clen = v.getUint32(4, true);
    const ulen = v.getUint32(8, true);
    const count = v.getUint32(12, true);
    const firstEvent = readU64(v, 16);
    const firstIc = readU64(v, 24);
    if (clen === 0 || clen > MAX_CHUNK_BYTES || ulen === 0 || ulen > MAX_CHUNK_BYTES || count === 0 ||
      count > MAX_CHUNK_EVENTS || firstEvent < 0 || firstIc < 0) {
      this.fail('BAD_CHUNK', `chunk frame fields out of range (compressed ${clen}, uncompressed ${ulen}, ${count} events, ` +
        `first event ${firstEvent}, first ic ${firstIc})`, offset, chunk);
    }
    return { clen, ulen, count, firstEvent, firstIc, dataCrc: v.getUint32(32, true) };
  }

  private readFooter(): Index {
    const size = this.fileSize;
    const tr = this.readAt(size - TRAILER_SIZE, TRAILER_SIZE, 'trailer');
    const footerOffset = readU64(new DataView(tr.buffer, tr.byteOffset, TRAILER_SIZE), 0);
    const trailerOffset = size - TRAILER_SIZE;
    if (footerOffset < this.headerEnd || footerOffset + FOOTER_FRAME_SIZE > trailerOffset) {
      this.fail('BAD_FOOTER', `trailer points to footer offset ${footerOffset < 0 ? 'beyond 2^53' : hex(footerOffset)}, ` +
        `outside the body [${hex(this.headerEnd)}, ${hex(trailerOffset - FOOTER_FRAME_SIZE)}]`, trailerOffset);
    }
    const fr = this.readAt(footerOffset, FOOTER_FRAME_SIZE, 'footer');
    const fv = new DataView(fr.buffer, fr.byteOffset, FOOTER_FRAME_SIZE);
    if (fv.getUint32(0, true) !== FOOTER_MAGIC) {
      this.fail('BAD_FOOTER', `expected footer marker "HVFT", found ${hexBytes(fr.subarray(0, 4))}`, footerOffset);
    }
    const bodyLen = fv.getUint32(4, true);
    if (footerOffset + FOOTER_FRAME_SIZE + bodyLen !== trailerOffset) {
      this.fail('BAD_FOOTER', `footer length ${bodyLen} does not reach the trailer at ${hex(trailerOffset)}`, footerOffset);
    }
    if (bodyLen > MAX_FOOTER_BYTES) this.fail('BAD_FOOTER', `footer length ${bodyLen} exceeds the limit`, footerOffset);
    const body = this.readAt(footerOffset + FOOTER_FRAME_SIZE, bodyLen, 'footer');
    const crc = crc32(body, crc32(fr.subarray(4, 8)));
    const stored = fv.getUint32(8, true);
    if (crc !== stored) this.fail('BAD_FOOTER', `footer CRC-32 mismatch (stored ${hex(stored)}, computed ${hex(crc)})`, footerOffset);
    let decoded: unknown;
    try {
      decoded = this.unpackr.unpack(body);
    } catch (e) {
      this.fail('BAD_FOOTER', `undecodable footer msgpack: ${describeError(e)}`, footerOffset);
    }
    const bad = (msg: string): never => this.fail('BAD_FOOTER', msg, footerOffset);
    if (!Array.isArray(decoded) || decoded.length !== 8) bad('footer must be a msgpack array of 8 elements');
    const [total, lastIc, counts, offsets, firstEvents, firstIcs, streamSha256, summaryJson] = decoded as unknown[];
    if (!isU53(total)) return bad(`footer event count ${describeValue(total)} is not an integer`);
    if (!(lastIc === null ? total === 0 : isU53(lastIc) && total > 0)) bad(`footer last ic ${describeValue(lastIc)} is invalid`);
    if (!Array.isArray(counts) || counts.length !== EVENT_KINDS.length || !counts.every(isU53)) {
      bad('footer counts by kind must be 5 integers');
    }
    if ((counts as number[]).reduce((a, b) => a + b, 0) !== total) bad(`footer counts by kind do not add up to ${total}`);
    if (!isU53Array(offsets) || !isU53Array(firstEvents) || !isU53Array(firstIcs)) {
      return bad('footer index must be three arrays of integers');
    }
    const n = offsets.length;
    if (firstEvents.length !== n || firstIcs.length !== n) bad('footer index arrays have different lengths');
    if (typeof streamSha256 !== 'string' || !SHA256_HEX.test(streamSha256)) bad('footer stream digest is not a SHA-256');
    let summary: unknown;
    try {
      summary = typeof summaryJson === 'string' ? JSON.parse(summaryJson) : undefined;
    } catch {
      summary = undefined;
    }
    if (typeof summary !== 'object' || summary === null || Array.isArray(summary)) bad('footer summary is not a JSON object');
    // Structure of the index: chunks tile the body exactly, event numbers increase.
    if (n === 0) {
      if (total !== 0 || footerOffset !== this.headerEnd) bad(`footer lists no chunks but the body is not empty`);
    } else {
      if (offsets[0] !== this.headerEnd) bad(`footer index: chunk 0 at ${hex(offsets[0]!)}, expected ${hex(this.headerEnd)}`);
      if (firstEvents[0] !== 0) bad('footer index: chunk 0 does not start at event 0');
      for (let i = 0; i < n; i++) {
        const end = i + 1 < n ? offsets[i + 1]! : footerOffset;
        const nextEv = i + 1 < n ? firstEvents[i + 1]! : total;
        if (end - offsets[i]! <= CHUNK_FRAME_SIZE || end - offsets[i]! > CHUNK_FRAME_SIZE + MAX_CHUNK_BYTES) {
          bad(`footer index: chunk ${i} at ${hex(offsets[i]!)} has an impossible length ${end - offsets[i]!}`);
        }
        if (nextEv <= firstEvents[i]! || nextEv - firstEvents[i]! > MAX_CHUNK_EVENTS) {
          bad(`footer index: chunk ${i} has an impossible event range [${firstEvents[i]}, ${nextEv})`);
        }
      }
    }
    const ends = offsets.map((_, i) => (i + 1 < n ? offsets[i + 1]! : footerOffset));
    const byKind = {} as { [K in EventKind]: number };
    EVENT_KINDS.forEach((k, i) => { byKind[k] = (counts as number[])[i]!; });
    return {
      footer: {
        offset: footerOffset, eventCount: total, lastIc: lastIc as number | null, countsByKind: byKind,
        streamSha256: streamSha256 as string, summary: summary as JsonObject,
      },
      truncated: null, offsets, ends, firstEvents, firstIcs, total,
    };
  }

  /** Indexes a footer-less trace by walking chunk frames from the header. */
  private scan(): Index {
    const size = this.fileSize;
    const offsets: number[] = [];
    const ends: number[] = [];
    const firstEvents: number[] = [];
    const firstIcs: number[] = [];
    let off = this.headerEnd;
    let total = 0;
    let reason: string;
    for (;;) {
      const remaining = size - off;
      if (remaining === 0) { reason = 'end of file after the last complete chunk (no footer)'; break; }
      if (remaining < 4) { reason = `partial marker (${remaining} bytes)`; break; }
      const marker = this.readAt(off, 4, 'marker');
      const m = marker.readUInt32LE(0);
      if (m === FOOTER_MAGIC) {
        reason = this.scanFooter(off);
        break;
      }
      if (m !== CHUNK_MAGIC) {
        this.fail('BAD_CHUNK', `expected chunk marker "HVCK" or footer marker "HVFT", found ${hexBytes(marker)}`, off, offsets.length);
      }
      if (remaining < CHUNK_FRAME_SIZE) { reason = `partial chunk frame (${remaining} of ${CHUNK_FRAME_SIZE} bytes)`; break; }
      const i = offsets.length;
      const fr = this.parseFrame(this.readAt(off, CHUNK_FRAME_SIZE, `chunk ${i}`), off, i);
      if (fr.firstEvent !== total) {
        this.fail('BAD_CHUNK', `chunk frame says first event ${fr.firstEvent}, expected ${total} after the previous chunks`, off, i);
      }
      const end = off + CHUNK_FRAME_SIZE + fr.clen;
      if (end > size) {
        reason = `partial chunk data (${remaining - CHUNK_FRAME_SIZE} of ${fr.clen} bytes)`;
        break;
      }
      const data = this.readAt(off + CHUNK_FRAME_SIZE, fr.clen, `chunk ${i}`);
      const crc = crc32(data);
      if (crc !== fr.dataCrc) {
        this.fail('CHUNK_CRC', `CRC-32 mismatch of compressed data (stored ${hex(fr.dataCrc)}, computed ${hex(crc)})`, off, i);
      }
      offsets.push(off);
      ends.push(end);
      firstEvents.push(fr.firstEvent);
      firstIcs.push(fr.firstIc);
      total += fr.count;
      off = end;
    }
    const truncated: TruncationInfo = {
      completeChunks: offsets.length, events: total, validBytes: offsets.length ? ends[ends.length - 1]! : this.headerEnd,
      fileSize: size, reason,
      message: `truncated after ${offsets.length} complete chunk${offsets.length === 1 ? '' : 's'} (${total} event${total === 1 ? '' : 's'})`,
    };
    return { footer: null, truncated, offsets, ends, firstEvents, firstIcs, total };
  }

  /**
   * A footer marker found by the scan: the trailer is missing or wrong (a
   * valid trailer would have been used). An incomplete footer/trailer is a
   * truncation (killed inside close()); a complete one with a bad trailer is
   * corruption.
   */
  private scanFooter(off: number): string {
    const size = this.fileSize;
    if (size - off < FOOTER_FRAME_SIZE) return 'partial footer frame';
    const fr = this.readAt(off, FOOTER_FRAME_SIZE, 'footer');
    const bodyLen = fr.readUInt32LE(4);
    const bodyEnd = off + FOOTER_FRAME_SIZE + bodyLen;
    if (bodyEnd > size) return `partial footer (${size - off} of ${FOOTER_FRAME_SIZE + bodyLen} bytes)`;
    if (bodyLen > MAX_FOOTER_BYTES) this.fail('BAD_FOOTER', `footer length ${bodyLen} exceeds the limit`, off);
    const body = this.readAt(off + FOOTER_FRAME_SIZE, bodyLen, 'footer');
    const crc = crc32(body, crc32(fr.subarray(4, 8)));
    const stored = fr.readUInt32LE(8);
    if (crc !== stored) this.fail('BAD_FOOTER', `footer CRC-32 mismatch (stored ${hex(stored)}, computed ${hex(crc)})`, off);
    if (size - bodyEnd < TRAILER_SIZE) return `partial trailer (${size - bodyEnd} of ${TRAILER_SIZE} bytes)`;
    if (size - bodyEnd > TRAILER_SIZE) this.fail('BAD_FOOTER', `${size - bodyEnd - TRAILER_SIZE} unexpected bytes after the trailer`, bodyEnd + TRAILER_SIZE);
    const tr = this.readAt(bodyEnd, TRAILER_SIZE, 'trailer');
    return this.fail('BAD_FOOTER', `bad trailer magic ${hexBytes(tr.subarray(8))}, expected ${hexBytes(TRAILER_MAGIC)}`, bodyEnd + 8);
  }
}

interface Index {
  footer: TraceFooterInfo | null;
  truncated: TruncationInfo | null;
  offsets: number[];
  ends: number[];
  firstEvents: number[];
  firstIcs: number[];
  total: number;
}

/**
 * Forward cursor over a reader's events, holding one decoded chunk.
 * `nextEvent()` is the allocation-free form used by replay; it is also an
 * iterator.
 */
export class EventCursor implements IterableIterator<TraceEvent> {
  private events: readonly TraceEvent[] | null = null;

  /** @internal */
  constructor(
    private readonly reader: TraceReader,
    private chunkIndex: number,
    private indexInChunk: number,
    /** Number of the event nextEvent() returns next. */
    public position: number,
  ) {}

  /** The next event, or undefined at the end of the readable events. */
  nextEvent(): TraceEvent | undefined {
    for (;;) {
      const evs = this.events;
      if (evs !== null) {
        if (this.indexInChunk < evs.length) {
          this.position++;
          return evs[this.indexInChunk++];
        }
        this.events = null;
        this.chunkIndex++;
        this.indexInChunk = 0;
      }
      if (this.chunkIndex >= this.reader.chunkCount) return undefined;
      this.events = this.reader.loadChunk(this.chunkIndex, null);
    }
  }

  /** The next event without consuming it. */
  peek(): TraceEvent | undefined {
    const e = this.nextEvent();
    if (e !== undefined) {
      this.indexInChunk--;
      this.position--;
    }
    return e;
  }

  next(): IteratorResult<TraceEvent> {
    const e = this.nextEvent();
    return e === undefined ? { done: true, value: undefined } : { done: false, value: e };
  }

  [Symbol.iterator](): EventCursor {
    return this;
  }
}

function isU53(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}
function isU53Array(v: unknown): v is number[] {
  return Array.isArray(v) && v.every(isU53);
}

/** Index of the last element <= x in a non-decreasing array (0 when none). */
function lastLessOrEqual(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (a[mid]! <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Index of the last element < x in a non-decreasing array, -1 when none. */
function lastLess(a: readonly number[], x: number): number {
  let lo = -1;
  let hi = a.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (a[mid]! < x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** One-line description of a caught error (never a stack). */
export function describeError(e: unknown): string {
  if (e instanceof Error) return (e.message || e.name).replace(/[\r\n]+/g, ' ').slice(0, 200);
  return describeValue(e);
}
