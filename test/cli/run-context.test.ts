// `hvtrace run` errors about the platform's inputs (the disk) and the context
// printed for a guest that did not end cleanly: its last serial lines.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoPath } from '../helpers/repo.js';

const CLI = join(dirname(dirname(dirname(fileURLToPath(import.meta.url)))), 'cli', 'main.js');
const TMP = mkdtempSync(join(tmpdir(), 'hvtrace-ctx-'));
const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [CLI, 'run', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const noStack = (s: string): boolean => !/\n\s+at /.test(s);

test('a missing disk image is one line naming it, status 2', () => {
  const disk = join(TMP, 'nope.img');
  const r = run(repoPath('guests', 'hello.elf'), '--mem', '16', '--disk', disk);
  assert.is(r.status, 2);
  const lines = r.stderr.trim().split('\n');
  assert.is(lines.length, 1, r.stderr);
  assert.ok(lines[0]!.startsWith('hvtrace: error:') && lines[0]!.includes(disk), r.stderr);
  assert.ok(noStack(r.stderr));
});

test('a disk image smaller than one sector is one line naming it, status 2', () => {
  const disk = join(TMP, 'tiny.img');
  writeFileSync(disk, new Uint8Array(100));
  const r = run(repoPath('guests', 'hello.elf'), '--mem', '16', '--disk', disk);
  assert.is(r.status, 2);
  const lines = r.stderr.trim().split('\n');
  assert.is(lines.length, 1, r.stderr);
  assert.ok(lines[0]!.includes(disk), r.stderr);
});

test('--persist without --disk is refused', () => {
  const r = run(repoPath('guests', 'hello.elf'), '--persist');
  assert.is(r.status, 2);
  assert.match(r.stderr, /--persist needs --disk/);
});

test('a run that ends badly after output shows the last serial lines under the stop reason', () => {
  // longmode.elf prints "Long mode OK\n" then halts at instruction 3247; a budget of 3240
  // stops it after the last OUT but before the HLT.
  const r = run(repoPath('guests', 'longmode.elf'), '--mem', '16', '--max-instructions', '3240');
  assert.is(r.status, 1);
  assert.is(r.stdout, 'Long mode OK\n');
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[0]!, /^hvtrace: instruction budget exhausted after 3240 instructions/);
  assert.is(lines[1], 'hvtrace: last serial output:');
  assert.is(lines[2], '  | Long mode OK');
  assert.ok(noStack(r.stderr));
});

test('a clean halt prints no serial context', () => {
  const r = run(repoPath('guests', 'hello.elf'), '--mem', '16');
  assert.is(r.status, 0);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test.after(() => rmSync(TMP, { recursive: true, force: true }));
test.run();
