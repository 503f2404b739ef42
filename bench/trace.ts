/**
 * Trace benchmark: the same guest run three ways — plain (events dropped),
 * recorded (TraceWriter to a temp file), replayed (VerifySink against that
 * file) — printing events/s, bytes/event and the cost of recording over the
 * plain run. The workload is exit-heavy: the Linux guest's early boot if it
 * has been built (guests/linux/build.sh → .cache/linux/vmlinux), otherwise
 * the longmode test guest.
 *
 *   node dist/bench/trace.js [--runs 3] [--kernel PATH] [--max-instructions N]
 *
 * Prints figures only; nothing is asserted on time.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { buildMachine, type GuestSpec } from '../cli/run.js';
import { recordTrace, replayTrace } from '../cli/session.js';
import { DEFAULT_DIGEST_EVERY } from '../core/hv/machine.js';
import type { TraceEvent, TraceSink } from '../core/hv/events.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({ options: { runs: { type: 'string' }, kernel: { type: 'string' }, 'max-instructions': { type: 'string' } } });
const runs = Number(values.runs ?? 3);
const linux = path.join(ROOT, '.cache/linux/vmlinux');
const kernel = values.kernel ?? (fs.existsSync(linux) ? linux : path.join(ROOT, 'guests/longmode.elf'));
const isLinux = kernel.endsWith('vmlinux');
const spec: GuestSpec = {
  kernelPath: kernel, memMiB: isLinux ? 128 : 16,
  maxInstructions: Number(values['max-instructions'] ?? 3_000_000_000),
  ...(isLinux ? { cmdline: 'console=ttyS0 root=/dev/vda rw', diskPath: path.join(ROOT, '.cache/linux/disk.img') } : {}),
};

class CountSink implements TraceSink { n = 0; event(_e: TraceEvent): void { this.n++; } }

function best<T extends { seconds: number }>(f: () => T): T {
  let b: T | null = null;
  for (let k = 0; k < runs; k++) { const r = f(); if (!b || r.seconds < b.seconds) b = r; }
  return b!;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hvtrace-bench-'));
const file = path.join(tmp, 'bench.hvt');
const plain = best(() => {
  const sink = new CountSink();
  const m = buildMachine(spec, () => undefined, sink, DEFAULT_DIGEST_EVERY);
  const t0 = process.hrtime.bigint();
  const r = m.run();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, events: sink.n, run: r };
});
const rec = best(() => recordTrace(spec, file, DEFAULT_DIGEST_EVERY));
const rep = best(() => {
  const r = replayTrace(file);
  if (r.kind !== 'ok') throw new Error(`replay did not match: ${r.kind}`);
  return r;
});
const ev = rec.stats.events;
console.log(`host: ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, node ${process.version}, best of ${runs}`);
console.log(`workload: ${path.relative(ROOT, kernel)} (${plain.run.instructions} instructions, ${plain.events} events; stop: ${plain.run.stop.message})`);
console.log(`plain run : ${plain.seconds.toFixed(3)} s  ${(plain.events / plain.seconds / 1e3).toFixed(0)} k events/s`);
console.log(`record    : ${rec.seconds.toFixed(3)} s  ${(ev / rec.seconds / 1e3).toFixed(0)} k events/s  ${rec.stats.bytes} bytes, ${(rec.stats.bytes / ev).toFixed(2)} bytes/event  overhead ${(100 * (rec.seconds / plain.seconds - 1)).toFixed(1)} %`);
console.log(`replay    : ${rep.seconds.toFixed(3)} s  ${(rep.events / rep.seconds / 1e3).toFixed(0)} k events/s verified  (${(100 * (rep.seconds / plain.seconds - 1)).toFixed(1)} % over plain)`);
fs.rmSync(tmp, { recursive: true, force: true });
