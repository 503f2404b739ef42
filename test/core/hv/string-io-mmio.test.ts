// INS/OUTS whose memory operand is MMIO (pc-testdev's buffer at 0xFF000000),
// with an element that straddles two pages, through the real I/O-instruction
// exit handler (core/hv/exits/io-instruction.ts) and the MMIO bus.
//
// SDM: INS stores the port's data at ES:[rDI] and steps rDI by the element
// size (DF = 0), OUTS sends DS:[rSI] (Vol. 2A INS/INSB/INSW/INSD, Vol. 2B
// OUTS); with REP, rCX elements (Vol. 2B REP). pc-testdev's port 0xE0 is a
// 32-bit latch that reads back what was written (QEMU hw/misc/pc-testdev.c).
// The MMIO page is reached through guest paging: linear 0x40000000 (1 GiB)
// maps physical 0xFF000000 with a 2-MiB page.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Machine } from '../../../core/hv/machine.js';
import { guest64, PDPT } from '../../helpers/machine.js';
import { TESTDEV_IOMEM_BASE } from '../../../core/devices/pc-testdev.js';

const PD2 = 0x4000;
const LIN = 0x40000000;
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

test('rep outsw from, then rep insw into pc-testdev MMIO, a word straddling 0xFF000FFF/0xFF001000', () => {
  const code = [
    0x66, 0xba, 0xe0, 0x00,                 // mov dx, 0xe0
    0x48, 0xbe, ...le32(LIN + 0xfff), 0, 0, 0, 0, // mov rsi, LIN + 0xfff
    0xb9, ...le32(1),                       // mov ecx, 1
    0xfc,                                   // cld
    0xf3, 0x66, 0x6f,                       // rep outsw   (word from 0xff000fff: bytes 0xab, 0xcd)
    0xed,                                   // in eax, dx  (the latch)
    0x89, 0x04, 0x25, ...le32(0x5000),      // mov [0x5000], eax
    0xb8, ...le32(0x11223344),              // mov eax, 0x11223344
    0xef,                                   // out dx, eax
    0x48, 0xbf, ...le32(LIN + 0xfff), 0, 0, 0, 0, // mov rdi, LIN + 0xfff
    0xb9, ...le32(2),                       // mov ecx, 2
    0xf3, 0x66, 0x6d,                       // rep insw    (0x3344 twice)
    0x48, 0x89, 0x3c, 0x25, ...le32(0x5008), // mov [0x5008], rdi
    0x48, 0x89, 0x0c, 0x25, ...le32(0x5010), // mov [0x5010], rcx
    0xf4,                                   // hlt
  ];
  const m = new Machine({ memMiB: 8, maxInstructions: 10_000 });
  guest64(m, code);
  m.mem.write32(PDPT + 8, PD2 | 0x23);                 // PDPT[1] -> PD2 (P | RW | A)
  m.mem.write32(PD2, (TESTDEV_IOMEM_BASE | 0xe3) >>> 0); // 2-MiB page at 0xFF000000 (P | RW | A | D | PS)
  const io = m.pc.testdev.iomem;
  io[0xfff] = 0xab; io[0x1000] = 0xcd;
  const r = m.run();
  assert.ok(r.stop.kind === 'halted', `${r.stop.kind}: ${r.stop.message ?? ''}`);
  assert.is(m.mem.read32(0x5000) >>> 0, 0xcdab, 'OUTSW sent the straddling word');
  assert.equal(Array.from(io.subarray(0xfff, 0x1003)), [0x44, 0x33, 0x44, 0x33]);
  assert.is(m.mem.read32(0x5008) >>> 0, LIN + 0x1003, 'RDI advanced by 2 x 2');
  assert.is(m.mem.read32(0x5010), 0, 'RCX counted down');
});

test.run();
