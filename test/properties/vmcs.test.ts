// The VMCS property suites (properties/vmcs/) with small budgets, plus tests
// of the suites themselves: every rule has a violation recipe; a checker
// that misses part of a rule is caught and shrunk to the base state plus one
// minimal field change; an over-strict checker is caught by "valid states
// enter". Long runs: `hvtrace fuzz vmcs --time SECONDS`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ENTRY_RULES, checkContext, checkEntry, type EntryRule } from '../../core/vmx/entry-checks.js';
import { EXIT_MSR_RULES } from '../../core/vmx/exit-msrs.js';
import { VMCS } from '../../core/vmx/fields.js';
import {
  check, runProperty, violationArb, violationPredicate, validPredicate, expectedOutcome, ARBITRARY_OUTCOMES,
  type EnterFn, type ViolationCase,
} from '../../properties/vmcs/suites.js';
import { RULE_VIOLATIONS, violatedImage } from '../../properties/vmcs/violations.js';
import { scenarioArb, baseScenario, buildImage, type Scenario } from '../../properties/vmcs/scenario.js';
import { imageDiff } from '../../properties/vmcs/suite.js';
import type { Outcome } from '../../properties/vmcs/world.js';

const SEED = 20240611;

test('every rule of the table (and of the VM-exit MSR rules) has a violation recipe, and every recipe names a rule', () => {
  const ids = [...ENTRY_RULES.map((r) => r.id), ...EXIT_MSR_RULES.map((r) => r.id)].sort();
  assert.equal([...RULE_VIOLATIONS.keys()].sort(), ids);
});

test('expected outcomes follow the SDM section of the rule', () => {
  assert.equal(expectedOutcome('ctl.pin.reserved'), { kind: 'failValid', error: 7, rule: 'ctl.pin.reserved' });
  assert.equal(expectedOutcome('host.rip.canonical'), { kind: 'failValid', error: 8, rule: 'host.rip.canonical' });
  assert.equal(expectedOutcome('guest.vmcs-link.align'), { kind: 'entry-failure', reason: 0x8000_0021, qual: 4, rule: 'guest.vmcs-link.align' });
  assert.equal(expectedOutcome('guest.pdpte3.reserved'), { kind: 'entry-failure', reason: 0x8000_0021, qual: 2, rule: 'guest.pdpte3.reserved' });
  assert.equal(expectedOutcome('msr.x2apic', 3), { kind: 'entry-failure', reason: 0x8000_0022, qual: 3, rule: 'msr.x2apic' });
  // VM-exit MSR areas: VMX abort indicators 1 (28.4) and 4 (28.6), Vol. 3C 28.7.
  assert.equal(expectedOutcome('exit-msr-store.x2apic'), { kind: 'vmx-abort', indicator: 1, rule: 'exit-msr-store.x2apic' });
  assert.equal(expectedOutcome('exit-msr-load.wrmsr'), { kind: 'vmx-abort', indicator: 4, rule: 'exit-msr-load.wrmsr' });
});

test('(1) valid VMCS states enter', () => {
  const f = check('valid', { runs: 150, seed: SEED });
  assert.equal(f.map((x) => x.message), []);
});

test('(2) a valid state plus one targeted violation fails with exactly that rule, for every rule', () => {
  const f = check('violation', { runs: 6, seed: SEED });
  assert.equal(f.map((x) => `${x.rule}: ${x.message}`), []);
});

test('(3) arbitrary field values: no throw, an SDM outcome, and the VMCS afterwards as the SDM says', () => {
  ARBITRARY_OUTCOMES.clear();
  const f = check('arbitrary', { runs: 300, seed: SEED });
  assert.equal(f.map((x) => x.message), []);
  // The cases reach every kind of outcome, not only the first control check.
  const seen = [...ARBITRARY_OUTCOMES.keys()];
  for (const k of ['VMfailInvalid', 'VMfailValid(4)', 'VMfailValid(5)', 'VMfailValid(7)', 'VMfailValid(8)', 'exit 33 (entry failure)', 'exit 1']) {
    assert.ok(seen.includes(k), `no '${k}' among ${seen.join(', ')}`);
  }
});

test('(4) VMREAD/VMWRITE: widths, high accesses, read-only fields, invalid encodings', () => {
  const f = check('readwrite', { runs: 600, seed: SEED });
  assert.equal(f.map((x) => x.message), []);
});

// ---------------------------------------------------------------------------
// The suites catch checker bugs, and shrink them
// ---------------------------------------------------------------------------

/** Run the pure checker with a replaced table, reporting like VMLAUNCH does. */
function checkerWith(rules: readonly EntryRule[]): EnterFn {
  return (w, img): Outcome => {
    w.load(img);
    const out = checkEntry(checkContext(w.vmcs, w.caps, w.mem), rules);
    if (out.kind === 'ok') return { kind: 'exit', reason: 1, qual: 0 };
    if (out.kind === 'failValid') return { kind: 'failValid', error: out.error, rule: out.rule.id };
    return { kind: 'entry-failure', reason: 0x8000_0021, qual: out.qual, rule: out.rule.id };
  };
}
function replaceRule(id: string, ok: EntryRule['ok']): EntryRule[] {
  return ENTRY_RULES.map((r) => (r.id === id ? { ...r, ok } : r));
}

test('a checker that forgets RFLAGS bits 63:32 is caught; the shrunk case is the base state with RFLAGS bit 32 set', () => {
  // The bug: "RFLAGS bits 63:22, 15, 5, 3 are 0" checked on bits 31:0 only.
  const buggy = replaceRule('guest.rflags.reserved', (c) => (c.v.getLo(VMCS.GUEST_RFLAGS) & 0xffc0_8028) === 0);
  const rule = 'guest.rflags.reserved';
  const f = runProperty('violation', violationArb(rule), violationPredicate(rule, checkerWith(buggy)), { runs: 300, seed: SEED }, rule);
  assert.ok(f, 'the property must fail');
  const c = f!.counterexample as ViolationCase;
  assert.equal(c.scenario, baseScenario(), 'shrunk to the base scenario');
  const v = RULE_VIOLATIONS.get(rule)!;
  const img = violatedImage(v, c.scenario, c.param, 0).draft.image();
  const base = buildImage(baseScenario(), v.caps, 0);
  // One field, the smallest violating value: bit 32 (the first bit the buggy check misses).
  assert.equal(imageDiff(base, img), ['GUEST_RFLAGS 0x2 -> 0x100000002']);
  // The real checker has no such bug.
  assert.is(runProperty('violation', violationArb(rule), violationPredicate(rule), { runs: 300, seed: SEED }, rule), null);
});

test('a checker that puts the wrong rule first is caught (order is part of the contract)', () => {
  // The bug: TR checked before CS/SS (moving guest.tr.type to the front of the guest rules).
  const tr = ENTRY_RULES.find((r) => r.id === 'guest.tr.type')!;
  const reordered = [...ENTRY_RULES.filter((r) => r.kind !== 'guest'), tr, ...ENTRY_RULES.filter((r) => r.kind === 'guest' && r !== tr)];
  const rule = 'guest.cr0.fixed1';
  const pred = violationPredicate(rule, checkerWith(reordered));
  // A state violating both CR0 (bits 63:32) and TR's type: the SDM order reports CR0.
  const s: Scenario = baseScenario();
  const bothBroken: EnterFn = (w, img) => { const m = new Map(img.fields); m.set(VMCS.GUEST_TR_ACCESS_RIGHTS, [0x89, 0]); return checkerWith(reordered)(w, { fields: m, mem: img.mem }); };
  assert.throws(() => violationPredicate(rule, bothBroken)({ scenario: s, param: 1 }), /guest\.tr\.type/);
  assert.not.throws(() => pred({ scenario: s, param: 1 }));
});

test('a checker that is too strict (LDTR type checked while LDTR is unusable) fails "valid states enter" on the base state', () => {
  const strict = replaceRule('guest.ldtr.type', (c) => (c.v.get32(VMCS.GUEST_LDTR_ACCESS_RIGHTS) & 0xf) === 2);
  const f = runProperty('valid', scenarioArb, (s) => validPredicate(s, checkerWith(strict)), { runs: 50, seed: SEED });
  assert.ok(f);
  assert.match(f!.message, /guest\.ldtr\.type/);
  assert.equal(f!.counterexample, baseScenario());
});

test.run();
