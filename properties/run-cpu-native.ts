/**
 * Longer runs of the CPU-vs-host differential property (properties/cpu-native.ts).
 *
 *   node dist/properties/run-cpu-native.js [--runs N] [--seed S] [--only key,key] [--sse] [--seq] [--x87] [--compat] [--survey]
 *
 * --seq: instruction sequences (flag producer, middle, flag consumer) instead
 * of single instructions. --sse: only the SSE/SSE2, MXCSR and FXSAVE/FXRSTOR
 * entries. --x87: x87/SSE state round trips (FXRSTOR, x87 control, FXSAVE).
 * --compat: single instructions in compatibility mode (the entries valid
 * outside 64-bit mode, PUSHA/POPA, BCD, INC/DEC 40-4F included).
 * Default mode: the fast-check property with shrinking; the first
 * counterexample is saved under properties/regressions/cpu-native/ and the
 * exit status is 1. --survey: no shrinking, runs every case in batches and
 * prints the mismatches grouped by opcode-table entry (for bug hunting).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkCpuNative, survey, surveySeq, ENTRIES, EXCLUDED, ENTRIES32, EXCLUDED32, K_SSE } from './cpu-native.js';
import { nativeUnavailableReason } from './harness/native.js';

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    console.log('usage: node dist/properties/run-cpu-native.js [--runs N] [--seed S] [--only key,key] [--sse] [--seq] [--x87] [--compat] [--survey] [--list]');
    return 0;
  }
  if (args.includes('--list')) {
    console.log(`${ENTRIES.length} table entries run natively:`);
    console.log(ENTRIES.map((e) => `${e.key}:${e.def.mn}`).join(' '));
    console.log(`\n${EXCLUDED.length} excluded:`);
    for (const x of EXCLUDED) console.log(`  ${x.key} ${x.mn}: ${x.reason}`);
    console.log(`\ncompatibility mode: ${ENTRIES32.length} entries run, ${EXCLUDED32.length} excluded:`);
    for (const x of EXCLUDED32) console.log(`  ${x.key} ${x.mn}: ${x.reason}`);
    return 0;
  }
  const reason = nativeUnavailableReason();
  if (reason !== undefined) { console.error(`native harness unavailable: ${reason}`); return 2; }
  const runs = Number(arg(args, '--runs') ?? 20000);
  const seedArg = arg(args, '--seed');
  const seed = seedArg !== undefined ? Number(seedArg) : (Date.now() ^ (process.pid << 16)) | 0;
  const only = arg(args, '--only')?.split(',') ?? (args.includes('--sse') ? ENTRIES.filter((e) => e.hints & K_SSE).map((e) => e.key) : undefined);
  const seq = args.includes('--seq');
  const x87 = args.includes('--x87');
  const compat = args.includes('--compat');
  if (args.includes('--survey')) {
    const r = seq || x87 ? surveySeq(runs, seed, x87) : survey(runs, seed, only, compat);
    console.log(`seed ${seed}: ${r.cases} cases, ${r.matched} matched, ${r.skipped} skipped, ${r.mismatches.size} entries mismatching, ${(r.cases / (r.ms / 1000)).toFixed(0)} cases/s`);
    for (const [k, m] of [...r.mismatches].sort((a, b) => b[1].count - a[1].count)) console.log(`\n== ${k}: ${m.count}\n${m.example}`);
    return r.mismatches.size === 0 ? 0 : 1;
  }
  const out = await checkCpuNative({ runs, seed, seq, x87, compat, ...(only !== undefined ? { only } : {}) });
  const s = out.stats;
  console.log(`seed ${seed}: ${s.cases} cases (${s.matched} matched, ${s.skipped} skipped) in ${(s.ms / 1000).toFixed(1)} s, ${(s.cases / (s.ms / 1000)).toFixed(0)} cases/s`);
  if (out.failed) {
    console.log(out.message);
    if (out.file !== undefined) console.log(`saved ${out.file}`);
    return 1;
  }
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e: unknown) => { console.error(e); process.exitCode = 1; });
}
