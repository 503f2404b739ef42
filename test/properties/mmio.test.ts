// The MMIO properties (properties/mmio/props.ts) for a short, fixed-seed
// budget, and every stored counterexample (properties/regressions/mmio/)
// replayed. Longer runs: `hvtrace fuzz mmio --time SECONDS`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MMIO_SUITE, runProperty, loadRegressions, replayRegression } from '../../properties/mmio/suite.js';
import { FUZZ_SUITES } from '../../properties/registry.js';
import { checkDecode, checkEmulate } from '../../properties/mmio/props.js';
import { arbEmuCase } from '../../properties/mmio/cases.js';
import fc from 'fast-check';

const SEED = 20261204;
const RUNS: Record<string, number> = { 'decode-raw': 3000, 'decode-structured': 3000, 'decode-supported': 1500, 'emulate-total': 1500, 'emulate-vs-cpu': 1500, 'emulate-vs-cpu32': 1500 };

for (const name of MMIO_SUITE.properties) {
  test(`property ${name} (${RUNS[name] ?? 500} runs, seed ${SEED})`, () => {
    const cpuBugs: string[] = [];
    const r = runProperty(name, RUNS[name] ?? 500, SEED, cpuBugs);
    assert.is(r, null, r ?? '');
    // Cases where core/cpu differs from the host CPU and the emulator agrees with the host are core/cpu findings
    // (hvtrace fuzz mmio reports them as failures of emulate-vs-cpu); here they only leave a note.
    if (cpuBugs.length) console.log(`  note: ${cpuBugs.length} case(s) where core/cpu differs from the host CPU (the emulator agrees with the host), e.g. ${cpuBugs[0]!.slice(0, 240)}`);
  });
}

test('every stored counterexample holds now', () => {
  const regs = loadRegressions();
  for (const r of regs) {
    const d = replayRegression(r);
    assert.is(d, null, `${r.file}: ${d}`);
  }
});

test('the suite is registered and reports through the registry shape', () => {
  assert.is(FUZZ_SUITES['mmio'], MMIO_SUITE);
  const rep = MMIO_SUITE.run({ runs: 20, seed: 1, save: false });
  assert.ok(!(rep instanceof Promise));
  if (!(rep instanceof Promise)) {
    assert.equal(rep.failures, []);
    assert.is(rep.runs, 20 * MMIO_SUITE.properties.length);
  }
});

test('the checks report differences instead of throwing (a corrupted expectation is caught)', () => {
  // A case whose code is not what the recipe says still returns a string or null, never throws.
  const c = fc.sample(arbEmuCase, { numRuns: 1, seed: 7 })[0]!;
  const bad = { ...c, code: Uint8Array.of(0x0f, 0x0b) }; // UD2: the emulator refuses, the CPU raises #UD
  const d = checkEmulate(bad);
  assert.ok(d === null || typeof d === 'string');
  assert.is(checkDecode({ mode: 64, bytes: Uint8Array.of() }), null);
});

test.run();
