/**
 * Event encoding of the trace format v1 (docs/trace-format.md, "Events").
 *
 * An event is a msgpack array: a numeric kind tag, the instruction count
 * field, then the kind's fields in a fixed order. Within a chunk the first
 * event carries its absolute instruction count and every later event the
 * (signed) difference to the previous event's count: consecutive exits are
 * typically a few thousand instructions apart, so the field is 1-3 bytes
 * instead of a 5- or 9-byte absolute count, and compresses far better.
 *
 * A chunk payload is one msgpack array holding the chunk's event arrays,
 * packed by msgpackr in standard mode (useRecords: false: no msgpackr
 * extensions, any msgpack decoder reads it). msgpackr writes integers that
 * fit 32 bits as (u)int8/16/32 and every other number as float64, which is
 * lossless for the safe-integer range all fields are restricted to.
 */
import * as zlib from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';
import type { EventKind, TraceEvent } from '../core/hv/events.js';
import { describeValue, type Codec } from './format.js';

export const KIND_TAG: { readonly [K in EventKind]: number } = { exit: 0, pio: 1, mmio: 2, irq: 3, digest: 4 };
export const KIND_BY_TAG: readonly EventKind[] = ['exit', 'pio', 'mmio', 'irq', 'digest'];
export const EVENT_KINDS: readonly EventKind[] = KIND_BY_TAG;

/**
 * Value domains of event fields. The writer refuses values outside them and
 * the reader reports them as malformed events.
 *   u53: integer 0 .. 2^53-1         i53: integer -(2^53-1) .. 2^53-1
 *   u32: integer 0 .. 2^32-1         u16, u8, u3: 0 .. 2^n-1
 *   pio-size: 1|2|4                  mmio-size: 1|2|4|8
 */
export type FieldType = 'u53' | 'i53' | 'u32' | 'u16' | 'u8' | 'u3' | 'bool' | 'str' | 'pio-size' | 'mmio-size';

/** Fields of each kind in wire order, after the tag (element 0). `ic` is element 1 of every kind. */
export const EVENT_FIELDS: { readonly [K in EventKind]: readonly (readonly [string, FieldType])[] } = {
  exit: [['ic', 'u53'], ['reason', 'u32'], ['qual', 'u53'], ['rip', 'i53'], ['len', 'u32'], ['info', 'u32'],
    ['gpa', 'u53'], ['gla', 'i53'], ['rule', 'str']],
  pio: [['ic', 'u53'], ['port', 'u16'], ['size', 'pio-size'], ['write', 'bool'], ['value', 'u32']],
  mmio: [['ic', 'u53'], ['gpa', 'u53'], ['size', 'mmio-size'], ['write', 'bool'], ['valueLo', 'u32'],
    ['valueHi', 'u32'], ['device', 'str']],
  irq: [['ic', 'u53'], ['vector', 'u8'], ['type', 'u3'], ['rip', 'i53']],
  digest: [['ic', 'u53'], ['regs', 'str'], ['mem', 'str']],
};

export const TYPE_DESCRIPTION: { readonly [T in FieldType]: string } = {
  u53: 'an integer in [0, 2^53-1]',
  i53: 'a safe integer',
  u32: 'an integer in [0, 2^32-1]',
  u16: 'an integer in [0, 0xffff]',
  u8: 'an integer in [0, 0xff]',
  u3: 'an integer in [0, 7]',
  bool: 'a boolean',
  str: 'a well-formed Unicode string',
  'pio-size': '1, 2 or 4',
  'mmio-size': '1, 2, 4 or 8',
};

// Inlined by V8; written as plain functions so the hot paths stay monomorphic.
function isU32(v: unknown): v is number {
  return typeof v === 'number' && v >>> 0 === v;
}
function isU53(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}
function isI53(v: unknown): v is number {
  return Number.isSafeInteger(v);
}
function isU16(v: unknown): v is number {
  return typeof v === 'number' && v >>> 0 === v && v <= 0xffff;
}
function isU8(v: unknown): v is number {
  return typeof v === 'number' && v >>> 0 === v && v <= 0xff;
}
function isU3(v: unknown): v is number {
  return typeof v === 'number' && v >>> 0 === v && v <= 7;
}
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
type MaybeWellFormed = { isWellFormed?: () => boolean };
const wellFormed: (s: string) => boolean = typeof (String.prototype as MaybeWellFormed).isWellFormed === 'function'
  ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
  : (s) => !LONE_SURROGATE.test(s);
/** A string that survives UTF-8 (no lone surrogate halves: msgpack strings are UTF-8). */
function isStr(v: unknown): v is string {
  return typeof v === 'string' && (v.length === 0 || wellFormed(v));
}
function isPioSize(v: unknown): v is 1 | 2 | 4 {
  return v === 1 || v === 2 || v === 4;
}
function isMmioSize(v: unknown): v is 1 | 2 | 4 | 8 {
  return v === 1 || v === 2 || v === 4 || v === 8;
}

export function fieldTypeOk(t: FieldType, v: unknown): boolean {
  switch (t) {
    case 'u53': return isU53(v);
    case 'i53': return isI53(v);
    case 'u32': return isU32(v);
    case 'u16': return isU16(v);
    case 'u8': return isU8(v);
    case 'u3': return isU3(v);
    case 'bool': return typeof v === 'boolean';
    case 'str': return isStr(v);
    case 'pio-size': return isPioSize(v);
    case 'mmio-size': return isMmioSize(v);
  }
}

/**
 * The tuple of an event, with `icField` in place of the instruction count
 * (absolute for a chunk's first event, else the delta). Returns null when a
 * field is out of its domain; eventProblem() then says which.
 */
export function eventToTuple(e: TraceEvent, icField: number): unknown[] | null {
  switch (e.kind) {
    case 'exit':
      if (!(isU32(e.reason) && isU53(e.qual) && isI53(e.rip) && isU32(e.len) && isU32(e.info) && isU53(e.gpa) &&
        isI53(e.gla) && isStr(e.rule))) return null;
      return [0, icField, e.reason, e.qual, e.rip, e.len, e.info, e.gpa, e.gla, e.rule];
    case 'pio':
      if (!(isU16(e.port) && isPioSize(e.size) && typeof e.write === 'boolean' && isU32(e.value))) return null;
      return [1, icField, e.port, e.size, e.write, e.value];
    case 'mmio':
      if (!(isU53(e.gpa) && isMmioSize(e.size) && typeof e.write === 'boolean' && isU32(e.valueLo) &&
        isU32(e.valueHi) && isStr(e.device))) return null;
      return [2, icField, e.gpa, e.size, e.write, e.valueLo, e.valueHi, e.device];
    case 'irq':
      if (!(isU8(e.vector) && isU3(e.type) && isI53(e.rip))) return null;
      return [3, icField, e.vector, e.type, e.rip];
    case 'digest':
      if (!(isStr(e.regs) && isStr(e.mem))) return null;
      return [4, icField, e.regs, e.mem];
    default:
      return null;
  }
}

/** Why a live event object is not encodable (slow path, for the error message). */
export function eventProblem(e: unknown): string {
  if (typeof e !== 'object' || e === null) return `event must be an object, got ${describeValue(e)}`;
  const kind = (e as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !(kind in EVENT_FIELDS)) return `unknown event kind ${describeValue(kind)}`;
  for (const [name, type] of EVENT_FIELDS[kind as EventKind]) {
    const v = (e as Record<string, unknown>)[name];
    if (!fieldTypeOk(type, v)) return `${kind} field ${name} must be ${TYPE_DESCRIPTION[type]}, got ${describeValue(v)}`;
  }
  return 'event is invalid';
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Decodes a chunk payload (already unpacked by msgpack) into events.
 * Calls `fail(index, message)` (which must throw) for the first malformed
 * element; `index` is the position inside the chunk, -1 for the batch itself.
 */
export function tuplesToEvents(
  batch: unknown,
  expectedCount: number,
  firstIc: number,
  fail: (index: number, message: string) => never,
): TraceEvent[] {
  if (!Array.isArray(batch)) return fail(-1, `chunk payload must be a msgpack array of events, got ${describeValue(batch)}`);
  if (batch.length !== expectedCount) {
    return fail(-1, `chunk payload holds ${batch.length} events, the chunk frame says ${expectedCount}`);
  }
  const out: TraceEvent[] = new Array(batch.length);
  let ic = 0;
  for (let i = 0; i < batch.length; i++) {
    const t: unknown = batch[i];
    if (!Array.isArray(t)) return fail(i, `event must be a msgpack array, got ${describeValue(t)}`);
    const icField: unknown = t[1];
    if (i === 0) {
      if (!isU53(icField)) return fail(i, tupleProblem(t, true));
      ic = icField;
      if (ic !== firstIc) return fail(i, `first event has instruction count ${ic}, the chunk frame says ${firstIc}`);
    } else {
      if (!isI53(icField)) return fail(i, tupleProblem(t, false));
      ic += icField;
      if (ic < 0 || ic > MAX_SAFE) return fail(i, `instruction count delta ${icField} gives ${ic}, outside [0, 2^53-1]`);
    }
    let ev: TraceEvent | null = null;
    switch (t[0]) {
      case 0:
        if (t.length === 10 && isU32(t[2]) && isU53(t[3]) && isI53(t[4]) && isU32(t[5]) && isU32(t[6]) &&
          isU53(t[7]) && isI53(t[8]) && typeof t[9] === 'string') {
          ev = { kind: 'exit', ic, reason: t[2], qual: t[3], rip: t[4], len: t[5], info: t[6], gpa: t[7], gla: t[8], rule: t[9] };
        }
        break;
      case 1:
        if (t.length === 6 && isU16(t[2]) && isPioSize(t[3]) && typeof t[4] === 'boolean' && isU32(t[5])) {
          ev = { kind: 'pio', ic, port: t[2], size: t[3], write: t[4], value: t[5] };
        }
        break;
      case 2:
        if (t.length === 8 && isU53(t[2]) && isMmioSize(t[3]) && typeof t[4] === 'boolean' && isU32(t[5]) &&
          isU32(t[6]) && typeof t[7] === 'string') {
          ev = { kind: 'mmio', ic, gpa: t[2], size: t[3], write: t[4], valueLo: t[5], valueHi: t[6], device: t[7] };
        }
        break;
      case 3:
        if (t.length === 5 && isU8(t[2]) && isU3(t[3]) && isI53(t[4])) {
          ev = { kind: 'irq', ic, vector: t[2], type: t[3], rip: t[4] };
        }
        break;
      case 4:
        if (t.length === 4 && typeof t[2] === 'string' && typeof t[3] === 'string') {
          ev = { kind: 'digest', ic, regs: t[2], mem: t[3] };
        }
        break;
      default:
        break;
    }
    if (ev === null) return fail(i, tupleProblem(t, i === 0));
    out[i] = ev;
  }
  return out;
}

/** Why a decoded tuple is not a valid event (slow path, for the error message). */
export function tupleProblem(t: unknown[], first: boolean): string {
  const tag = t[0];
  if (typeof tag !== 'number' || !Number.isInteger(tag) || tag < 0 || tag >= KIND_BY_TAG.length) {
    return `unknown event kind tag ${describeValue(tag)}`;
  }
  const kind = KIND_BY_TAG[tag] as EventKind;
  const fields = EVENT_FIELDS[kind];
  if (t.length !== fields.length + 1) {
    return `${kind} event must have ${fields.length + 1} elements, has ${t.length}`;
  }
  for (let j = 0; j < fields.length; j++) {
    const [name, type0] = fields[j] as readonly [string, FieldType];
    const type: FieldType = name === 'ic' && !first ? 'i53' : type0;
    const v = t[j + 1];
    if (!fieldTypeOk(type, v)) {
      const what = name === 'ic' ? (first ? 'ic' : 'ic delta') : name;
      return `${kind} field ${what} (element ${j + 1}) must be ${TYPE_DESCRIPTION[type]}, got ${describeValue(v)}`;
    }
  }
  return `${kind} event is invalid`;
}

// ---------------------------------------------------------------- msgpack

/** Options pinned for byte-stable output: standard msgpack, doubles for non-32-bit numbers. */
export function newPackr(): Packr {
  return new Packr({ useRecords: false, useFloat32: 0, bundleStrings: false, variableMapSize: false });
}
export function newUnpackr(): Unpackr {
  return new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', bundleStrings: false });
}

// ---------------------------------------------------------------- compression

export const DEFAULT_CODEC: Codec = 'brotli';
export const DEFAULT_LEVEL: { readonly [C in Codec]: number } = { 'deflate-raw': 1, brotli: 3 };

export function compress(codec: Codec, level: number, data: Uint8Array): Buffer {
  if (codec === 'deflate-raw') return zlib.deflateRawSync(data, { level });
  return zlib.brotliCompressSync(data, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: level,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  });
}

/** Decompresses; throws (a zlib/RangeError) on corrupt data or when the output would exceed `maxLength`. */
export function decompress(codec: Codec, data: Uint8Array, maxLength: number): Buffer {
  const opts = { maxOutputLength: Math.max(1, maxLength) };
  return codec === 'deflate-raw' ? zlib.inflateRawSync(data, opts) : zlib.brotliDecompressSync(data, opts);
}
