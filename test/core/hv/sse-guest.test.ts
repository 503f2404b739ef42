// guests/sse.S end to end through the hypervisor: the guest enables SSE
// itself (CR0.EM = 0, CR0.MP = 1, CR4.OSFXSR/OSXMMEXCPT; SDM Vol. 3A 13.1.3),
// runs the SSE2 idioms of compiled string routines (strlen with PCMPEQB/
// PMOVMSKB, a byte broadcast, MOVDQA memset, PADDQ/PSRLDQ, STMXCSR, FXSAVE)
// and prints the results. The expected values are computed here from the
// guest's data and the SDM (MXCSR reset value 0x1F80; MXCSR_MASK 0xFFFF is
// the value this machine documents), not from the emulator's output.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from '../../../core/hv/machine.js';
import { bootPvh } from '../../../core/hv/boot.js';
import { repoRoot } from '../../../properties/repo.js';

const TEXT = 'hvtrace: every exit, every event, every instruction count.';

function hex16(v: bigint): string { return '0x' + BigInt.asUintN(64, v).toString(16).padStart(16, '0'); }

function expected(): string {
  const count = [...TEXT].filter((c) => c === 'e').length;
  const q = 0x5a5a5a5a5a5a5a5an;
  const sum = 7n * q + 0x010203045a5a5a5an; // one dword of the 64-byte memset overwritten with 0x01020304
  return `strlen ${hex16(BigInt(TEXT.length))}\ncount('e') ${hex16(BigInt(count))}\nmemset sum ${hex16(sum)}\n` +
    `mxcsr ${hex16(0x1f80n)}\nmxcsr_mask ${hex16(0xffffn)}\ndone\n`;
}

function run(): { out: string; stop: string; instructions: number } {
  const bytes: number[] = [];
  const m = new Machine({ memMiB: 64, maxInstructions: 1_000_000, serial: (b) => bytes.push(b), sink: { event: () => {} } });
  bootPvh(m, { kernel: new Uint8Array(readFileSync(join(repoRoot(), 'guests', 'sse.elf'))), kernelName: 'sse.elf' });
  const r = m.run();
  return { out: Buffer.from(bytes).toString('latin1'), stop: `${r.stop.kind}: ${r.stop.message ?? ''}`, instructions: r.instructions };
}

test('sse.elf: strlen, byte count, memset sum, MXCSR and MXCSR_MASK as the SDM says; halts', () => {
  assert.ok(readFileSync(join(repoRoot(), 'guests', 'sse.S'), 'latin1').includes(`"${TEXT}"`), 'TEXT matches the guest source');
  const r = run();
  assert.is(r.out, expected());
  assert.ok(r.stop.startsWith('halted'), r.stop);
});

test('sse.elf is deterministic', () => {
  const a = run(), b = run();
  assert.is(a.instructions, b.instructions);
  assert.is(a.out, b.out);
});

test.run();
