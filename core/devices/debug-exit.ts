/**
 * QEMU's isa-debug-exit device, as kvm-unit-tests and many hobby kernels use
 * it to end a run with a status: a write of value v to the port stops the
 * machine with process status (v << 1) | 1, so a guest can never report 0
 * (a run that ends otherwise, e.g. by a triple fault, is distinguishable).
 * kvm-unit-tests: `outl(code, 0xf4)`, 1 = pass, 3 = failures, 77 = skipped.
 *
 * Ports: `iobase` (default 0xF4) and `iosize` ports (default 2, as QEMU);
 * writes of 1, 2 or 4 bytes at any of them exit with the value written
 * (masked to the access size). Reads return 0. No IRQs.
 *
 * The status handed to `exit` is exact ((v * 2) + 1, up to 2^33 - 1); a
 * process exit status keeps its low 8 bits, as QEMU's does.
 */
import type { PortRange } from '../hv/iobus.js';

export const DEBUG_EXIT_PORT = 0xf4;
export const DEBUG_EXIT_IOSIZE = 2;

/** The status a debug-exit write of `value` ends the run with. */
export function debugExitStatus(value: number): number {
  return (value >>> 0) * 2 + 1;
}


export interface DebugExitOptions {
  /** Called once per write: the run should end with `status`; `value` is what the guest wrote. */
  readonly exit: (status: number, value: number) => void;
  readonly iobase?: number;
  readonly iosize?: number;
}

export class DebugExit {
  readonly iobase: number;
  readonly iosize: number;
  private readonly exitOut: (status: number, value: number) => void;

  constructor(opts: DebugExitOptions) {
    this.iobase = opts.iobase ?? DEBUG_EXIT_PORT;
    this.iosize = opts.iosize ?? DEBUG_EXIT_IOSIZE;
    if (!Number.isInteger(this.iobase) || this.iobase < 0 || this.iobase > 0xffff) throw new RangeError(`debug-exit iobase 0x${this.iobase.toString(16)} is not a port`);
    if (!Number.isInteger(this.iosize) || this.iosize < 1 || this.iobase + this.iosize > 0x10000) throw new RangeError(`debug-exit iosize ${this.iosize} is out of range`);
    this.exitOut = opts.exit;
  }

  read(_offset: number, _size: number): number { return 0; }

  write(_offset: number, size: number, value: number): void {
    const v = size === 1 ? value & 0xff : size === 2 ? value & 0xffff : value >>> 0;
    this.exitOut(debugExitStatus(v), v);
  }

  /** Port range: iobase .. iobase + iosize - 1 (0xF4-0xF5 by default). */
  ports(): PortRange[] {
    return [{ base: this.iobase, len: this.iosize, dev: { name: 'debug-exit', read: (o, s) => this.read(o, s), write: (o, s, v) => this.write(o, s, v) } }];
  }
}
