/**
 * Local APIC in xAPIC mode, one CPU (Intel SDM Vol. 3A, chapter "Advanced
 * Programmable Interrupt Controller (APIC)": chapter 10 in older editions,
 * 11 in newer ones; section numbers below are the chapter-10 ones).
 *
 * Shape as the other devices: named register offsets and bit masks, the
 * 4-KiB register page behind `read(offset, size)` / `write(offset, size,
 * value)`, every side effect injected (EOI broadcast to the I/O APIC, NMI,
 * ExtINT, "an interrupt entered the IRR"), so the device tests alone.
 *
 * Register access path. Every register access, MMIO or (later) x2APIC MSR,
 * goes through `readRegister(index)` / `writeRegister(index, value)` with
 * index = MMIO offset >> 4, which is also the x2APIC MSR number minus 0x800
 * (10.12.1.2). The MMIO layer only maps bytes onto those calls:
 *  - A register occupies bytes 0-3 of its 16-byte slot (10.4.1: "32-bit
 *    registers should be accessed using 128-bit aligned 32-bit loads or
 *    stores"). Bytes 4-15 of every slot read as 0 and ignore writes.
 *  - Reads of 1, 2 or 4 bytes at any offset return the addressed bytes
 *    (sub-dword reads of a register give its bytes, as on the processors that
 *    allow them; a read that straddles two slots composes their bytes).
 *  - Writes take effect only as 4-byte stores at a 16-byte-aligned offset;
 *    any other write is ignored (as KVM does: the SDM leaves it undefined).
 *  - An access touching bytes 0-3 of a reserved slot reads 0 / is ignored and
 *    logs "Illegal Register Address" (ESR bit 7, 10.5.3). Writes to
 *    read-only registers are ignored silently.
 *  - While the APIC is globally disabled (IA32_APIC_BASE[11] = 0) the page is
 *    not decoded (10.4.3: "functionally equivalent to an IA-32 processor
 *    without an on-chip APIC"): the hypervisor should stop routing the range
 *    here (see `claims`); if it does not, reads return all ones (no device
 *    answers) and writes are ignored.
 *
 * Interrupt acceptance and priority (10.8):
 *  - `acceptInterrupt(vector, level)` sets the IRR bit and sets (level) or
 *    clears (edge) the TMR bit. Vectors 0-15 are refused with "Receive
 *    Illegal Vector" (ESR bit 6). A software-disabled APIC (SVR bit 8 = 0)
 *    drops fixed interrupts (10.4.7.2: it still "responds normally to INIT,
 *    NMI, SMI and SIPI"); interrupts already in the IRR are held.
 *  - PPR (10.8.3.1): TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4.
 *  - `highestPending()` is the highest IRR vector whose class (bits 7:4)
 *    exceeds PPR[7:4], or -1; -1 while software- or globally disabled.
 *  - `acknowledge(vector)` (the CPU's INTA / VM-entry injection) moves the
 *    vector from the IRR to the ISR.
 *  - EOI (10.8.5) clears the highest ISR bit. If that vector's TMR bit is
 *    set (level-triggered), the EOI is broadcast (`eoiBroadcast`) to the I/O
 *    APIC and clears the remote-IRR of a level-triggered LINT entry with that
 *    vector. The TMR bit itself is left alone: the SDM only sets/clears it
 *    on acceptance (10.8.4), and clearing it here would lose the trigger mode
 *    of an interrupt of the same vector already waiting in the IRR.
 *    Directed EOI (SVR bit 12) is not offered: version bit 24 is 0.
 *
 * Timer (10.5.4). The bus clock is derived from virtual time only: it ticks
 * once every `instructionsPerTick` retired instructions (default 1: with the
 * machine's nominal 1 instruction = 1 ns, a 1 GHz bus, the same rate as the
 * TSC, which equals the instruction count). The counter decrements once
 * every `divisor × instructionsPerTick` instructions (divisor 1-128 from the
 * divide configuration register). Writing the initial count at time t arms
 * the timer: the count reaches 0 at t + count × divisor × instructionsPerTick
 * and then (one-shot) stays 0 or (periodic) reloads from the initial count.
 * All arithmetic is exact integer arithmetic below 2^53 (count < 2^32,
 * divisor <= 128, instructionsPerTick <= 1024, virtual time < 2^51).
 *  - The current count is computed from virtual time when read.
 *  - `timer` is a `Deadline` (core/clock.ts): `at` is the next expiry,
 *    `fire(now)` delivers the LVT timer interrupt (unless masked; the count
 *    keeps running when masked) and re-arms a periodic timer. Expiries
 *    missed by a late `fire` are coalesced into one interrupt, as the IRR
 *    would coalesce them. Register accesses and `highestPending` first
 *    deliver any expiry that is due, so the guest never observes a stale
 *    timer.
 *  - Changing the divide configuration while the timer runs keeps the
 *    current count and continues from it at the new rate (the partial tick
 *    is dropped). Switching between one-shot and periodic does not disarm
 *    the timer; it changes what happens at the next zero.
 *  - TSC-deadline mode (10.5.4.1), offered unless `tscDeadline: false`
 *    (the hypervisor then advertises CPUID.01H:ECX[24]). The TSC is virtual
 *    time. LVT timer bits 18:17 = 10b select it; the deadline is the
 *    IA32_TSC_DEADLINE MSR (6E0H, `readTscDeadline` / `writeTscDeadline`):
 *    a non-zero value arms the timer, which fires when TSC >= deadline,
 *    then disarms and reads 0; writing 0 disarms. Outside TSC-deadline mode
 *    the MSR reads 0 and ignores writes; in it, writes to the initial-count
 *    register are ignored and the current count reads 0. Switching into or
 *    out of TSC-deadline mode disarms the timer (and clears the initial
 *    count and the deadline, as KVM does). Mode 11b is reserved: stored as
 *    written and run like one-shot (as KVM does).
 *
 * IA32_APIC_BASE (10.4.4, 10.12.5): `getApicBase()` / `setApicBase(lo, hi)`.
 * Bit 8 (BSP) is read-only, bit 11 is the global enable, bit 10 x2APIC
 * mode (when offered), bits 12 to
 * MAXPHYADDR-1 the page base (relocatable, 10.4.5); bits 0-7, 9 (and 10
 * without x2APIC) and bits MAXPHYADDR-63 are reserved: a write setting them
 * is refused (the WRMSR handler raises #GP). Clearing bit 11 returns the
 * registers to their power-up state (10.4.7.1) except the APIC ID (10.12.5:
 * only the ID is preserved across a transition through the disabled state);
 * setting it again re-enables the APIC in that state (kvm-unit-tests clears
 * and sets the bit at startup). While disabled, LINT0 acts as the INTR pin
 * (`picRouted()` is true) and LINT1 as the NMI pin.
 *
 * LINT0/LINT1 (10.5.1): `setLint(pin, level)` drives the pins. Fixed mode
 * honours the trigger mode (level: remote IRR set on acceptance, cleared by
 * the EOI, re-delivered while still asserted); NMI mode calls `nmi` on a
 * rising edge; ExtINT mode means "the 8259 is wired through this pin"
 * (virtual-wire mode): the hypervisor asks `picRouted()` and takes the
 * vector from the PIC itself.
 *
 * ICR (10.6.1): writing the low half sends the IPI at once, so the delivery
 * status bit (12) always reads 0. With one CPU, the IPI reaches this APIC
 * when the shorthand is "self" or "all including self", or when there is no
 * shorthand and the destination matches (`matchesDestination`: physical ID
 * or 0xFF broadcast; logical flat or cluster model through LDR/DFR). Fixed
 * and lowest-priority IPIs with vectors 0-15 log "Send Illegal Vector"
 * (ESR bit 5) and are not sent. NMI IPIs call `nmi`; INIT, SIPI and SMI to
 * self are not modelled (ignored).
 *
 * x2APIC (10.12), offered unless `x2apic: false` (the hypervisor then
 * advertises CPUID.01H:ECX[21]); one CPU, so the x2APIC ID is the 8-bit
 * initial APIC ID and CPUID leaf 0BH needs nothing more.
 *  - IA32_APIC_BASE[10] (EXTD) with [11]: the transitions of 10.12.5
 *    (Figure 10-27): EXTD without EN, x2APIC → xAPIC and disabled → x2APIC
 *    are refused (#GP); x2APIC → disabled resets the registers.
 *  - Registers are MSRs 800H + index (`readMsr` / `writeMsr`, Table 10-6),
 *    #GP outside x2APIC mode: ID (x2APIC ID, read-only), LDR derived from
 *    the ID (10.12.10.2: cluster ID[19:4] << 16 | 1 << ID[3:0], read-only),
 *    no DFR, APR, RRD or ICR high (#GP), ICR one 64-bit MSR (destination in
 *    bits 63:32, no delivery-status bit), SELF IPI (83FH, write-only), EOI
 *    write-only. Reads of write-only and writes of read-only registers,
 *    bits 63:32 set (except the ICR), reserved bits set (10.12.1.3), and
 *    non-zero writes to EOI or ESR are #GP.
 *  - Destinations (10.12.9): 32-bit physical ID or FFFFFFFFH broadcast;
 *    logical is the cluster model of the derived LDR.
 *  - The MMIO page then answers as a globally disabled APIC's (10.12.2):
 *    reads all ones, writes ignored.
 *
 * Not modelled: thermal/performance/CMCI interrupt
 * sources (their LVT entries are plain registers), APR arbitration (reads
 * 0), the remote read register (reads 0), focus processor checking, other
 * CPUs.
 */
import type { Deadline } from '../clock.js';
import { siliconCpuid } from '../cpu/cpuid.js';

// Register offsets in the 4-KiB page (10.4.1, Table 10-1).
export const APIC_ID = 0x020;
export const APIC_VERSION = 0x030;
export const APIC_TPR = 0x080;
export const APIC_APR = 0x090;
export const APIC_PPR = 0x0a0;
export const APIC_EOI = 0x0b0;
export const APIC_RRD = 0x0c0;
export const APIC_LDR = 0x0d0;
export const APIC_DFR = 0x0e0;
export const APIC_SVR = 0x0f0;
export const APIC_ISR = 0x100; // 8 registers, 0x100-0x170
export const APIC_TMR = 0x180; // 8 registers, 0x180-0x1f0
export const APIC_IRR = 0x200; // 8 registers, 0x200-0x270
export const APIC_ESR = 0x280;
export const APIC_LVT_CMCI = 0x2f0;
export const APIC_ICR_LOW = 0x300;
export const APIC_ICR_HIGH = 0x310;
export const APIC_LVT_TIMER = 0x320;
export const APIC_LVT_THERMAL = 0x330;
export const APIC_LVT_PERF = 0x340;
export const APIC_LVT_LINT0 = 0x350;
export const APIC_LVT_LINT1 = 0x360;
export const APIC_LVT_ERROR = 0x370;
export const APIC_TIMER_INITIAL = 0x380;
export const APIC_TIMER_CURRENT = 0x390;
export const APIC_TIMER_DIVIDE = 0x3e0;

export const APIC_PAGE_SIZE = 0x1000;
export const APIC_DEFAULT_BASE = 0xfee00000;

// IA32_APIC_BASE (MSR 0x1B, 10.4.4, Figure 10-5).
export const APIC_BASE_BSP = 1 << 8;
export const APIC_BASE_EXTD = 1 << 10;
export const APIC_BASE_ENABLE = 1 << 11;
export const APIC_BASE_ADDR_MASK_LO = 0xfffff000;

// Version register (10.4.8): version 0x14 (integrated APIC), max LVT entry in bits 23:16.
export const APIC_VERSION_ID = 0x14;
/** Six LVT entries (timer, thermal, perf, LINT0, LINT1, error): max LVT entry 5. */
export const APIC_VERSION_VALUE = 0x00050014;
/** With the CMCI entry, seven LVT entries: max LVT entry 6. */
export const APIC_VERSION_VALUE_CMCI = 0x00060014;

// SVR (10.9, Figure 10-23).
export const SVR_VECTOR_MASK = 0xff;
export const SVR_APIC_ENABLE = 1 << 8;
export const SVR_FOCUS_CHECK_DISABLE = 1 << 9;
export const SVR_WRITABLE = 0x3ff; // vector, enable, focus; bit 12 (EOI suppression) not offered
export const SVR_RESET = 0x000000ff;

// DFR / LDR (10.6.2.2).
export const DFR_MODEL_MASK = 0xf0000000;
export const DFR_MODEL_FLAT = 0xf0000000;
export const DFR_MODEL_CLUSTER = 0x00000000;
export const DFR_RESERVED_ONES = 0x0fffffff;
export const DFR_RESET = 0xffffffff;
export const LDR_MASK = 0xff000000;
export const ID_MASK = 0xff000000;

// ESR bits (10.5.3, Figure 10-9).
export const ESR_SEND_CHECKSUM = 1 << 0;
export const ESR_RECEIVE_CHECKSUM = 1 << 1;
export const ESR_SEND_ACCEPT = 1 << 2;
export const ESR_RECEIVE_ACCEPT = 1 << 3;
export const ESR_REDIRECTABLE_IPI = 1 << 4;
export const ESR_SEND_ILLEGAL_VECTOR = 1 << 5;
export const ESR_RECEIVE_ILLEGAL_VECTOR = 1 << 6;
export const ESR_ILLEGAL_REGISTER = 1 << 7;

// LVT entries (10.5.1, Figure 10-8).
export const LVT_VECTOR_MASK = 0xff;
export const LVT_DELIVERY_MODE_MASK = 0x700;
export const LVT_DELIVERY_MODE_SHIFT = 8;
export const LVT_DELIVERY_STATUS = 1 << 12;
export const LVT_POLARITY_LOW = 1 << 13;
export const LVT_REMOTE_IRR = 1 << 14;
export const LVT_TRIGGER_LEVEL = 1 << 15;
export const LVT_MASKED = 1 << 16;
export const LVT_TIMER_MODE_MASK = 3 << 17;
export const LVT_TIMER_ONESHOT = 0 << 17;
export const LVT_TIMER_PERIODIC = 1 << 17;
export const LVT_TIMER_TSC_DEADLINE = 2 << 17; // 10.5.4.1, with CPUID.01H:ECX.TSC_Deadline[24]

/** IA32_TSC_DEADLINE (SDM Vol. 4, Table 2-2; Vol. 3A 10.5.4.1). */
export const MSR_IA32_TSC_DEADLINE = 0x6e0;
export const LVT_RESET = LVT_MASKED;

/** Delivery modes (LVT bits 10:8, ICR bits 10:8, I/O APIC redirection bits 10:8). */
export const DELIVERY_FIXED = 0;
export const DELIVERY_LOWEST = 1;
export const DELIVERY_SMI = 2;
export const DELIVERY_NMI = 4;
export const DELIVERY_INIT = 5;
export const DELIVERY_STARTUP = 6;
export const DELIVERY_EXTINT = 7;

/** Writable bits of each LVT entry (Figure 10-8; delivery status and remote IRR are read-only). */
const LVT_WRITABLE_TIMER = LVT_VECTOR_MASK | LVT_MASKED | LVT_TIMER_PERIODIC; // 0x000300ff
const LVT_WRITABLE_TIMER_DEADLINE = LVT_WRITABLE_TIMER | LVT_TIMER_TSC_DEADLINE; // 0x000700ff
const LVT_WRITABLE_DM = LVT_VECTOR_MASK | LVT_DELIVERY_MODE_MASK | LVT_MASKED; // thermal, perf, CMCI: 0x000107ff
const LVT_WRITABLE_LINT = LVT_WRITABLE_DM | LVT_POLARITY_LOW | LVT_TRIGGER_LEVEL; // 0x0001a7ff
const LVT_WRITABLE_ERROR = LVT_VECTOR_MASK | LVT_MASKED; // 0x000100ff

// ICR (10.6.1, Figure 10-12).
export const ICR_VECTOR_MASK = 0xff;
export const ICR_DELIVERY_MODE_MASK = 0x700;
export const ICR_DEST_LOGICAL = 1 << 11;
export const ICR_DELIVERY_STATUS = 1 << 12;
export const ICR_LEVEL_ASSERT = 1 << 14;
export const ICR_TRIGGER_LEVEL = 1 << 15;
export const ICR_SHORTHAND_MASK = 3 << 18;
export const ICR_SHORTHAND_NONE = 0 << 18;
export const ICR_SHORTHAND_SELF = 1 << 18;
export const ICR_SHORTHAND_ALL_INCL = 2 << 18;
export const ICR_SHORTHAND_ALL_EXCL = 3 << 18;
const ICR_LOW_WRITABLE = 0x000ccfff; // bits 0-11, 14, 15, 18, 19
const ICR_HIGH_WRITABLE = 0xff000000;

// Divide configuration (10.5.4, Figure 10-10): bits 0, 1, 3.
export const DIVIDE_WRITABLE = 0xb;
/** Divisor for a divide configuration value (bits 3,1,0 = 000 → 2 ... 110 → 128, 111 → 1). */
export function timerDivisor(dcr: number): number {
  const code = ((dcr & 8) >> 1) | (dcr & 3);
  return code === 7 ? 1 : 2 << code;
}

/** Nominal bus clock when one retired instruction is taken as 1 ns and instructionsPerTick is 1. */
export const LAPIC_BUS_HZ_NOMINAL = 1_000_000_000;
export const DEFAULT_INSTRUCTIONS_PER_TICK = 1;
const MAX_INSTRUCTIONS_PER_TICK = 1024;

// Register indices (offset >> 4 = x2APIC MSR - 0x800).
const R_ID = 0x02, R_VERSION = 0x03, R_TPR = 0x08, R_APR = 0x09, R_PPR = 0x0a, R_EOI = 0x0b, R_RRD = 0x0c,
  R_LDR = 0x0d, R_DFR = 0x0e, R_SVR = 0x0f, R_ISR = 0x10, R_TMR = 0x18, R_IRR = 0x20, R_ESR = 0x28,
  R_CMCI = 0x2f, R_ICR_LO = 0x30, R_ICR_HI = 0x31, R_TIMER = 0x32, R_ERROR = 0x37,
  R_INITIAL = 0x38, R_CURRENT = 0x39, R_DIVIDE = 0x3e;

const R_SELF_IPI = 0x3f;
/** x2APIC MSRs are 800H + the register index (10.12.1.2). */
export const X2APIC_MSR_BASE = 0x800;
export const X2APIC_MSR_LAST = 0x8ff;

// LVT slots in `lvt`: register index - R_TIMER for timer..error; CMCI last.
const LVT_TIMER = 0, LVT_LINT0 = 3, LVT_LINT1 = 4, LVT_ERROR = 5, LVT_CMCI = 6;
const LVT_WRITABLE = [LVT_WRITABLE_TIMER, LVT_WRITABLE_DM, LVT_WRITABLE_DM, LVT_WRITABLE_LINT, LVT_WRITABLE_LINT, LVT_WRITABLE_ERROR, LVT_WRITABLE_DM] as const;

export interface LapicOptions {
  /** Virtual time (retired instructions). The only clock the device reads. */
  readonly now: () => number;
  /** Initial APIC ID (CPUID.01H:EBX[31:24]), 0-255; default 0. */
  readonly id?: number;
  /** IA32_APIC_BASE.BSP; default true. */
  readonly bsp?: boolean;
  /** Retired instructions per bus-clock tick; integer 1-1024, default 1. */
  readonly instructionsPerTick?: number;
  /** Offer x2APIC mode (IA32_APIC_BASE[10], MSRs 800H-8FFH); default true. */
  readonly x2apic?: boolean;
  /** Offer TSC-deadline mode (LVT timer bit 18, IA32_TSC_DEADLINE); default true. */
  readonly tscDeadline?: boolean;
  /** Offer the LVT CMCI entry (version max LVT 6); default false (0x2F0 reserved, version 0x00050014). */
  readonly cmci?: boolean;
  /**
   * What firmware leaves behind in virtual-wire mode (MP spec 3.6.2.2): at
   * reset() LINT0 = ExtINT and LINT1 = NMI, unmasked (KVM programs LINT0 the
   * same way for its BSP). Default false: the SDM power-up state, all masked.
   * Not applied when the guest re-enables a globally disabled APIC.
   */
  readonly virtualWire?: boolean;
  /** MAXPHYADDR for the IA32_APIC_BASE reserved-bit check; default from CPUID.80000008H:EAX[7:0]. */
  readonly maxPhysAddr?: number;
  /** Level-triggered EOI: broadcast to the I/O APIC(s) (their `eoi(vector)`). */
  readonly eoiBroadcast?: (vector: number) => void;
  /** An NMI was delivered (LINT1 in NMI mode, NMI IPI, NMI message). */
  readonly nmi?: () => void;
  /** An ExtINT message arrived (I/O APIC pin in ExtINT mode): the vector comes from the 8259. */
  readonly extInt?: () => void;
  /** An interrupt entered the IRR (the hypervisor may need an interrupt window). */
  readonly interrupt?: () => void;
}

const noop = (): void => {};
const TWO32 = 4294967296;

function highestBit(bits: Uint32Array): number {
  for (let i = 7; i >= 0; i--) {
    const w = bits[i]!;
    if (w !== 0) return i * 32 + 31 - Math.clz32(w);
  }
  return -1;
}

/** floor(a / b) for non-negative integers below 2^53, exact (a plain division can round). */
function divFloor(a: number, b: number): number {
  let q = Math.floor(a / b);
  if (q * b > a) q--;
  else if ((q + 1) * b <= a) q++;
  return q;
}

export class Lapic {
  /** The timer as a virtual-time deadline source (register it with the VirtualClock). */
  readonly timer: Deadline;

  private readonly now: () => number;
  /** Initial ID register value (ID in bits 31:24). */
  private readonly initialId: number;
  private readonly bsp: boolean;
  private readonly instructionsPerTick: number;
  private readonly cmci: boolean;
  /** Whether x2APIC mode is offered (CPUID.01H:ECX[21]). */
  readonly x2apicSupported: boolean;
  /** Whether TSC-deadline mode is offered (CPUID.01H:ECX[24]). */
  readonly tscDeadlineSupported: boolean;
  private readonly virtualWire: boolean;
  private readonly baseHiReserved: number;
  private readonly eoiOut: (vector: number) => void;
  private readonly nmiOut: () => void;
  private readonly extIntOut: () => void;
  private readonly interruptOut: () => void;

  // IA32_APIC_BASE
  private baseAddrLo = APIC_DEFAULT_BASE;
  private baseAddrHi = 0;
  private hwEnable = true;
  /** IA32_APIC_BASE[10]: x2APIC mode (only with hwEnable). */
  private x2Mode = false;

  // Registers
  private id = 0;
  private tpr = 0;
  private ldr = 0;
  private dfr = DFR_RESET;
  private svr = SVR_RESET;
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  private readonly irr = new Uint32Array(8);
  private esr = 0;
  /** Errors detected since the last ESR write. */
  private esrPending = 0;
  private readonly lvt = new Uint32Array(7);
  private icrLo = 0;
  private icrHi = 0;
  /** ICR bits 63:32 in x2APIC mode (the 32-bit destination). */
  private icrDest32 = 0;
  private initialCount = 0;
  private divideConfig = 0;
  /** Bus ticks per counter decrement × instructions per tick. */
  private tickLen = 2;
  /** Virtual time at which the counter next reaches 0 (or the TSC deadline); Infinity when not counting. */
  private nextExpiry = Infinity;
  /** IA32_TSC_DEADLINE as written (exact 32-bit halves); 0 when disarmed. */
  private deadlineLo = 0;
  private deadlineHi = 0;

  /** LINT0/LINT1 input levels (pins, not registers: kept across resets). */
  private readonly lint = [false, false];
  private inErrorDelivery = false;

  constructor(opts: LapicOptions) {
    this.now = opts.now;
    const id = opts.id ?? 0;
    if (!Number.isInteger(id) || id < 0 || id > 0xff) throw new RangeError(`APIC ID must be 0-255, got ${id}`);
    this.initialId = (id << 24) >>> 0;
    this.bsp = opts.bsp ?? true;
    const ipt = opts.instructionsPerTick ?? DEFAULT_INSTRUCTIONS_PER_TICK;
    if (!Number.isInteger(ipt) || ipt < 1 || ipt > MAX_INSTRUCTIONS_PER_TICK) {
      throw new RangeError(`instructionsPerTick must be an integer 1-${MAX_INSTRUCTIONS_PER_TICK}, got ${ipt}`);
    }
    this.instructionsPerTick = ipt;
    this.cmci = opts.cmci ?? false;
    this.tscDeadlineSupported = opts.tscDeadline ?? true;
    this.x2apicSupported = opts.x2apic ?? true;
    this.virtualWire = opts.virtualWire ?? false;
    const maxPhys = opts.maxPhysAddr ?? (siliconCpuid(0x80000008, 0).eax & 0xff);
    if (!Number.isInteger(maxPhys) || maxPhys < 32 || maxPhys > 52) throw new RangeError(`maxPhysAddr must be 32-52, got ${maxPhys}`);
    // Bits MAXPHYADDR..63 of the high half are reserved.
    this.baseHiReserved = maxPhys === 32 ? 0xffffffff : (~((1 << (maxPhys - 32)) - 1)) >>> 0;
    this.eoiOut = opts.eoiBroadcast ?? noop;
    this.nmiOut = opts.nmi ?? noop;
    this.extIntOut = opts.extInt ?? noop;
    this.interruptOut = opts.interrupt ?? noop;
    const self = this;
    this.timer = {
      get at(): number { return self.nextExpiry; },
      fire(now: number): void { self.timerCatchUp(now); },
    };
    this.reset();
  }

  // --- reset and IA32_APIC_BASE

  /** Hardware reset (power-up, 10.4.7.1): APIC enabled at FEE00000H, initial ID, registers at their reset values. */
  reset(): void {
    this.baseAddrLo = APIC_DEFAULT_BASE;
    this.baseAddrHi = 0;
    this.hwEnable = true;
    this.x2Mode = false;
    this.resetRegisters(this.initialId);
    if (this.virtualWire) {
      this.lvt[LVT_LINT0] = DELIVERY_EXTINT << LVT_DELIVERY_MODE_SHIFT;
      this.lvt[LVT_LINT1] = DELIVERY_NMI << LVT_DELIVERY_MODE_SHIFT;
    }
  }

  /** INIT (10.4.7.3): registers to their power-up values except the APIC ID; IA32_APIC_BASE unchanged. */
  init(): void {
    this.resetRegisters(this.id);
  }

  private resetRegisters(id: number): void {
    this.id = id;
    this.tpr = 0;
    this.ldr = 0;
    this.dfr = DFR_RESET;
    this.svr = SVR_RESET;
    this.isr.fill(0);
    this.tmr.fill(0);
    this.irr.fill(0);
    this.esr = 0;
    this.esrPending = 0;
    this.lvt.fill(LVT_RESET);
    this.icrLo = 0;
    this.icrHi = 0;
    this.icrDest32 = 0;
    this.initialCount = 0;
    this.divideConfig = 0;
    this.tickLen = timerDivisor(0) * this.instructionsPerTick;
    this.nextExpiry = Infinity;
    this.deadlineLo = 0;
    this.deadlineHi = 0;
  }

  /** IA32_APIC_BASE as [low, high] 32-bit halves. */
  getApicBase(): [number, number] {
    const lo = this.baseAddrLo | (this.bsp ? APIC_BASE_BSP : 0) | (this.hwEnable ? APIC_BASE_ENABLE : 0) | (this.x2Mode ? APIC_BASE_EXTD : 0);
    return [lo >>> 0, this.baseAddrHi];
  }

  /**
   * WRMSR IA32_APIC_BASE. Returns false (the caller raises #GP) for an
   * invalid x2APIC state transition or when a
   * reserved bit is set: bits 0-7, 9, 10 (unless x2APIC is offered) or any bit at
   * or above MAXPHYADDR. The BSP bit is read-only and ignored.
   */
  setApicBase(lo: number, hi: number): boolean {
    lo >>>= 0;
    hi >>>= 0;
    const reservedLo = this.x2apicSupported ? 0x2ff : 0x6ff;
    if ((lo & reservedLo) !== 0 || (hi & this.baseHiReserved) !== 0) return false;
    const enable = (lo & APIC_BASE_ENABLE) !== 0;
    const extd = (lo & APIC_BASE_EXTD) !== 0;
    // 10.12.5, Figure 10-27 (x2APIC state transitions): EXTD without EN is invalid; x2APIC
    // cannot go back to xAPIC, and a disabled APIC cannot go straight to x2APIC.
    if (extd && (!enable || !this.hwEnable)) return false;
    if (this.x2Mode && enable && !extd) return false;
    this.baseAddrLo = (lo & APIC_BASE_ADDR_MASK_LO) >>> 0;
    this.baseAddrHi = hi;
    // 10.4.3, 10.12.5: disabling resets the registers; only the ID survives (x2APIC mode: the
    // x2APIC ID is the initial APIC ID, which the xAPIC ID register then starts from).
    if (!enable && this.hwEnable) this.resetRegisters(this.x2Mode ? this.initialId : this.id);
    if (extd && !this.x2Mode) this.enterX2apic();
    this.hwEnable = enable;
    this.x2Mode = extd;
    return true;
  }

  /** xAPIC → x2APIC (10.12.5.1): the ID becomes the initial APIC ID, the LDR is derived from it, the ICR destination clears. */
  private enterX2apic(): void {
    this.id = this.initialId;
    this.icrHi = 0;
    this.icrDest32 = 0;
  }

  /** IA32_APIC_BASE[10] (with [11]): the APIC is in x2APIC mode. */
  get x2apicEnabled(): boolean { return this.x2Mode; }

  /** The x2APIC ID (10.12.3): the initial APIC ID, 32 bits, read-only. */
  private get x2apicId(): number { return this.initialId >>> 24; }

  /** x2APIC logical ID (10.12.10.2): cluster ID[19:4] in bits 31:16, 1 << ID[3:0] in bits 15:0. */
  private get x2apicLdr(): number {
    const id = this.x2apicId;
    return (((id >>> 4) << 16) | (1 << (id & 0xf))) >>> 0;
  }

  /** Guest-physical address of the register page (IA32_APIC_BASE bits 12-51). */
  get base(): number { return this.baseAddrHi * TWO32 + this.baseAddrLo; }
  /** IA32_APIC_BASE[11]: the APIC exists for software. */
  get hwEnabled(): boolean { return this.hwEnable; }
  /** SVR[8]: the APIC software-enable bit. */
  get swEnabled(): boolean { return (this.svr & SVR_APIC_ENABLE) !== 0; }
  /** True when an MMIO access at guest-physical `gpa` belongs to this APIC's page. */
  claims(gpa: number): boolean { return this.hwEnable && gpa >= this.base && gpa < this.base + APIC_PAGE_SIZE; }

  /** The current APIC ID (bits 31:24 of the ID register). */
  get apicId(): number { return this.id >>> 24; }

  // --- CR8 (10.8.6.1): CR8[3:0] is TPR[7:4]; MOV to CR8 clears TPR[3:0].

  get cr8(): number { return this.tpr >>> 4; }
  set cr8(v: number) { this.tpr = (v & 0xf) << 4; }

  // --- MMIO

  /** Read 1, 2 or 4 bytes at `offset` (0-0xFFF) of the register page. */
  read(offset: number, size: number): number {
    checkAccess(offset, size);
    // Globally disabled, or x2APIC mode (10.12.2: the MMIO interface then behaves as a globally disabled xAPIC's).
    if (!this.hwEnable || this.x2Mode) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    let v = 0;
    let slot = -1;
    let reg = 0;
    for (let k = 0; k < size; k++) {
      const b = offset + k;
      const inReg = (b & 0xf) < 4;
      let byte = 0;
      if (inReg) {
        if ((b >>> 4) !== slot) {
          slot = b >>> 4;
          const r = this.readRegister(slot);
          if (r === undefined) { this.recordError(ESR_ILLEGAL_REGISTER); reg = 0; } else reg = r;
        }
        byte = (reg >>> ((b & 3) * 8)) & 0xff;
      }
      v |= byte << (k * 8);
    }
    return v >>> 0;
  }

  /** Write 1, 2 or 4 bytes at `offset`; only 4-byte stores at a 16-byte-aligned offset take effect. */
  write(offset: number, size: number, value: number): void {
    checkAccess(offset, size);
    if (!this.hwEnable || this.x2Mode) return;
    if (size !== 4 || (offset & 0xf) !== 0) return;
    if (!this.writeRegister(offset >>> 4, value >>> 0)) this.recordError(ESR_ILLEGAL_REGISTER);
  }

  // --- register access path (MMIO now, x2APIC MSRs later)

  /** Value of the register at index `index` (= offset >> 4), or undefined for a reserved index. */
  readRegister(index: number): number | undefined {
    this.timerCatchUp(this.now());
    switch (index) {
      case R_ID: return this.id >>> 0;
      case R_VERSION: return this.cmci ? APIC_VERSION_VALUE_CMCI : APIC_VERSION_VALUE;
      case R_TPR: return this.tpr;
      case R_APR: return 0;
      case R_PPR: return this.ppr();
      case R_EOI: return 0; // write-only
      case R_RRD: return 0;
      case R_LDR: return this.ldr >>> 0;
      case R_DFR: return this.dfr >>> 0;
      case R_SVR: return this.svr;
      case R_ESR: return this.esr;
      case R_ICR_LO: return this.icrLo;
      case R_ICR_HI: return this.icrHi >>> 0;
      case R_INITIAL: return this.initialCount;
      case R_CURRENT: return this.currentCount(this.now());
      case R_DIVIDE: return this.divideConfig;
      case R_CMCI: return this.cmci ? this.lvt[LVT_CMCI]! : undefined;
    }
    if (index >= R_ISR && index < R_ISR + 8) return this.isr[index - R_ISR]!;
    if (index >= R_TMR && index < R_TMR + 8) return this.tmr[index - R_TMR]!;
    if (index >= R_IRR && index < R_IRR + 8) return this.irr[index - R_IRR]!;
    if (index >= R_TIMER && index <= R_ERROR) return this.lvt[index - R_TIMER]!;
    return undefined;
  }

  /** Writes the register at `index`; false for a reserved index. Read-only registers ignore writes. */
  writeRegister(index: number, value: number): boolean {
    const now = this.now();
    this.timerCatchUp(now);
    value >>>= 0;
    switch (index) {
      case R_ID: this.id = (value & ID_MASK) >>> 0; return true;
      case R_TPR: this.tpr = value & 0xff; return true;
      case R_EOI: this.eoi(); return true;
      case R_LDR: this.ldr = (value & LDR_MASK) >>> 0; return true;
      case R_DFR: this.dfr = ((value & DFR_MODEL_MASK) | DFR_RESERVED_ONES) >>> 0; return true;
      case R_SVR: this.writeSvr(value); return true;
      case R_ESR: this.esr = this.esrPending; this.esrPending = 0; return true;
      case R_ICR_LO: this.icrLo = value & ICR_LOW_WRITABLE; this.sendIpi(); return true;
      case R_ICR_HI: this.icrHi = (value & ICR_HIGH_WRITABLE) >>> 0; return true;
      case R_INITIAL:
        if (this.deadlineMode()) return true; // 10.5.4.1: ignored in TSC-deadline mode
        this.initialCount = value;
        this.nextExpiry = value === 0 ? Infinity : now + value * this.tickLen;
        return true;
      case R_DIVIDE: {
        const remaining = this.currentCount(now);
        this.divideConfig = value & DIVIDE_WRITABLE;
        this.tickLen = timerDivisor(this.divideConfig) * this.instructionsPerTick;
        if (this.nextExpiry !== Infinity && !this.deadlineMode()) this.nextExpiry = now + remaining * this.tickLen;
        return true;
      }
      case R_CMCI:
        if (!this.cmci) return false;
        this.writeLvt(LVT_CMCI, value);
        return true;
      case R_VERSION: case R_APR: case R_PPR: case R_RRD: case R_CURRENT:
        return true; // read-only
    }
    if (index >= R_ISR && index < R_IRR + 8) return true; // ISR, TMR, IRR: read-only
    if (index >= R_TIMER && index <= R_ERROR) { this.writeLvt(index - R_TIMER, value); return true; }
    return false;
  }

  private writeSvr(value: number): void {
    const wasEnabled = this.swEnabled;
    this.svr = value & SVR_WRITABLE;
    // 10.4.7.2: software-disabling sets every LVT mask bit.
    if (wasEnabled && !this.swEnabled) for (let i = 0; i < this.lvt.length; i++) this.lvt[i]! |= LVT_MASKED;
  }

  private writeLvt(i: number, value: number): void {
    const keep = this.lvt[i]! & LVT_REMOTE_IRR;
    const writable = i === LVT_TIMER && this.tscDeadlineSupported ? LVT_WRITABLE_TIMER_DEADLINE : LVT_WRITABLE[i]!;
    let v = (value & writable) | keep;
    if (!this.swEnabled) v |= LVT_MASKED; // 10.4.7.2: masks cannot be cleared while software-disabled
    if ((v & LVT_TRIGGER_LEVEL) === 0) v &= ~LVT_REMOTE_IRR;
    const wasDeadline = this.deadlineMode();
    this.lvt[i] = v >>> 0;
    if (i === LVT_TIMER && wasDeadline !== this.deadlineMode()) {
      // 10.5.4.1: "Transitioning between TSC-deadline mode and other timer modes also disarms the timer."
      this.nextExpiry = Infinity;
      this.initialCount = 0;
      this.deadlineLo = 0;
      this.deadlineHi = 0;
    }
    if (i === LVT_LINT0 || i === LVT_LINT1) this.tryLintLevel(i - LVT_LINT0);
  }

  // --- TSC-deadline mode (10.5.4.1)

  private deadlineMode(): boolean {
    return (this.lvt[LVT_TIMER]! & LVT_TIMER_MODE_MASK) === LVT_TIMER_TSC_DEADLINE;
  }

  /** RDMSR IA32_TSC_DEADLINE as [low, high]: the armed deadline, 0 when disarmed or not in TSC-deadline mode. */
  readTscDeadline(): [number, number] {
    this.timerCatchUp(this.now());
    if (!this.deadlineMode()) return [0, 0];
    return [this.deadlineLo, this.deadlineHi];
  }

  /**
   * WRMSR IA32_TSC_DEADLINE: in TSC-deadline mode a non-zero value arms the
   * timer for TSC (virtual time) >= value (at once if already passed), 0
   * disarms; ignored in the other modes. Always accepted (no #GP).
   */
  writeTscDeadline(lo: number, hi: number): void {
    const now = this.now();
    this.timerCatchUp(now);
    if (!this.deadlineMode()) return;
    this.deadlineLo = lo >>> 0;
    this.deadlineHi = hi >>> 0;
    // Above 2^53 the double rounds, but such a deadline lies far beyond any reachable virtual time.
    this.nextExpiry = this.deadlineLo === 0 && this.deadlineHi === 0 ? Infinity : this.deadlineHi * TWO32 + this.deadlineLo;
    this.timerCatchUp(now);
  }

  // --- priorities

  /** Processor priority (10.8.3.1). */
  private ppr(): number {
    const isrv = highestBit(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr & 0xf0) >= isrClass ? this.tpr : isrClass;
  }

  // --- interrupt inputs

  /**
   * A fixed interrupt arrives (I/O APIC message, LVT, IPI): sets IRR, and TMR
   * for level-triggered. Returns false when it was not accepted (APIC
   * disabled, or illegal vector 0-15 which logs ESR bit 6).
   */
  acceptInterrupt(vector: number, level: boolean): boolean {
    vector &= 0xff;
    if (!this.hwEnable) return false;
    if (vector < 16) { this.recordError(ESR_RECEIVE_ILLEGAL_VECTOR); return false; }
    if (!this.swEnabled) return false;
    const w = vector >>> 5, bit = 1 << (vector & 31);
    this.irr[w]! |= bit;
    if (level) this.tmr[w]! |= bit; else this.tmr[w]! &= ~bit;
    this.interruptOut();
    return true;
  }

  /**
   * An interrupt message addressed by destination (I/O APIC redirection
   * entry, or an IPI): fixed and lowest-priority go to the IRR if the
   * destination matches; NMI calls `nmi`; ExtINT calls `extInt`; SMI, INIT
   * and SIPI are not modelled. NMI, ExtINT and the rest are edge-triggered
   * whatever `level` says. Returns true if this APIC took it.
   */
  deliverMessage(vector: number, level: boolean, destination: number, logical: boolean, deliveryMode: number): boolean {
    if (!this.hwEnable || !this.matchesDestination(destination, logical)) return false;
    switch (deliveryMode) {
      case DELIVERY_FIXED: case DELIVERY_LOWEST: return this.acceptInterrupt(vector, level);
      case DELIVERY_NMI: this.nmiOut(); return true;
      case DELIVERY_EXTINT: this.extIntOut(); return true;
      default: return false;
    }
  }

  /**
   * Whether an 8-bit destination addresses this APIC (10.6.2). Physical:
   * equal to the APIC ID, or 0xFF (broadcast). Logical: 0xFF for all; flat
   * model (DFR[31:28] = 1111b) when destination AND LDR[31:24] is non-zero;
   * cluster model (0000b) when the cluster nibbles are equal and the member
   * bits intersect.
   */
  matchesDestination(destination: number, logical: boolean): boolean {
    destination &= 0xff;
    if (destination === 0xff) return true;
    if (!logical) return destination === this.apicId;
    const ldr = this.ldr >>> 24;
    if ((this.dfr & DFR_MODEL_MASK) >>> 0 === DFR_MODEL_FLAT) return (destination & ldr) !== 0;
    if ((this.dfr & DFR_MODEL_MASK) === DFR_MODEL_CLUSTER) {
      return (destination >>> 4) === (ldr >>> 4) && (destination & ldr & 0xf) !== 0;
    }
    return false; // reserved model
  }

  /**
   * Drives LINT0 (pin 0) or LINT1 (pin 1). While the APIC is globally
   * disabled, LINT1 is the NMI pin (rising edge → `nmi`) and LINT0 the INTR
   * pin (see `picRouted`).
   */
  setLint(pin: 0 | 1, level: boolean): void {
    const prev = this.lint[pin]!;
    this.lint[pin] = level;
    const rising = level && !prev;
    if (!this.hwEnable) {
      if (pin === 1 && rising) this.nmiOut();
      return;
    }
    const v = this.lvt[LVT_LINT0 + pin]!;
    if ((v & LVT_MASKED) !== 0) return;
    switch ((v & LVT_DELIVERY_MODE_MASK) >>> LVT_DELIVERY_MODE_SHIFT) {
      case DELIVERY_FIXED:
        if ((v & LVT_TRIGGER_LEVEL) !== 0) this.tryLintLevel(pin);
        else if (rising) this.acceptInterrupt(v & LVT_VECTOR_MASK, false);
        return;
      case DELIVERY_NMI:
        if (rising) this.nmiOut();
        return;
      default:
        return; // ExtINT: polled through picRouted(); SMI/INIT not modelled
    }
  }

  /** Level-triggered fixed LINT: deliver while asserted, unmasked and not awaiting EOI. */
  private tryLintLevel(pin: number): void {
    if (!this.hwEnable || !this.lint[pin]) return;
    const i = LVT_LINT0 + pin;
    const v = this.lvt[i]!;
    if ((v & (LVT_MASKED | LVT_REMOTE_IRR)) !== 0 || (v & LVT_TRIGGER_LEVEL) === 0) return;
    if ((v & LVT_DELIVERY_MODE_MASK) !== DELIVERY_FIXED << LVT_DELIVERY_MODE_SHIFT) return;
    if (this.acceptInterrupt(v & LVT_VECTOR_MASK, true)) this.lvt[i] = (v | LVT_REMOTE_IRR) >>> 0;
  }

  /**
   * Is the 8259 PIC's INTR output routed to the CPU? True when the APIC is
   * globally disabled (LINT0 is then the INTR pin) or when LVT LINT0 is
   * unmasked with delivery mode ExtINT (virtual-wire mode).
   */
  picRouted(): boolean {
    if (!this.hwEnable) return true;
    const v = this.lvt[LVT_LINT0]!;
    return (v & LVT_MASKED) === 0 && (v & LVT_DELIVERY_MODE_MASK) === DELIVERY_EXTINT << LVT_DELIVERY_MODE_SHIFT;
  }

  // --- CPU side

  /** Highest deliverable vector (IRR class above PPR class, APIC enabled), or -1. */
  highestPending(): number {
    this.timerCatchUp(this.now());
    if (!this.hwEnable || !this.swEnabled) return -1;
    const v = highestBit(this.irr);
    if (v < 0 || (v & 0xf0) <= (this.ppr() & 0xf0)) return -1;
    return v;
  }

  /** The CPU takes `vector` (interrupt acknowledge): IRR → ISR. Throws if it is not requested. */
  acknowledge(vector: number): void {
    const w = vector >>> 5, bit = 1 << (vector & 31);
    if (vector < 0 || vector > 0xff || (this.irr[w]! & bit) === 0) {
      throw new RangeError(`LAPIC acknowledge of vector ${vector}, which is not in the IRR`);
    }
    this.irr[w]! &= ~bit;
    this.isr[w]! |= bit;
  }

  /** Spurious-interrupt vector (SVR[7:0]). */
  get spuriousVector(): number { return this.svr & SVR_VECTOR_MASK; }

  private eoi(): void {
    const v = highestBit(this.isr);
    if (v < 0) return;
    const w = v >>> 5, bit = 1 << (v & 31);
    this.isr[w]! &= ~bit;
    if ((this.tmr[w]! & bit) === 0) return;
    for (let pin = 0; pin < 2; pin++) {
      const i = LVT_LINT0 + pin;
      const e = this.lvt[i]!;
      if ((e & LVT_REMOTE_IRR) !== 0 && (e & LVT_VECTOR_MASK) === v) {
        this.lvt[i] = (e & ~LVT_REMOTE_IRR) >>> 0;
        this.tryLintLevel(pin);
      }
    }
    this.eoiOut(v);
  }

  // --- IPIs

  private sendIpi(): void {
    const lo = this.icrLo;
    const vector = lo & ICR_VECTOR_MASK;
    const mode = (lo & ICR_DELIVERY_MODE_MASK) >>> 8;
    const fixed = mode === DELIVERY_FIXED || mode === DELIVERY_LOWEST;
    if (fixed && vector < 16) { this.recordError(ESR_SEND_ILLEGAL_VECTOR); return; }
    let toSelf: boolean;
    switch (lo & ICR_SHORTHAND_MASK) {
      case ICR_SHORTHAND_SELF: case ICR_SHORTHAND_ALL_INCL: toSelf = true; break;
      case ICR_SHORTHAND_ALL_EXCL: toSelf = false; break;
      default: toSelf = this.x2Mode
        ? this.matchesX2Destination(this.icrDest32, (lo & ICR_DEST_LOGICAL) !== 0)
        : this.matchesDestination(this.icrHi >>> 24, (lo & ICR_DEST_LOGICAL) !== 0);
    }
    if (toSelf) this.receiveIpi(lo);
  }

  /**
   * x2APIC destinations (10.12.9, 10.12.10.2): physical, the 32-bit x2APIC ID
   * or FFFFFFFFH (broadcast); logical (cluster model only), FFFFFFFFH or the
   * same cluster (bits 31:16) with an intersecting member bitmap (15:0).
   */
  private matchesX2Destination(dest: number, logical: boolean): boolean {
    dest >>>= 0;
    if (dest === 0xffffffff) return true;
    if (!logical) return dest === this.x2apicId;
    const ldr = this.x2apicLdr;
    return (dest >>> 16) === (ldr >>> 16) && (dest & ldr & 0xffff) !== 0;
  }

  // --- x2APIC MSR interface (10.12.1.2, Table 10-6)

  /**
   * RDMSR of 800H-8FFH. null means #GP(0): not in x2APIC mode, a register
   * x2APIC does not have (APR, RRD, DFR, ICR high, reserved addresses) or a
   * write-only one (EOI, SELF IPI).
   */
  readMsr(msr: number): [number, number] | null {
    if (!this.x2Mode) return null;
    const index = (msr >>> 0) - X2APIC_MSR_BASE;
    switch (index) {
      case R_ID: return [this.x2apicId, 0];
      case R_LDR: return [this.x2apicLdr, 0];
      case R_ICR_LO: return [this.icrLo, this.icrDest32];
      case R_EOI: case R_SELF_IPI: case R_APR: case R_RRD: case R_DFR: case R_ICR_HI: return null;
    }
    if (index < 0 || index > R_SELF_IPI) return null;
    const v = this.readRegister(index);
    return v === undefined ? null : [v >>> 0, 0];
  }

  /**
   * WRMSR of 800H-8FFH. false means #GP(0): not in x2APIC mode, a register
   * x2APIC does not have, a read-only register, bits 63:32 set (all but
   * the ICR), or a reserved bit set (10.12.1.3: "Non-zero writes ... to
   * reserved bits ... will raise a general protection fault"); EOI and ESR
   * take only 0.
   */
  writeMsr(msr: number, lo: number, hi: number): boolean {
    if (!this.x2Mode) return false;
    lo >>>= 0;
    hi >>>= 0;
    const index = (msr >>> 0) - X2APIC_MSR_BASE;
    if (index === R_ICR_LO) {
      if ((lo & ~ICR_LOW_WRITABLE) !== 0) return false; // bits 12, 13, 16, 17, 20-31 reserved in x2APIC mode
      this.timerCatchUp(this.now());
      this.icrLo = lo;
      this.icrDest32 = hi;
      this.sendIpi();
      return true;
    }
    if (hi !== 0) return false;
    switch (index) {
      case R_TPR: if ((lo & ~0xff) !== 0) return false; break;
      case R_EOI: case R_ESR: if (lo !== 0) return false; break;
      case R_SVR: if ((lo & ~SVR_WRITABLE) !== 0) return false; break;
      case R_DIVIDE: if ((lo & ~DIVIDE_WRITABLE) !== 0) return false; break;
      case R_INITIAL: case R_CMCI: break;
      case R_SELF_IPI:
        // SELF IPI (10.12.11): a fixed, edge-triggered IPI to this APIC with vector bits 7:0.
        if ((lo & ~ICR_VECTOR_MASK) !== 0) return false;
        this.timerCatchUp(this.now());
        if (lo < 16) { this.recordError(ESR_SEND_ILLEGAL_VECTOR); return true; }
        this.receiveIpi(lo);
        return true;
      default:
        if (index >= R_TIMER && index <= R_ERROR) {
          const w = index === R_TIMER && this.tscDeadlineSupported ? LVT_WRITABLE_TIMER_DEADLINE : LVT_WRITABLE[index - R_TIMER]!;
          if ((lo & ~(w | LVT_DELIVERY_STATUS | LVT_REMOTE_IRR)) !== 0) return false;
          break;
        }
        return false; // ID, version, LDR, PPR, ISR/TMR/IRR, current count (read-only); APR, RRD, DFR, ICR high, reserved
    }
    return this.writeRegister(index, lo);
  }

  /**
   * An IPI already addressed to this APIC arrives, described by an ICR low
   * word (vector, delivery mode): fixed and lowest-priority enter the IRR
   * (edge-triggered: 10.6.1 uses the trigger mode only for INIT level
   * de-assert), NMI calls `nmi`; INIT, SIPI and SMI are not modelled.
   * Returns true when the interrupt was accepted.
   */
  receiveIpi(icrLo: number): boolean {
    const vector = icrLo & ICR_VECTOR_MASK;
    const mode = (icrLo & ICR_DELIVERY_MODE_MASK) >>> 8;
    if (!this.hwEnable) return false;
    if (mode === DELIVERY_FIXED || mode === DELIVERY_LOWEST) return this.acceptInterrupt(vector, false);
    if (mode === DELIVERY_NMI) { this.nmiOut(); return true; }
    return false;
  }

  // --- errors

  private recordError(bits: number): void {
    this.esrPending |= bits;
    if (this.inErrorDelivery) return; // an illegal error vector must not recurse
    this.inErrorDelivery = true;
    try { this.deliverLvt(LVT_ERROR); } finally { this.inErrorDelivery = false; }
  }

  /** Local interrupt from an LVT entry with fixed delivery (timer, error). */
  private deliverLvt(i: number): void {
    const v = this.lvt[i]!;
    if ((v & LVT_MASKED) !== 0) return;
    this.acceptInterrupt(v & LVT_VECTOR_MASK, false);
  }

  // --- timer

  private currentCount(now: number): number {
    if (this.nextExpiry === Infinity || now >= this.nextExpiry || this.deadlineMode()) return 0;
    const d = this.nextExpiry - now;
    const q = divFloor(d, this.tickLen);
    return q * this.tickLen === d ? q : q + 1;
  }

  /** Delivers a due expiry (once, coalescing missed periods) and re-arms a periodic timer. */
  private timerCatchUp(now: number): void {
    if (now < this.nextExpiry) return;
    const mode = this.lvt[LVT_TIMER]! & LVT_TIMER_MODE_MASK;
    if (mode === LVT_TIMER_PERIODIC && this.initialCount !== 0) {
      const period = this.initialCount * this.tickLen;
      this.nextExpiry += (divFloor(now - this.nextExpiry, period) + 1) * period;
    } else {
      this.nextExpiry = Infinity;
      if (mode === LVT_TIMER_TSC_DEADLINE) { this.deadlineLo = 0; this.deadlineHi = 0; } // disarms and clears the MSR
    }
    this.deliverLvt(LVT_TIMER);
  }
}

function checkAccess(offset: number, size: number): void {
  if (size !== 1 && size !== 2 && size !== 4) throw new RangeError(`LAPIC access size ${size} is not 1, 2 or 4 (split wider accesses)`);
  if (!Number.isInteger(offset) || offset < 0 || offset + size > APIC_PAGE_SIZE) {
    throw new RangeError(`LAPIC access at offset 0x${offset.toString(16)} (size ${size}) is outside the 4-KiB page`);
  }
}
