/**
 * `hvtrace ktest`: run x86 test kernels the way kvm-unit-tests' runner does
 * (shared/reference/platform-notes.md, "x86 test kernels"), one machine per
 * kernel, and print a table.
 *
 * - Kernels: the files given, or every `*.flat` / `*.elf` in a directory
 *   given, in name order. Each boots through `hvtrace run`'s machinery
 *   (multiboot for kvm-unit-tests images).
 * - Arguments: when a `unittests.cfg` sits next to a kernel, every section
 *   whose `file =` names it is one test, named by the section, with the
 *   section's `test_args` (or an `-append '...'` in `extra_params`) as the
 *   command line; otherwise the kernel runs once with an empty command line.
 * - Verdict: the debug-exit port convention (status (code << 1) | 1): 1 pass,
 *   77 skipped (every check skipped), 3 failures, anything else a failure
 *   (kvm-unit-tests' abort() exits with 64: status 129); a triple fault, an
 *   exhausted budget, a halt or a machine error is a failure too.
 * - Counts: the `PASS:`, `FAIL:`, `SKIP:`, `XFAIL:`, `XPASS:`, `KFAIL:` lines
 *   and the final `SUMMARY:` line of the serial output (lib/report.c's
 *   format: "SUMMARY: N tests[, F unexpected failures][, K known failures]
 *   [, X expected failures][, S skipped]").
 *
 * Exit status: 0 when every kernel passed or was skipped, 1 when any failed,
 * 2 for bad usage.
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DEFAULT_DIGEST_EVERY, type Machine, type RunResult } from '../core/hv/machine.js';
import { buildMachine, type GuestSpec } from './run.js';
import { recordTrace } from './session.js';
import { CliError, intOption } from './common.js';

export const KTEST_USAGE = `usage: hvtrace ktest <kernel or directory>... [--record DIR] [--json] [--max-instructions N] [--mem MiB]

Runs x86 test kernels (kvm-unit-tests .flat images, or any multiboot/PVH
kernel that reports PASS:/FAIL: lines and exits through port 0xf4) and prints
one row per test: result, pass/fail/skip counts, instructions, wall time.
A directory means every *.flat and *.elf in it. A unittests.cfg next to the
kernels supplies each test's arguments (test_args).
  --mem MiB               guest RAM (even, default 128)
  --max-instructions N    budget per kernel (default 1e10); running out is a failure
  --module FILE           boot module for every kernel (kvm-unit-tests: environment file)
  --append ARGS           command line for kernels without unittests.cfg arguments
  --no-cfg                ignore unittests.cfg
  --record DIR            record each run to DIR/<test>.hvt
  --json                  print the results as JSON instead of a table
  --verbose               echo each kernel's serial output (to stderr)
Exit status: 0 all passed or skipped, 1 any failure, 2 bad usage.`;

/**
 * Default instruction budget per kernel. The longest kvm-unit-tests x86
 * kernel we run to completion, sieve (three sieves of 10^8 bytes in
 * vmalloc'ed memory; unittests.cfg gives it 180 s instead of the usual 90),
 * retires 8.07e9 instructions; 1e10 leaves it headroom while a hung kernel
 * still stops (at 20-40 MIPS, within minutes).
 */
export const KTEST_DEFAULT_MAX_INSTRUCTIONS = 10_000_000_000;

export type KtestVerdict = 'PASS' | 'FAIL' | 'SKIP';

export interface KtestCounts {
  pass: number; fail: number; skip: number; xfail: number; xpass: number; kfail: number;
  /** The SUMMARY line, without "SUMMARY: ", or null when the kernel printed none. */
  summary: string | null;
  /** The first FAIL/XPASS line (or ABORT), for the report. */
  firstFailure: string | null;
}

/** Counts report lines in a kernel's serial output (lib/report.c formats). */
export function parseKtestOutput(text: string): KtestCounts {
  const c: KtestCounts = { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0, kfail: 0, summary: null, firstFailure: null };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const m = /^(PASS|FAIL|SKIP|XFAIL|XPASS|KFAIL|SUMMARY|ABORT):\s?(.*)$/.exec(line);
    if (!m) continue;
    switch (m[1]) {
      case 'PASS': c.pass++; break;
      case 'FAIL': c.fail++; c.firstFailure ??= line; break;
      case 'SKIP': c.skip++; break;
      case 'XFAIL': c.xfail++; break;
      case 'XPASS': c.xpass++; c.firstFailure ??= line; break;
      case 'KFAIL': c.kfail++; break;
      case 'ABORT': c.firstFailure ??= line; break;
      case 'SUMMARY': c.summary = m[2] ?? ''; break;
    }
  }
  return c;
}

/** The verdict and a one-line reason from how the run stopped and what it printed. */
export function ktestVerdict(stop: RunResult['stop'], counts: KtestCounts): { verdict: KtestVerdict; status: number | null; reason: string } {
  if (stop.kind === 'exit-code') {
    const s = stop.code;
    if (s === 1) return { verdict: 'PASS', status: s, reason: counts.summary ? `SUMMARY: ${counts.summary}` : 'exit status 1' };
    if (s === 77) return { verdict: 'SKIP', status: s, reason: counts.summary ? `SUMMARY: ${counts.summary}` : 'exit status 77 (skipped)' };
    if (s === 3) return { verdict: 'FAIL', status: s, reason: counts.firstFailure ?? (counts.summary ? `SUMMARY: ${counts.summary}` : 'exit status 3 (failures)') };
    return { verdict: 'FAIL', status: s, reason: `exit status ${s}${counts.firstFailure ? `: ${counts.firstFailure}` : ''}` };
  }
  const what = stop.kind === 'triple-fault' ? 'triple fault' : stop.kind === 'budget' ? 'instruction budget exhausted' : stop.kind;
  return { verdict: 'FAIL', status: null, reason: `${what}: ${stop.message}` };
}

export interface KtestCase {
  /** Test name: the unittests.cfg section, or the kernel's file name without extension. */
  readonly name: string;
  readonly kernel: string;
  readonly cmdline: string;
  /** false when the test's QEMU CPU model removes x2APIC (`-cpu ...,-x2apic`): the machine then offers xAPIC only. */
  readonly x2apic?: boolean;
}

export interface KtestResult extends KtestCase {
  readonly verdict: KtestVerdict;
  /** The debug-exit status, or null when the run ended otherwise. */
  readonly status: number | null;
  readonly stop: string;
  readonly reason: string;
  readonly counts: KtestCounts;
  readonly instructions: number;
  readonly seconds: number;
  readonly trace?: string;
}

// ---- unittests.cfg ----

export interface CfgSection { readonly name: string; readonly fields: ReadonlyMap<string, string> }

/**
 * kvm-unit-tests' unittests.cfg: `[name]` sections of `key = value` lines;
 * `#` starts a comment line; a value may continue on following lines while
 * its quotes are open (extra_params = -append '...').
 */
export function parseUnittestsCfg(text: string): CfgSection[] {
  const out: CfgSection[] = [];
  let cur: { name: string; fields: Map<string, string> } | null = null;
  let pendingKey: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (pendingKey && cur) {
      const v = `${cur.fields.get(pendingKey)}\n${line}`;
      cur.fields.set(pendingKey, v);
      if (quotesBalanced(v)) pendingKey = null;
      continue;
    }
    if (/^\s*(#|$)/.test(line)) continue;
    const sec = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (sec) { cur = { name: sec[1]!.trim(), fields: new Map() }; out.push(cur); continue; }
    const kv = /^\s*([A-Za-z_][\w-]*)\s*=\s*(.*)$/.exec(line);
    if (kv && cur) {
      cur.fields.set(kv[1]!, kv[2]!.trim());
      if (!quotesBalanced(kv[2]!)) pendingKey = kv[1]!;
    }
  }
  return out;
}

function quotesBalanced(s: string): boolean {
  let q: string | null = null;
  for (const ch of s) {
    if (q) { if (ch === q) q = null; } else if (ch === '"' || ch === "'") q = ch;
  }
  return q === null;
}

function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && (t[0] === '"' || t[0] === "'") && t[t.length - 1] === t[0]) return t.slice(1, -1);
  return t;
}

/** A section's kernel command line: test_args, else the argument of -append in extra_params, else ''. */
export function cfgCmdline(s: CfgSection): string {
  const ta = s.fields.get('test_args');
  if (ta !== undefined) return unquote(ta);
  const ep = s.fields.get('extra_params');
  if (ep) {
    const m = /-append\s+('([^']*)'|"([^"]*)"|(\S+))/.exec(ep);
    if (m) return m[2] ?? m[3] ?? m[4] ?? '';
  }
  return '';
}

/**
 * Whether a section's QEMU CPU model takes x2APIC away (`qemu_params = -cpu qemu64,-x2apic,...`): the
 * one CPU-model knob ktest honours, so that the `xapic` and `x2apic` entries of apic.flat test
 * different local APIC modes, as kvm-unit-tests intends. Other CPU flags are ignored (this machine
 * has one CPU model).
 */
export function cfgNoX2apic(s: CfgSection): boolean {
  const q = `${s.fields.get('qemu_params') ?? ''} ${s.fields.get('extra_params') ?? ''}`;
  const m = /-cpu\s+(\S+)/.exec(q);
  return m !== null && m[1]!.split(',').includes('-x2apic');
}

/** The tests to run for the given paths (files or directories). */
export function collectCases(paths: readonly string[], useCfg = true, defaultCmdline = ''): KtestCase[] {
  const kernels: string[] = [];
  for (const p of paths) {
    let st;
    try { st = statSync(p); } catch { throw new CliError(`kernel or directory not found: ${p}`); }
    if (st.isDirectory()) {
      const found = readdirSync(p).filter((f) => /\.(flat|elf)$/.test(f)).sort().map((f) => join(p, f)).filter((f) => statSync(f).isFile());
      if (found.length === 0) throw new CliError(`no test kernels (*.flat, *.elf) in ${p}`);
      kernels.push(...found);
    } else if (st.isFile()) kernels.push(p);
    else throw new CliError(`not a file or directory: ${p}`);
  }
  const cfgs = new Map<string, CfgSection[] | null>();
  const cfgFor = (dir: string): CfgSection[] | null => {
    if (!cfgs.has(dir)) {
      const f = join(dir, 'unittests.cfg');
      cfgs.set(dir, useCfg && existsSync(f) ? parseUnittestsCfg(readFileSync(f, 'utf8')) : null);
    }
    return cfgs.get(dir) ?? null;
  };
  const cases: KtestCase[] = [];
  for (const k of kernels) {
    const file = basename(k);
    const stem = file.replace(/\.(flat|elf)$/, '');
    const sections = (cfgFor(dirname(k)) ?? []).filter((s) => s.fields.get('file') === file);
    if (sections.length === 0) cases.push({ name: stem, kernel: k, cmdline: defaultCmdline });
    else for (const s of sections) cases.push({ name: s.name, kernel: k, cmdline: cfgCmdline(s), ...(cfgNoX2apic(s) ? { x2apic: false } : {}) });
  }
  return cases;
}

// ---- running ----

export interface KtestOptions {
  readonly memMiB: number;
  readonly maxInstructions: number;
  readonly modulePath?: string;
  readonly recordDir?: string;
  /** Receives the serial output of each kernel as it runs. */
  readonly echo?: (b: number) => void;
}

/** Runs one test kernel to its verdict; a kernel that cannot be loaded is a failure with the loader's message. */
export function runKtest(c: KtestCase, o: KtestOptions): KtestResult {
  const bytes: number[] = [];
  const serial = (b: number): void => { bytes.push(b); o.echo?.(b); };
  const spec: GuestSpec = {
    kernelPath: c.kernel, memMiB: o.memMiB, maxInstructions: o.maxInstructions, cmdline: c.cmdline,
    ...(o.modulePath ? { initrdPath: o.modulePath } : {}),
    ...(c.x2apic === false ? { x2apic: false } : {}),
  };
  const trace = o.recordDir ? join(o.recordDir, `${c.name.replace(/[^\w.+-]/g, '_')}.hvt`) : undefined;
  let run: RunResult, seconds: number;
  let machine: Machine | undefined;
  const t0 = process.hrtime.bigint();
  try {
    if (trace) {
      const r = recordTrace(spec, trace, DEFAULT_DIGEST_EVERY, serial);
      run = r.run; seconds = r.seconds;
    } else {
      machine = buildMachine(spec, serial);
      const t1 = process.hrtime.bigint();
      run = machine.run();
      seconds = Number(process.hrtime.bigint() - t1) / 1e9;
    }
  } catch (e) {
    // A kernel that cannot be loaded fails with the loader's message; a machine bug (an internal
    // error) fails this kernel only, with what it printed so far, and the next one runs.
    const counts = parseKtestOutput(Buffer.from(bytes).toString('latin1'));
    if (e instanceof CliError) return { ...c, verdict: 'FAIL', status: null, stop: 'load-error', reason: e.message, counts, instructions: 0, seconds: 0 };
    const msg = e instanceof Error ? e.message : String(e);
    const icount = machine?.cpu.icount ?? 0;
    return {
      ...c, verdict: 'FAIL', status: null, stop: 'internal-error', counts, instructions: icount, seconds: Number(process.hrtime.bigint() - t0) / 1e9,
      reason: `internal error${machine ? ` after ${icount} instructions` : ''}: ${msg}`,
    };
  }
  const counts = parseKtestOutput(Buffer.from(bytes).toString('latin1'));
  const v = ktestVerdict(run.stop, counts);
  return { ...c, verdict: v.verdict, status: v.status, stop: run.stop.kind, reason: v.reason, counts, instructions: run.instructions, seconds, ...(trace ? { trace } : {}) };
}

// ---- output ----

const COLS = ['TEST', 'RESULT', 'PASS', 'FAIL', 'SKIP', 'INSTRUCTIONS', 'TIME'] as const;

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
}

function cellsOf(r: KtestResult): string[] {
  return [r.name, r.verdict, String(r.counts.pass), String(r.counts.fail + r.counts.xpass), String(r.counts.skip), String(r.instructions), `${r.seconds.toFixed(2)} s`];
}

export interface KtestTotals { tests: number; passed: number; failed: number; skipped: number; pass: number; fail: number; skip: number; instructions: number; seconds: number }

export function totals(rs: readonly KtestResult[]): KtestTotals {
  const t: KtestTotals = { tests: rs.length, passed: 0, failed: 0, skipped: 0, pass: 0, fail: 0, skip: 0, instructions: 0, seconds: 0 };
  for (const r of rs) {
    if (r.verdict === 'PASS') t.passed++; else if (r.verdict === 'SKIP') t.skipped++; else t.failed++;
    t.pass += r.counts.pass; t.fail += r.counts.fail + r.counts.xpass; t.skip += r.counts.skip;
    t.instructions += r.instructions; t.seconds += r.seconds;
  }
  return t;
}

/** The table: a header, one row per test (with the reason under a failure), and a totals row. */
export function formatTable(rs: readonly KtestResult[]): string {
  const t = totals(rs);
  const totalCells = [`total (${t.tests})`, `${t.passed} ok`, String(t.pass), String(t.fail), String(t.skip), String(t.instructions), `${t.seconds.toFixed(2)} s`];
  const all = [COLS as readonly string[], ...rs.map(cellsOf), totalCells];
  const widths = COLS.map((_, i) => Math.max(...all.map((c) => c[i]!.length)));
  const lines = [row(COLS, widths)];
  for (const r of rs) {
    lines.push(row(cellsOf(r), widths));
    if (r.verdict === 'FAIL') lines.push(`    ${r.reason}`);
  }
  lines.push(row(totalCells, widths));
  lines.push(`${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`);
  return lines.join('\n') + '\n';
}

export function ktestCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      mem: { type: 'string' }, 'max-instructions': { type: 'string' }, module: { type: 'string' }, append: { type: 'string' },
      'no-cfg': { type: 'boolean' }, record: { type: 'string' }, json: { type: 'boolean' }, verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(KTEST_USAGE + '\n'); return 0; }
  if (positionals.length === 0) throw new CliError('ktest needs test kernels or a directory of them (hvtrace ktest x86/*.flat)');
  const cases = collectCases(positionals, !values['no-cfg'], values.append ?? '');
  if (values.module !== undefined && !existsSync(values.module)) throw new CliError(`module not found: ${values.module}`);
  if (values.record) {
    try { mkdirSync(values.record, { recursive: true }); } catch (e) { throw new CliError(`cannot create ${values.record}: ${(e as Error).message}`); }
  }
  const opts: KtestOptions = {
    memMiB: intOption('mem', values.mem, 128),
    maxInstructions: intOption('max-instructions', values['max-instructions'], KTEST_DEFAULT_MAX_INSTRUCTIONS),
    ...(values.module ? { modulePath: values.module } : {}),
    ...(values.record ? { recordDir: values.record } : {}),
    ...(values.verbose ? { echo: (b: number) => { line.push(b); if (b === 10 || line.length >= 4096) { process.stderr.write(Buffer.from(line)); line = []; } } } : {}),
  };
  let line: number[] = [];
  const results: KtestResult[] = [];
  for (const c of cases) {
    process.stderr.write(`hvtrace: ktest ${c.name}${c.cmdline ? ` (${c.cmdline})` : ''} ...\n`);
    results.push(runKtest(c, opts));
    if (line.length) { process.stderr.write(Buffer.from(line) + '\n'); line = []; }
  }
  if (values.json) {
    process.stdout.write(JSON.stringify({
      results: results.map((r) => ({
        name: r.name, kernel: r.kernel, cmdline: r.cmdline, result: r.verdict, status: r.status, stop: r.stop, reason: r.reason,
        pass: r.counts.pass, fail: r.counts.fail, skip: r.counts.skip, xfail: r.counts.xfail, xpass: r.counts.xpass, kfail: r.counts.kfail,
        summary: r.counts.summary, firstFailure: r.counts.firstFailure, instructions: r.instructions, seconds: r.seconds, ...(r.trace ? { trace: r.trace } : {}),
      })),
      totals: totals(results),
    }, null, 2) + '\n');
  } else process.stdout.write(formatTable(results));
  return results.some((r) => r.verdict === 'FAIL') ? 1 : 0;
}
