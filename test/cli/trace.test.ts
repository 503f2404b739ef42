import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, copyFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordTrace, replayTrace } from '../../cli/session.js';
import { TraceReader } from '../../replay/index.js';
import { PROGRESS_STEP } from '../../core/hv/machine.js';
import { CliError } from '../../cli/common.js';
import type { GuestSpec } from '../../cli/run.js';
import { repoPath } from '../helpers/repo.js';

const tmp = mkdtempSync(join(tmpdir(), 'hvtrace-trace-'));
const spec = (guest: string): GuestSpec => ({ kernelPath: repoPath('guests', `${guest}.elf`), memMiB: 16, maxInstructions: 1_000_000 });

test('recording the same guest twice gives byte-identical files', () => {
  const a = join(tmp, 'a.hvt'), b = join(tmp, 'b.hvt');
  recordTrace(spec('longmode'), a, 8);
  recordTrace(spec('longmode'), b, 8);
  const ba = readFileSync(a), bb = readFileSync(b);
  assert.ok(ba.length > 100);
  assert.ok(ba.equals(bb), 'two recordings differ');
});

test('a machine option in the header (no x2APIC) is rebuilt by replay; default machines do not write it', () => {
  const a = join(tmp, 'nox2.hvt'), b = join(tmp, 'x2.hvt');
  recordTrace({ ...spec('cpuid'), x2apic: false }, a, 8);
  recordTrace(spec('cpuid'), b, 8);
  const ha = TraceReader.open(a).header.machine, hb = TraceReader.open(b).header.machine;
  assert.is(ha.x2apic, false);
  assert.is(hb.x2apic, undefined, 'absent for the default machine (golden traces keep their bytes)');
  const r = replayTrace(a);
  assert.is(r.kind, 'ok', r.kind === 'divergence' ? r.error.message : r.kind);
});

test('progress reporting (Machine.onProgress) sees the run advance and changes nothing in the trace', () => {
  const a = join(tmp, 'alu-a.hvt'), b = join(tmp, 'alu-b.hvt');
  const alu: GuestSpec = { kernelPath: repoPath('guests', 'bench-alu.elf'), memMiB: 16, maxInstructions: 200_000_000 };
  const seen: number[] = [];
  recordTrace(alu, a, 1000, () => undefined, undefined, (m) => { m.onProgress = (n) => seen.push(n); });
  recordTrace(alu, b, 1000);
  assert.ok(seen.length >= 2, `called at the start and past ${PROGRESS_STEP} instructions: ${seen.join(', ')}`);
  assert.is(seen[0], 0);
  assert.ok(seen[1]! >= PROGRESS_STEP, 'the second call comes after a step');
  assert.ok(readFileSync(a).equals(readFileSync(b)), 'the same bytes with and without progress');
});

test('every golden trace in traces/ replays bit-exactly', () => {
  const files = readdirSync(repoPath('traces')).filter((f) => f.endsWith('.hvt'));
  assert.ok(files.length >= 3, `expected golden traces, found ${files.join(', ')}`);
  for (const f of files) {
    const r = replayTrace(repoPath('traces', f));
    assert.is(r.kind, 'ok', `${f}: ${r.kind === 'divergence' ? r.error.message : r.kind}`);
  }
});

test('the Linux boot trace replays bit-exactly with hot code compiled early (regions after 64 runs, not 65536)', () => {
  // The compiled regions (core/cpu/block.ts) must be invisible: every exit, I/O value and state digest as recorded.
  const r = replayTrace(repoPath('traces', 'linux-boot.hvt'), { customize: (m) => { m.cpu.jitAfter = 64; } });
  assert.is(r.kind, 'ok', r.kind === 'divergence' ? r.error.message : r.kind);
});

test('a changed UART LSR value is caught at exactly the first IN from port 0x3fd', () => {
  // hello.hvt: event 0 is the exit for `in al, dx` at port 0x3fd, event 1 its port-I/O event.
  const r = replayTrace(repoPath('traces', 'hello.hvt'), {
    customize: (m) => {
      const orig = m.uart.read.bind(m.uart);
      m.uart.read = (off: number) => (off === 5 ? orig(off) | 0x01 : orig(off)); // LSR.DR set: "data ready"
    },
  });
  assert.is(r.kind, 'divergence');
  if (r.kind !== 'divergence') return;
  assert.is(r.error.eventNumber, 1);
  assert.equal([...r.error.fields], ['value']);
  assert.is(r.error.recorded?.kind, 'pio');
  assert.is((r.error.recorded as { value: number }).value, 0x60);  // THRE | TEMT: the 16550A's idle LSR
  assert.is((r.error.actual as { value: number }).value, 0x61);
});

test('a missing input is a clear error naming it', () => {
  const dir = mkdtempSync(join(tmp, 'missing-'));
  const t = join(dir, 'hello.hvt');
  copyFileSync(repoPath('traces', 'hello.hvt'), t); // header points at ../guests/hello.elf, absent here
  assert.throws(() => replayTrace(t), (e: unknown) => e instanceof CliError && /input kernel '..\/guests\/hello.elf' not found/.test(e.message));
});

test('a changed input is a clear error with both hashes', () => {
  const other = join(tmp, 'other.elf');
  const bytes = readFileSync(repoPath('guests', 'hello.elf'));
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  writeFileSync(other, bytes);
  assert.throws(() => replayTrace(repoPath('traces', 'hello.hvt'), { kernel: other }),
    (e: unknown) => e instanceof CliError && /differs from the recorded one: sha256 [0-9a-f]{16}… but the trace recorded [0-9a-f]{16}…/.test(e.message));
});

test('truncated traces: complete chunks replay as a verified prefix, a cut inside a chunk header is an error', () => {
  const full = join(tmp, 'multi.hvt');
  recordTrace(spec('longmode'), full, 1000, () => undefined, 8); // 8 events per chunk
  const bytes = readFileSync(full);
  let sawPrefix = false, sawError = false;
  for (let cut = 20; cut < bytes.length; cut += 37) {
    const t = join(tmp, `cut-${cut}.hvt`);
    writeFileSync(t, bytes.subarray(0, cut));
    try {
      const r = replayTrace(t, { kernel: repoPath('guests', 'longmode.elf') });
      assert.ok(r.kind === 'truncated' || r.kind === 'ok', `cut ${cut}: ${r.kind}`);
      if (r.kind === 'truncated') { sawPrefix = true; assert.is(r.events % 8, 0); }
    } catch (e) {
      assert.ok(e instanceof CliError, `cut ${cut}: ${(e as Error).message}`);
      sawError = true;
    }
  }
  assert.ok(sawPrefix && sawError);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
