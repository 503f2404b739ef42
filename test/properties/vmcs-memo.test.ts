// Memoized VM-entry checks (EntryMemo) give exactly the outcome of evaluating
// every rule (checkEntry), after every step of random VMWRITE sequences from
// generated valid, violating and random states (properties/vmcs/memo.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { EntryMemo } from '../../core/vmx/entry-checks.js';
import { VMCS, fieldIndex } from '../../core/vmx/fields.js';
import { memoArb, memoPredicate, MEMO_STATS } from '../../properties/vmcs/memo.js';

const SEED = 20261205;

test('memoized entry checks === full evaluation, at every step of random VMWRITE sequences', () => {
  Object.assign(MEMO_STATS, { cases: 0, checks: 0, evaluated: 0, reused: 0, failures: 0 });
  fc.assert(fc.property(memoArb, memoPredicate), { numRuns: 1000, seed: SEED });
  // Not vacuous: results were reused, and both passing and failing states were compared.
  assert.ok(MEMO_STATS.reused > MEMO_STATS.evaluated, `reused ${MEMO_STATS.reused}, evaluated ${MEMO_STATS.evaluated}`);
  assert.ok(MEMO_STATS.failures > 0 && MEMO_STATS.failures < MEMO_STATS.checks, `${MEMO_STATS.failures} failing of ${MEMO_STATS.checks}`);
});

test('the property catches a memo that misses a dependency (guest CR0 reads not recorded)', () => {
  const dep = EntryMemo.prototype.dep;
  const cr0 = fieldIndex(VMCS.GUEST_CR0);
  EntryMemo.prototype.dep = function (this: EntryMemo, i: number, mlo: number, mhi: number): void { if (i !== cr0) dep.call(this, i, mlo, mhi); };
  try {
    const r = fc.check(fc.property(memoArb, memoPredicate), { numRuns: 2000, seed: SEED });
    assert.ok(r.failed, 'a memo blind to CR0 changes was not caught');
  } finally {
    EntryMemo.prototype.dep = dep;
  }
});

test.run();
