/** Adapters from device register interfaces to the port bus. */
import { bytePorts, type PortDevice } from './iobus.js';
import type { Uart16550 } from '../devices/uart16550.js';

/** A 16550 on 8 consecutive ports; wider accesses touch consecutive registers, lowest first. */
export function uartPorts(name: string, uart: Uart16550): PortDevice {
  return bytePorts(name, 8, (o) => uart.read(o), (o, v) => uart.write(o, v));
}
