/**
 * The narrow event interface between the hypervisor (core/hv) and the outside
 * world. core/ never records anything itself: it calls a TraceSink. Recording
 * passes a sink that encodes, replay passes a sink that compares, a plain run
 * passes NULL_SINK. The same machine code runs in all three modes.
 *
 * Every event carries `ic`, the retired-instruction count (virtual time) at
 * which it happened. 64-bit architectural values that can exceed 2^53 are
 * carried as two unsigned 32-bit halves (`...Lo`, `...Hi`); guest addresses
 * are canonical, so they are carried as one signed number (a 64-bit
 * canonical address sign-extended from bit 47 is exact in a double).
 */

/** One VM-exit as the hypervisor read it back with VMREAD. */
export interface ExitEvent {
  readonly kind: 'exit';
  readonly ic: number;
  /** Exit-reason field (SDM Vol. 3C, 25.9.1), all 32 bits incl. bit 31 (entry failure). */
  readonly reason: number;
  /** Exit qualification (natural width; every defined format fits in 53 bits). */
  readonly qual: number;
  /** Guest RIP at the exit, canonical signed form. */
  readonly rip: number;
  /** VM-exit instruction length (SDM Vol. 3C, 25.9.4); 0 where undefined. */
  readonly len: number;
  /** VM-exit instruction-information field; 0 where undefined. */
  readonly info: number;
  /** Guest-physical address field (EPT exits), else 0. */
  readonly gpa: number;
  /** Guest-linear address field where defined, else 0. */
  readonly gla: number;
  /** For a VM-entry failure (reason 33/34): id of the failing check, else ''. */
  readonly rule: string;
}

/** A port I/O access as the hypervisor performed it against a device. */
export interface PioEvent {
  readonly kind: 'pio';
  readonly ic: number;
  readonly port: number;
  readonly size: 1 | 2 | 4;
  /** true for OUT (guest writes), false for IN. */
  readonly write: boolean;
  /** Value written or value returned to the guest. */
  readonly value: number;
}

/** An MMIO access emulated by the hypervisor against a device. */
export interface MmioEvent {
  readonly kind: 'mmio';
  readonly ic: number;
  readonly gpa: number;
  readonly size: 1 | 2 | 4 | 8;
  readonly write: boolean;
  readonly valueLo: number;
  readonly valueHi: number;
  /** Name of the device that claimed the address. */
  readonly device: string;
}

/** An event injected through the VM-entry interruption-information field. */
export interface IrqEvent {
  readonly kind: 'irq';
  readonly ic: number;
  readonly vector: number;
  /** Interruption type (SDM Vol. 3C, 24.8.3): 0 ext-int, 2 NMI, 3 hw exc, 4 sw int, 5 priv sw exc, 6 sw exc. */
  readonly type: number;
  readonly rip: number;
}

/** Periodic digest of guest state, to catch divergence between events. */
export interface DigestEvent {
  readonly kind: 'digest';
  readonly ic: number;
  /** Hex SHA-256 (truncated to 32 hex digits) of the architectural registers. */
  readonly regs: string;
  /** Hex digest of guest memory. */
  readonly mem: string;
}

export type TraceEvent = ExitEvent | PioEvent | MmioEvent | IrqEvent | DigestEvent;
export type EventKind = TraceEvent['kind'];

export interface TraceSink {
  /** Called for every event in order. A comparing sink may throw to stop the run. */
  event(e: TraceEvent): void;
}

export const NULL_SINK: TraceSink = { event() { /* discard */ } };
