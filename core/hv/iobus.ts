/**
 * The hypervisor's port-I/O bus: devices claim port ranges; an access to an
 * unclaimed port reads all ones and writes nothing, like an empty ISA bus.
 */
export interface PortDevice {
  readonly name: string;
  /** Read `size` bytes (1, 2 or 4) at `offset` from the device's first port. */
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

/** A device's port window, as devices' ports() list them: `io.register(r.base, r.len, r.dev)`. */
export type PortRange = { readonly base: number; readonly len: number; readonly dev: PortDevice };

interface Claim { base: number; len: number; dev: PortDevice }

export class IoBus {
  private readonly byPort: (Claim | undefined)[] = new Array(0x10000);

  register(base: number, len: number, dev: PortDevice): void {
    const c: Claim = { base, len, dev };
    for (let p = base; p < base + len; p++) {
      const old = this.byPort[p];
      if (old) throw new Error(`I/O port 0x${p.toString(16)} claimed by both ${old.dev.name} and ${dev.name}`);
      this.byPort[p] = c;
    }
  }
  /** Remove a claim made by register() (a PCI BAR moved or was disabled). */
  unregister(base: number, len: number, dev: PortDevice): void {
    for (let p = base; p < base + len; p++) {
      if (this.byPort[p]?.dev === dev) this.byPort[p] = undefined;
    }
  }
  deviceAt(port: number): PortDevice | undefined { return this.byPort[port & 0xffff]?.dev; }

  read(port: number, size: number): number {
    const c = this.byPort[port & 0xffff];
    if (!c) return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    return c.dev.read(port - c.base, size) >>> 0;
  }
  write(port: number, size: number, value: number): void {
    const c = this.byPort[port & 0xffff];
    if (c) c.dev.write(port - c.base, size, value);
  }
}

/** Byte registers on `len` consecutive ports; a wider access touches consecutive registers, lowest first (unclaimed bytes read 0xFF). */
export function bytePorts(name: string, len: number, read: (o: number) => number, write: (o: number, v: number) => void): PortDevice {
  return {
    name,
    read(offset, size) {
      let v = 0;
      for (let k = 0; k < size; k++) v |= (offset + k < len ? read(offset + k) & 0xff : 0xff) << (8 * k);
      return v >>> 0;
    },
    write(offset, size, value) {
      for (let k = 0; k < size; k++) if (offset + k < len) write(offset + k, (value >>> (8 * k)) & 0xff);
    },
  };
}
