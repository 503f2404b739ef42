/**
 * The CPUID answers of this "silicon" (SDM Vol. 2A, CPUID, Tables 3-8 to
 * 3-20): an Intel Skylake-class model (family 6, model 0x5E, stepping 3)
 * that advertises only what the machine implements. In VMX non-root
 * operation CPUID always exits (Vol. 3C, 26.1.2), so guests see these values
 * only as filtered by the hypervisor, the way KVM's supported-CPUID works.
 */
import { XCR0_SUPPORTED, XSAVE_AREA_SIZE } from './fpu-state.js';

export interface CpuidResult { eax: number; ebx: number; ecx: number; edx: number }

// CPUID.01H:ECX / EDX feature bits (Vol. 2A, Tables 3-10 and 3-11).
export const F1_ECX = { SSE3: 1 << 0, VMX: 1 << 5, SSSE3: 1 << 9, CX16: 1 << 13, SSE41: 1 << 19, SSE42: 1 << 20, X2APIC: 1 << 21, MOVBE: 1 << 22, POPCNT: 1 << 23, XSAVE: 1 << 26, OSXSAVE: 1 << 27, HYPERVISOR: 1 << 31 } as const;
export const F1_EDX = {
  FPU: 1 << 0, VME: 1 << 1, DE: 1 << 2, PSE: 1 << 3, TSC: 1 << 4, MSR: 1 << 5, PAE: 1 << 6, MCE: 1 << 7, CX8: 1 << 8,
  APIC: 1 << 9, SEP: 1 << 11, MTRR: 1 << 12, PGE: 1 << 13, MCA: 1 << 14, CMOV: 1 << 15, PAT: 1 << 16, PSE36: 1 << 17,
  CLFSH: 1 << 19, MMX: 1 << 23, FXSR: 1 << 24, SSE: 1 << 25, SSE2: 1 << 26,
} as const;
// CPUID.(EAX=07H,ECX=0) feature bits (Vol. 2A, Table 3-8 leaf 07H).
export const F7_EBX = { FSGSBASE: 1 << 0, SMEP: 1 << 7, SMAP: 1 << 20, CLFLUSHOPT: 1 << 23 } as const;
export const F7_ECX = { UMIP: 1 << 2 } as const;

// CPUID.80000001H (Vol. 2A, Table 3-8 leaf 80000001H).
export const FX_EDX = { SYSCALL: 1 << 11, NX: 1 << 20, PDPE1GB: 1 << 26, RDTSCP: 1 << 27, LM: 1 << 29 } as const;
export const FX_ECX = { LAHF_LM: 1 << 0 } as const;

const VENDOR = [0x756e6547, 0x6c65746e, 0x49656e69]; // "Genu" "ntel" "ineI" in EBX, ECX, EDX order below

/** Family 6 model 0x5E stepping 3, encoded as CPUID.01H:EAX (Vol. 2A, Figure 3-6). */
export const SIGNATURE = (0x5 << 16) | (0x6 << 8) | (0xe << 4) | 0x3;

const BRAND = 'hvtrace emulated x86-64 CPU @ virtual time'.padEnd(48, '\0');

export const MAX_BASIC_LEAF = 0x0d;
export const MAX_EXT_LEAF = 0x80000008;

/** The silicon's raw CPUID answer for (leaf, subleaf). Unknown leaves answer as the highest basic leaf does (Vol. 2A, CPUID: "If a value entered for CPUID.EAX is higher than the maximum input value ..."). */
export function siliconCpuid(leaf: number, subleaf: number, apicId = 0): CpuidResult {
  leaf >>>= 0;
  if ((leaf > MAX_BASIC_LEAF && leaf < 0x80000000) || leaf > MAX_EXT_LEAF) leaf = MAX_BASIC_LEAF;
  switch (leaf) {
    case 0: return { eax: MAX_BASIC_LEAF, ebx: VENDOR[0]!, ecx: VENDOR[1]!, edx: VENDOR[2]! };
    case 1: {
      // SSE3/SSSE3/SSE4 are not implemented, so not advertised (Linux x86-64 needs only SSE2).
      // XSAVE: XSAVE/XRSTOR/XSETBV/XGETBV and XCR0 (Vol. 1, 13.2). OSXSAVE (bit 27) mirrors
      // CR4.OSXSAVE: the CPU's answer is always filtered by the hypervisor (core/hv/exits/cpuid.ts),
      // which sets it from the guest's CR4.
      const ecx = F1_ECX.VMX | F1_ECX.CX16 | F1_ECX.POPCNT | F1_ECX.XSAVE;
      const edx = F1_EDX.FPU | F1_EDX.DE | F1_EDX.PSE | F1_EDX.TSC | F1_EDX.MSR | F1_EDX.PAE | F1_EDX.CX8 | F1_EDX.APIC |
        F1_EDX.SEP | F1_EDX.PGE | F1_EDX.CMOV | F1_EDX.PAT | F1_EDX.CLFSH | F1_EDX.FXSR | F1_EDX.SSE | F1_EDX.SSE2 | F1_EDX.MMX;
      // EBX: brand index 0, CLFLUSH line size 8 (x8 = 64 bytes), 1 logical processor, initial APIC ID.
      const ebx = (8 << 8) | (1 << 16) | ((apicId & 0xff) << 24);
      return { eax: SIGNATURE, ebx, ecx: ecx | 0, edx: edx | 0 };
    }
    case 2: return { eax: 0x00000001, ebx: 0, ecx: 0, edx: 0 }; // no descriptors; leaf 4 describes caches
    case 4: {
      // Deterministic cache parameters (Table 3-8 leaf 04H): L1D, L1I, L2, then none.
      const caches = [[1, 1, 8, 64, 64], [2, 1, 8, 64, 64], [3, 2, 4, 64, 1024]] as const;
      const c = caches[subleaf];
      if (!c) return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
      const [type, level, ways, line, sets] = c;
      return { eax: type | (level << 5) | (1 << 8), ebx: (line - 1) | ((ways - 1) << 22), ecx: sets - 1, edx: 0 };
    }
    case 7: {
      // Structured extended features, sub-leaf 0 (Vol. 2A, Table 3-8 leaf 07H): EAX = 0 (no
      // further sub-leaves); EBX bit 0 FSGSBASE (F3 0F AE /0-/3), bit 7 SMEP, bit 20 SMAP (STAC/CLAC), bit 23 CLFLUSHOPT (66 0F AE /7); ECX bit 2 UMIP.
      if (subleaf !== 0) return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
      return { eax: 0, ebx: F7_EBX.FSGSBASE | F7_EBX.SMEP | F7_EBX.SMAP | F7_EBX.CLFLUSHOPT, ecx: F7_ECX.UMIP, edx: 0 };
    }
    case 0x0d: {
      // Processor extended state enumeration (Vol. 2A, Table 3-8 leaf 0DH; Vol. 1, 13.2).
      // Sub-leaf 0: EDX:EAX = the XCR0 bits that may be set (x87, SSE); EBX = the size of
      // the XSAVE area for the features enabled in XCR0, ECX = for all supported ones:
      // both components live in the legacy region, so both are 512 + 64 (header) bytes.
      if (subleaf === 0) return { eax: XCR0_SUPPORTED, ebx: XSAVE_AREA_SIZE, ecx: XSAVE_AREA_SIZE, edx: 0 };
      // Sub-leaf 1: EAX bit 0 XSAVEOPT, 1 XSAVEC/compaction, 2 XGETBV with ECX = 1,
      // 3 XSAVES/XRSTORS and IA32_XSS: none is supported; no supervisor state (ECX:EDX = 0).
      // Sub-leaves 2-63 describe components 2-63 (none supported: all zero).
      return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    }
    case 0x0b: return { eax: 0, ebx: 0, ecx: subleaf & 0xff, edx: apicId };
    case 0x80000000: return { eax: MAX_EXT_LEAF, ebx: 0, ecx: 0, edx: 0 };
    case 0x80000001: return { eax: 0, ebx: 0, ecx: FX_ECX.LAHF_LM, edx: FX_EDX.SYSCALL | FX_EDX.NX | FX_EDX.PDPE1GB | FX_EDX.RDTSCP | FX_EDX.LM };
    case 0x80000002: case 0x80000003: case 0x80000004: {
      const off = (leaf - 0x80000002) * 16;
      const w = (k: number): number => {
        let v = 0;
        for (let b = 3; b >= 0; b--) v = (v << 8) | BRAND.charCodeAt(off + k * 4 + b);
        return v;
      };
      return { eax: w(0), ebx: w(1), ecx: w(2), edx: w(3) };
    }
    case 0x80000006: return { eax: 0, ebx: 0, ecx: (256 << 16) | (6 << 12) | 64, edx: 0 };
    case 0x80000007: return { eax: 0, ebx: 0, ecx: 0, edx: 1 << 8 }; // invariant TSC
    case 0x80000008: return { eax: (48 << 8) | 39, ebx: 0, ecx: 0, edx: 0 }; // 48-bit linear, 39-bit physical (MAXPHYADDR)
    default: return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  }
}
