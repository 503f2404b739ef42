/** Memory-access kinds for address translation, and the TLB permission bits (shared by cpu.ts and mmu.ts). */
export const ACC_R = 1, ACC_W = 2, ACC_X = 4, ACC_SYS = 8;
// TLB permission bits: supervisor read/write/exec, user read/write/exec.
export const P_SR = 1, P_SW = 2, P_SX = 4, P_UR = 8, P_UW = 16, P_UX = 32;
/**
 * Supervisor read/write of a user page under CR4.SMAP (Vol. 3A 4.6): such a page has these instead of
 * P_SR/P_SW, and the supervisor's Cpu.permR/permW include them only while RFLAGS.AC = 1 (implicit
 * supervisor accesses, always a walk, check CPL < 3 and AC themselves: mmu.ts).
 */
export const P_SRA = 64, P_SWA = 128;

/**
 * Alignment checking (Vol. 3A 6.15 "Interrupt 17 - Alignment Check Exception (#AC)": CR0.AM = 1,
 * RFLAGS.AC = 1, CPL 3). Data reads and writes tell the translation path their size (ACC_SZ*, ignored
 * by the walk); while checking is on, the user's permR/permW are P_ACU, a bit no TLB entry has, so
 * every such access takes Cpu.translate, which raises #AC(0) for a misaligned one first. The TLB hit
 * path is unchanged.
 */
export const ACC_SZ2 = 16, ACC_SZ4 = 32, ACC_SZ8 = 64;
export const P_ACU = 256;

/** The software TLB (Cpu.tlbTag/tlbHpa/tlbPerm): direct-mapped by linear page number. */
export const TLB_BITS = 12;
export const TLB_MASK = (1 << TLB_BITS) - 1;
