// The three test guests end to end through the hypervisor's run loop: PVH
// boot (core/hv/boot.ts), VMLAUNCH/VMRESUME, one handler per exit reason.
// Expected output is what each guest's source (guests/*.S) writes to COM1;
// each ends with CLI; HLT, so the run stops with kind 'halted'. Running a
// guest twice must give identical results (DESIGN.md, Determinism: virtual
// time is the retired-instruction count, nothing else may matter).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { Machine, type RunResult } from '../../../core/hv/machine.js';
import { bootPvh } from '../../../core/hv/boot.js';
import { configurePvhGuest } from '../../../core/hv/setup.js';
import type { TraceEvent } from '../../../core/hv/events.js';

/** Repository root: the nearest directory above this file with a package.json. */
function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    d = up;
  }
  return d;
}
const GUESTS = join(repoRoot(), 'guests');

interface Outcome { result: RunResult; out: string; events: TraceEvent[] }

function runGuest(name: string, maxInstructions = 10_000_000): Outcome {
  const bytes: number[] = [];
  const events: TraceEvent[] = [];
  const m = new Machine({ memMiB: 64, maxInstructions, serial: (b) => bytes.push(b), sink: { event: (e) => events.push(e) } });
  bootPvh(m, { kernel: new Uint8Array(readFileSync(join(GUESTS, name))), kernelName: name });
  const result = m.run();
  return { result, out: Buffer.from(bytes).toString('latin1'), events };
}

const CASES = [
  // hello.S: "Hi\n" on COM1.
  { guest: 'hello.elf', out: 'Hi\n' },
  // cpuid.S: the CPUID leaf 0 vendor string (EBX, EDX, ECX) and a newline; the
  // hypervisor passes the silicon's vendor through (core/hv/exits/cpuid.ts).
  { guest: 'cpuid.elf', out: 'GenuineIntel\n' },
  // longmode.S: enters IA-32e mode with its own page tables, then prints.
  { guest: 'longmode.elf', out: 'Long mode OK\n' },
] as const;

for (const c of CASES) {
  test(`${c.guest} prints ${JSON.stringify(c.out)} and halts`, () => {
    const { result, out } = runGuest(c.guest);
    assert.is(out, c.out);
    assert.is(result.stop.kind, 'halted', result.stop.message);
    assert.ok(result.instructions > 0);
    // It halted through a HLT exit (reason 12), exactly once, and printed through I/O exits (30).
    assert.is(result.exits.get(12), 1, 'one HLT exit');
    assert.ok((result.exits.get(30) ?? 0) >= c.out.length, 'at least one I/O exit per character');
  });

  test(`${c.guest} is deterministic: same instructions, exits, output and event stream twice`, () => {
    const a = runGuest(c.guest), b = runGuest(c.guest);
    assert.is(a.result.instructions, b.result.instructions);
    assert.equal([...a.result.exits.entries()].sort(), [...b.result.exits.entries()].sort());
    assert.is(a.out, b.out);
    assert.is(a.result.stop.message, b.result.stop.message);
    assert.equal(a.events, b.events);
  });
}

test('cpuid.elf executed a CPUID exit (reason 10); longmode.elf an EFER write (WRMSR, reason 32)', () => {
  assert.ok((runGuest('cpuid.elf').result.exits.get(10) ?? 0) >= 1);
  assert.ok((runGuest('longmode.elf').result.exits.get(32) ?? 0) >= 1);
});

test('a budget smaller than the guest stops with kind "budget" at exactly that many instructions', () => {
  const full = runGuest('longmode.elf').result.instructions;
  const { result } = runGuest('longmode.elf', 10);
  assert.ok(full > 10);
  assert.is(result.stop.kind, 'budget', result.stop.message);
  assert.is(result.instructions, 10);
});

// Raw guests through the same run loop: the hypervisor's string I/O emulation
// (core/hv/exits/io-instruction.ts) must move every element between guest
// memory and the device (Vol. 2B OUTS/REP: ECX elements from DS:ESI, ESI
// advancing by the element size, backwards with RFLAGS.DF = 1).
function runRaw(code: number[], data: { at: number; bytes: string }[] = []): Outcome {
  const bytes: number[] = [];
  const events: TraceEvent[] = [];
  const m = new Machine({ memMiB: 8, maxInstructions: 100_000, serial: (b) => bytes.push(b), sink: { event: (e) => events.push(e) } });
  m.mem.writeBytes(0x100000, Uint8Array.from(code));
  for (const d of data) m.mem.writeBytes(d.at, Buffer.from(d.bytes, 'latin1'));
  configurePvhGuest(m.vmx, { rip: 0x100000, rbx: 0 });
  const result = m.run();
  return { result, out: Buffer.from(bytes).toString('latin1'), events };
}

test('REP OUTSB of a 6-byte message to COM1 prints it, one I/O exit, ESI/ECX updated', () => {
  // BE imm32 (mov esi, 2000h); B9 imm32 (mov ecx, 6); BA imm32 (mov edx, 3F8h); F3 6E (rep outsb); FA F4.
  const code = [0xbe, 0x00, 0x20, 0, 0, 0xb9, 6, 0, 0, 0, 0xba, 0xf8, 0x03, 0, 0, 0xf3, 0x6e, 0xfa, 0xf4];
  const { result, out } = runRaw(code, [{ at: 0x2000, bytes: 'OUTS!\n' }]);
  assert.is(out, 'OUTS!\n');
  assert.is(result.stop.kind, 'halted', result.stop.message);
  assert.is(result.exits.get(30), 1, 'the whole REP OUTSB is one exit');
});

test('REP OUTSB with DF = 1 walks backwards from the last byte', () => {
  // FD (std); mov esi, 2003h; mov ecx, 4; mov edx, 3F8h; rep outsb; cli; hlt. Memory "abcd" -> "dcba".
  const code = [0xfd, 0xbe, 0x03, 0x20, 0, 0, 0xb9, 4, 0, 0, 0, 0xba, 0xf8, 0x03, 0, 0, 0xf3, 0x6e, 0xfa, 0xf4];
  const { result, out } = runRaw(code, [{ at: 0x2000, bytes: 'abcd' }]);
  assert.is(out, 'dcba');
  assert.is(result.stop.kind, 'halted', result.stop.message);
});

test('OUTSW (no REP) to COM1: one 2-byte port write event, its low byte reaches THR', () => {
  // 66 6F without REP: one 2-byte OUT of the word at DS:ESI to port 3F8h: the UART sees THR = 'Z'
  // (and IER at 3F9h gets the high byte 00h). Output "Z".
  const code = [0xbe, 0x00, 0x20, 0, 0, 0xba, 0xf8, 0x03, 0, 0, 0x66, 0x6f, 0xfa, 0xf4];
  const { result, out, events } = runRaw(code, [{ at: 0x2000, bytes: 'Z\x00' }]);
  assert.is(out, 'Z');
  assert.is(result.stop.kind, 'halted', result.stop.message);
  const pio = events.filter((e) => e.kind === 'pio');
  assert.equal(pio.map((e) => e.kind === 'pio' ? [e.port, e.size, e.write, e.value] : []), [[0x3f8, 2, true, 0x005a]]);
});

test.run();
