/**
 * kvm-unit-tests on hvtrace and on QEMU's TCG, side by side, on this
 * machine: for each named test of a kvm-unit-tests x86 build (built by the
 * user outside this repository, per its README), the verdict, PASS/FAIL/SKIP
 * counts and wall time of `hvtrace ktest` and of qemu-system-x86_64 -accel
 * tcg run the way kvm-unit-tests' x86/run does (pc-testdev, isa-debug-exit
 * on 0xf4, serial on stdio, the test's qemu_params / extra_params from
 * unittests.cfg, one CPU). QEMU is a comparison only, never a dependency.
 *
 *   npm run bench:kut -- --dir /path/to/kvm-unit-tests [--tests a,b,...] [--qemu BIN] [--timeout S]
 *
 * Progress on stderr, the table on stdout. Nothing is asserted.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { collectCases, parseKtestOutput, parseUnittestsCfg, runKtest, type CfgSection, type KtestResult } from '../cli/ktest.js';

const DEFAULT_TESTS = ['emulator', 'eventinj', 'xsave', 'umip', 'memory', 'syscall', 'tsc', 'rmap_chain', 'ioapic', 'xapic', 'sieve'];

const { values } = parseArgs({ options: { dir: { type: 'string' }, tests: { type: 'string' }, qemu: { type: 'string' }, timeout: { type: 'string' } } });
const log = (s: string): void => { process.stderr.write(`[bench:kut] ${s}\n`); };
if (!values.dir) { log('usage: npm run bench:kut -- --dir /path/to/kvm-unit-tests [--tests a,b] [--qemu BIN] [--timeout S]'); process.exit(2); }
const x86 = join(values.dir, 'x86');
const cfgPath = join(x86, 'unittests.cfg');
if (!existsSync(cfgPath)) { log(`${cfgPath} not found: --dir must be a kvm-unit-tests tree built for x86_64`); process.exit(2); }
const qemu = values.qemu ?? 'qemu-system-x86_64';
const timeoutS = Number(values.timeout ?? 300);
const haveQemu = spawnSync(qemu, ['--version'], { encoding: 'utf8' }).status === 0;
if (!haveQemu) log(`${qemu} not found: QEMU columns left empty (install Debian's qemu-system-x86 to compare)`);

const sections = new Map<string, CfgSection>(parseUnittestsCfg(readFileSync(cfgPath, 'utf8')).map((s) => [s.name, s]));
const names = values.tests ? values.tests.split(',') : DEFAULT_TESTS;

/** Shell-like split of a qemu_params / extra_params value (single and double quotes). */
function words(s: string): string[] {
  const out: string[] = [];
  for (const m of s.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

interface QemuRun { verdict: string; pass: number; fail: number; skip: number; seconds: number }
function runQemu(s: CfgSection): QemuRun {
  const file = join(x86, s.fields.get('file')!);
  const args = ['-nodefaults', '-device', 'pc-testdev', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-vnc', 'none',
    '-serial', 'stdio', '-device', 'pci-testdev', '-machine', 'accel=tcg', '-kernel', file, '-smp', '1',
    ...words(s.fields.get('qemu_params') ?? ''), ...words(s.fields.get('extra_params') ?? '')];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(qemu, args, { encoding: 'latin1', timeout: timeoutS * 1000, maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = parseKtestOutput(r.stdout ?? '');
  // isa-debug-exit: QEMU exits with (code << 1) | 1; kvm-unit-tests' exit code 0 is a pass.
  const verdict = r.error ? 'TIMEOUT' : r.status === 1 ? (c.pass + c.fail === 0 && c.skip > 0 ? 'SKIP' : 'PASS') : 'FAIL';
  return { verdict, pass: c.pass, fail: c.fail, skip: c.skip, seconds };
}

const rows: string[][] = [['TEST', 'HVTRACE', 'P/F/S', 'INSTRUCTIONS', 'TIME', 'QEMU TCG', 'P/F/S', 'TIME']];
for (const name of names) {
  const s = sections.get(name);
  if (!s) { log(`${name}: no such section in unittests.cfg, skipped`); continue; }
  const kernel = join(x86, s.fields.get('file')!);
  const c = collectCases([kernel]).find((k) => k.name === name);
  if (!c) { log(`${name}: ${kernel} not built, skipped`); continue; }
  log(`${name}: hvtrace ...`);
  const ours: KtestResult = runKtest(c, { memMiB: 128, maxInstructions: 2e10 });
  log(`${name}: ${ours.verdict} in ${ours.seconds.toFixed(2)} s; QEMU ...`);
  const q = haveQemu ? runQemu(s) : undefined;
  rows.push([name, ours.verdict, `${ours.counts.pass}/${ours.counts.fail}/${ours.counts.skip}`, String(ours.instructions), `${ours.seconds.toFixed(2)} s`,
    q?.verdict ?? '-', q ? `${q.pass}/${q.fail}/${q.skip}` : '-', q ? `${q.seconds.toFixed(2)} s` : '-']);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
