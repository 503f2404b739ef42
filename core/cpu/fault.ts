/**
 * How the CPU leaves an instruction early.
 *
 * A faulting instruction throws CPU_FAULT after filling `Cpu.faultVector` /
 * `Cpu.faultCode`; an instruction or event that must cause a VM exit throws
 * VM_EXIT after filling the `Cpu.x*` exit fields. Both are preallocated
 * sentinels (no allocation, no stack capture on the hot path). Anything else
 * thrown out of the CPU is a bug or a host-level error.
 */
export const CPU_FAULT = { kind: 'cpu-fault' } as const;
export const VM_EXIT = { kind: 'vm-exit' } as const;

/** Raised for guest behaviour the machine does not implement (an emulator gap, not a guest fault). */
export class UnimplementedError extends Error {
  override readonly name = 'UnimplementedError';
  constructor(message: string, readonly rip: number, readonly bytes: Uint8Array) {
    super(message);
  }
}
