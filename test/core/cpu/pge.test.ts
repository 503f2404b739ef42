/**
 * Global pages (SDM Vol. 3A, 4.10.2.4 "Global Pages", 4.10.4.1 "Operations
 * that Invalidate TLBs and Paging-Structure Caches"). With CR4.PGE = 1, the
 * translation of a page whose PTE has G = 1 survives MOV to CR3; INVLPG of
 * that page, a MOV to CR4 that changes PGE and a MOV to CR0 that changes
 * paging control bits drop it. Observed the way the SDM allows software to
 * see it: page tables edited without invalidation, then stale (cached) or
 * fresh (re-walked) translations read back.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeNativeState } from '../../../properties/harness/native.js';
import { Cpu1, CODE_BASE, PTE_P, PTE_W } from '../../../properties/harness/cpu1.js';
import { CR4_PGE, CR4_VMXE } from '../../../core/cpu/regs.js';
import type { Cpu } from '../../../core/cpu/cpu.js';

const PTE_G = 0x100;
const A = CODE_BASE + 0x3000, B = CODE_BASE + 0x4000; // same page table as the code pages

interface World { c1: Cpu1; old: number; fresh: number }
/** A (global unless `aGlobal` is false) and B (never global) map pages holding 0x11 / 0x22; `fresh` holds 0x33. */
function world(pge: boolean, aGlobal = true): World {
  // CR4.VMXE: fixed to 1 in VMX operation (IA32_VMX_CR4_FIXED0), so MOV to CR4 keeps it.
  const setup = (c: Cpu): void => { c.cr4 |= CR4_VMXE | (pge ? CR4_PGE : 0); };
  const c1 = new Cpu1({ setup });
  const pa = c1.allocPage(), pb = c1.allocPage(), fresh = c1.allocPage();
  c1.mem.u8.fill(0x11, pa, pa + 0x1000); c1.mem.u8.fill(0x22, pb, pb + 0x1000); c1.mem.u8.fill(0x33, fresh, fresh + 0x1000);
  c1.setPte(A, pa | PTE_P | PTE_W | (aGlobal ? PTE_G : 0), 0);
  c1.setPte(B, pb | PTE_P | PTE_W, 0);
  return { c1, old: pa, fresh };
}
/** Runs `code` (several instructions) with RSI = A, RDI = B. */
function run(w: World, code: number[], steps: number, init: Record<string, number> = {}): { al: number; bl: number; ok: boolean } {
  const r = w.c1.run({ code: Uint8Array.from(code), state: makeNativeState({ rsi: A, rdi: B, ...init }) }, steps);
  return { al: r.state!.gpr[0]! & 0xff, bl: r.state!.gpr[6]! & 0xff, ok: r.ok };
}
const LOAD_BOTH = [0x8a, 0x06, 0x8a, 0x1f];                 // mov al, [rsi]; mov bl, [rdi]
const MOV_CR3_RDX = [0x0f, 0x22, 0xda];                     // mov cr3, rdx
const MOV_RDX_CR3 = [0x0f, 0x20, 0xda];                     // mov rdx, cr3
/** Points both PTEs at the `fresh` page behind the CPU's back (no invalidation). */
function retarget(w: World): void {
  for (const lin of [A, B]) {
    const pa = w.c1.ptePa(lin);
    const lo = w.c1.mem.dv.getInt32(pa, true);
    w.c1.mem.dv.setInt32(pa, (lo & 0xfff) | w.fresh, true);
  }
}

test('no invalidation at all: both translations are stale (the TLB is in use)', () => {
  const w = world(true);
  assert.equal(run(w, LOAD_BOTH, 2), { al: 0x11, bl: 0x22, ok: true });
  retarget(w);
  assert.equal(run(w, LOAD_BOTH, 2), { al: 0x11, bl: 0x22, ok: true });
});

test('MOV to CR3: the global translation survives, the non-global one is re-walked', () => {
  const w = world(true);
  run(w, LOAD_BOTH, 2);
  retarget(w);
  const r = run(w, [...MOV_RDX_CR3, ...MOV_CR3_RDX, ...LOAD_BOTH], 4);
  assert.equal(r, { al: 0x11, bl: 0x33, ok: true });
  // And it keeps surviving further CR3 loads.
  assert.equal(run(w, [...MOV_RDX_CR3, ...MOV_CR3_RDX, ...LOAD_BOTH], 4), { al: 0x11, bl: 0x33, ok: true });
});

test('MOV to CR3 with CR4.PGE = 0: G is ignored, nothing survives', () => {
  const w = world(false);
  run(w, LOAD_BOTH, 2);
  retarget(w);
  assert.equal(run(w, [...MOV_RDX_CR3, ...MOV_CR3_RDX, ...LOAD_BOTH], 4), { al: 0x33, bl: 0x33, ok: true });
});

test('G = 0 with CR4.PGE = 1: not global', () => {
  const w = world(true, false);
  run(w, LOAD_BOTH, 2);
  retarget(w);
  assert.equal(run(w, [...MOV_RDX_CR3, ...MOV_CR3_RDX, ...LOAD_BOTH], 4), { al: 0x33, bl: 0x33, ok: true });
});

test('INVLPG of the global page drops it', () => {
  const w = world(true);
  run(w, LOAD_BOTH, 2);
  retarget(w);
  // invlpg [rsi]; mov al, [rsi]; mov bl, [rdi]: B is still cached (stale), A re-walked.
  assert.equal(run(w, [0x0f, 0x01, 0x3e, ...LOAD_BOTH], 3), { al: 0x33, bl: 0x22, ok: true });
});

test('MOV to CR4 that toggles PGE flushes global translations too', () => {
  const w = world(true);
  run(w, LOAD_BOTH, 2);
  retarget(w);
  // mov rdx, cr4; btr rdx, 7; mov cr4, rdx; bts rdx, 7; mov cr4, rdx; loads.
  const code = [0x0f, 0x20, 0xe2, 0x48, 0x0f, 0xba, 0xf2, 0x07, 0x0f, 0x22, 0xe2, 0x48, 0x0f, 0xba, 0xea, 0x07, 0x0f, 0x22, 0xe2, ...LOAD_BOTH];
  assert.equal(run(w, code, 7), { al: 0x33, bl: 0x33, ok: true });
});

test('MOV to CR0 that changes a paging bit (WP, like PG) flushes global translations too', () => {
  const w = world(true);
  run(w, LOAD_BOTH, 2);
  retarget(w);
  // mov rdx, cr0; btr rdx, 16; mov cr0, rdx; loads.
  const code = [0x0f, 0x20, 0xc2, 0x48, 0x0f, 0xba, 0xf2, 0x10, 0x0f, 0x22, 0xc2, ...LOAD_BOTH];
  assert.equal(run(w, code, 5), { al: 0x33, bl: 0x33, ok: true });
});

test('a 2-MiB global page survives MOV to CR3 and INVLPG drops every 4-KiB piece of it', () => {
  const c1 = new Cpu1({ setup: (c) => { c.cr4 |= CR4_PGE; } });
  const big = 0x40000000; // linear 1 GiB: PDPT entry 1 -> a new directory with one 2-MiB page
  const pd2 = c1.allocPage();
  c1.mem.dv.setInt32(0x1000 + 8, pd2 | 7, true); // PDPT[1] (Cpu1's PDPT is at physical 0x1000)
  c1.mem.dv.setInt32(pd2, 0 | 0x80 | PTE_G | PTE_P | PTE_W, true); // 2 MiB at physical 0 (the small memory)
  c1.cpu.flushTlb();
  // Two 4-KiB pieces of the 2-MiB page, with markers.
  const code = [0x8a, 0x06, 0x8a, 0x1f]; // mov al, [rsi]; mov bl, [rdi]
  const px = c1.allocPage(), py = c1.allocPage();
  c1.mem.u8[px] = 0x44; c1.mem.u8[py] = 0x55;
  const go = (pre: number[], steps: number): number[] => {
    const r = c1.run({ code: Uint8Array.from([...pre, ...code]), state: makeNativeState({ rsi: big + px, rdi: big + py }) }, steps);
    assert.ok(r.ok);
    return [r.state!.gpr[0]! & 0xff, r.state!.gpr[6]! & 0xff];
  };
  assert.equal(go([], 2), [0x44, 0x55]);
  // Mark the 2-MiB page not present, without invalidation.
  c1.mem.dv.setInt32(pd2, 0, true);
  assert.equal(go([...MOV_RDX_CR3, ...MOV_CR3_RDX], 4), [0x44, 0x55], 'both 4-KiB pieces survive MOV to CR3');
  // INVLPG of one address inside the page drops the whole page: the next read faults (#PF).
  const r = c1.run({ code: Uint8Array.from([0x0f, 0x01, 0x3e, 0x8a, 0x1f]), state: makeNativeState({ rsi: big + px, rdi: big + py }) }, 2);
  assert.is(r.ok ? -1 : r.vector, 14, 'the other 4-KiB piece was dropped too');
});

test.run();
