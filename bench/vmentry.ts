/**
 * VM-entry check benchmark: how many full passes over the rule table of
 * core/vmx/entry-checks.ts this machine makes per second, and how many
 * complete VMLAUNCHes (VMX-state checks, all entry checks, guest-state load,
 * immediate exit, guest-state save).
 *
 *   node dist/bench/vmentry.js [--seconds 1] [--states 64]
 *
 * Cases (each over a set of generated valid states, properties/vmcs/scenario.ts,
 * plus the PVH base state of core/hv/setup.ts):
 *   checks/valid        every rule evaluated (nothing fails): the worst case
 *   checks/control-fail the first control rule fails (VMfailValid 7 path)
 *   checks/guest-late   a PDPTE rule, among the last guest rules, fails
 *   memo/unchanged      the memoized checks VM entry runs (EntryMemo), nothing changed since the last check
 *   memo/exit-like      the same after the changes a VM exit makes (RIP, RSP, arithmetic flags)
 *   memo/guest-late     the memoized checks of the guest-late state (a failure kept)
 *   vmlaunch            VMLAUNCH + exit through Vmx and EntryEngine, kick at once
 *
 * Prints figures only; nothing is asserted on time (the target in the issue
 * is >= 100k entry checks/s).
 */
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { checkContext, checkEntry, ENTRY_RULES, EntryMemo } from '../core/vmx/entry-checks.js';
import { VMCS, fieldIndex } from '../core/vmx/fields.js';
import { World } from '../properties/vmcs/world.js';
import { scenarioArb, buildImage, baseScenario } from '../properties/vmcs/scenario.js';

function rate(label: string, seconds: number, body: () => void): number {
  // Warm up, then run whole batches until the time is up.
  for (let k = 0; k < 2000; k++) body();
  const batch = 1000;
  let n = 0;
  const t0 = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let dt = 0n;
  while (dt < limit) {
    for (let k = 0; k < batch; k++) body();
    n += batch;
    dt = process.hrtime.bigint() - t0;
  }
  const perSec = n / (Number(dt) / 1e9);
  console.log(`${label.padEnd(22)} ${Math.round(perSec).toLocaleString('en-US').padStart(12)} /s   (${(1e6 / perSec).toFixed(2)} us each, ${n} in ${(Number(dt) / 1e9).toFixed(2)} s)`);
  return perSec;
}

function main(): number {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, states: { type: 'string' } } });
  const seconds = Number(values.seconds ?? 1);
  const nStates = Number(values.states ?? 64);
  console.log(`VM-entry checks: ${ENTRY_RULES.length} rules; node ${process.version}; ${os.cpus()[0]?.model ?? 'cpu?'}`);

  const w = new World();
  // States whose checks read memory (VMCS link pointer, PDPTEs from RAM) are left out: the states share one memory.
  const scenarios = [baseScenario(), ...fc.sample(scenarioArb, { numRuns: nStates - 1, seed: 42 })]
    .map((s) => ({ ...s, link: false, ...(s.mode === 'pae' ? { noEpt: false } : {}) }));
  // One loaded VMCS per state (VMPTRLD of distinct regions is not needed: the checks read the Vmcs object).
  const contexts = scenarios.map((s) => {
    w.load(buildImage(s, w.caps, w.eptp));
    const v = w.vmcs;
    const copy = new (v.constructor as new (pa: number) => typeof v)(v.regionAddress);
    copy.copyFrom(v);
    return checkContext(copy, w.caps, w.mem);
  });
  for (const c of contexts) if (checkEntry(c).kind !== 'ok') throw new Error('a generated valid state fails the checks');
  let k = 0;
  const valid = rate('checks/valid', seconds, () => { checkEntry(contexts[k++ % contexts.length]!); });

  const bad = contexts.map((c) => {
    const v = c.v;
    const copy = new (v.constructor as new (pa: number) => typeof v)(v.regionAddress);
    copy.copyFrom(v);
    copy.set32(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS, 0);
    return checkContext(copy, w.caps, w.mem);
  });
  rate('checks/control-fail', seconds, () => { checkEntry(bad[k++ % bad.length]!); });

  // PAE paging with EPT and a PDPTE0 with a reserved bit: fails at one of the last guest rules.
  const pae = { ...baseScenario(), mode: 'pae' as const };
  w.load(buildImage(pae, w.caps, w.eptp));
  const lateV = w.vmcs;
  lateV.set(VMCS.GUEST_PDPTE0, 0x3, 0);
  const late = checkContext(lateV, w.caps, w.mem);
  if (checkEntry(late).kind !== 'guest') throw new Error('late case does not fail a guest rule');
  rate('checks/guest-late', seconds, () => { checkEntry(late); });

  // Memoized checks (EntryMemo, what VM entry runs): one memo per state, as the engine keeps one per VMCS.
  const memos = contexts.map((c) => new EntryMemo(c.v, w.caps, w.mem));
  const memoSame = rate('memo/unchanged', seconds, () => { memos[k++ % memos.length]!.check(); });
  // What a VM exit typically changes before the next entry: RIP, arithmetic flags, RSP.
  const RIP = fieldIndex(VMCS.GUEST_RIP), RFLAGS = fieldIndex(VMCS.GUEST_RFLAGS), RSP = fieldIndex(VMCS.GUEST_RSP);
  let n = 0;
  const memoExit = rate('memo/exit-like', seconds, () => {
    const m = memos[k++ % memos.length]!, v = m.v;
    n++;
    v.lo[RIP] = (v.lo[RIP]! + 2) >>> 0; v.lo[RSP] = (v.lo[RSP]! - 8) >>> 0; v.lo[RFLAGS] = (v.lo[RFLAGS]! ^ (n & 1 ? 0x41 : 0x880)) >>> 0;
    m.check();
  });
  // The failing guest-late state, checked again unchanged.
  const lateMemo = new EntryMemo(late.v, w.caps, w.mem);
  rate('memo/guest-late', seconds, () => { lateMemo.check(); });

  // Full VMLAUNCH: VMCLEAR-free relaunch of the base state (launch state reset by hand, as a VMCLEAR would).
  w.load(buildImage(baseScenario(), w.caps, w.eptp));
  const v = w.vmcs;
  const launches = rate('vmlaunch', seconds, () => { v.launchState = 'clear'; w.enter(true); });
  console.log(`\nentry checks/s (all ${ENTRY_RULES.length} rules evaluated): ${Math.round(valid).toLocaleString('en-US')}; memoized, nothing changed: ${Math.round(memoSame).toLocaleString('en-US')}; memoized, exit-like changes: ${Math.round(memoExit).toLocaleString('en-US')}; full VMLAUNCH+exit/s: ${Math.round(launches).toLocaleString('en-US')}`);
  return 0;
}

process.exitCode = main();
