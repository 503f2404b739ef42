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
