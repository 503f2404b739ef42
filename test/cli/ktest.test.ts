// `hvtrace ktest` (cli/ktest.ts): report-line parsing and verdicts from
// kvm-unit-tests' conventions (lib/report.c output, debug-exit status
// (code << 1) | 1: 1 pass, 3 failures, 77 skipped; platform notes), the
// unittests.cfg reader, and the command run as a real process on our own
// multiboot guests: guests/kut-pass.elf (PASS: x, SUMMARY: 1 tests, exit
// code 0 -> status 1) and guests/kut-fail.elf (PASS: a, FAIL: b, SUMMARY: 2
// tests, 1 unexpected failures, exit code 1 -> status 3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseKtestOutput, ktestVerdict, parseUnittestsCfg, cfgCmdline, cfgNoX2apic, collectCases, KTEST_DEFAULT_MAX_INSTRUCTIONS, KTEST_USAGE } from '../../cli/ktest.js';
import { replayTrace } from '../../cli/session.js';
import { repoPath, REPO } from '../helpers/repo.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(dirname(dirname(HERE)), 'cli', 'main.js');
const TMP = mkdtempSync(join(tmpdir(), 'hvtrace-ktest-'));

function hvtrace(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, cwd: REPO });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('parseKtestOutput: counts each report kind, keeps the SUMMARY and the first failure', () => {
  const c = parseKtestOutput([
    'enabling apic',
    'PASS: emulator: mov',
    'FAIL: emulator: cmps',
    'SKIP: no forced emulation',
    'XFAIL: known',
    'XPASS: surprising',
    'KFAIL: known bug',
    'FAIL: second',
    'not PASS: at the start',
    'SUMMARY: 7 tests, 2 unexpected failures, 1 known failures, 1 expected failures, 1 skipped',
  ].join('\r\n'));
  assert.equal([c.pass, c.fail, c.skip, c.xfail, c.xpass, c.kfail], [1, 2, 1, 1, 1, 1]);
  assert.is(c.summary, '7 tests, 2 unexpected failures, 1 known failures, 1 expected failures, 1 skipped');
  assert.is(c.firstFailure, 'FAIL: emulator: cmps');
  assert.is(parseKtestOutput('hello\n').summary, null);
});

test('ktestVerdict: status 1 pass, 77 skip, 3 and anything else fail; triple fault and budget fail', () => {
  const none = parseKtestOutput('');
  const ex = (code: number) => ({ kind: 'exit-code' as const, code, message: '' });
  assert.is(ktestVerdict(ex(1), none).verdict, 'PASS');
  assert.is(ktestVerdict(ex(77), none).verdict, 'SKIP');
  assert.is(ktestVerdict(ex(3), parseKtestOutput('FAIL: x\n')).reason, 'FAIL: x');
  assert.is(ktestVerdict(ex(129), none).reason, 'exit status 129');
  const tf = ktestVerdict({ kind: 'triple-fault', message: 'guest triple fault' }, none);
  assert.equal([tf.verdict, tf.status], ['FAIL', null]);
  assert.match(tf.reason, /^triple fault: /);
  assert.match(ktestVerdict({ kind: 'budget', message: 'budget' }, none).reason, /^instruction budget exhausted/);
});

test('unittests.cfg: sections, test_args, -append in extra_params, multi-line quoted values, comments', () => {
  const s = parseUnittestsCfg([
    '# comment',
    '[vmexit_cpuid]',
    'file = vmexit.flat',
    "test_args = 'cpuid'",
    'groups = vmexit',
    '',
    '[emulator]',
    'file = emulator.flat',
    '',
    '[x]',
    'file = x.flat',
    "extra_params = -cpu max -append 'a b',",
    "[y]",
    'file = y.flat',
    "test_args = \"one",
    "two\"",
  ].join('\n'));
  assert.equal(s.map((x) => x.name), ['vmexit_cpuid', 'emulator', 'x', 'y']);
  assert.equal(s.map(cfgCmdline), ['cpuid', '', 'a b', 'one\ntwo']);
});

test('collectCases: a directory gives its *.flat and *.elf in name order; cfg sections become tests', () => {
  const d = mkdtempSync(join(TMP, 'cases-'));
  for (const f of ['b.flat', 'a.elf', 'notes.txt']) writeFileSync(join(d, f), 'x');
  assert.equal(collectCases([d]).map((c) => [c.name, c.cmdline]), [['a', ''], ['b', '']]);
  writeFileSync(join(d, 'unittests.cfg'), "[b_one]\nfile = b.flat\ntest_args = one\n[b_two]\nfile = b.flat\ntest_args = 'two'\n");
  assert.equal(collectCases([d]).map((c) => [c.name, c.cmdline]), [['a', ''], ['b_one', 'one'], ['b_two', 'two']]);
  assert.equal(collectCases([d], false).map((c) => c.name), ['a', 'b']);
  assert.throws(() => collectCases([join(d, 'missing.flat')]), /kernel or directory not found/);
});

test('hvtrace ktest: a passing and a failing kernel: table rows, failure reason, totals, exit status 1', () => {
  const r = hvtrace('ktest', repoPath('guests', 'kut-pass.elf'), repoPath('guests', 'kut-fail.elf'), '--mem', '16');
  assert.is(r.status, 1, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^TEST\s+RESULT\s+PASS\s+FAIL\s+SKIP\s+INSTRUCTIONS\s+TIME$/);
  assert.match(lines[1]!, /^kut-pass\s+PASS\s+1\s+0\s+0\s+\d+\s+\d+\.\d\d s$/);
  assert.match(lines[2]!, /^kut-fail\s+FAIL\s+1\s+1\s+0\s+\d+\s+\d+\.\d\d s$/);
  assert.is(lines[3], '    FAIL: b');
  assert.match(lines[4]!, /^total \(2\)\s+1 ok\s+2\s+1\s+0\s+\d+/);
  assert.is(lines[5], '1 passed, 1 failed, 0 skipped');
});

test('hvtrace ktest: only passing kernels exit 0; --json gives the numbers', () => {
  const r = hvtrace('ktest', repoPath('guests', 'kut-pass.elf'), repoPath('guests', 'kut-devices.elf'), '--mem', '16', '--json');
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { results: Record<string, unknown>[]; totals: Record<string, number> };
  assert.equal(j.results.map((x) => [x.name, x.result, x.status, x.pass, x.fail, x.summary]), [
    ['kut-pass', 'PASS', 1, 1, 0, '1 tests'],
    ['kut-devices', 'PASS', 1, 11, 0, '11 tests'],
  ]);
  assert.ok((j.results[0]!.instructions as number) > 0);
  assert.is(j.totals.passed, 2);
  assert.is(j.totals.pass, 12);
});

test('hvtrace ktest: unittests.cfg arguments reach the kernel; a load failure is a failed row; --record writes replayable traces', () => {
  const d = mkdtempSync(join(TMP, 'cfg-'));
  copyFileSync(repoPath('guests', 'multiboot.elf'), join(d, 'mb.flat'));
  copyFileSync(repoPath('guests', 'kut-pass.elf'), join(d, 'pass.flat'));
  writeFileSync(join(d, 'junk.elf'), 'not a kernel');
  writeFileSync(join(d, 'unittests.cfg'), "[mb_args]\nfile = mb.flat\ntest_args = 'alpha beta'\n");
  const rec = join(TMP, 'traces');
  const r = hvtrace('ktest', d, '--mem', '16', '--record', rec, '--verbose');
  assert.is(r.status, 1);
  assert.match(r.stderr, /cmdline \[alpha beta\]/);
  const lines = r.stdout.split('\n');
  const junk = lines.findIndex((l) => l.startsWith('junk '));
  assert.match(lines[junk]!, /FAIL/);
  assert.match(lines[junk + 1]!, /junk\.elf is not an ELF file/);
  const mb = lines.findIndex((l) => l.startsWith('mb_args '));
  assert.match(lines[mb + 1]!, /exit status 85/); // guests/multiboot.S exits with code 0x2a
  assert.equal(readdirSync(rec).sort(), ['mb_args.hvt', 'pass.hvt']);
  for (const f of ['mb_args.hvt', 'pass.hvt']) {
    const rp = replayTrace(join(rec, f));
    assert.is(rp.kind, 'ok', `${f}: ${rp.kind}`);
  }
});

test('default budget: above the 8,074,182,304 instructions kvm-unit-tests sieve retires to its PASS, and the usage says so', () => {
  assert.ok(KTEST_DEFAULT_MAX_INSTRUCTIONS > 8_074_182_304);
  assert.ok(Number.isSafeInteger(KTEST_DEFAULT_MAX_INSTRUCTIONS));
  assert.match(KTEST_USAGE, `(default ${KTEST_DEFAULT_MAX_INSTRUCTIONS.toExponential().replace('+', '')})`);
});

test('hvtrace ktest: usage errors exit 2', () => {
  assert.is(hvtrace('ktest').status, 2);
  assert.is(hvtrace('ktest', join(TMP, 'nope')).status, 2);
});

test('unittests.cfg: -cpu ...,-x2apic in qemu_params gives a case without x2APIC; +x2apic or no -cpu keeps it', () => {
  const secs = parseUnittestsCfg(['[xapic]', 'file = apic.flat', 'qemu_params = -cpu qemu64,-x2apic,+tsc-deadline', '',
    '[x2apic]', 'file = apic.flat', 'qemu_params = -cpu qemu64,+x2apic,+tsc-deadline', '', '[plain]', 'file = apic.flat', ''].join('\n'));
  assert.equal(secs.map(cfgNoX2apic), [true, false, false]);
});

test.run();
