/**
 * Our CPU against the host CPU, one instruction at a time
 * (properties/cpu-native.ts): a fixed-seed run of the fast-check property
 * over every opcode-table entry that runs natively, and the replay of every
 * stored counterexample (properties/regressions/cpu-native/*.json, whose
 * expected results were recorded from the host CPU). Longer runs:
 * node dist/properties/run-cpu-native.js --runs 200000 --seed S
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nativeUnavailableReason } from '../../../properties/harness/native.js';
import { Cpu1 } from '../../../properties/harness/cpu1.js';
import {
  checkCpuNative, compareResults, fromRegression, loadRegressions, ENTRIES, EXCLUDED, ENTRIES32, EXCLUDED32, entryKey, K_SSE,
} from '../../../properties/cpu-native.js';
import { OPCODES } from '../../../core/cpu/opcodes.js';

const reason = nativeUnavailableReason();
if (reason !== undefined) console.log(`[native-diff] skipping the live differential run: ${reason}`);
const live = reason === undefined ? test : test.skip;

const RUNS = Number(process.env['HVTRACE_CPU_NATIVE_RUNS'] ?? 10000);
const SEED = Number(process.env['HVTRACE_CPU_NATIVE_SEED'] ?? 0x5eed);
const SEQ_RUNS = Math.ceil(RUNS / 2);
const SSE_RUNS = Math.ceil(RUNS / 8);
const X87_RUNS = Math.ceil(RUNS / 10);
const COMPAT_RUNS = Math.ceil(RUNS / 3);
const COMPILED_RUNS = Math.ceil(RUNS / 2);

test('every opcode-table entry is either run natively or excluded with a reason', () => {
  const keys = new Set([...ENTRIES.map((e) => e.key), ...EXCLUDED.map((e) => e.key)]);
  assert.is(keys.size, OPCODES.length, 'entry keys are unique');
  for (const d of OPCODES) assert.ok(keys.has(entryKey(d)), entryKey(d));
  for (const x of EXCLUDED) assert.ok(x.reason.length > 10 && x.reason !== 'not classified for the differential run', `${x.key} ${x.mn}: ${x.reason}`);
  assert.ok(ENTRIES.length > 300, `${ENTRIES.length} entries`);
  // Compatibility mode: the same table, plus the entries invalid in 64-bit mode.
  const keys32 = new Set([...ENTRIES32.map((e) => e.key), ...EXCLUDED32.map((e) => e.key)]);
  assert.is(keys32.size, OPCODES.length);
  for (const x of EXCLUDED32) assert.ok(x.reason.length > 10 && x.reason !== 'not classified for the differential run', `${x.key} ${x.mn}: ${x.reason}`);
  const run32 = new Set(ENTRIES32.map((e) => e.key));
  for (const k of ['60', '61', '27', '2f', '37', '3f', 'd4', 'd5', '40', '4f', '82/0']) assert.ok(run32.has(k), `${k} runs in compatibility mode`);
});

test('stored counterexamples replay against the recorded host results, interpreted and compiled', () => {
  for (const compiled of [false, true]) {
    const cpu = new Cpu1({ compiled }), cpu32 = new Cpu1({ compat: true, compiled });
    const failures: string[] = [];
    for (const { file, reg } of loadRegressions()) {
      const { b, nat } = fromRegression(reg);
      const v = compareResults(b.meta, (b.meta.compat === true ? cpu32 : cpu).run(b.c, b.meta.seq === true ? 4 : 1), nat);
      if (v.kind === 'mismatch') failures.push(`${file} (${reg.mn} ${reg.code}${compiled ? ', compiled' : ''}):\n${v.diff}`);
    }
    assert.is(failures.join('\n\n'), '');
  }
});

live(`property: ${RUNS} generated instructions behave as on the host CPU (seed ${SEED})`, async () => {
  const out = await checkCpuNative({ runs: RUNS, seed: SEED });
  if (out.failed) assert.unreachable(`${out.message}${out.file !== undefined ? `\nsaved as ${out.file}` : ''}`);
  assert.ok(out.stats.matched > RUNS * 0.9, `only ${out.stats.matched}/${RUNS} compared (${out.stats.skipped} skipped)`);
});

live(`property: ${SEQ_RUNS} flag producer -> consumer sequences behave as on the host CPU (lazy flags)`, async () => {
  const out = await checkCpuNative({ runs: SEQ_RUNS, seed: SEED + 1, seq: true });
  if (out.failed) assert.unreachable(`${out.message}${out.file !== undefined ? `\nsaved as ${out.file}` : ''}`);
  assert.ok(out.stats.matched > SEQ_RUNS * 0.5, `only ${out.stats.matched}/${SEQ_RUNS} compared (${out.stats.skipped} skipped)`);
});

// The same properties through compiled blocks (core/cpu/jit.ts): each case's block runs as its generated function.
live(`property: ${COMPILED_RUNS} generated instructions through compiled blocks behave as on the host CPU (seed ${SEED + 5})`, async () => {
  const out = await checkCpuNative({ runs: COMPILED_RUNS, seed: SEED + 5, compiled: true });
  if (out.failed) assert.unreachable(`${out.message}${out.file !== undefined ? `\nsaved as ${out.file}` : ''}`);
  assert.ok(out.stats.matched > COMPILED_RUNS * 0.9, `only ${out.stats.matched}/${COMPILED_RUNS} compared (${out.stats.skipped} skipped)`);
});

live(`property: ${COMPILED_RUNS} flag producer -> consumer sequences through compiled blocks behave as on the host CPU (seed ${SEED + 6})`, async () => {
  const out = await checkCpuNative({ runs: COMPILED_RUNS, seed: SEED + 6, seq: true, compiled: true });
  if (out.failed) assert.unreachable(`${out.message}${out.file !== undefined ? `\nsaved as ${out.file}` : ''}`);
  assert.ok(out.stats.matched > COMPILED_RUNS * 0.5, `only ${out.stats.matched}/${COMPILED_RUNS} compared (${out.stats.skipped} skipped)`);
});

live(`property: ${SSE_RUNS} SSE/SSE2, MXCSR, FXSAVE/FXRSTOR and XSAVE/XRSTOR instructions with random XMM state (seed ${SEED + 2})`, async () => {
  const only = ENTRIES.filter((e) => e.hints & K_SSE).map((e) => e.key);
  assert.ok(only.length > 70, `${only.length} SSE entries`);
  const out = await checkCpuNative({ runs: SSE_RUNS, seed: SEED + 2, only });
  if (out.failed) assert.unreachable(`${out.message}${out.file !== undefined ? `\nsaved as ${out.file}` : ''}`);
  assert.ok(out.stats.matched > SSE_RUNS * 0.9, `only ${out.stats.matched}/${SSE_RUNS} compared (${out.stats.skipped} skipped)`);
});

live(`property: ${X87_RUNS} x87/SSE state round trips (FXRSTOR, x87 control, FXSAVE, LDMXCSR/STMXCSR, FWAIT #MF, XRSTOR;XSAVE, XRSTOR;FXSAVE)`, async () => {
  const out = await checkCpuNative({ runs: X87_RUNS, seed: SEED + 3, x87: true });
  if (out.failed) assert.unreachable(`${out.message}${out.file !== undefined ? `\nsaved as ${out.file}` : ''}`);
  assert.ok(out.stats.matched > X87_RUNS * 0.9, `only ${out.stats.matched}/${X87_RUNS} compared (${out.stats.skipped} skipped)`);
});

live(`property: ${COMPAT_RUNS} instructions in compatibility mode (CS = 0x23) behave as on the host CPU, PUSHA/POPA, BCD and INC/DEC 40-4F included (seed ${SEED + 4})`, async () => {
  const out = await checkCpuNative({ runs: COMPAT_RUNS, seed: SEED + 4, compat: true });
  if (out.failed) assert.unreachable(`${out.message}${out.file !== undefined ? `\nsaved as ${out.file}` : ''}`);
  assert.ok(out.stats.matched > COMPAT_RUNS * 0.9, `only ${out.stats.matched}/${COMPAT_RUNS} compared (${out.stats.skipped} skipped)`);
});

test.run();
