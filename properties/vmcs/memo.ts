/**
 * Memoized entry checks (core/vmx/entry-checks.ts EntryMemo) against the full
 * evaluation (checkEntry: every rule of the table, in order, first failure).
 *
 * A case starts one VMCS from a generated state - a valid scenario, a valid
 * scenario with one targeted rule violation (violations.ts), or every field
 * random - and then applies a sequence of steps: VMWRITE-like stores of
 * arbitrary values to any field, single-bit flips, copies of fields (or of
 * the whole state) from a second generated state (so the sequence wanders
 * between valid and barely invalid states), the changes VM exits make to a
 * valid state (RIP, arithmetic flags, RSP), and writes to the host memory
 * the memory-reading rules look at (the VMCS the link pointer references,
 * the PDPTEs at guest CR3, the virtual-APIC page's VTPR). After the start and
 * after every step, one EntryMemo (kept for the whole sequence) must report
 * exactly the rule checkEntry reports on a fresh context, or none when
 * checkEntry passes.
 */
import fc from 'fast-check';
import { VMCS, VMCS_FIELDS, VMCS_FIELD_COUNT, fieldIndex } from '../../core/vmx/fields.js';
import { EntryMemo, checkContext, checkEntry } from '../../core/vmx/entry-checks.js';
import { Vmcs } from '../../core/vmx/vmcs.js';
import type { VmxCapabilities } from '../../core/vmx/capabilities.js';
import { PhysMem } from '../../core/memory/physmem.js';
import { World, LAYOUT, LINK_PAGE, type Image } from './world.js';
import { scenarioArb, buildImage, type Scenario } from './scenario.js';
import { RULE_VIOLATIONS, violatedImage } from './violations.js';
import { DEFAULT_CAPS } from './caps.js';

const RULE_NAMES = [...RULE_VIOLATIONS.keys()].filter((r) => !r.startsWith('msr.') && !r.startsWith('exit-msr'));

/** A generated VMCS state: valid, valid with one rule violated, or all fields random. */
export type StateSpec =
  | { readonly kind: 'valid'; readonly scenario: Scenario }
  | { readonly kind: 'violation'; readonly rule: number; readonly scenario: Scenario; readonly param: number }
  | { readonly kind: 'random'; readonly seed: number };

export type Step =
  /** field (dense index) := hi:lo, truncated to its width. */
  | readonly ['write', number, number, number]
  /** toggle bit b (0-63) of a field. */
  | readonly ['flip', number, number]
  /** a field takes its value in the second state. */
  | readonly ['copy', number]
  /** every field takes its value in the second state. */
  | readonly ['image']
  /** what a VM exit and a hypervisor typically change in a valid state: RIP bits 31:0, an arithmetic flag, RSP. */
  | readonly ['exit', number, number]
  /** a 32-bit word of memory a rule reads: 0 the linked VMCS's first word, 1-8 PDPTE k/2 (low/high) at guest CR3, 9 VTPR. */
  | readonly ['mem', number, number];

export interface MemoCase {
  readonly start: StateSpec;
  readonly other: StateSpec;
  readonly steps: readonly Step[];
}

const word = fc.oneof(
  fc.integer({ min: 0, max: 0xffff_ffff }), fc.constant(0), fc.constant(0xffff_ffff),
  fc.nat(31).map((b) => (1 << b) >>> 0), fc.nat(0xffff),
);
const field = fc.nat(VMCS_FIELD_COUNT - 1);

const stateArb: fc.Arbitrary<StateSpec> = fc.oneof(
  fc.record({ kind: fc.constant('valid' as const), scenario: scenarioArb }),
  fc.nat(RULE_NAMES.length - 1).chain((rule) => fc.record({
    kind: fc.constant('violation' as const), rule: fc.constant(rule), scenario: scenarioArb, param: RULE_VIOLATIONS.get(RULE_NAMES[rule]!)!.param,
  })),
  fc.record({ kind: fc.constant('random' as const), seed: fc.integer() }),
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constant('write' as const), field, word, word) },
  { weight: 4, arbitrary: fc.tuple(fc.constant('flip' as const), field, fc.nat(63)) },
  { weight: 4, arbitrary: fc.tuple(fc.constant('copy' as const), field) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('image' as const)) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('mem' as const), fc.nat(9), word) },
  { weight: 4, arbitrary: fc.tuple(fc.constant('exit' as const), fc.nat(2), word) },
);

export const memoArb: fc.Arbitrary<MemoCase> = fc.record({
  start: stateArb, other: stateArb, steps: fc.array(stepArb, { minLength: 1, maxLength: 40 }),
});

const worlds = new Map<VmxCapabilities, World>();
function world(caps: VmxCapabilities): World {
  let w = worlds.get(caps);
  if (!w) { w = new World(caps); worlds.set(caps, w); }
  return w;
}

function capsOf(s: StateSpec): VmxCapabilities {
  return s.kind === 'violation' ? RULE_VIOLATIONS.get(RULE_NAMES[s.rule]!)!.caps : DEFAULT_CAPS;
}

function imageOf(s: StateSpec, w: World): Image {
  if (s.kind === 'valid') return buildImage(s.scenario, w.caps, w.eptp);
  if (s.kind === 'violation') return violatedImage(RULE_VIOLATIONS.get(RULE_NAMES[s.rule]!)!, s.scenario, s.param, w.eptp).draft.image();
  let a = s.seed >>> 0;
  const r = (): number => { a = (Math.imul(a ^ (a >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0; return a; };
  return { fields: new Map(VMCS_FIELDS.map((f) => [f.encoding, [r(), r() & 1 ? r() : 0] as const])), mem: [] };
}

/** The image's values by dense index (fields it does not name are 0). */
function valuesOf(img: Image): { lo: Uint32Array; hi: Uint32Array } {
  const lo = new Uint32Array(VMCS_FIELD_COUNT), hi = new Uint32Array(VMCS_FIELD_COUNT);
  for (const [enc, [l, h]] of img.fields) { const i = fieldIndex(enc); if (i >= 0) { lo[i] = l >>> 0; hi[i] = h >>> 0; } }
  return { lo, hi };
}

function write32(mem: PhysMem, pa: number, v: number): void {
  if (Number.isSafeInteger(pa) && pa >= 0 && pa + 4 <= mem.size) mem.write32(pa, v);
}

/** Counts over all cases run so far: checks, and rule evaluations the memo made vs. reused. */
export const MEMO_STATS = { cases: 0, checks: 0, evaluated: 0, reused: 0, failures: 0 };

export function memoPredicate(c: MemoCase): void {
  const caps = capsOf(c.start);
  const w = world(caps);
  const mem = w.mem;
  mem.fill(LINK_PAGE, 0x3000, 0);
  const start = imageOf(c.start, w), other = imageOf(c.other, w);
  const ov = valuesOf(other);
  const v = new Vmcs(LAYOUT.vmcs);
  const sv = valuesOf(start);
  for (let i = 0; i < VMCS_FIELD_COUNT; i++) v.setAt(i, sv.lo[i]!, sv.hi[i]!);
  for (const [a, x] of start.mem) write32(mem, a, x);
  const memo = new EntryMemo(v, caps, mem);
  const compare = (step: number): void => {
    const full = checkEntry(checkContext(v, caps, mem));
    const want = full.kind === 'ok' ? null : full.rule.id;
    const got = memo.check()?.id ?? null;
    MEMO_STATS.checks++;
    if (want !== null) MEMO_STATS.failures++;
    if (got !== want) throw new Error(`after step ${step}: memoized checks report ${got ?? 'no failure'}, full evaluation ${want ?? 'no failure'}`);
  };
  compare(0);
  c.steps.forEach((s, k) => {
    switch (s[0]) {
      case 'write': v.setAt(s[1], s[2], s[3]); break;
      case 'flip': {
        const b = s[2];
        if (b < 32) v.setAt(s[1], v.lo[s[1]]! ^ (1 << b), v.hi[s[1]]!);
        else v.setAt(s[1], v.lo[s[1]]!, v.hi[s[1]]! ^ (1 << (b - 32)));
        break;
      }
      case 'copy': v.setAt(s[1], ov.lo[s[1]]!, ov.hi[s[1]]!); break;
      case 'image': for (let i = 0; i < VMCS_FIELD_COUNT; i++) v.setAt(i, ov.lo[i]!, ov.hi[i]!); break;
      case 'exit': {
        const i = fieldIndex(s[1] === 0 ? VMCS.GUEST_RIP : s[1] === 1 ? VMCS.GUEST_RFLAGS : VMCS.GUEST_RSP);
        // RFLAGS: toggle one of CF, PF, AF, ZF, SF, OF (bits 0, 2, 4, 6, 7, 11).
        if (s[1] === 1) v.setAt(i, v.lo[i]! ^ (1 << [0, 2, 4, 6, 7, 11][s[2] % 6]!), v.hi[i]!);
        else v.setAt(i, s[2], v.hi[i]!);
        break;
      }
      case 'mem': {
        const which = s[1];
        let pa: number;
        if (which === 0) pa = v.getNum(VMCS.VMCS_LINK_POINTER);
        else if (which <= 8) pa = (v.get32(VMCS.GUEST_CR3) & 0xffff_ffe0) + 4 * (which - 1);
        else pa = v.getNum(VMCS.VIRTUAL_APIC_ADDRESS) + 0x80;
        write32(mem, pa, s[2]);
        break;
      }
    }
    compare(k + 1);
  });
  MEMO_STATS.cases++;
  MEMO_STATS.evaluated += memo.evaluated;
  MEMO_STATS.reused += memo.reused;
}
