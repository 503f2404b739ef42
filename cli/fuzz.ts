/**
 * `hvtrace fuzz <suite> [--runs N] [--seed S] [--time SECONDS]`: run the
 * fast-check property suites of properties/registry.ts for a budget, with
 * progress on stderr; print every finding with its shrunk counterexample
 * and the regression file it was saved to; exit 1 if any property failed.
 */
import { parseArgs } from 'node:util';
import { FUZZ_SUITES, type FuzzReport, type FuzzProgress } from '../properties/registry.js';
import { CliError, intOption } from './common.js';

export const FUZZ_USAGE = `usage: hvtrace fuzz <suite> [--runs N] [--seed S] [--time SECONDS] [--no-save] [--quiet]

  --runs N        runs per property per round (suite default if absent)
  --seed S        fast-check seed (printed at the start; reuse it to reproduce)
  --time SECONDS  keep running rounds until SECONDS have passed
  --no-save       do not write counterexamples to properties/regressions/
  --quiet         no progress lines

Exit status: 0 all properties held, 1 a property failed, 2 bad usage.

suites:
${Object.entries(FUZZ_SUITES).map(([n, s]) => `  ${n.padEnd(10)} ${s.description}\n  ${''.padEnd(10)} properties: ${s.properties.join(', ')}`).join('\n')}`;

function secs(ms: number): string { return (ms / 1000).toFixed(1) + 's'; }

export function formatReport(suite: string, r: FuzzReport): string {
  const lines: string[] = [];
  lines.push(`${suite}: ${r.runs} runs in ${secs(r.elapsedMs)} (seed ${r.seed}), ${r.failures.length === 0 ? 'all properties held' : `${r.failures.length} propert${r.failures.length === 1 ? 'y' : 'ies'} FAILED`}`);
  if (r.perProperty) lines.push(`  ${Object.entries(r.perProperty).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const n of r.notes ?? []) lines.push(`  note: ${n}`);
  for (const f of r.failures) {
    lines.push('');
    lines.push(`FAILED ${f.property} (seed ${f.seed}, path ${f.path}, ${f.shrinks} shrinks)`);
    lines.push(`  shrunk: ${f.counterexample}`);
    lines.push(`  why:    ${f.message}`);
    if (f.file) lines.push(`  saved:  ${f.file}`);
  }
  return lines.join('\n');
}

export function fuzzCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      runs: { type: 'string' }, seed: { type: 'string' }, time: { type: 'string' },
      'no-save': { type: 'boolean' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(FUZZ_USAGE + '\n'); return 0; }
  if (positionals.length !== 1) throw new CliError(`fuzz needs exactly one suite name\n${FUZZ_USAGE}`);
  const name = positionals[0]!;
  const suite = FUZZ_SUITES[name];
  if (!suite) throw new CliError(`unknown fuzz suite '${name}' (known: ${Object.keys(FUZZ_SUITES).join(', ')})`);
  const runs = values.runs !== undefined ? intOption('runs', values.runs, 1) : undefined;
  let seed: number | undefined;
  if (values.seed !== undefined) {
    seed = Number(values.seed);
    if (!Number.isSafeInteger(seed) || Math.abs(seed) > 0x7fffffff) throw new CliError(`--seed expects a 32-bit integer, got '${values.seed}'`);
  }
  let timeSeconds: number | undefined;
  if (values.time !== undefined) {
    timeSeconds = Number(values.time);
    if (!Number.isFinite(timeSeconds) || timeSeconds <= 0) throw new CliError(`--time expects a positive number of seconds, got '${values.time}'`);
  }
  const quiet = values.quiet === true;
  const onProgress = (p: FuzzProgress): void => {
    if (!quiet) process.stderr.write(`[${p.suite}] ${p.property}: ${p.runs} runs (total ${p.totalRuns}, ${p.failures} failure${p.failures === 1 ? '' : 's'}, ${secs(p.elapsedMs)})\n`);
  };
  if (!quiet) process.stderr.write(`fuzz ${name}: ${suite.properties.join(', ')}${seed !== undefined ? ` (seed ${seed})` : ''}${timeSeconds !== undefined ? ` for ${timeSeconds}s` : ''}\n`);
  const report = suite.run({
    ...(runs !== undefined ? { runs } : {}), ...(seed !== undefined ? { seed } : {}),
    ...(timeSeconds !== undefined ? { timeSeconds } : {}), onProgress, save: values['no-save'] !== true,
  });
  const finish = (r: FuzzReport): number => {
    process.stdout.write(formatReport(name, r) + '\n');
    return r.failures.length ? 1 : 0;
  };
  if (report instanceof Promise) {
    // An asynchronous suite: the exit status is set when it settles.
    report.then((r) => { process.exitCode = finish(r); }, (e: Error) => {
      process.stderr.write(`hvtrace: internal error: ${e.message}\n`);
      process.exitCode = 70;
    });
    return 0;
  }
  return finish(report);
}
