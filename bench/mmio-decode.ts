/**
 * Decode throughput of the MMIO decoder (core/mmio/decoder.ts) side by side
 * with iced-x86's Decoder.decodeOut, in the same process, on the same byte
 * corpus, decoded front to back (each decoder steps by its own lengths; an
 * undecodable byte is stepped over).
 *
 *   node dist/bench/mmio-decode.js [--corpus mmio|text|FILE] [--mib N] [--reps R] [--mode 16|32|64]
 *
 * Corpora:
 *   mmio  instructions drivers use on MMIO (the supported set, every prefix
 *         and addressing form), generated from a fixed seed  (default)
 *   text  the .text section of the running node binary (compiler output)
 *   FILE  any file (raw bytes)
 * Prints instructions/s for both and how many instructions each framed
 * (they agree when both decoders agree on every length). Figures only.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { Decoder, DecoderOptions, Instruction } from 'iced-x86';
import fc from 'fast-check';
import { MmioInsn, decodeInto, D_OK, D_UNSUPPORTED, type DecodeMode } from '../core/mmio/decoder.js';
import { arbEmuCase } from '../properties/mmio/cases.js';

function mmioCorpus(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let n = 0;
  // only what iced-x86 also decodes (drops the LOCK-misuse cases the generator makes on purpose)
  const instr = new Instruction();
  const cases = fc.sample(arbEmuCase, { numRuns: 20000, seed: 42 }).map((c) => c.code).filter((c) => {
    const d = new Decoder(64, c, DecoderOptions.None);
    d.decodeOut(instr);
    d.free();
    return !instr.isInvalid && instr.length === c.length;
  });
  instr.free();
  for (let k = 0; n < bytes; k++) {
    const c = cases[k % cases.length]!;
    if (n + c.length > bytes) break;
    out.set(c, n); n += c.length;
  }
  return out.subarray(0, n);
}

/** The .text section of an ELF64 file (section headers, SDM-independent: System V gABI). */
function elfText(path: string): Uint8Array {
  const f = readFileSync(path);
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  if (dv.getUint32(0) !== 0x7f454c46 || f[4] !== 2) throw new Error(`${path}: not an ELF64 file`);
  const shoff = Number(dv.getBigUint64(0x28, true));
  const shentsize = dv.getUint16(0x3a, true), shnum = dv.getUint16(0x3c, true), shstrndx = dv.getUint16(0x3e, true);
  const sh = (i: number): { name: number; off: number; size: number } => {
    const b = shoff + i * shentsize;
    return { name: dv.getUint32(b, true), off: Number(dv.getBigUint64(b + 0x18, true)), size: Number(dv.getBigUint64(b + 0x20, true)) };
  };
  const strtab = sh(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = sh(i);
    let e = strtab.off + s.name;
    while (f[e] !== 0) e++;
    if (f.subarray(strtab.off + s.name, e).toString() === '.text') return new Uint8Array(f.buffer, f.byteOffset + s.off, s.size);
  }
  throw new Error(`${path}: no .text section`);
}

function ours(buf: Uint8Array, mode: DecodeMode, o: MmioInsn): number {
  let p = 0, n = 0;
  const end = buf.length;
  while (p < end) {
    const s = decodeInto(buf, p, end - p, mode, o);
    p += s === D_OK || s === D_UNSUPPORTED ? o.len : 1;
    n++;
  }
  return n;
}

function iced(buf: Uint8Array, mode: DecodeMode, instr: Instruction): number {
  const d = new Decoder(mode, buf, DecoderOptions.None);
  let n = 0;
  while (d.canDecode) { d.decodeOut(instr); n++; }
  d.free();
  return n;
}

function main(): void {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { corpus: { type: 'string', default: 'mmio' }, mib: { type: 'string', default: '4' }, reps: { type: 'string', default: '5' }, mode: { type: 'string', default: '64' } },
  });
  const mode = Number(values.mode) as DecodeMode;
  const mib = Number(values.mib), reps = Number(values.reps);
  let corpus: Uint8Array;
  const which = values.corpus!;
  if (which === 'mmio') corpus = mmioCorpus(mib * 1024 * 1024);
  else if (which === 'text') corpus = elfText(process.execPath).subarray(0, mib * 1024 * 1024);
  else corpus = new Uint8Array(readFileSync(which)).subarray(0, mib * 1024 * 1024);
  const o = new MmioInsn();
  const instr = new Instruction();
  console.log(`host: ${os.cpus()[0]?.model ?? '?'}, node ${process.version}`);
  console.log(`corpus: ${which}, ${(corpus.length / 1048576).toFixed(2)} MiB, ${mode}-bit, best of ${reps}`);
  let bestOurs = Infinity, bestIced = Infinity, nOurs = 0, nIced = 0;
  // warm-up
  ours(corpus.subarray(0, 65536), mode, o); iced(corpus.subarray(0, 65536), mode, instr);
  for (let r = 0; r < reps; r++) {
    let t = performance.now();
    nOurs = ours(corpus, mode, o);
    bestOurs = Math.min(bestOurs, performance.now() - t);
    t = performance.now();
    nIced = iced(corpus, mode, instr);
    bestIced = Math.min(bestIced, performance.now() - t);
  }
  const rate = (n: number, ms: number): string => `${(n / ms / 1000).toFixed(1)} M instr/s (${(corpus.length / 1048576 / (ms / 1000)).toFixed(0)} MiB/s)`;
  console.log(`  hvtrace core/mmio decodeInto : ${nOurs} instructions in ${bestOurs.toFixed(1)} ms = ${rate(nOurs, bestOurs)}`);
  console.log(`  iced-x86 Decoder.decodeOut   : ${nIced} instructions in ${bestIced.toFixed(1)} ms = ${rate(nIced, bestIced)}`);
  console.log(`  ratio (ours / iced): ${((nOurs / bestOurs) / (nIced / bestIced)).toFixed(2)}x${nOurs === nIced ? '' : `  (instruction counts differ by ${nOurs - nIced}: iced steps over undecodable bytes differently)`}`);
  instr.free();
}

main();
