/**
 * The VMCS property suites.
 *
 *  1. valid:     every generated valid VMCS state enters (a VM exit that is
 *                not a VM-entry failure).
 *  2. violation: a valid state plus one targeted violation per rule fails
 *                with exactly that rule, with the SDM's outcome: VMfailValid
 *                7 (controls) or 8 (host state), exit 33 | bit 31 with the
 *                27.8 qualification (guest state), exit 34 | bit 31 with the
 *                entry number (MSR loading). Shrinking reaches the base state
 *                plus the smallest violating change.
 *  3. arbitrary: arbitrary field values (a valid state with fields replaced,
 *                or all fields random), VMLAUNCH or VMRESUME in either launch
 *                state, with or without a current VMCS: nothing throws, the
 *                outcome is one of VMsucceed (a VM exit), VMfailInvalid,
 *                VMfailValid(4/5/7/8), exit 33/34, and the VMCS afterwards is
 *                what the SDM says (27.8; 31.4 "VM Instruction Error Numbers";
 *                28.2 for the fields every VM exit writes).
 *  4. readwrite: VMREAD/VMWRITE round-trips by field width, high accesses of
 *                64-bit fields, read-only (VM-exit information) fields,
 *                unsupported and invalid encodings.
 *
 * Each suite is `check(opts)`: it runs fast-check, and on failure returns the
 * shrunk counterexample (JSON-able) and a message. `replay(suite, value)`
 * re-runs one stored counterexample (properties/regressions/vmcs/).
 */
import fc from 'fast-check';
import { VMCS, VMCS_FIELDS, MAX_ENCODING, fieldInfo, fieldSupported, encodingName, type VmcsFieldName } from '../../core/vmx/fields.js';
import { entryRule, ENTRY_RULES } from '../../core/vmx/entry-checks.js';
import { EXIT_MSR_RULES } from '../../core/vmx/exit-msrs.js';
import type { VmxCapabilities } from '../../core/vmx/capabilities.js';
import { MemoryRangeError } from '../../core/memory/physmem.js';
import { World, describeOutcome, type Outcome, type Image, type Halves } from './world.js';
import { scenarioArb, buildImage, facts, type Scenario } from './scenario.js';
import { RULE_VIOLATIONS, violatedImage } from './violations.js';
import { DEFAULT_CAPS } from './caps.js';

export type SuiteName = 'valid' | 'violation' | 'arbitrary' | 'readwrite';
export const SUITES: readonly SuiteName[] = ['valid', 'violation', 'arbitrary', 'readwrite'];

export interface CheckOptions {
  readonly runs: number;
  readonly seed: number;
  /** violation suite: only these rules (default: all). */
  readonly rules?: readonly string[];
  /** Called after each property (a rule, for the violation suite) with counts so far. */
  readonly onProgress?: (p: { suite: SuiteName; done: number; total: number; label: string }) => void;
}

export interface Failure {
  readonly suite: SuiteName;
  /** The rule (violation suite). */
  readonly rule?: string;
  readonly seed: number;
  readonly path?: string;
  /** The shrunk counterexample, JSON-able; `replay` takes it back. */
  readonly counterexample: unknown;
  readonly message: string;
  readonly shrinks: number;
}

// ---------------------------------------------------------------------------
// Shared worlds (one per processor model)
// ---------------------------------------------------------------------------

const worlds = new Map<VmxCapabilities, World>();
function world(caps: VmxCapabilities): World {
  let w = worlds.get(caps);
  if (!w) { w = new World(caps); worlds.set(caps, w); }
  return w;
}

function fail(msg: string): never { throw new Error(msg); }

export function runProperty<T>(suite: SuiteName, arb: fc.Arbitrary<T>, pred: (v: T) => void, opts: { runs: number; seed: number }, rule?: string): Failure | null {
  const r = fc.check(fc.property(arb, (v) => { pred(v); }), { numRuns: opts.runs, seed: opts.seed, endOnFailure: false });
  if (!r.failed || r.counterexample === null) return null;
  const ce = r.counterexample[0] as T;
  const err = r.errorInstance;
  const message = err instanceof Error ? err.message : String(err);
  return { suite, ...(rule ? { rule } : {}), seed: opts.seed, path: r.counterexamplePath ?? '', counterexample: ce, message, shrinks: r.numShrinks };
}

// ---------------------------------------------------------------------------
// 1. Valid states enter
// ---------------------------------------------------------------------------

export function validPredicate(s: Scenario, enter?: EnterFn): void {
  const w = world(DEFAULT_CAPS);
  const img = buildImage(s, w.caps, w.eptp);
  let o: Outcome;
  if (enter) o = enter(w, img);
  else {
    const rejected = w.load(img, { clearRam: true });
    if (rejected.length) fail(`VMWRITE rejected ${rejected.map(encodingName).join(', ')}`);
    o = w.enter(true);
  }
  if (o.kind !== 'exit') fail(`a valid state did not enter: ${describeOutcome(o)}`);
  if (!enter && w.vmcs.launchState !== 'launched') fail('VMLAUNCH entered but left the launch state clear');
}

// ---------------------------------------------------------------------------
// 2. One violation per rule
// ---------------------------------------------------------------------------

/**
 * The outcome the SDM prescribes for a failing rule, from the rule's section
 * (the id's prefix names it): 27.2.1 -> VMfailValid(7); 27.2.2-27.2.4 ->
 * VMfailValid(8); 27.3.1 -> exit 33 | bit 31, qualification 2 (PDPTEs,
 * 27.3.1.6), 3 (NMI injection while blocking by STI), 4 (VMCS link pointer)
 * or 0 (27.8); 27.4 -> exit 34 | bit 31, qualification = entry number.
 */
export function expectedOutcome(rule: string, msrEntry = 0): Outcome {
  if (rule.startsWith('ctl.')) return { kind: 'failValid', error: 7, rule };
  if (rule.startsWith('host.')) return { kind: 'failValid', error: 8, rule };
  if (rule.startsWith('msr.')) return { kind: 'entry-failure', reason: (0x8000_0000 | 34) >>> 0, qual: msrEntry, rule };
  // VM-exit MSR areas (28.4, 28.6): the entry succeeds, the VM exit ends in a VMX abort (28.7).
  if (rule.startsWith('exit-msr-store.')) return { kind: 'vmx-abort', indicator: 1, rule };
  if (rule.startsWith('exit-msr-load.')) return { kind: 'vmx-abort', indicator: 4, rule };
  const qual = rule.startsWith('guest.vmcs-link.') ? 4 : /^guest\.pdpte\d\./.test(rule) ? 2 : rule === 'guest.interruptibility.nmi-sti' ? 3 : 0;
  return { kind: 'entry-failure', reason: (0x8000_0000 | 33) >>> 0, qual, rule };
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface ViolationCase { readonly scenario: Scenario; readonly param: number }

/** Enters with an image: the real path (VMX instructions, entry engine) unless a test substitutes a checker. */
export type EnterFn = (w: World, img: Image) => Outcome;
const engineEnter: EnterFn = (w, img) => { w.load(img); return w.enter(true); };

export function violationPredicate(rule: string, enter: EnterFn = engineEnter): (c: ViolationCase) => void {
  const v = RULE_VIOLATIONS.get(rule);
  if (!v) throw new Error(`no violation recipe for rule ${rule}`);
  return (c) => {
    const w = world(v.caps);
    const { draft } = violatedImage(v, c.scenario, c.param, w.eptp);
    const img = draft.image();
    const o = enter(w, img);
    const want = expectedOutcome(rule, v.msrEntry ? v.msrEntry(c.param) : 0);
    if (!sameOutcome(o, want)) fail(`expected ${describeOutcome(want)}, got ${describeOutcome(o)}`);
    // 31.3 VMLAUNCH: the launch state becomes "launched" only when the entry succeeds.
    if (enter === engineEnter && w.vmcs.launchState !== 'clear') fail('a failed VMLAUNCH left the VMCS launched');
  };
}

export function violationArb(rule: string): fc.Arbitrary<ViolationCase> {
  const v = RULE_VIOLATIONS.get(rule)!;
  return fc.record({ scenario: scenarioArb, param: v.param });
}

// ---------------------------------------------------------------------------
// 3. Arbitrary field values
// ---------------------------------------------------------------------------

export interface ArbitraryCase {
  /** A valid starting point (ignored when `allRandom`). */
  readonly scenario: Scenario;
  /** Fields replaced: [index into the writable field list, lo, hi]. */
  readonly changes: readonly (readonly [number, number, number])[];
  /** Every writable field random (seeded from `seed`). */
  readonly allRandom: boolean;
  readonly seed: number;
  readonly launch: boolean;
  readonly launched: boolean;
  /** VMCLEAR the current VMCS first (no current VMCS: VMfailInvalid). */
  readonly noCurrent: boolean;
  /** Preset values of the VM-exit information fields (they must survive failures untouched). */
  readonly exitInfo: readonly number[];
}

const EXIT_INFO: readonly VmcsFieldName[] = VMCS_FIELDS.filter((f) => f.type === 'exit-info').map((f) => f.name);
const WRITABLE = VMCS_FIELDS.filter((f) => fieldSupported(f, DEFAULT_CAPS) && f.type !== 'exit-info');

/** true one time in eight; shrinks to false. */
const rarely = fc.oneof({ weight: 7, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });

/** A value for a field of a width: biased to 0, all-ones, single bits and small numbers. */
const wordArb = fc.oneof(
  fc.integer({ min: 0, max: 0xffff_ffff }), fc.constant(0), fc.constant(0xffff_ffff),
  fc.nat(31).map((b) => (1 << b) >>> 0), fc.nat(0xffff),
);

function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0);
  };
}

function arbitraryImage(c: ArbitraryCase, w: World): Image {
  const base = buildImage(c.scenario, w.caps, w.eptp);
  const fields = new Map<number, Halves>(c.allRandom ? [] : base.fields);
  if (c.allRandom) {
    const r = mulberry(c.seed);
    for (const f of WRITABLE) fields.set(f.encoding, [r(), r() & (r() & 1 ? 0xffff_ffff : 0)]);
  }
  for (const [k, lo, hi] of c.changes) fields.set(WRITABLE[k % WRITABLE.length]!.encoding, [lo >>> 0, hi >>> 0]);
  return { fields, mem: c.allRandom ? [] : base.mem };
}

/** Host-state and control fields a VM exit does not write (28.3-28.5): all host fields and the controls except those named below. */
function unchangedByExit(name: VmcsFieldName): boolean {
  const f = fieldInfo(VMCS[name])!;
  if (f.type === 'host') return true;
  // VM exits write "IA-32e mode guest" (IA32_VMX_MISC bit 5) and clear the valid bit of the VM-entry interruption information.
  return f.type === 'control' && name !== 'VM_ENTRY_CONTROLS' && name !== 'VM_ENTRY_INTERRUPTION_INFORMATION';
}

/** How often each outcome occurred in the arbitrary-values property (for reports and tests of coverage). */
export const ARBITRARY_OUTCOMES = new Map<string, number>();

function arbitraryPredicate(c: ArbitraryCase): void {
  const w = world(DEFAULT_CAPS);
  const img = arbitraryImage(c, w);
  const exitInfo = new Map<number, Halves>(EXIT_INFO.map((n, k) => [VMCS[n], [c.exitInfo[k % c.exitInfo.length]! >>> 0, fieldInfo(VMCS[n])!.width === 32 ? 0 : c.exitInfo[(k + 1) % c.exitInfo.length]! >>> 0]]));
  w.load(img, { launched: c.launched, clearRam: true, exitInfo });
  const v = w.vmcs;
  if (c.noCurrent) w.vmx.vmclear(v.regionAddress);
  const before = { lo: v.lo.slice(), hi: v.hi.slice(), launch: v.launchState };
  const eptOn = (v.get32(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS) & 0x8000_0000) !== 0 && (v.get32(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS) & 2) !== 0;
  let o: Outcome;
  try {
    o = w.enter(c.launch);
  } catch (e) {
    // Documented limitation of core/cpu: without EPT a guest access beyond host memory is a host-level
    // MemoryRangeError (machine.ts stops the run with it), not a guest event. With EPT it must be an EPT exit.
    if (e instanceof MemoryRangeError && !eptOn) return;
    fail(`VM${c.launch ? 'LAUNCH' : 'RESUME'} threw: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
  const key = o.kind === 'exit' ? `exit ${o.reason}` : o.kind === 'entry-failure' ? `exit ${o.reason & 0xffff} (entry failure)` : o.kind === 'failValid' ? `VMfailValid(${o.error})` : 'VMfailInvalid';
  ARBITRARY_OUTCOMES.set(key, (ARBITRARY_OUTCOMES.get(key) ?? 0) + 1);
  const idx = (n: VmcsFieldName): number => fieldInfo(VMCS[n])!.index;
  const changed = (): VmcsFieldName[] => {
    const out: VmcsFieldName[] = [];
    for (const f of VMCS_FIELDS) if (v.lo[f.index] !== before.lo[f.index] || v.hi[f.index] !== before.hi[f.index]) out.push(f.name);
    return out;
  };
  switch (o.kind) {
    case 'vmx-abort': {
      // 28.7: only a VM exit that processes a VM-exit MSR area can abort here - indicator 1 (store, 28.4) or 4 (load,
      // 28.6) - and the indicator is written at byte offset 4 of the VMCS region.
      if (c.noCurrent || (c.launch && c.launched) || (!c.launch && !c.launched)) fail(`entry attempted: ${describeOutcome(o)}`);
      const rule = EXIT_MSR_RULES.find((r) => r.id === o.rule);
      if (!rule || (o.indicator !== 1 && o.indicator !== 4) || (rule.kind === 'store') !== (o.indicator === 1)) fail(`${describeOutcome(o)}: not a VM-exit MSR failure`);
      const count = v.get32(o.indicator === 1 ? VMCS.VM_EXIT_MSR_STORE_COUNT : VMCS.VM_EXIT_MSR_LOAD_COUNT);
      if (count === 0) fail(`${describeOutcome(o)} with an empty area`);
      return;
    }
    case 'failInvalid': {
      // 31.2 Conventions: VMfailInvalid only without a current VMCS (the region is not written).
      if (!c.noCurrent) fail('VMfailInvalid with a current VMCS');
      const ch = changed();
      if (ch.length) fail(`VMfailInvalid changed ${ch.join(', ')}`);
      return;
    }
    case 'failValid': {
      if (c.noCurrent) fail('VMfailValid without a current VMCS');
      // VMLAUNCH of a launched VMCS: 4; VMRESUME of a clear one: 5; else 7 (controls) or 8 (host state).
      const want = c.launch && c.launched ? 4 : !c.launch && !c.launched ? 5 : 0;
      if (want && o.error !== want) fail(`expected VMfailValid(${want}), got ${o.error}`);
      if (!want && o.error !== 7 && o.error !== 8) fail(`VMfailValid(${o.error}) from a VM entry check`);
      if (!want && !entryRule(o.rule)) fail(`VMfailValid(${o.error}) names no rule`);
      const ch = changed().filter((n) => n !== 'VM_INSTRUCTION_ERROR');
      if (ch.length) fail(`VMfailValid changed ${ch.join(', ')}`);
      if (v.get32(VMCS.VM_INSTRUCTION_ERROR) !== o.error) fail('VM-instruction error field does not hold the error');
      if (v.launchState !== before.launch) fail('VMfailValid changed the launch state');
      return;
    }
    case 'entry-failure': {
      if (c.noCurrent || (c.launch && c.launched) || (!c.launch && !c.launched)) fail(`entry attempted: ${describeOutcome(o)}`);
      const basic = o.reason & 0xffff;
      if (o.reason !== ((0x8000_0000 | basic) >>> 0) || (basic !== 33 && basic !== 34)) fail(`entry failure with exit reason 0x${o.reason.toString(16)}`);
      const r = entryRule(o.rule);
      if (!r || r.kind !== (basic === 33 ? 'guest' : 'msr')) fail(`exit ${basic} names rule '${o.rule}'`);
      if (basic === 33 && ![0, 2, 3, 4].includes(o.qual)) fail(`exit 33 with qualification ${o.qual}`);
      if (basic === 34 && !(o.qual >= 1 && o.qual <= v.get32(VMCS.VM_ENTRY_MSR_LOAD_COUNT))) fail(`exit 34 with qualification ${o.qual}`);
      // 27.8: only the exit reason and qualification change; no guest state is saved, the VM-entry
      // interruption information keeps its valid bit, and the launch state stays (31.3 VMLAUNCH pseudocode).
      const ch = changed().filter((n) => n !== 'EXIT_REASON' && n !== 'EXIT_QUALIFICATION');
      if (ch.length) fail(`a VM-entry failure changed ${ch.join(', ')}`);
      if (v.launchState !== before.launch) fail('a VM-entry failure changed the launch state');
      return;
    }
    case 'exit': {
      if (c.noCurrent || (c.launch && c.launched) || (!c.launch && !c.launched)) fail(`entry attempted: ${describeOutcome(o)}`);
      if (o.reason & 0x8000_0000) fail('a VM exit with bit 31 set');
      if (v.launchState !== 'launched') fail('the VMCS is not launched after a VM entry');
      // 31.4: the VM-instruction error field is not written by a successful entry or a VM exit.
      if (v.lo[idx('VM_INSTRUCTION_ERROR')] !== before.lo[idx('VM_INSTRUCTION_ERROR')]) fail('a VM exit wrote the VM-instruction error field');
      // 28.2.1: every VM exit clears the valid bit of the VM-entry interruption-information field.
      if (v.get32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION) & 0x8000_0000) fail('the VM-entry interruption information is still valid after a VM exit');
      const ch = changed().filter((n) => unchangedByExit(n));
      if (ch.length) fail(`a VM exit changed ${ch.join(', ')}`);
      // The host's kick right at entry, nothing injected or loaded from the MSR area: no guest instruction ran,
      // so the state saved (28.3) is the state loaded for what 28.3.1-28.3.3 define exactly.
      const injected = (before.lo[idx('VM_ENTRY_INTERRUPTION_INFORMATION')]! & 0x8000_0000) !== 0;
      if (o.reason === 1 && !injected) {
        const same = (n: VmcsFieldName, lowOnly = false): void => {
          const i = idx(n);
          if (v.lo[i] !== before.lo[i] || (!lowOnly && v.hi[i] !== before.hi[i])) {
            fail(`${n} saved as 0x${v.hi[i]!.toString(16)}_${v.lo[i]!.toString(16)}, loaded 0x${before.hi[i]!.toString(16)}_${before.lo[i]!.toString(16)}`);
          }
        };
        const longMode = (before.lo[idx('VM_ENTRY_CONTROLS')]! & 0x200) !== 0 && (before.lo[idx('GUEST_CS_ACCESS_RIGHTS')]! & 0x2000) !== 0;
        for (const n of ['GUEST_RIP', 'GUEST_CR3', 'GUEST_CR4', 'GUEST_GDTR_BASE', 'GUEST_GDTR_LIMIT', 'GUEST_IDTR_BASE', 'GUEST_IDTR_LIMIT'] as const) same(n);
        same('GUEST_RSP', !longMode);
        if (before.lo[idx('VM_ENTRY_MSR_LOAD_COUNT')] === 0) for (const n of ['GUEST_IA32_SYSENTER_CS', 'GUEST_IA32_SYSENTER_ESP', 'GUEST_IA32_SYSENTER_EIP'] as const) same(n);
        for (const sg of ['ES', 'CS', 'SS', 'DS', 'FS', 'GS', 'LDTR', 'TR'] as const) {
          same(`GUEST_${sg}_SELECTOR`);
          if ((before.lo[idx(`GUEST_${sg}_ACCESS_RIGHTS`)]! & 0x1_0000) === 0) { same(`GUEST_${sg}_BASE`); same(`GUEST_${sg}_LIMIT`); same(`GUEST_${sg}_ACCESS_RIGHTS`); }
        }
      }
      return;
    }
  }
}

const arbitraryArb: fc.Arbitrary<ArbitraryCase> = fc.record({
  scenario: scenarioArb,
  changes: fc.array(fc.tuple(fc.nat(WRITABLE.length - 1), wordArb, fc.oneof(fc.constant(0), wordArb)), { maxLength: 4 }),
  allRandom: rarely,
  seed: fc.integer(),
  launch: fc.boolean(),
  launched: fc.boolean(),
  noCurrent: rarely,
  /** Mostly the launch state the instruction needs (VMLAUNCH: clear, VMRESUME: launched); errors 4/5 one time in eight. */
  wrongState: rarely,
  exitInfo: fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { minLength: 1, maxLength: 4 }),
}).map(({ wrongState, ...c }) => ({ ...c, launched: c.launch === wrongState }));

// ---------------------------------------------------------------------------
// 4. VMREAD / VMWRITE
// ---------------------------------------------------------------------------

export interface RwCase {
  /** An encoding: a defined field's full or high encoding, or anything 0..FFFFFFFFH. */
  readonly enc: number;
  readonly lo: number;
  readonly hi: number;
  /** Preset of the field before the write. */
  readonly preLo: number;
  readonly preHi: number;
  /** Which VMWRITE form: 0 vmwrite (64-bit register), 1 vmwrite32, 2 vmwriteHalves. */
  readonly form: number;
  readonly noCurrent: boolean;
}

/**
 * What the SDM says VMWRITE then VMREAD of `enc` does, independently of
 * core/vmx/vmx.ts: the encoding rules of 25.11.2 (bit 0 access type, bits
 * 14:13 width, 11:10 type, bits 31:15 and 12 reserved) and Appendix B's
 * field list; VMREAD/VMWRITE pseudocode (Vol. 3C 31.3): unsupported
 * component -> error 12, VMWRITE to a VM-exit information field without
 * IA32_VMX_MISC[29] -> error 13.
 */
function rwPredicate(c: RwCase): void {
  const w = world(DEFAULT_CAPS);
  w.load({ fields: new Map(), mem: [] });
  const vmx = w.vmx, v = w.vmcs;
  if (c.noCurrent) vmx.vmclear(v.regionAddress);
  const full = c.enc & ~1, high = (c.enc & 1) === 1;
  const f = c.enc >= 0 && c.enc <= MAX_ENCODING ? fieldInfo(full) : undefined;
  const exists = f !== undefined && fieldSupported(f, DEFAULT_CAPS) && (!high || f.width === 64);
  if (f && !c.noCurrent) v.set(f.encoding, c.preLo, c.preHi);
  const snap = { lo: v.lo.slice(), hi: v.hi.slice() };
  const write = (): void => {
    if (c.form === 0) vmx.vmwrite(c.enc, (BigInt(c.hi >>> 0) << 32n) | BigInt(c.lo >>> 0));
    else if (c.form === 1) vmx.vmwrite32(c.enc, c.lo);
    else vmx.vmwriteHalves(c.enc, c.lo, c.hi);
  };
  write();
  if (c.noCurrent) {
    if (vmx.status !== 'VMfailInvalid') fail(`VMWRITE without a current VMCS: ${vmx.status}`);
    vmx.vmread(c.enc);
    if (statusOf(vmx) !== 'VMfailInvalid') fail(`VMREAD without a current VMCS: ${vmx.status}`);
    return;
  }
  const expectErr = !exists ? 12 : f!.type === 'exit-info' ? 13 : 0;
  if (expectErr) {
    if (vmx.status !== 'VMfailValid' || vmx.error !== expectErr) fail(`VMWRITE ${encodingName(c.enc)}: expected VMfailValid(${expectErr}), got ${vmx.status} ${vmx.error}`);
    for (const g of VMCS_FIELDS) {
      if (g.name === 'VM_INSTRUCTION_ERROR') continue;
      if (v.lo[g.index] !== snap.lo[g.index] || v.hi[g.index] !== snap.hi[g.index]) fail(`failed VMWRITE changed ${g.name}`);
    }
    if (v.get32(VMCS.VM_INSTRUCTION_ERROR) !== expectErr) fail('VM-instruction error field not written');
    const r = vmx.vmread(c.enc);
    const st = statusOf(vmx);
    if (exists) {
      // A read-only field reads back its old value; the VM-instruction error field now holds the error.
      const want = f!.name === 'VM_INSTRUCTION_ERROR' ? BigInt(expectErr) : high ? BigInt(c.preHi >>> 0) : widthValue(f!.width, c.preLo, c.preHi);
      if (st !== 'VMsucceed' || r !== want) fail(`VMREAD ${encodingName(c.enc)} after a rejected VMWRITE: ${st} 0x${r.toString(16)}, expected 0x${want.toString(16)}`);
    } else if (st !== 'VMfailValid' || vmx.error !== 12) fail(`VMREAD ${encodingName(c.enc)}: expected VMfailValid(12), got ${vmx.status} ${vmx.error}`);
    return;
  }
  if (vmx.status !== 'VMsucceed') fail(`VMWRITE ${encodingName(c.enc)} failed: ${vmx.status} ${vmx.error}`);
  // Source operand: 64 bits (form 0, 2) or 32 bits zero-extended (form 1).
  const srcLo = c.lo >>> 0, srcHi = c.form === 1 ? 0 : c.hi >>> 0;
  let want: bigint;
  if (high) {
    // High access: bits 63:32 of the field := bits 31:0 of the source; bits 31:0 unchanged.
    want = BigInt(srcLo);
    const fullNow = vmx.vmread(full);
    const expectFull = (BigInt(srcLo) << 32n) | BigInt(c.preLo >>> 0);
    if (fullNow !== expectFull) fail(`high VMWRITE ${encodingName(c.enc)}: full field 0x${fullNow.toString(16)}, expected 0x${expectFull.toString(16)}`);
  } else want = widthValue(f!.width, srcLo, srcHi);
  const r = vmx.vmread(c.enc);
  if (statusOf(vmx) !== 'VMsucceed' || r !== want) fail(`VMREAD ${encodingName(c.enc)}: 0x${r.toString(16)}, expected 0x${want.toString(16)}`);
  const r32 = vmx.vmread32(c.enc);
  if (r32 !== Number(want & 0xffff_ffffn)) fail(`VMREAD (32-bit destination) ${encodingName(c.enc)}: 0x${r32.toString(16)}`);
  for (const g of VMCS_FIELDS) {
    if (g.index === f!.index) continue;
    if (v.lo[g.index] !== snap.lo[g.index] || v.hi[g.index] !== snap.hi[g.index]) fail(`VMWRITE ${encodingName(c.enc)} changed ${g.name}`);
  }
}

/** The status of the last VMX instruction (a call, so TypeScript does not carry narrowing across instructions). */
function statusOf(vmx: { status: string }): string { return vmx.status; }

/** The value a field of a width holds after receiving hi:lo (16-bit: bits 15:0; 32-bit: bits 31:0; else 64 bits). */
function widthValue(width: 16 | 32 | 64 | 'natural', lo: number, hi: number): bigint {
  if (width === 16) return BigInt(lo & 0xffff);
  if (width === 32) return BigInt(lo >>> 0);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Every field's full encoding and its "high" encoding (valid only for 64-bit fields). */
const definedEncodings = VMCS_FIELDS.flatMap((f) => [f.encoding, f.encoding | 1]);
const rwArb: fc.Arbitrary<RwCase> = fc.record({
  enc: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...definedEncodings) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: MAX_ENCODING }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
    { weight: 1, arbitrary: fc.constantFrom(...VMCS_FIELDS.map((f) => f.encoding | 0x1000)) },
  ),
  lo: wordArb, hi: wordArb, preLo: wordArb, preHi: wordArb,
  form: fc.nat(2),
  noCurrent: rarely,
});

// ---------------------------------------------------------------------------
// Running and replaying
// ---------------------------------------------------------------------------

/** Rules of the table, in order; every one has a violation recipe. */
/** Every rule with a targeted violation: the VM-entry checks, then the VM-exit MSR rules (exit-msrs.ts). */
export function ruleIds(): string[] { return [...ENTRY_RULES.map((r) => r.id), ...EXIT_MSR_RULES.map((r) => r.id)]; }

export function check(suite: SuiteName, opts: CheckOptions): Failure[] {
  const failures: Failure[] = [];
  const progress = (done: number, total: number, label: string): void => opts.onProgress?.({ suite, done, total, label });
  switch (suite) {
    case 'valid': {
      const f = runProperty('valid', scenarioArb, validPredicate, opts);
      if (f) failures.push(f);
      progress(1, 1, 'valid states');
      break;
    }
    case 'violation': {
      const ids = opts.rules ?? ruleIds();
      ids.forEach((id, k) => {
        const f = runProperty('violation', violationArb(id), violationPredicate(id), { runs: opts.runs, seed: opts.seed + k }, id);
        if (f) failures.push(f);
        progress(k + 1, ids.length, id);
      });
      break;
    }
    case 'arbitrary': {
      const f = runProperty('arbitrary', arbitraryArb, arbitraryPredicate, opts);
      if (f) failures.push(f);
      progress(1, 1, 'arbitrary values');
      break;
    }
    case 'readwrite': {
      const f = runProperty('readwrite', rwArb, rwPredicate, opts);
      if (f) failures.push(f);
      progress(1, 1, 'VMREAD/VMWRITE');
      break;
    }
  }
  return failures;
}

/** Re-run one stored counterexample; the failure message, or null if it now passes. */
export function replay(suite: SuiteName, counterexample: unknown, rule?: string): string | null {
  try {
    switch (suite) {
      case 'valid': validPredicate(counterexample as Scenario); break;
      case 'violation': violationPredicate(rule ?? fail('violation counterexample without a rule'))(counterexample as ViolationCase); break;
      case 'arbitrary': arbitraryPredicate(counterexample as ArbitraryCase); break;
      case 'readwrite': rwPredicate(counterexample as RwCase); break;
    }
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** Facts of a scenario on the default processor (for reports). */
export { facts };
