// bzImage input (core/boot/bzimage.ts). Setup headers are built by hand from
// Documentation/x86/boot.rst: setup_sects at 0x1f1 (0 means 4), "HdrS" at
// 0x202, the protocol version at 0x206, payload_offset at 0x248 and
// payload_length at 0x24c (protocol 2.08+), both relative to the protected-
// mode code at (setup_sects + 1) * 512. Payload magics: LZ4 legacy 02 21 4c 18,
// gzip 1f 8b, xz fd 37 7a 58 5a 00, zstd 28 b5 2f fd.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gzipSync } from 'node:zlib';
import {
  isBzImage, parseSetupHeader, payloadFormat, findPayload, decompressPayload, extractVmlinux, kernelImage, resolveKernel, BzImageError,
} from '../../../core/boot/bzimage.js';
import { elf } from '../../helpers/pvh-elf.js';
import { LZ4_LEGACY_MAGIC } from '../../../core/boot/lz4.js';

const le32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

/** A bzImage: setup sectors, "HdrS", version, then the payload at payloadOffset after the setup code. */
function bz(payload: Uint8Array, o: { setupSects?: number; version?: number; payloadOffset?: number; mz?: boolean; lengthDelta?: number } = {}): Uint8Array {
  const ss = o.setupSects ?? 3;
  const pm = ((ss === 0 ? 4 : ss) + 1) * 512;
  const off = o.payloadOffset ?? 0x40;
  const b = new Uint8Array(pm + off + payload.length);
  const dv = new DataView(b.buffer);
  if (o.mz !== false) b.set([0x4d, 0x5a]);
  b[0x1f1] = ss;
  b.set([0x48, 0x64, 0x72, 0x53], 0x202);
  dv.setUint16(0x206, o.version ?? 0x20f, true);
  dv.setUint32(0x248, off, true);
  dv.setUint32(0x24c, payload.length + (o.lengthDelta ?? 0), true);
  b.set(payload, pm + off);
  return b;
}


/** An LZ4 legacy frame of literal-only blocks (at most 8 MiB each) plus the kernel's trailing size. */
function lz4Literal(data: Uint8Array): Uint8Array {
  const out: number[] = [...le32(LZ4_LEGACY_MAGIC)];
  const blk: number[] = [];
  let n = data.length;
  if (n >= 15) { blk.push(0xf0); n -= 15; while (n >= 255) { blk.push(255); n -= 255; } blk.push(n); } else blk.push(n << 4);
  blk.push(...data);
  out.push(...le32(blk.length), ...blk, ...le32(data.length));
  return Uint8Array.from(out);
}

const isBzErr = (re: RegExp) => (e: Error): boolean => e instanceof BzImageError && re.test(e.message);
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

test('isBzImage: "HdrS" at 0x202 or MZ; not an ELF file or a short file', () => {
  assert.ok(isBzImage(bz(bytes('x'))));
  assert.ok(isBzImage(bz(bytes('x'), { mz: false })));
  assert.ok(isBzImage(bytes('MZ')));
  assert.not.ok(isBzImage(elf([0xf4])));
  assert.not.ok(isBzImage(new Uint8Array(0x300)));
  assert.not.ok(isBzImage(new Uint8Array(1)));
});

test('parseSetupHeader: setup_sects, version, payload place', () => {
  const h = parseSetupHeader(bz(bytes('payload!'), { setupSects: 3, payloadOffset: 0x123 }));
  assert.equal(h, { setupSects: 3, version: 0x20f, pmOffset: 2048, payloadOffset: 0x123, payloadLength: 8 });
  const h0 = parseSetupHeader(bz(bytes('p'), { setupSects: 0, version: 0x208, payloadOffset: 0 }));
  assert.equal(h0, { setupSects: 4, version: 0x208, pmOffset: 2560, payloadOffset: 0, payloadLength: 1 });
  const f = findPayload(bz(bytes('\x1f\x8bzz'), { setupSects: 27, payloadOffset: 0x2cc }));
  assert.is(Buffer.from(f.payload).toString('latin1'), '\x1f\x8bzz');
  assert.is(f.format, 'gzip');
});

test('parseSetupHeader: errors name the problem', () => {
  assert.throws(() => parseSetupHeader(new Uint8Array(0x100), 'k'), isBzErr(/k: too short/));
  assert.throws(() => parseSetupHeader(bytes('MZ' + '\0'.repeat(0x400)), 'k'), isBzErr(/no Linux setup header \("HdrS" at 0x202\)/));
  assert.throws(() => parseSetupHeader(bz(bytes('x'), { version: 0x207 }), 'k'), isBzErr(/boot protocol 2\.07 .*2\.08 or later/));
  assert.throws(() => parseSetupHeader(bz(bytes('xyz'), { lengthDelta: 1 }), 'k'), isBzErr(/runs past the end of the file .*truncated/));
  assert.throws(() => parseSetupHeader(bz(bytes('xyz'), { lengthDelta: -3 }), 'k'), isBzErr(/payload_length is 0/));
});

test('payloadFormat: by magic', () => {
  const f = (...b: number[]): string => payloadFormat(Uint8Array.from([...b, 0, 0, 0, 0]));
  assert.is(f(0x02, 0x21, 0x4c, 0x18), 'lz4');
  assert.is(f(0x1f, 0x8b), 'gzip');
  assert.is(f(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00), 'xz');
  assert.is(f(0x28, 0xb5, 0x2f, 0xfd), 'zstd');
  assert.is(f(0x42, 0x5a, 0x68), 'bzip2');
  assert.is(f(0x5d, 0x00, 0x00), 'lzma');
  assert.is(f(0x89, 0x4c, 0x5a, 0x4f), 'lzo');
  assert.is(f(0x7f, 0x45, 0x4c, 0x46), 'elf');
  assert.is(f(0x12, 0x34), 'unknown');
  assert.is(payloadFormat(new Uint8Array(0)), 'unknown');
});

test('gzip payload (with the trailing size the build appends) -> the ELF vmlinux', () => {
  const e = elf([0xf4]);
  const gz = gzipSync(e);
  const withSize = Uint8Array.from([...gz, ...le32(e.length)]);
  assert.equal([...extractVmlinux(bz(gz))], [...e]);
  assert.equal([...extractVmlinux(bz(withSize))], [...e]);
});

test('gzip payload: truncated or corrupt is a BzImageError', () => {
  const gz = gzipSync(elf([0xf4]));
  assert.throws(() => decompressPayload(gz.subarray(0, gz.length - 12), 'k'), isBzErr(/k: gzip payload: /));
  const bad = Uint8Array.from(gz); bad[12] = bad[12]! ^ 0xff; bad[13] = bad[13]! ^ 0xff;
  assert.throws(() => decompressPayload(bad, 'k'), isBzErr(/k: gzip payload: /));
});

test('LZ4 payload -> the ELF vmlinux; corrupt LZ4 is a BzImageError', () => {
  const e = elf([0xf4]);
  assert.equal([...extractVmlinux(bz(lz4Literal(e)))], [...e]);
  const lz = lz4Literal(e);
  assert.throws(() => extractVmlinux(bz(lz.subarray(0, lz.length - 40)), 'k'), isBzErr(/k: LZ4 payload: .*truncated/));
});

test('other compressions: a clear error naming the format', () => {
  for (const [magic, name] of [[[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'], [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'], [[0x42, 0x5a, 0x68], 'bzip2']] as const) {
    assert.throws(() => extractVmlinux(bz(Uint8Array.from([...magic, 1, 2, 3])), 'k'), isBzErr(new RegExp(`k: payload is ${name}-compressed; .*lz4 and gzip`)));
  }
  assert.throws(() => extractVmlinux(bz(Uint8Array.from([0x12, 0x34, 0x56])), 'k'), isBzErr(/not recognized \(starts 12 34 56\)/));
  assert.throws(() => extractVmlinux(bz(gzipSync(bytes('not an elf'))), 'k'), isBzErr(/decompressed payload \(10 bytes\) is not an ELF vmlinux/));
});

test('kernelImage/resolveKernel: ELF and other files pass through; a bzImage gives its vmlinux, booted through PVH', () => {
  const e = elf([0xf4]);
  assert.is(kernelImage(e).bytes, e);
  assert.is(kernelImage(e).fromBzImage, false);
  const r = resolveKernel(bz(gzipSync(e)), 'vmlinuz');
  assert.equal({ kind: r.kind, fromBzImage: r.fromBzImage }, { kind: 'pvh', fromBzImage: true });
  assert.equal([...r.bytes], [...e]);
  assert.is(resolveKernel(e, 'vmlinux').kind, 'pvh');
});

test('resolveKernel: a bzImage whose vmlinux has no PVH note is a BzImageError saying CONFIG_PVH', () => {
  assert.throws(() => resolveKernel(bz(gzipSync(elf([0xf4], false))), 'vmlinuz'), isBzErr(/vmlinuz: a bzImage whose vmlinux has no Xen PVH entry note .*CONFIG_PVH=y/));
  const broken = elf([0xf4]).subarray(0, 40); // header cut short
  assert.throws(() => resolveKernel(bz(gzipSync(broken)), 'vmlinuz'), isBzErr(/vmlinuz: the decompressed vmlinux is not a loadable ELF file/));
});

test.run();
