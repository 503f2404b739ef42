// Multiboot guests end to end (core/hv/multiboot.ts + core/boot/multiboot.ts):
// guests/multiboot.S prints what the loader handed over and exits through
// the debug-exit port with code 0x2a, so the run stops with kind 'exit-code'
// and status (0x2a << 1) | 1 = 85. Expected values from the Multiboot
// Specification 0.6.96 (3.2 entry state, 3.3 information structure) and the
// guest's source. guests/kut-devices.S checks fw_cfg and pc-testdev from
// inside a guest, kvm-unit-tests style.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Machine } from '../../../core/hv/machine.js';
import { bootMultiboot } from '../../../core/hv/multiboot.js';
import { VMCS } from '../../../core/vmx/fields.js';
import { RAX, RBX } from '../../../core/cpu/regs.js';
import { recordTrace, replayTrace } from '../../../cli/session.js';
import { TraceReader } from '../../../replay/index.js';
import { repoPath } from '../../helpers/repo.js';

const image = (n: string): Uint8Array => new Uint8Array(readFileSync(repoPath('guests', n)));

function run(name: string, o: { cmdline?: string; module?: string; memMiB?: number } = {}) {
  const out: number[] = [];
  const m = new Machine({ memMiB: o.memMiB ?? 16, maxInstructions: 1_000_000, serial: (b) => out.push(b) });
  const layout = bootMultiboot(m, {
    kernel: image(name), kernelName: name,
    ...(o.cmdline !== undefined ? { cmdline: o.cmdline } : {}),
    ...(o.module !== undefined ? { modules: [{ data: new TextEncoder().encode(o.module), name: 'env' }] } : {}),
  });
  return { m, layout, run: () => { const r = m.run(); return { r, out: Buffer.from(out).toString('latin1') }; } };
}

test('entry state (3.2): EIP = ELF entry, EAX = 0x2BADB002, EBX = info, protected mode, paging off, IF = 0, flat CS', () => {
  const { m, layout } = run('multiboot.elf');
  assert.is(m.cpu.lo[RAX]! >>> 0, 0x2badb002);
  assert.is(m.cpu.lo[RBX], layout.infoAddr);
  assert.is(m.vmx.vmreadNum(VMCS.GUEST_RIP), layout.entry);
  assert.is(layout.entry, 0x10000c); // mb_start follows the 12-byte header at 0x100000 (guest32.ld)
  const cr0 = m.vmx.vmreadNum(VMCS.CR0_READ_SHADOW);
  assert.is(cr0 & 1, 1, 'CR0.PE');
  assert.is(cr0 & 0x80000000, 0, 'CR0.PG');
  assert.is(m.vmx.vmread32(VMCS.GUEST_RFLAGS) & 0x200, 0, 'IF');
  assert.is(m.vmx.vmread32(VMCS.GUEST_CS_LIMIT) >>> 0, 0xffffffff);
  assert.is(m.vmx.vmreadNum(VMCS.GUEST_CS_BASE), 0);
  assert.is((m.vmx.vmread32(VMCS.GUEST_CS_ACCESS_RIGHTS) >> 14) & 1, 1, 'CS.D = 1: 32-bit code');
});

test('guests/multiboot.elf prints the cmdline and the module and exits with status 85', () => {
  const { run: go } = run('multiboot.elf', { cmdline: 'hello multiboot', module: 'NR_CPUS=1\nMEMSIZE=16' });
  const { r, out } = go();
  assert.is(out, [
    'multiboot magic ok',
    'flags 0x0000024d',          // mem (0), cmdline (2), mods (3), mmap (6), boot loader name (9)
    'mem_upper 0x00003c00',      // (16 MiB - 1 MiB) / 1 KiB = 15360
    'cmdline [hello multiboot]',
    'modules 0x00000001',
    'module [NR_CPUS=1\nMEMSIZE=16] string [env]',
    '',
  ].join('\n'));
  assert.is(r.stop.kind, 'exit-code');
  if (r.stop.kind === 'exit-code') assert.is(r.stop.code, 85);
});

test('no cmdline and no module: an empty string and mods_count 0', () => {
  const { out, r } = run('multiboot.elf').run();
  assert.match(out, /\ncmdline \[\]\nmodules 0x00000000\n$/);
  assert.is(r.stop.kind, 'exit-code');
});

test('guests/kut-devices.elf: every fw_cfg and pc-testdev check passes, exit status 1', () => {
  for (const memMiB of [16, 130]) {
    const { out, r } = run('kut-devices.elf', { memMiB }).run();
    assert.not.match(out, /FAIL/);
    assert.match(out, /PASS: fw_cfg: ram size\n/);
    assert.match(out, /PASS: pc-testdev: mmio cross-page\n/);
    assert.match(out, /\nSUMMARY: 11 tests\n$/);
    assert.is(r.stop.kind === 'exit-code' && r.stop.code, 1, r.stop.message);
  }
});

test('record and replay a multiboot guest with a module: header says multiboot, replay is bit-exact', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hvtrace-mb-'));
  const env = join(dir, 'env');
  writeFileSync(env, 'NR_CPUS=1\n');
  const trace = join(dir, 'mb.hvt');
  const rec = recordTrace({ kernelPath: repoPath('guests', 'multiboot.elf'), memMiB: 16, maxInstructions: 1_000_000, cmdline: 'x=1', initrdPath: env }, trace, 50);
  assert.is(rec.run.stop.kind, 'exit-code');
  const h = TraceReader.open(trace);
  try {
    assert.is(h.header.machine.guest, 'multiboot');
    const mod = h.header.inputs.find((i) => i.role === 'initrd');
    assert.ok(mod && mod.name.endsWith('env'), JSON.stringify(h.header.inputs));
  } finally { h.close(); }
  const r = replayTrace(trace);
  assert.is(r.kind, 'ok', r.kind === 'divergence' ? r.error.message : r.kind);
  // The module is an input: a changed one is refused before anything runs.
  writeFileSync(env, 'NR_CPUS=2\n');
  assert.throws(() => replayTrace(trace), /input initrd .* differs from the recorded one/);
});

test.run();
