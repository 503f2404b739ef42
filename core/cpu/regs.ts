/**
 * Architectural register numbering and bit constants of the x86-64 "silicon".
 * Intel SDM Vol. 1, 3.4 (basic program execution registers) and Vol. 3A,
 * 2.5 (control registers), 2.2.1 (EFER).
 */

// General-purpose registers, in ModRM/REX encoding order (Vol. 2A, Table 2-2).
export const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;
export const R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;
export const GPR_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;

// Segment registers in the order of the Sreg encoding (Vol. 2A, 3.1.1.3) and
// of the VMCS guest-state area; LDTR and TR follow.
export const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5, LDTR = 6, TR = 7;
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'] as const;

// RFLAGS bits (Vol. 1, 3.4.3).
export const CF = 1 << 0, PF = 1 << 2, AF = 1 << 4, ZF = 1 << 6, SF = 1 << 7, TF = 1 << 8;
export const IF = 1 << 9, DF = 1 << 10, OF = 1 << 11, IOPL = 3 << 12, NT = 1 << 14, RF = 1 << 16;
export const VM = 1 << 17, AC = 1 << 18, VIF = 1 << 19, VIP = 1 << 20, ID = 1 << 21;
/** The six status flags computed lazily. */
export const ARITH_FLAGS = CF | PF | AF | ZF | SF | OF;
/** Bits software can change with POPF at CPL 0 (reserved bits excluded). */
export const FLAGS_WRITABLE = CF | PF | AF | ZF | SF | TF | IF | DF | OF | IOPL | NT | RF | AC | VIF | VIP | ID;
/** Bit 1 of RFLAGS is reserved and always 1. */
export const FLAGS_FIXED1 = 1 << 1;

// CR0 (Vol. 3A, 2.5).
export const CR0_PE = 1 << 0, CR0_MP = 1 << 1, CR0_EM = 1 << 2, CR0_TS = 1 << 3, CR0_ET = 1 << 4;
export const CR0_NE = 1 << 5, CR0_WP = 1 << 16, CR0_AM = 1 << 18, CR0_NW = 1 << 29, CR0_CD = 1 << 30;
export const CR0_PG = 1 << 31;
// CR4 (Vol. 3A, 2.5).
export const CR4_VME = 1 << 0, CR4_PVI = 1 << 1, CR4_TSD = 1 << 2, CR4_DE = 1 << 3, CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5, CR4_MCE = 1 << 6, CR4_PGE = 1 << 7, CR4_PCE = 1 << 8, CR4_OSFXSR = 1 << 9;
export const CR4_OSXMMEXCPT = 1 << 10, CR4_UMIP = 1 << 11, CR4_VMXE = 1 << 13, CR4_SMXE = 1 << 14;
export const CR4_FSGSBASE = 1 << 16, CR4_PCIDE = 1 << 17, CR4_OSXSAVE = 1 << 18, CR4_SMEP = 1 << 20, CR4_SMAP = 1 << 21;
// IA32_EFER (Vol. 3A, 2.2.1, Table 2-1 "IA32_EFER MSR Information").
export const EFER_SCE = 1 << 0, EFER_LME = 1 << 8, EFER_LMA = 1 << 10, EFER_NXE = 1 << 11;

// Exception vectors (Vol. 3A, 6.3.1, Table 6-1).
export const DE = 0, DB = 1, NMI = 2, BP = 3, OFV = 4, BR = 5, UD = 6, NM = 7, DF_VEC = 8;
export const TS = 10, NP = 11, SS_VEC = 12, GP = 13, PF_VEC = 14, MF = 16, AC_VEC = 17, MC = 18, XM = 19;

// Segment access rights in the VMCS layout (Vol. 3C, 25.4.1, Table 25-2
// "Format of Access Rights"): type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13,
// D/B 14, G 15, unusable 16.
export const AR_TYPE = 0xf, AR_S = 1 << 4, AR_DPL_SHIFT = 5, AR_P = 1 << 7, AR_L = 1 << 13, AR_DB = 1 << 14;
export const AR_G = 1 << 15, AR_UNUSABLE = 1 << 16;

// MSR indices (Vol. 4).
export const MSR_TSC = 0x10, MSR_APIC_BASE = 0x1b, MSR_FEATURE_CONTROL = 0x3a, MSR_TSC_ADJUST = 0x3b;
export const MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176;
export const MSR_MISC_ENABLE = 0x1a0, MSR_PAT = 0x277, MSR_DEBUGCTL = 0x1d9;
export const MSR_EFER = 0xc0000080, MSR_STAR = 0xc0000081, MSR_LSTAR = 0xc0000082, MSR_CSTAR = 0xc0000083;
export const MSR_FMASK = 0xc0000084, MSR_FS_BASE = 0xc0000100, MSR_GS_BASE = 0xc0000101;
export const MSR_KERNEL_GS_BASE = 0xc0000102, MSR_TSC_AUX = 0xc0000103;

export const TWO32 = 4294967296;
