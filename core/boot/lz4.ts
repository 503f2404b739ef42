/**
 * LZ4 decompression for Linux kernel payloads: the LZ4 block format and the
 * legacy frame the kernel's build writes (`lz4 -l`, CONFIG_KERNEL_LZ4).
 *
 * Block format (lz4 doc/lz4_Block_format.md): a sequence of sequences, each
 *   token (high nibble: literal length, low nibble: match length - 4; 15 means
 *   "more": add continuation bytes, each 255 meaning "more still"),
 *   literals, 2-byte LE match offset (1..bytes already written),
 *   match length continuation bytes.
 * The last sequence has literals only (the block ends after them).
 *
 * Legacy frame: magic 0x184C2102 (bytes 02 21 4c 18), then blocks, each a
 * 4-byte LE compressed size and that many bytes of one independent LZ4 block
 * that decompresses to at most 8 MiB. The frame ends at the end of the input;
 * a size equal to the magic starts another legacy frame (concatenated frames,
 * as the kernel's lib/decompress_unlz4.c and `lz4 -d` accept). A kernel
 * payload carries 4 more bytes after the frame (the decompressed size, LE):
 * exactly 4 bytes left after a block end the frame as well.
 *
 * Every malformed input is an Lz4Error naming what is wrong and where; no
 * input makes the decoder loop forever or index out of bounds.
 */

export class Lz4Error extends Error {
  constructor(message: string) { super(message); this.name = 'Lz4Error'; }
}

export const LZ4_LEGACY_MAGIC = 0x184c2102;
/** Uncompressed size of one legacy-frame block (at most). */
export const LZ4_LEGACY_BLOCK = 8 << 20;
/** LZ4_compressBound(8 MiB): the largest compressed legacy block. */
export const LZ4_LEGACY_BLOCK_BOUND = LZ4_LEGACY_BLOCK + Math.floor(LZ4_LEGACY_BLOCK / 255) + 16;

/**
 * Decode one LZ4 block src[start, end) into dst from dstStart, writing at most
 * up to dst.length. Returns the number of bytes written.
 */
export function decodeLz4Block(src: Uint8Array, dst: Uint8Array, start = 0, end = src.length, dstStart = 0): number {
  if (start < 0 || end > src.length || start > end) throw new RangeError('decodeLz4Block: bad source range');
  let ip = start;
  let op = dstStart;
  const dend = dst.length;
  const at = (): string => `at input offset ${ip - start}`;
  if (ip === end) throw new Lz4Error('LZ4 block is empty');
  for (;;) {
    if (ip >= end) throw new Lz4Error(`LZ4 block truncated ${at()}: a sequence token is missing`);
    const token = src[ip++]!;
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (ip >= end) throw new Lz4Error(`LZ4 block truncated ${at()}: literal length continues past the end`);
        b = src[ip++]!;
        lit += b;
      } while (b === 255);
    }
    if (lit > end - ip) throw new Lz4Error(`LZ4 block truncated ${at()}: ${lit} literals, ${end - ip} bytes left`);
    if (lit > dend - op) throw new Lz4Error(`LZ4 block output overflow ${at()}: ${lit} literals, room for ${dend - op} bytes`);
    dst.set(src.subarray(ip, ip + lit), op);
    ip += lit;
    op += lit;
    if (ip === end) return op - dstStart; // the last sequence: literals only
    if (end - ip < 2) throw new Lz4Error(`LZ4 block truncated ${at()}: match offset missing`);
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0) throw new Lz4Error(`LZ4 block corrupt ${at()}: match offset 0`);
    if (offset > op - dstStart) throw new Lz4Error(`LZ4 block corrupt ${at()}: match offset ${offset} reaches before the start of the output (${op - dstStart} bytes written)`);
    let len = token & 15;
    if (len === 15) {
      let b: number;
      do {
        if (ip >= end) throw new Lz4Error(`LZ4 block truncated ${at()}: match length continues past the end`);
        b = src[ip++]!;
        len += b;
      } while (b === 255);
    }
    len += 4;
    if (len > dend - op) throw new Lz4Error(`LZ4 block output overflow ${at()}: match of ${len} bytes, room for ${dend - op} bytes`);
    let from = op - offset;
    if (offset >= len) {
      dst.copyWithin(op, from, from + len);
      op += len;
    } else {
      // Overlapping match: each byte may be one this match has just written.
      for (const stop = op + len; op < stop;) dst[op++] = dst[from++]!;
    }
  }
}

const u32 = (b: Uint8Array, i: number): number => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;

export const isLz4Legacy = (b: Uint8Array): boolean => b.length >= 4 && u32(b, 0) === LZ4_LEGACY_MAGIC;

/** Decompress an LZ4 legacy frame (see the header comment for where it ends). */
export function decompressLz4Legacy(src: Uint8Array): Uint8Array {
  if (!isLz4Legacy(src)) throw new Lz4Error('not an LZ4 legacy frame (magic 02 21 4c 18)');
  const scratch = new Uint8Array(LZ4_LEGACY_BLOCK);
  const parts: Uint8Array[] = [];
  let total = 0;
  let ip = 4;
  let blocks = 0;
  while (src.length - ip >= 4) {
    const size = u32(src, ip);
    if (size === LZ4_LEGACY_MAGIC) { ip += 4; continue; }
    if (blocks > 0 && src.length - ip === 4) break; // the kernel's appended decompressed size
    ip += 4;
    if (size === 0 || size > LZ4_LEGACY_BLOCK_BOUND) throw new Lz4Error(`LZ4 legacy frame corrupt at offset ${ip - 4}: block size ${size} (at most ${LZ4_LEGACY_BLOCK_BOUND})`);
    if (size > src.length - ip) throw new Lz4Error(`LZ4 legacy frame truncated at offset ${ip - 4}: block of ${size} bytes, ${src.length - ip} left`);
    let n: number;
    try {
      n = decodeLz4Block(src, scratch, ip, ip + size, 0);
    } catch (e) {
      if (e instanceof Lz4Error) throw new Lz4Error(`${e.message} (block ${blocks} at offset ${ip - 4})`);
      throw e;
    }
    parts.push(scratch.slice(0, n));
    total += n;
    ip += size;
    blocks++;
  }
  if (blocks === 0) throw new Lz4Error('LZ4 legacy frame has no blocks');
  if (ip !== src.length && src.length - ip !== 4) throw new Lz4Error(`LZ4 legacy frame truncated: ${src.length - ip} stray bytes at offset ${ip}`);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
