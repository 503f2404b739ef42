/**
 * Linux bzImage (vmlinuz) input: find the compressed kernel inside and
 * decompress it to the ELF vmlinux.
 *
 * Why extract the ELF rather than boot the bzImage: hvtrace starts Linux at
 * its PVH entry (XEN_ELFNOTE_PHYS32_ENTRY), and that note lives only in the
 * ELF vmlinux, which the bzImage carries compressed. Booting the bzImage
 * itself would mean the 64-bit (or 32-bit) boot protocol: building
 * boot_params (zero page, e820 table, setup header copy) and running the
 * kernel's own decompressor in the guest - a second boot path. Extracting
 * keeps one boot path (core/hv/boot.ts bootPvh) for every kernel.
 *
 * Setup header (Documentation/x86/boot.rst): setup_sects at 0x1f1 (0 means
 * 4), "HdrS" at 0x202, the protocol version at 0x206, and, for protocol
 * 2.08 and later, payload_offset (0x248) and payload_length (0x24c): the
 * payload's place relative to the protected-mode code, which starts at
 * (setup_sects + 1) * 512 in the file.
 */
import { gunzipSync } from 'node:zlib';
import { decompressLz4Legacy, Lz4Error } from './lz4.js';
import { parseElf, findPvhEntry, ElfError } from './elf.js';
import { detectBootProtocol, type BootProtocol } from './multiboot.js';

export class BzImageError extends Error {
  constructor(message: string) { super(message); this.name = 'BzImageError'; }
}

export interface SetupHeader {
  /** setup_sects as stored (0 read as 4, as the boot loader must). */
  readonly setupSects: number;
  /** Boot protocol version, e.g. 0x20f. */
  readonly version: number;
  /** File offset of the protected-mode kernel: (setupSects + 1) * 512. */
  readonly pmOffset: number;
  readonly payloadOffset: number;
  readonly payloadLength: number;
}

export type PayloadFormat = 'lz4' | 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'lzma' | 'lzo' | 'elf' | 'unknown';

const u16 = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8);
const u32 = (b: Uint8Array, i: number): number => (u16(b, i) | (u16(b, i + 2) << 16)) >>> 0;
const HDRS = 0x53726448; // "HdrS"

/** A bzImage: has "HdrS" at 0x202, or starts with "MZ" (the EFI stub's PE header; checked further by parseSetupHeader). */
export function isBzImage(b: Uint8Array): boolean {
  if (b.length >= 0x206 && u32(b, 0x202) === HDRS) return true;
  return b.length >= 2 && b[0] === 0x4d && b[1] === 0x5a;
}

export function parseSetupHeader(b: Uint8Array, name = 'image'): SetupHeader {
  if (b.length < 0x250) throw new BzImageError(`${name}: too short for a Linux setup header (${b.length} bytes)`);
  if (u32(b, 0x202) !== HDRS) throw new BzImageError(`${name}: no Linux setup header ("HdrS" at 0x202): not a bzImage`);
  const version = u16(b, 0x206);
  if (version < 0x208) throw new BzImageError(`${name}: boot protocol ${version >> 8}.${(version & 0xff).toString().padStart(2, '0')} has no payload_offset/payload_length (needs 2.08 or later)`);
  const setupSects = b[0x1f1]! === 0 ? 4 : b[0x1f1]!;
  const pmOffset = (setupSects + 1) * 512;
  const payloadOffset = u32(b, 0x248);
  const payloadLength = u32(b, 0x24c);
  if (payloadLength === 0) throw new BzImageError(`${name}: payload_length is 0`);
  if (pmOffset + payloadOffset + payloadLength > b.length) {
    throw new BzImageError(`${name}: payload [0x${(pmOffset + payloadOffset).toString(16)}, +0x${payloadLength.toString(16)}) runs past the end of the file (${b.length} bytes); truncated?`);
  }
  return { setupSects, version, pmOffset, payloadOffset, payloadLength };
}

export function payloadFormat(p: Uint8Array): PayloadFormat {
  const m = (...bytes: number[]): boolean => p.length >= bytes.length && bytes.every((x, i) => p[i] === x);
  if (m(0x02, 0x21, 0x4c, 0x18)) return 'lz4';
  if (m(0x1f, 0x8b)) return 'gzip';
  if (m(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (m(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (m(0x42, 0x5a, 0x68)) return 'bzip2';
  if (m(0x5d, 0x00, 0x00)) return 'lzma';
  if (m(0x89, 0x4c, 0x5a, 0x4f)) return 'lzo';
  if (m(0x7f, 0x45, 0x4c, 0x46)) return 'elf';
  return 'unknown';
}

/** The payload's bytes (compressed) and its format. */
export function findPayload(b: Uint8Array, name = 'image'): { header: SetupHeader; payload: Uint8Array; format: PayloadFormat } {
  const header = parseSetupHeader(b, name);
  const start = header.pmOffset + header.payloadOffset;
  const payload = b.subarray(start, start + header.payloadLength);
  return { header, payload, format: payloadFormat(payload) };
}

/** Decompress a kernel payload; formats without a decoder here are a BzImageError naming the format. */
export function decompressPayload(p: Uint8Array, name = 'image'): Uint8Array {
  const format = payloadFormat(p);
  switch (format) {
    case 'elf': return p;
    case 'lz4':
      try { return decompressLz4Legacy(p); } catch (e) {
        if (e instanceof Lz4Error) throw new BzImageError(`${name}: LZ4 payload: ${e.message}`);
        throw e;
      }
    case 'gzip':
      try {
        return new Uint8Array(gunzipSync(p));
      } catch (e) {
        // node:zlib reads bytes after a gzip member as another member, so a
        // payload followed by the 4-byte decompressed size (size_append, as
        // the build appends it to other formats) fails as a whole: try it
        // without those 4 bytes (CRC and ISIZE are still checked).
        if (p.length > 4) { try { return new Uint8Array(gunzipSync(p.subarray(0, p.length - 4))); } catch { /* report the first error */ } }
        throw new BzImageError(`${name}: gzip payload: ${(e as Error).message}`);
      }
    case 'unknown': {
      const head = [...p.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
      throw new BzImageError(`${name}: payload compression not recognized (starts ${head})`);
    }
    default:
      throw new BzImageError(`${name}: payload is ${format}-compressed; hvtrace decompresses lz4 and gzip kernels (build with CONFIG_KERNEL_LZ4 or CONFIG_KERNEL_GZIP, or pass the ELF vmlinux)`);
  }
}

/** The ELF vmlinux inside a bzImage. */
export function extractVmlinux(b: Uint8Array, name = 'image'): Uint8Array {
  const { payload } = findPayload(b, name);
  const elf = decompressPayload(payload, name);
  if (!(elf.length >= 4 && elf[0] === 0x7f && elf[1] === 0x45 && elf[2] === 0x4c && elf[3] === 0x46)) {
    throw new BzImageError(`${name}: the decompressed payload (${elf.length} bytes) is not an ELF vmlinux`);
  }
  return elf;
}

const isElf = (b: Uint8Array): boolean => b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;

/**
 * A kernel file as the loaders want it: an ELF file as is, a bzImage as the
 * ELF vmlinux inside it, anything else unchanged (multiboot .flat images).
 */
export function kernelImage(b: Uint8Array, name = 'image'): { bytes: Uint8Array; fromBzImage: boolean } {
  if (isElf(b) || !isBzImage(b)) return { bytes: b, fromBzImage: false };
  return { bytes: extractVmlinux(b, name), fromBzImage: true };
}

/**
 * The kernel to load and its boot protocol. A bzImage is booted through the
 * PVH entry of its ELF vmlinux, so a bzImage whose vmlinux lacks the PVH note
 * (a kernel built without CONFIG_PVH) is a BzImageError.
 */
export function resolveKernel(b: Uint8Array, name = 'image'): { bytes: Uint8Array; kind: BootProtocol; fromBzImage: boolean } {
  const k = kernelImage(b, name);
  if (!k.fromBzImage) return { ...k, kind: detectBootProtocol(k.bytes, name) };
  let found: number | undefined;
  try { found = findPvhEntry(parseElf(k.bytes, `${name} (decompressed vmlinux)`)); } catch (e) {
    if (e instanceof ElfError) throw new BzImageError(`${name}: the decompressed vmlinux is not a loadable ELF file: ${e.message}`);
    throw e;
  }
  if (found === undefined) throw new BzImageError(`${name}: a bzImage whose vmlinux has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY; the kernel needs CONFIG_PVH=y): hvtrace boots a bzImage only through its PVH entry`);
  return { ...k, kind: 'pvh' };
}
