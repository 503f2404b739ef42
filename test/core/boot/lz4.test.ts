// LZ4 block decoder and legacy frame (core/boot/lz4.ts). Hand-made blocks
// follow lz4's doc/lz4_Block_format.md: token (literal length << 4 | match
// length - 4, 15 = continued by bytes of which 255 means "more"), literals,
// 2-byte LE offset, match-length continuation; the last sequence is literals
// only. Fixtures under test/fixtures/lz4/ were made with the lz4 CLI
// (v1.9.4, `lz4 -l -9`: the legacy frame the kernel's build writes);
// SHA256SUMS there holds the SHA-256 of each one's decompressed content.
// text-sized.lz4 is text.lz4 plus the 4-byte LE decompressed size the
// kernel's build appends (size_append).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { decodeLz4Block, decompressLz4Legacy, Lz4Error, LZ4_LEGACY_MAGIC } from '../../../core/boot/lz4.js';
import { repoPath } from '../../helpers/repo.js';

const enc = (s: string): number[] => [...Buffer.from(s, 'latin1')];
const str = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
function block(bytes: readonly number[], room = 4096): string {
  const dst = new Uint8Array(room);
  const n = decodeLz4Block(Uint8Array.from(bytes), dst);
  return str(dst.subarray(0, n));
}
const isLz4Err = (re: RegExp) => (e: Error): boolean => e instanceof Lz4Error && re.test(e.message);
const le32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const MAGIC = le32(LZ4_LEGACY_MAGIC);

test('block: literals only', () => {
  assert.is(block([0x50, ...enc('hello')]), 'hello');
  assert.is(block([0x00]), '');
});

test('block: literal length with 255 continuation bytes (15 + 255 + 0 = 270, 15 + 0 = 15)', () => {
  const lits = Array.from({ length: 270 }, (_, i) => 0x20 + (i % 90));
  assert.is(block([0xf0, 255, 0, ...lits]), str(Uint8Array.from(lits)));
  assert.is(block([0xf0, 0, ...enc('abcdefghijklmno')]), 'abcdefghijklmno');
});

test('block: non-overlapping match', () => {
  // "abcdef", match offset 6 length 4, then an empty last sequence
  assert.is(block([0x60, ...enc('abcdef'), 6, 0, 0x00]), 'abcdefabcd');
  // a match followed by trailing literals
  assert.is(block([0x30, ...enc('xyz'), 3, 0, 0x20, ...enc('!!')]), 'xyzxyzx!!');
});

test('block: overlapping matches (offset < length) repeat what they write', () => {
  assert.is(block([0x16, ...enc('a'), 1, 0, 0x00]), 'a'.repeat(11));              // offset 1, length 10
  assert.is(block([0x33, ...enc('abc'), 3, 0, 0x00]), 'abcabcabca');              // offset 3, length 7
  assert.is(block([0x20, ...enc('ab'), 2, 0, 0x10, ...enc('.')]), 'ababab.');     // offset 2, length 4
});

test('block: long match length with 255 continuation bytes (15 + 255 + 255 + 10 + 4 = 539)', () => {
  assert.is(block([0x1f, ...enc('x'), 1, 0, 255, 255, 10, 0x00]), 'x'.repeat(540));
  // match length exactly 15 + 4: continuation byte 0
  assert.is(block([0x1f, ...enc('y'), 1, 0, 0, 0x00]), 'y'.repeat(20));
});

test('block: a large offset (2 bytes LE)', () => {
  const lits = Array.from({ length: 300 }, (_, i) => i & 0xff);
  const out = block([0xf0, 255, 30, ...lits, 0x2c & 0xff, 0x01, 0x00]); // offset 0x12c = 300, length 4
  assert.is(out.length, 304);
  assert.is(out.slice(300), str(Uint8Array.from(lits.slice(0, 4))));
});

test('block: decoding at a destination offset leaves the bytes before it alone', () => {
  const dst = new Uint8Array(16).fill(0xee);
  const n = decodeLz4Block(Uint8Array.from([0x11, 0x41, 1, 0, 0x00]), dst, 0, 5, 4);
  assert.is(n, 6);
  assert.equal([...dst.subarray(0, 12)], [0xee, 0xee, 0xee, 0xee, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0xee, 0xee]);
});

test('block: malformed input is an Lz4Error saying what is wrong', () => {
  assert.throws(() => block([]), isLz4Err(/empty/));
  assert.throws(() => block([0x50, ...enc('hel')]), isLz4Err(/truncated .*5 literals, 3 bytes left/));
  assert.throws(() => block([0xf0]), isLz4Err(/literal length continues past the end/));
  assert.throws(() => block([0xf0, 255]), isLz4Err(/literal length continues past the end/));
  assert.throws(() => block([0x10, 0x41, 1]), isLz4Err(/match offset missing/));
  assert.throws(() => block([0x10, 0x41, 0, 0, 0x00]), isLz4Err(/match offset 0/));
  assert.throws(() => block([0x10, 0x41, 2, 0, 0x00]), isLz4Err(/offset 2 reaches before the start/));
  assert.throws(() => block([0x0f, 1, 0]), isLz4Err(/offset 1 reaches before/));
  assert.throws(() => block([0x1f, 0x41, 1, 0]), isLz4Err(/match length continues past the end/));
  assert.throws(() => block([0x1f, 0x41, 1, 0, 255]), isLz4Err(/match length continues past the end/));
  assert.throws(() => block([0x10, 0x41, 1, 0]), isLz4Err(/sequence token is missing/));
  assert.throws(() => block([0x50, ...enc('hello')], 4), isLz4Err(/output overflow/));
  assert.throws(() => block([0x1f, 0x41, 1, 0, 255, 255, 255, 0, 0x00], 100), isLz4Err(/output overflow .*match/));
});

test('block: random input ends in output or an Lz4Error, never another exception or a hang', () => {
  let seed = 12345;
  const rnd = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 16; };
  const dst = new Uint8Array(1 << 16);
  for (let k = 0; k < 3000; k++) {
    const n = 1 + (rnd() % 64);
    const src = Uint8Array.from({ length: n }, () => rnd() & 0xff);
    try { decodeLz4Block(src, dst); } catch (e) {
      if (!(e instanceof Lz4Error)) throw new Error(`input ${Buffer.from(src).toString('hex')}: ${String(e)}`);
    }
  }
});

const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(repoPath('test', 'fixtures', 'lz4', name)));
const sums = new Map(readFileSync(repoPath('test', 'fixtures', 'lz4', 'SHA256SUMS'), 'latin1').trim().split('\n').map((l) => {
  const [h, f] = l.split(/\s+/);
  return [f!, h!] as const;
}));
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('legacy frame: lz4 CLI output decompresses to the recorded SHA-256 (text, incompressible, two 8 MiB blocks, kernel-style trailing size)', () => {
  assert.is(sums.size, 4);
  for (const [name, hash] of sums) assert.is(sha(decompressLz4Legacy(fixture(name))), hash, name);
  assert.is(decompressLz4Legacy(fixture('multi.lz4')).length, 9449529);
  assert.is(decompressLz4Legacy(fixture('random.lz4')).length, 5000);
});

test('legacy frame: concatenated frames (the magic again) decompress one after the other', () => {
  const t = fixture('text.lz4');
  const both = new Uint8Array(t.length * 2);
  both.set(t); both.set(t, t.length);
  const one = decompressLz4Legacy(t);
  const two = decompressLz4Legacy(both);
  assert.is(two.length, one.length * 2);
  assert.is(sha(two.subarray(one.length)), sha(one));
});

test('legacy frame: hand-made, with and without the trailing size', () => {
  const f = [...MAGIC, ...le32(6), 0x50, ...enc('hello')];
  assert.is(str(decompressLz4Legacy(Uint8Array.from(f))), 'hello');
  assert.is(str(decompressLz4Legacy(Uint8Array.from([...f, ...le32(5)]))), 'hello');
  // two blocks
  assert.is(str(decompressLz4Legacy(Uint8Array.from([...f, ...le32(3), 0x20, ...enc('!?')]))), 'hello!?');
});

test('legacy frame: truncated or corrupt frames are Lz4Errors', () => {
  const t = fixture('text.lz4');
  assert.throws(() => decompressLz4Legacy(t.subarray(0, 3)), isLz4Err(/not an LZ4 legacy frame/));
  assert.throws(() => decompressLz4Legacy(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])), isLz4Err(/not an LZ4 legacy frame/));
  assert.throws(() => decompressLz4Legacy(Uint8Array.from(MAGIC)), isLz4Err(/no blocks/));
  assert.throws(() => decompressLz4Legacy(t.subarray(0, t.length - 100)), isLz4Err(/truncated at offset 4: block of/));
  assert.throws(() => decompressLz4Legacy(Uint8Array.from([...MAGIC, ...le32(0), 0])), isLz4Err(/block size 0/));
  assert.throws(() => decompressLz4Legacy(Uint8Array.from([...MAGIC, ...le32(0x7fffffff), 0, 0, 0, 0, 0])), isLz4Err(/block size 2147483647/));
  const f = [...MAGIC, ...le32(6), 0x50, ...enc('hello')];
  for (const extra of [[1], [1, 2], [1, 2, 3]]) assert.throws(() => decompressLz4Legacy(Uint8Array.from([...f, ...extra])), isLz4Err(/stray bytes/));
  // a corrupt block inside the frame names the block
  assert.throws(() => decompressLz4Legacy(Uint8Array.from([...MAGIC, ...le32(5), 0x10, 0x41, 9, 0, 0])), isLz4Err(/offset 9 .*\(block 0 at offset 4\)/));
  // every truncation of a real frame is an Lz4Error or (cut at a block boundary) a shorter output, never anything else
  const m = fixture('random.lz4');
  for (let n = 0; n < m.length; n += 97) {
    try { decompressLz4Legacy(m.subarray(0, n)); } catch (e) { if (!(e instanceof Lz4Error)) throw e; }
  }
});

test.run();
