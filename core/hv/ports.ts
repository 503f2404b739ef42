/** Adapters from device register interfaces to the port bus. */
import type { PortDevice } from './iobus.js';
import type { Uart16550 } from '../devices/uart16550.js';

/** A 16550 on 8 consecutive ports; wider accesses touch consecutive registers, lowest first. */
export function uartPorts(name: string, uart: Uart16550): PortDevice {
  return {
    name,
    read(offset, size) {
      let v = 0;
      for (let k = 0; k < size; k++) v |= (offset + k < 8 ? uart.read(offset + k) : 0xff) << (8 * k);
      return v >>> 0;
    },
    write(offset, size, value) {
      for (let k = 0; k < size; k++) if (offset + k < 8) uart.write(offset + k, (value >>> (8 * k)) & 0xff);
    },
  };
}
