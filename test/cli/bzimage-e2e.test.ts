import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { repoPath } from '../helpers/repo.js';

// End to end through the command line: `hvtrace record` of a bzImage-format
// kernel, then `hvtrace replay` of the trace, which must be bit-exact.
// Two kernels: Debian's cloud vmlinuz (a real bzImage, LZ4 payload) when
// guests/debian-cloud/fetch.sh has fetched it, and always a bzImage made
// here around the tinyconfig vmlinux (gzip payload; the tinyconfig build
// compresses with xz, which hvtrace does not decode, so its own bzImage
// would not do). A budget keeps both fast.

const CLI = repoPath('dist', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'hvtrace-bzimage-'));
const BUDGET = '20000000';

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A bzImage per Documentation/x86/boot.rst: one setup sector after the boot
 * sector (setup_sects 0x1f1 = 1), boot_flag 0xAA55 at 0x1fe, "HdrS" at
 * 0x202, protocol 2.15 at 0x206, payload_offset/payload_length at
 * 0x248/0x24c relative to the protected-mode code at (1 + 1) * 512; the
 * payload is gzip followed by the 4-byte decompressed size, as the kernel
 * build appends it.
 */
function makeBzImage(vmlinux: Uint8Array): Uint8Array {
  const gz = gzipSync(vmlinux, { level: 1 });
  const payload = new Uint8Array(gz.length + 4);
  payload.set(gz);
  new DataView(payload.buffer).setUint32(gz.length, vmlinux.length, true);
  const pmOffset = 2 * 512, payloadOffset = 0x100;
  const out = new Uint8Array(pmOffset + payloadOffset + payload.length);
  const dv = new DataView(out.buffer);
  out[0x1f1] = 1;
  dv.setUint16(0x1fe, 0xaa55, true);
  dv.setUint32(0x202, 0x53726448, true); // "HdrS"
  dv.setUint16(0x206, 0x020f, true);
  dv.setUint32(0x248, payloadOffset, true);
  dv.setUint32(0x24c, payload.length, true);
  out.set(payload, pmOffset + payloadOffset);
  return out;
}

function recordReplay(kernel: string, extra: string[]): void {
  const trace = join(tmp, `${Math.random().toString(36).slice(2)}.hvt`);
  const rec = cli(['record', '--kernel', kernel, '--append', 'console=ttyS0', '--max-instructions', BUDGET, ...extra, '-o', trace, '--quiet']);
  assert.ok(/instruction budget exhausted after 20000000 instructions/.test(rec.stderr), `record: ${rec.stderr}`);
  assert.ok(readFileSync(trace).length > 100);
  const rep = cli(['replay', trace]);
  assert.is(rep.status, 0, `replay: ${rep.stdout}\n${rep.stderr}`);
  assert.ok(/replay OK: \d+ events checked bit-exactly/.test(rep.stderr), `replay says it matched: ${rep.stderr}`);
}

test('bzImage (gzip payload) built around the tinyconfig vmlinux: record, then replay bit-exactly', () => {
  const vmlinux = repoPath('.cache', 'linux', 'vmlinux');
  if (!existsSync(vmlinux)) { console.log('  (skipped: .cache/linux/vmlinux not built; npm test builds it)'); return; }
  const bz = join(tmp, 'tiny-bzImage');
  writeFileSync(bz, makeBzImage(readFileSync(vmlinux)));
  recordReplay(bz, ['--mem', '128']);
});

test("Debian's cloud vmlinuz (LZ4 payload): record, then replay bit-exactly", () => {
  const dir = repoPath('.cache', 'debian-cloud');
  const name = existsSync(dir) ? readdirSync(dir).find((f) => f.startsWith('vmlinuz-')) : undefined;
  if (!name) { console.log('  (skipped: no vmlinuz in .cache/debian-cloud; run guests/debian-cloud/fetch.sh)'); return; }
  recordReplay(join(dir, name), ['--mem', '256']);
});

test.run();
