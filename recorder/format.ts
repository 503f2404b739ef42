/**
 * hvtrace trace file format, version 1: constants, header types, the shared
 * error type and the small binary helpers used by both the writer
 * (recorder/) and the reader (replay/). The normative description is
 * docs/trace-format.md; every constant here is named there.
 *
 * Layout (all integers little-endian):
 *
 *   header   20-byte prefix + canonical-JSON header, CRC-32 protected
 *   chunk*   40-byte frame + compressed msgpack batch of events
 *   footer   12-byte frame + msgpack index/totals/summary, CRC-32 protected
 *   trailer  16 bytes: u64 footer offset + trailer magic
 */
import * as zlib from 'node:zlib';

/** "\x89HVT\r\n\x1a\n": high bit + CR/LF + ^Z catch text-mode and 7-bit mangling (PNG idea). */
export const FILE_MAGIC: Uint8Array = Uint8Array.of(0x89, 0x48, 0x56, 0x54, 0x0d, 0x0a, 0x1a, 0x0a);
/** "HVCK": start of every chunk frame. */
export const CHUNK_MAGIC = 0x4b435648; // bytes 48 56 43 4b read as LE u32
/** "HVFT": start of the footer frame. */
export const FOOTER_MAGIC = 0x54465648; // bytes 48 56 46 54
/** "HVTEND\r\n": last 8 bytes of a complete trace. */
export const TRAILER_MAGIC: Uint8Array = Uint8Array.of(0x48, 0x56, 0x54, 0x45, 0x4e, 0x44, 0x0d, 0x0a);

export const FORMAT_VERSION = 1;

export const HEADER_PREFIX_SIZE = 20;
export const CHUNK_FRAME_SIZE = 40;
export const FOOTER_FRAME_SIZE = 12;
export const TRAILER_SIZE = 16;

/** Sanity limits: a reader refuses (with a TraceError) anything above them instead of allocating it. */
export const MAX_HEADER_JSON = 16 << 20;
export const MAX_CHUNK_BYTES = 256 << 20;
export const MAX_CHUNK_EVENTS = 1 << 22;
export const MAX_FOOTER_BYTES = 256 << 20;

/** Compression codec ids stored in the header prefix. */
export const CODEC_IDS = { 'deflate-raw': 1, brotli: 2 } as const;
export type Codec = keyof typeof CODEC_IDS;
export function codecFromId(id: number): Codec | undefined {
  if (id === 1) return 'deflate-raw';
  if (id === 2) return 'brotli';
  return undefined;
}

// ---------------------------------------------------------------- header

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type InputRole = 'kernel' | 'initrd' | 'disk' | 'cmdline' | 'guest';
export const INPUT_ROLES: readonly InputRole[] = ['kernel', 'initrd', 'disk', 'cmdline', 'guest'];

/** One input of the recorded run, identified by content. */
export interface TraceInput {
  readonly role: InputRole;
  readonly name: string;
  readonly size: number;
  /** 64 lowercase hex digits. */
  readonly sha256: string;
}

export interface TraceHeader {
  readonly producer: { readonly name: string; readonly version: string };
  /** Opaque machine configuration given by the caller (memory size, guest kind, options...). */
  readonly machine: JsonObject;
  readonly inputs: readonly TraceInput[];
}

// ---------------------------------------------------------------- errors

export type TraceErrorCode =
  | 'IO' // the file cannot be opened/read/written
  | 'BAD_MAGIC' // not an hvtrace file
  | 'UNSUPPORTED_VERSION'
  | 'BAD_HEADER' // header CRC, length, JSON or schema
  | 'TRUNCATED' // the file ends inside the header (a body truncation is reported as TraceReader.truncated)
  | 'BAD_CHUNK' // chunk marker or frame CRC or frame fields
  | 'CHUNK_CRC' // CRC-32 of the compressed bytes
  | 'DECOMPRESS'
  | 'MSGPACK'
  | 'EVENT_SHAPE' // decoded, but not a valid event
  | 'BAD_FOOTER' // footer/trailer corrupt or inconsistent with the chunks
  | 'BAD_EVENT' // the writer was given an invalid event
  | 'BAD_ARGUMENT' // API misuse (seek out of range, write after close, bad option)
  | 'STATE'; // API misuse (use after close)

export interface TraceErrorWhere {
  readonly path?: string;
  readonly offset?: number;
  readonly chunk?: number;
  readonly event?: number;
}

/**
 * Every malformed input and every misuse of the trace API raises a TraceError
 * whose message is one line naming what went wrong and where (file, byte
 * offset, chunk number, event number).
 */
export class TraceError extends Error {
  override readonly name = 'TraceError';
  readonly code: TraceErrorCode;
  readonly path: string | undefined;
  readonly offset: number | undefined;
  readonly chunk: number | undefined;
  readonly event: number | undefined;
  /** The message without the location prefix. */
  readonly detail: string;

  constructor(code: TraceErrorCode, detail: string, where: TraceErrorWhere = {}) {
    const loc: string[] = [];
    if (where.chunk !== undefined) loc.push(`chunk ${where.chunk}`);
    if (where.offset !== undefined) loc.push(`offset ${hex(where.offset)}`);
    if (where.event !== undefined) loc.push(`event #${where.event}`);
    const prefix = (where.path !== undefined ? `${where.path}: ` : '') + (loc.length ? `${loc.join(', ')}: ` : '');
    super(oneLine(prefix + detail));
    this.code = code;
    this.path = where.path;
    this.offset = where.offset;
    this.chunk = where.chunk;
    this.event = where.event;
    this.detail = detail;
  }
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

export function hex(n: number): string {
  return n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`;
}

/** Short description of a value for error messages (never throws, never multi-line, bounded). */
export function describeValue(v: unknown): string {
  let s: string;
  try {
    if (typeof v === 'string') s = JSON.stringify(v);
    else if (typeof v === 'bigint') s = `${v}n`;
    else if (typeof v === 'number') s = Object.is(v, -0) ? '-0' : String(v);
    else if (v === undefined) s = 'undefined';
    else if (v instanceof Uint8Array) s = `<${v.length} bytes>`;
    else if (Array.isArray(v)) s = `array(${v.length})`;
    else if (typeof v === 'object' && v !== null) s = `${v.constructor?.name ?? 'object'}`;
    else s = String(v);
  } catch {
    s = typeof v;
  }
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

// ---------------------------------------------------------------- canonical JSON

/**
 * Deterministic JSON: object keys sorted (UTF-16 code unit order), no
 * whitespace, only JSON values (finite numbers, strings, booleans, null,
 * arrays, plain objects). Used for the header and the final-state summary so
 * the same configuration always produces the same bytes.
 */
export function canonicalJson(v: unknown, what: string): string {
  const out: string[] = [];
  emitJson(v, what, out, 0);
  return out.join('');
}

function emitJson(v: unknown, path: string, out: string[], depth: number): void {
  if (depth > 64) throw new TraceError('BAD_ARGUMENT', `${path}: nested too deeply (more than 64 levels)`);
  if (v === null || typeof v === 'boolean' || typeof v === 'string') {
    out.push(JSON.stringify(v));
    return;
  }
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TraceError('BAD_ARGUMENT', `${path}: ${v} is not a JSON number`);
    out.push(JSON.stringify(v));
    return;
  }
  if (Array.isArray(v)) {
    out.push('[');
    for (let i = 0; i < v.length; i++) {
      if (i) out.push(',');
      if (!(i in v)) throw new TraceError('BAD_ARGUMENT', `${path}[${i}]: array hole is not a JSON value`);
      emitJson(v[i], `${path}[${i}]`, out, depth + 1);
    }
    out.push(']');
    return;
  }
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      throw new TraceError('BAD_ARGUMENT', `${path}: ${describeValue(v)} is not a plain JSON object`);
    }
    const keys = Object.keys(v).sort();
    out.push('{');
    let first = true;
    for (const k of keys) {
      const x = (v as Record<string, unknown>)[k];
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(k), ':');
      emitJson(x, `${path}.${k}`, out, depth + 1);
    }
    out.push('}');
    return;
  }
  throw new TraceError('BAD_ARGUMENT', `${path}: ${typeof v} is not a JSON value`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Checks a header object against the v1 schema. Returns a description of the
 * first problem, or null when it is valid. Unknown keys are problems too: a
 * v1 header has exactly producer, machine and inputs.
 */
export function headerProblem(h: unknown): string | null {
  if (!isPlainObject(h)) return 'header must be a JSON object';
  for (const k of Object.keys(h)) {
    if (k !== 'producer' && k !== 'machine' && k !== 'inputs') return `unknown header field "${k}"`;
  }
  const p = h['producer'];
  if (!isPlainObject(p)) return 'header field producer must be an object {name, version}';
  for (const k of Object.keys(p)) if (k !== 'name' && k !== 'version') return `unknown field producer.${k}`;
  if (typeof p['name'] !== 'string' || p['name'] === '') return 'producer.name must be a non-empty string';
  if (typeof p['version'] !== 'string') return 'producer.version must be a string';
  if (!isPlainObject(h['machine'])) return 'header field machine must be a JSON object';
  const inputs = h['inputs'];
  if (!Array.isArray(inputs)) return 'header field inputs must be an array';
  for (let i = 0; i < inputs.length; i++) {
    const inp: unknown = inputs[i];
    if (!isPlainObject(inp)) return `inputs[${i}] must be an object {role, name, size, sha256}`;
    for (const k of Object.keys(inp)) {
      if (k !== 'role' && k !== 'name' && k !== 'size' && k !== 'sha256') return `unknown field inputs[${i}].${k}`;
    }
    if (!INPUT_ROLES.includes(inp['role'] as InputRole)) {
      return `inputs[${i}].role must be one of ${INPUT_ROLES.join('|')}, got ${describeValue(inp['role'])}`;
    }
    if (typeof inp['name'] !== 'string') return `inputs[${i}].name must be a string`;
    const size = inp['size'];
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      return `inputs[${i}].size must be a non-negative integer, got ${describeValue(size)}`;
    }
    if (typeof inp['sha256'] !== 'string' || !SHA256_HEX.test(inp['sha256'])) {
      return `inputs[${i}].sha256 must be 64 lowercase hex digits, got ${describeValue(inp['sha256'])}`;
    }
  }
  return null;
}

/** Canonical header bytes (UTF-8 of canonical JSON) after schema validation. */
export function encodeHeaderJson(h: TraceHeader): Uint8Array {
  const problem = headerProblem(h);
  if (problem !== null) throw new TraceError('BAD_ARGUMENT', `invalid trace header: ${problem}`);
  return Buffer.from(canonicalJson(h, 'header'), 'utf8');
}

// ---------------------------------------------------------------- binary helpers

/** CRC-32 (IEEE 802.3, the zlib/PNG polynomial), optionally continuing a previous value. */
export function crc32(data: Uint8Array, prev = 0): number {
  return zlib.crc32(data, prev) >>> 0;
}

export function bytesEqual(a: Uint8Array, aOff: number, b: Uint8Array): boolean {
  if (aOff + b.length > a.length) return false;
  for (let i = 0; i < b.length; i++) if (a[aOff + i] !== b[i]) return false;
  return true;
}

/** Writes a non-negative safe integer as u64 little-endian. */
export function writeU64(view: DataView, off: number, v: number): void {
  view.setUint32(off, v >>> 0, true);
  view.setUint32(off + 4, Math.floor(v / 0x1_0000_0000), true);
}

/** Reads a u64 little-endian; returns -1 when it does not fit a safe integer. */
export function readU64(view: DataView, off: number): number {
  const lo = view.getUint32(off, true);
  const hi = view.getUint32(off + 4, true);
  if (hi > 0x1f_ffff) return -1;
  return hi * 0x1_0000_0000 + lo;
}
