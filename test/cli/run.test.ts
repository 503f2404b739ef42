// `hvtrace run` with bad input, spawned as a real process from the compiled
// output (the CLI that sits in the same dist root as this compiled test;
// `npm test` builds it first, this test builds nothing). Every failure must
// be exactly one stderr line starting with "hvtrace:", naming the cause (for
// a guest: the RIP and, where there is one, the instruction bytes), with no
// stack trace, and a non-zero exit status.
//
// Guest ELF files are written by hand here: an ELF64 header (System V gABI
// "ELF Header"), one PT_LOAD with the code at physical 100000h and, unless
// left out, one PT_NOTE holding the Xen PVH note (owner "Xen", type
// XEN_ELFNOTE_PHYS32_ENTRY = 18, a 4-byte entry address; guests/pvh-note.inc).
// The PVH entry state is 32-bit protected mode, paging off, flat segments.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { elf } from '../helpers/pvh-elf.js';
import { REPO } from '../helpers/repo.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // <dist root>/test/cli
const DIST_ROOT = dirname(dirname(HERE));
const CLI = join(DIST_ROOT, 'cli', 'main.js');
const ROOT = REPO;
const TMP = mkdtempSync(join(tmpdir(), 'hvtrace-cli-'));


function file(name: string, data: Uint8Array | string): string {
  const p = join(TMP, name);
  writeFileSync(p, data);
  return p;
}

interface Ran { status: number | null; stdout: string; stderr: string }
function hvtrace(...args: string[]): Ran {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, cwd: ROOT, env: { ...process.env, HVTRACE_DEBUG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One stderr line, "hvtrace: ...", no stack trace, non-zero status; returns the line. */
function oneLineFailure(r: Ran, what: string): string {
  assert.ok(r.status !== null && r.status !== 0, `${what}: exit status ${r.status} should be non-zero`);
  const lines = r.stderr.split('\n');
  assert.is(lines[lines.length - 1], '', `${what}: stderr ends with a newline: ${JSON.stringify(r.stderr)}`);
  assert.is(lines.length, 2, `${what}: exactly one stderr line, got ${JSON.stringify(r.stderr)}`);
  const line = lines[0]!;
  assert.ok(line.startsWith('hvtrace:'), `${what}: starts with "hvtrace:": ${line}`);
  assert.not.ok(/\n\s+at /.test(r.stderr) || /^\s+at /m.test(r.stderr), `${what}: no stack trace`);
  assert.not.ok(/internal error/.test(line), `${what}: an expected failure, not an internal error: ${line}`);
  return line;
}

test('the CLI under test exists in the same dist root as this test', () => {
  assert.ok(existsSync(CLI), CLI);
});

test('a missing guest file: names the path, status 2', () => {
  const p = join(TMP, 'no-such-guest.elf');
  const r = hvtrace('run', p);
  const line = oneLineFailure(r, 'missing file');
  assert.ok(line.includes(p), line);
  assert.match(line, /not found/);
  assert.is(r.status, 2);
});

test('a file that is not ELF: "not an ELF file", status 2', () => {
  const p = file('notes.txt', 'this is not an ELF image\n');
  const r = hvtrace('run', p);
  const line = oneLineFailure(r, 'not ELF');
  assert.match(line, /not an ELF file/);
  assert.ok(line.includes('notes.txt'), line);
  assert.is(r.status, 2);
});

test('an ELF without the PVH note: says the Xen PVH entry note is missing, status 2', () => {
  const p = file('nonote.elf', elf([0xf4], false));
  const r = hvtrace('run', p);
  const line = oneLineFailure(r, 'no PVH note');
  assert.match(line, /PVH entry note/);
  assert.ok(line.includes('nonote.elf'), line);
  assert.is(r.status, 2);
});

test('the hand-made ELF itself is good: a HLT-only guest halts cleanly (status 0)', () => {
  // Guards the other guest cases: their failure is the guest's, not the image's.
  const r = hvtrace('run', file('hlt.elf', elf([0xfa, 0xf4])));
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /^hvtrace: guest halted/);
});

test('an unknown option: names it, status 2', () => {
  const r = hvtrace('run', join(ROOT, 'guests', 'hello.elf'), '--bogus-option');
  const line = oneLineFailure(r, 'unknown option');
  assert.match(line, /--bogus-option/);
  assert.is(r.status, 2);
});

test('an unknown command: names it, status 2', () => {
  const r = hvtrace('frobnicate', 'x');
  const line = oneLineFailure(r, 'unknown command');
  assert.match(line, /frobnicate/);
  assert.is(r.status, 2);
});

test('--mem 3 (odd): names --mem and the value, status 2', () => {
  const r = hvtrace('run', join(ROOT, 'guests', 'hello.elf'), '--mem', '3');
  const line = oneLineFailure(r, '--mem 3');
  assert.match(line, /--mem/);
  assert.match(line, /\b3\b/);
  assert.is(r.status, 2);
});

test('a guest that reads unmapped guest-physical C0000000h: address, RIP and instruction bytes', () => {
  // A1 00 00 00 C0 = mov eax, [C0000000h]; F4 = hlt.
  const r = hvtrace('run', file('read-unmapped.elf', elf([0xa1, 0x00, 0x00, 0x00, 0xc0, 0xf4])));
  const line = oneLineFailure(r, 'unmapped read');
  assert.match(line, /0xc0000000/);
  assert.match(line, /RIP 0x100000\b/);
  assert.match(line, /a1 00 00 00 c0/);
  assert.match(line, /read/);
});

test('a guest that jumps to unmapped C0000000h: an instruction fetch at RIP 0xc0000000', () => {
  // B8 00 00 00 C0 = mov eax, C0000000h; FF E0 = jmp eax.
  const r = hvtrace('run', file('jump-unmapped.elf', elf([0xb8, 0x00, 0x00, 0x00, 0xc0, 0xff, 0xe0])));
  const line = oneLineFailure(r, 'unmapped fetch');
  assert.match(line, /fetch/);
  assert.match(line, /RIP 0xc0000000\b/);
});

test('a guest with an unimplemented instruction (x87 FADD ST, ST(1) = D8 C1): RIP and bytes', () => {
  // 90 = nop, then D8 C1 at 100001h.
  const r = hvtrace('run', file('x87.elf', elf([0x90, 0xd8, 0xc1, 0xf4])));
  const line = oneLineFailure(r, 'unimplemented');
  assert.match(line, /unimplemented/);
  assert.match(line, /RIP 0x100001\b/);
  assert.match(line, /d8 c1/);
});

test('a triple-faulting guest (IDT limit 0, UD2): "triple fault", RIP and bytes of UD2', () => {
  // 0F 01 1D disp32 = lidt [100010h] (7 bytes); 0F 0B = ud2 at 100007h; the
  // IDT descriptor at 100010h is limit 0, base 0. #UD -> #GP -> #DF -> shutdown.
  const code = [0x0f, 0x01, 0x1d, 0x10, 0x00, 0x10, 0x00, 0x0f, 0x0b];
  while (code.length < 0x10) code.push(0x90);
  code.push(0, 0, 0, 0, 0, 0);
  const r = hvtrace('run', file('triple.elf', elf(code)));
  const line = oneLineFailure(r, 'triple fault');
  assert.match(line, /triple fault/);
  assert.match(line, /RIP 0x100007\b/);
  assert.match(line, /0f 0b/);
});

test('an exhausted budget (--max-instructions 10 on longmode.elf): says so, status non-zero', () => {
  const r = hvtrace('run', join(ROOT, 'guests', 'longmode.elf'), '--max-instructions', '10');
  const line = oneLineFailure(r, 'budget');
  assert.match(line, /budget/);
  assert.match(line, /\b10 instructions\b/);
  assert.match(line, /RIP 0x[0-9a-f]+/);
});

test.after(() => rmSync(TMP, { recursive: true, force: true }));

test.run();
