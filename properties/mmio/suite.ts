/**
 * The 'mmio' fuzz suite: the MMIO decoder and emulator properties of
 * ./props.ts under fast-check, with counterexamples saved to
 * properties/regressions/mmio/ and replayed by test/properties/mmio-regressions.test.ts.
 *
 * Properties:
 *   decode-raw         (1)+(2) on arbitrary 1-15 bytes, 16/32/64-bit
 *   decode-structured  (1)+(2) on prefixes/REX/escapes/VEX/EVEX/XOP + bytes
 *   decode-supported   (1)+(2) on encodings of supported instructions, any mode
 *   emulate-total      the emulator returns an outcome for any bytes and state, 16/32/64-bit
 *   emulate-vs-cpu     (3) MMIO emulator vs core/cpu, 64-bit (host CPU as referee)
 *   emulate-vs-cpu32   (3) the same in 32-bit protected mode with paging and segment bases
 */
import fc from 'fast-check';
import { writeRegressionFile } from '../regression-file.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../repo.js';
import type { FuzzOptions, FuzzReport, FuzzSuite } from '../registry.js';
import { runRounds, type FuzzRound } from '../runner.js';
import { arbRawDecode, arbStructuredDecode, arbRecipe, arbEmuCase, arbEmuCase32, arbTotalCase, buildCase, MODES, type DecodeCase, type BuiltCase, type TotalCase } from './cases.js';
import { checkDecode, checkEmulate, checkEmulate32, checkEmulateHost, checkEmulateTotal, describeNativeCase, CPU_BUG } from './props.js';
import { NATIVE_SCRATCH_SIZE, type NativeCase } from '../harness/native.js';
import type { DecodeMode } from '../../core/mmio/decoder.js';

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
function unhex(s: string): Uint8Array {
  const t = s.replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(t)) throw new Error(`bad hex '${s}'`);
  return Uint8Array.from(t.match(/../g) ?? [], (x) => parseInt(x, 16));
}

// =====================================================================
// Properties
// =====================================================================

/** Encodings of supported instructions, decoded in every mode. */
const arbSupportedDecode: fc.Arbitrary<DecodeCase> = fc.record({ r: arbRecipe, mode: fc.constantFrom(...MODES) })
  .map(({ r, mode }) => ({ mode, bytes: buildCase(r, mode === 64 ? 64 : 32).code.slice(0, 15) }));

interface PropDef<T> {
  readonly name: string;
  readonly arb: fc.Arbitrary<T>;
  readonly check: (c: T) => string | null;
  readonly show: (c: T) => string;
  readonly toJson: (c: T) => Record<string, unknown>;
}

const showDecode = (c: DecodeCase): string => `mode ${c.mode}, bytes ${hex(c.bytes)}`;
const decodeJson = (c: DecodeCase): Record<string, unknown> => ({ mode: c.mode, bytes: hex(c.bytes) });

const PROPS: readonly PropDef<any>[] = [
  { name: 'decode-raw', arb: arbRawDecode, check: checkDecode, show: showDecode, toJson: decodeJson } satisfies PropDef<DecodeCase>,
  { name: 'decode-structured', arb: arbStructuredDecode, check: checkDecode, show: showDecode, toJson: decodeJson } satisfies PropDef<DecodeCase>,
  { name: 'decode-supported', arb: arbSupportedDecode, check: checkDecode, show: showDecode, toJson: decodeJson } satisfies PropDef<DecodeCase>,
  {
    name: 'emulate-total', arb: arbTotalCase, check: checkEmulateTotal,
    show: (c: TotalCase) => `mode ${c.mode}, bytes ${hex(c.bytes)}, regs ${c.regs.map((v) => v.toString(16)).join(',')}, flags 0x${c.flags.toString(16)}`,
    toJson: (c: TotalCase) => ({ mode: c.mode, bytes: hex(c.bytes), regs: c.regs, flags: c.flags }),
  } satisfies PropDef<TotalCase>,
  {
    name: 'emulate-vs-cpu', arb: arbEmuCase, check: checkEmulate,
    show: (c: BuiltCase) => `${describeNativeCase(c)} [${c.note}]`, toJson: nativeCaseJson,
  } satisfies PropDef<BuiltCase>,
  {
    name: 'emulate-vs-cpu32', arb: arbEmuCase32, check: checkEmulate32,
    show: (c: BuiltCase) => `${describeNativeCase(c, 32)} [${c.note}]`, toJson: (c: BuiltCase) => ({ ...nativeCaseJson(c), mode: 32 }),
  } satisfies PropDef<BuiltCase>,
];

// =====================================================================
// Regression files
// =====================================================================

export function regressionDir(): string { return join(repoRoot(), 'properties', 'regressions', 'mmio'); }

/** Scratch memory as runs of non-zero bytes: { "0x10": "aabb" }. */
function memRuns(mem: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let k = 0;
  while (k < mem.length) {
    if (mem[k] === 0) { k++; continue; }
    let e = k;
    while (e < mem.length && (mem[e] !== 0 || (e + 8 < mem.length && mem.subarray(e, e + 8).some((b) => b !== 0)))) e++;
    out['0x' + k.toString(16)] = Buffer.from(mem.subarray(k, e)).toString('hex');
    k = e;
  }
  return out;
}

function nativeCaseJson(c: NativeCase): Record<string, unknown> {
  const gpr: string[] = [];
  for (let r = 0; r < 16; r++) gpr.push('0x' + ((BigInt(c.state.gpr[2 * r + 1]!) << 32n) | BigInt(c.state.gpr[2 * r]!)).toString(16));
  return { mode: 64, code: hex(c.code), gpr, rflags: c.state.rflags, mem: memRuns(c.state.mem) };
}

export function nativeCaseFromJson(j: Record<string, unknown>): NativeCase {
  const gpr = new Uint32Array(32);
  const regs = j['gpr'] as string[];
  regs.forEach((v, r) => { const x = BigInt(v); gpr[2 * r] = Number(x & 0xffffffffn); gpr[2 * r + 1] = Number(x >> 32n); });
  const mem = new Uint8Array(NATIVE_SCRATCH_SIZE);
  for (const [off, data] of Object.entries(j['mem'] as Record<string, string>)) mem.set(unhex(data), Number(off));
  return { code: unhex(j['code'] as string), state: { gpr, rflags: Number(j['rflags']), mem } };
}

export interface Regression {
  readonly file: string;
  readonly property: string;
  readonly json: Record<string, unknown>;
}

export function loadRegressions(dir = regressionDir()): Regression[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => {
    const json = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>;
    return { file: join(dir, f), property: String(json['property']), json };
  });
}

/** Re-check one regression; null when it now holds. */
export function replayRegression(r: Regression): string | null {
  if (r.property.startsWith('decode-')) {
    return checkDecode({ mode: Number(r.json['mode']) as DecodeMode, bytes: unhex(String(r.json['bytes'])) });
  }
  if (r.property === 'emulate-vs-cpu32') return checkEmulate32(nativeCaseFromJson(r.json));
  if (r.property === 'emulate-total') {
    return checkEmulateTotal({ mode: Number(r.json['mode']) as DecodeMode, bytes: unhex(String(r.json['bytes'])), regs: r.json['regs'] as number[], flags: Number(r.json['flags']) });
  }
  if (r.property === 'emulate-vs-cpu') {
    const c = nativeCaseFromJson(r.json);
    // A case where core/cpu was found to differ from the host is checked against the host.
    if (r.json['reference'] === 'host') return checkEmulateHost(c);
    // A difference the host attributes to core/cpu is not an emulator failure.
    const d = checkEmulate(c);
    return d !== null && d.startsWith(CPU_BUG) ? null : d;
  }
  return `unknown property '${r.property}'`;
}

/** JSON with one key per line and arrays of scalars kept on one line. */
export function formatJson(v: unknown): string {
  return JSON.stringify(v, null, 1).replace(/\[\s*([^[\]{}]*?)\s*\]/g, (_m, inner: string) => `[${inner.split(/,\s*/).join(', ')}]`);
}

function saveRegression(prop: string, body: Record<string, unknown>, dir = regressionDir()): string {
  return writeRegressionFile(dir, prop, prop + JSON.stringify(body), formatJson({ property: prop, ...body }) + '\n');
}

// =====================================================================
// Runner
// =====================================================================

export const DEFAULT_RUNS = 2000;

function runSuite(opts: FuzzOptions): FuzzReport {
  // After a first failure the host attributes to core/cpu, the property keeps running and counts further ones.
  const cpuBugSeen = new Set<string>();
  let cpuBugsMore = 0;
  const step = (p: PropDef<unknown>, r: FuzzRound): boolean => {
    const params: fc.Parameters<[unknown]> = { numRuns: r.runs, seed: r.seed };
    const limit = r.timeLimitMs();
    if (limit !== undefined) params.interruptAfterTimeLimit = limit;
    const details = fc.check(fc.property(p.arb, (c: unknown) => {
      const d = p.check(c);
      if (d !== null && cpuBugSeen.has(p.name) && d.startsWith(CPU_BUG)) { cpuBugsMore++; return; }
      if (d !== null) throw new Error(d);
    }), params);
    let failed = false;
    if (details.failed && details.counterexample) {
      const c = details.counterexample[0];
      const err = details.errorInstance as Error | undefined;
      const message = err?.message ?? String(details.errorInstance ?? 'failed');
      if (message.startsWith(CPU_BUG)) cpuBugSeen.add(p.name); else failed = true;
      const body: Record<string, unknown> = { ...p.toJson(c), message, seed: r.seed, path: details.counterexamplePath ?? '' };
      if (message.startsWith(CPU_BUG)) body['reference'] = 'host';
      r.fail({
        property: p.name, message, counterexample: p.show(c), seed: r.seed, path: details.counterexamplePath ?? '', shrinks: details.numShrinks,
        ...(r.save ? { file: saveRegression(p.name, body) } : {}),
      });
    }
    r.count(details.numRuns);
    return failed;
  };
  return runRounds({
    suite: 'mmio', defaultRuns: DEFAULT_RUNS, seedStride: 1, perProperty: true,
    properties: PROPS.map((p) => ({ name: p.name, step: (r: FuzzRound) => step(p, r) })),
    notes: () => (cpuBugsMore ? [`${cpuBugsMore} further case(s) where core/cpu differs from the host CPU and the emulator agrees with the host`] : []),
  }, opts);
}

export const MMIO_SUITE: FuzzSuite = {
  description: 'MMIO instruction decoder (vs iced-x86) and emulator (vs core/cpu, host CPU as referee)',
  properties: PROPS.map((p) => p.name),
  run: runSuite,
};

/**
 * Run one named property for `runs` runs (tests); returns the failure
 * message or null. With `cpuBugs`, differences the host CPU attributes to
 * core/cpu (CPU_BUG) are collected there instead of failing: they are
 * findings about the CPU, not the emulator.
 */
export function runProperty(name: string, runs: number, seed: number, cpuBugs?: string[]): string | null {
  const p = PROPS.find((x) => x.name === name);
  if (!p) throw new Error(`no property '${name}'`);
  const d = fc.check(fc.property(p.arb, (c: unknown) => {
    const m = p.check(c);
    if (m !== null && cpuBugs && m.startsWith(CPU_BUG)) { cpuBugs.push(`${m} for ${p.show(c)}`); return; }
    if (m !== null) throw new Error(m);
  }), { numRuns: runs, seed });
  if (!d.failed) return null;
  return `${(d.errorInstance as Error | undefined)?.message ?? String(d.errorInstance)} for ${d.counterexample ? p.show(d.counterexample[0]) : '?'} (seed ${seed}, path ${d.counterexamplePath})`;
}
