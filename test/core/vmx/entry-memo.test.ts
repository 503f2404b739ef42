// EntryMemo (core/vmx/entry-checks.ts): what it reuses and what it must not.
// The equivalence with checkEntry on random sequences is the property in
// test/properties/vmcs-memo.test.ts; these are the cases behind it, by hand.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VMCS } from '../../../core/vmx/fields.js';
import { EntryMemo, checkContext, checkEntry, ENTRY_RULES } from '../../../core/vmx/entry-checks.js';
import { World, LINK_PAGE } from '../../../properties/vmcs/world.js';
import { buildImage, baseScenario } from '../../../properties/vmcs/scenario.js';

const RULES = ENTRY_RULES.filter((r) => r.kind !== 'msr').length;

function loaded(link = false): World {
  const w = new World();
  w.load(buildImage({ ...baseScenario(), link }, w.caps, w.eptp), { clearRam: true });
  return w;
}

test('a valid state: every rule evaluated once, then reused while nothing it read changes', () => {
  const w = loaded();
  const m = new EntryMemo(w.vmcs, w.caps, w.mem);
  assert.is(m.check(), null);
  assert.is(m.evaluated, RULES);
  assert.is(m.check(), null);
  assert.is(m.evaluated, RULES);
  // Arithmetic flags and RIP bits 31:0 concern no rule: still nothing evaluated.
  const v = w.vmcs;
  v.setNum(VMCS.GUEST_RFLAGS, 0x2 | 0x1 | 0x40 | 0x80 | 0x800);
  v.setNum(VMCS.GUEST_RIP, v.getNum(VMCS.GUEST_RIP) + 3);
  assert.is(m.check(), null);
  assert.is(m.evaluated, RULES);
});

test('a change re-evaluates only the rules that looked at the changed bits, and finds the new first failure', () => {
  const w = loaded();
  const v = w.vmcs;
  const m = new EntryMemo(v, w.caps, w.mem);
  m.check();
  const before = m.evaluated;
  v.setNum(VMCS.GUEST_RFLAGS, v.getNum(VMCS.GUEST_RFLAGS) & ~2); // bit 1 must be 1
  assert.is(m.check()?.id, 'guest.rflags.bit1');
  const full = checkEntry(checkContext(v, w.caps, w.mem));
  assert.is(full.kind === 'ok' ? null : full.rule.id, 'guest.rflags.bit1');
  assert.is(m.check()?.id, 'guest.rflags.bit1'); // the kept failure
  assert.ok(m.evaluated - before < 10, `${m.evaluated - before} rules evaluated again`);
  v.setNum(VMCS.GUEST_RFLAGS, v.getNum(VMCS.GUEST_RFLAGS) | 2);
  assert.is(m.check(), null);
  // A control change reaches the control rules before the kept guest results.
  v.set32(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS, 0);
  assert.is(m.check()?.id, 'ctl.pin.reserved');
  assert.is(checkEntry(checkContext(v, w.caps, w.mem)).kind, 'failValid');
});

test('rules that read host memory are evaluated at every check (the VMCS the link pointer references)', () => {
  const w = loaded(true);
  const m = new EntryMemo(w.vmcs, w.caps, w.mem);
  assert.is(m.check(), null);
  const rev = w.mem.read32(LINK_PAGE);
  w.mem.write32(LINK_PAGE, rev ^ 1); // no VMCS field changed
  assert.is(m.check()?.id, 'guest.vmcs-link.revision');
  w.mem.write32(LINK_PAGE, rev);
  assert.is(m.check(), null);
});

test('a memo is per VMCS: the engine keeps one for each and the outcome follows the current one', () => {
  const w = loaded();
  const first = w.vmcs;
  assert.is(w.enter(true).kind, 'exit');
  const bad = buildImage(baseScenario(), w.caps, w.eptp);
  w.load({ fields: new Map([...bad.fields, [VMCS.GUEST_RFLAGS, [0, 0]]]), mem: bad.mem });
  assert.ok(w.vmcs !== first);
  const o = w.enter(true);
  assert.is(o.kind === 'entry-failure' ? o.rule : o.kind, 'guest.rflags.bit1');
});

test.run();
