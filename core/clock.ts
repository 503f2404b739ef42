/**
 * Virtual time. The machine's only clock is the number of instructions the
 * guest has retired (Cpu.icount). Devices express deadlines in that unit;
 * the hypervisor asks the CPU to return at the earliest deadline, and HLT
 * advances time to it. Nothing here reads the host's clock.
 */
export interface Deadline {
  /** Virtual time (retired instructions) at which `fire` must run; Infinity when idle. */
  readonly at: number;
  fire(now: number): void;
}

export class VirtualClock {
  private readonly sources: Deadline[] = [];
  constructor(private readonly now: () => number) {}

  get time(): number { return this.now(); }
  addSource(d: Deadline): void { this.sources.push(d); }

  /** Earliest pending deadline, or Infinity. */
  next(): number {
    let t = Infinity;
    for (const s of this.sources) if (s.at < t) t = s.at;
    return t;
  }
  /** Fire every deadline that is due, in registration order (deterministic). */
  fireDue(): void {
    const now = this.now();
    for (const s of this.sources) if (s.at <= now) s.fire(now);
  }
}
