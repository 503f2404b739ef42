/**
 * Trace codec benchmark: events/s to encode (TraceWriter, file included),
 * decode (TraceReader iteration) and verify (VerifySink against the same
 * stream), and bytes/event, for each compression
 * choice, on a synthetic stream shaped like a Linux boot (serial output
 * polling, timer interrupts + LAPIC EOIs, HLT idle, MSR/CPUID exits, PCI
 * config cycles, periodic state digests).
 *
 *   node dist/bench/trace-codec.js [events=2000000] [chunkEvents=4096]
 *
 * Prints figures only; nothing here is asserted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TraceEvent } from '../core/hv/events.js';
import { TraceWriter } from '../recorder/writer.js';
import { TraceReader } from '../replay/reader.js';
import { VerifySink } from '../replay/verify.js';
import type { Codec } from '../recorder/format.js';
import { DEFAULT_CODEC, DEFAULT_LEVEL } from '../recorder/codec.js';

/** xorshift32: deterministic, no Math.random. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

const BOOT_LOG = `[    0.000000] Linux version 6.1.0 (hvtrace@build) (gcc (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC
[    0.000000] Command line: console=ttyS0 earlyprintk=serial panic=-1 root=/dev/vda rw
[    0.000000] x86/fpu: Supporting XSAVE feature 0x001: 'x87 floating point registers'
[    0.000000] BIOS-provided physical RAM map:
[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
[    0.004000] tsc: Detected 1000.000 MHz processor
[    0.010000] Calibrating delay loop (skipped), value calculated using timer frequency.. 2000.00 BogoMIPS
[    0.020000] pid_max: default: 32768 minimum: 301
[    0.030000] Serial: 8250/16550 driver, 4 ports, IRQ sharing disabled
[    0.040000] serial8250: ttyS0 at I/O 0x3f8 (irq = 4, base_baud = 115200) is a 16550A
[    0.050000] virtio_blk virtio0: [vda] 131072 512-byte logical blocks (67.1 MB/64.0 MiB)
[    0.060000] EXT4-fs (vda): mounted filesystem with ordered data mode. Quota mode: disabled.
[    0.070000] Run /sbin/init as init process
`;

export function syntheticBoot(n: number, seed = 1): TraceEvent[] {
  const r = rng(seed);
  const KBASE = -0x7f000000; // 0xffffffff81000000
  const hotRips = Array.from({ length: 200 }, () => KBASE + Math.floor(r() * 0x1000000));
  const out: TraceEvent[] = [];
  let ic = 0;
  let logPos = 0;
  const hex32 = (): string => Array.from({ length: 32 }, () => Math.floor(r() * 16).toString(16)).join('');
  const exit = (reason: number, qual: number, rip: number, len: number, gpa = 0): void => {
    out.push({ kind: 'exit', ic, reason, qual, rip, len, info: 0, gpa, gla: 0, rule: '' });
  };
  while (out.length < n) {
    ic += 1 + Math.floor(-Math.log(1 - r()) * 3000); // exponential gaps, mean ~3000 instructions
    const rip = hotRips[Math.floor(r() * r() * hotRips.length)]!; // skewed towards a few hot sites
    const k = r();
    if (k < 0.45) {
      // serial8250_console_putchar: IN LSR, then OUT THR
      exit(30, (0x3fd << 16) | 8, rip, 1);
      out.push({ kind: 'pio', ic, port: 0x3fd, size: 1, write: false, value: 0x60 });
      ic += 40;
      exit(30, 0x3f8 << 16, rip + 12, 1);
      out.push({ kind: 'pio', ic, port: 0x3f8, size: 1, write: true, value: BOOT_LOG.charCodeAt(logPos++ % BOOT_LOG.length) });
    } else if (k < 0.65) {
      // timer tick: external interrupt exit, injection, EOI write to the LAPIC
      exit(1, 0, rip, 0);
      out.push({ kind: 'irq', ic, vector: 0xec, type: 0, rip });
      ic += 200;
      exit(48, 0x182, rip + 7, 6, 0xfee000b0);
      out.push({ kind: 'mmio', ic, gpa: 0xfee000b0, size: 4, write: true, valueLo: 0, valueHi: 0, device: 'lapic' });
    } else if (k < 0.8) {
      exit(12, 0, hotRips[0]!, 1); // default_idle
      ic += Math.floor(r() * 100000);
    } else if (k < 0.88) {
      exit(r() < 0.5 ? 31 : 10, 0, rip, 2);
    } else if (k < 0.96) {
      // PCI config cycle: OUT 0xcf8 address, IN 0xcfc data
      const addr = (0x80000000 | (Math.floor(r() * 8) << 11) | (Math.floor(r() * 16) << 2)) >>> 0;
      exit(30, (0xcf8 << 16) | 3, rip, 1);
      out.push({ kind: 'pio', ic, port: 0xcf8, size: 4, write: true, value: addr });
      ic += 20;
      exit(30, (0xcfc << 16) | 8 | 3, rip + 9, 1);
      out.push({ kind: 'pio', ic, port: 0xcfc, size: 4, write: false, value: r() < 0.5 ? 0xffffffff : 0x10011af4 });
    } else if (k < 0.99) {
      exit(48, 0x181, rip, 4, 0xfebd1000);
      out.push({ kind: 'mmio', ic, gpa: 0xfebd1000 + 4 * Math.floor(r() * 16), size: 4, write: false,
        valueLo: Math.floor(r() * 256), valueHi: 0, device: 'virtio-blk' });
    } else {
      out.push({ kind: 'digest', ic, regs: hex32(), mem: hex32() });
    }
  }
  out.length = n;
  return out;
}

function main(): void {
  const n = Number(process.argv[2] ?? 2_000_000);
  const chunkEvents = Number(process.argv[3] ?? 4096);
  const events = syntheticBoot(n);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvtrace-bench-'));
  const header = { producer: { name: 'hvtrace-bench', version: '0' }, machine: {}, inputs: [] };
  const configs: [Codec, number][] = [
    ['deflate-raw', 0], ['deflate-raw', 1], ['deflate-raw', 6], ['deflate-raw', 9],
    ['brotli', 1], ['brotli', 3], ['brotli', 5], ['brotli', 7],
  ];
  console.log(`trace codec: ${n} synthetic boot events, ${chunkEvents} events/chunk, node ${process.version}`);
  console.log('codec        level   encode ev/s   decode ev/s   verify ev/s   bytes/event');
  try {
    for (const [codec, level] of configs) {
      const file = path.join(dir, `${codec}-${level}.hvt`);
      let bestEnc = Infinity;
      let bestDec = Infinity;
      let bestVer = Infinity;
      let size = 0;
      for (let rep = 0; rep < 3; rep++) {
        const t0 = performance.now();
        const w = TraceWriter.open(file, header, { codec, level, chunkEvents });
        for (let i = 0; i < events.length; i++) w.event(events[i]!);
        size = w.close({}).bytes;
        const t1 = performance.now();
        const r = TraceReader.open(file);
        const cur = r.events();
        let count = 0;
        while (cur.nextEvent() !== undefined) count++;
        r.close();
        const t2 = performance.now();
        if (count !== n) throw new Error(`decoded ${count} events, expected ${n}`);
        const rv = TraceReader.open(file);
        const sink = new VerifySink(rv);
        for (let i = 0; i < events.length; i++) sink.event(events[i]!);
        sink.finish();
        rv.close();
        const t3 = performance.now();
        bestEnc = Math.min(bestEnc, t1 - t0);
        bestDec = Math.min(bestDec, t2 - t1);
        bestVer = Math.min(bestVer, t3 - t2);
      }
      const fmt = (ms: number): string => `${(n / (ms / 1000) / 1e6).toFixed(2)}M`.padStart(11);
      const mark = codec === DEFAULT_CODEC && level === DEFAULT_LEVEL[codec] ? '  (default)' : '';
      console.log(`${codec.padEnd(12)} ${String(level).padStart(5)}   ${fmt(bestEnc)}   ${fmt(bestDec)}   ${fmt(bestVer)}   ${(size / n).toFixed(2).padStart(11)}${mark}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) main();
