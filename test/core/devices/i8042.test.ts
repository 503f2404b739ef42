import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { I8042, type I8042Options } from '../../../core/devices/i8042.js';

// Offsets, commands and bits are literal numbers (IBM AT/PS2 technical
// references, Linux's i8042.h), not the module's constants.
const DATA = 0, CMD = 4;
const OBF = 0x01, SYS = 0x04, A2 = 0x08, UNLOCKED = 0x10, AUX_OBF = 0x20, TIMEOUT = 0x40;

function make(opts: Omit<I8042Options, 'irq1' | 'irq12' | 'reset' | 'a20'> = {}) {
  const irq1: boolean[] = [];
  const irq12: boolean[] = [];
  const a20: boolean[] = [];
  let resets = 0;
  const kbc = new I8042({
    ...opts,
    irq1: (l) => irq1.push(l),
    irq12: (l) => irq12.push(l),
    a20: (e) => a20.push(e),
    reset: () => { resets++; },
  });
  return { kbc, irq1, irq12, a20, resets: () => resets };
}

/** Everything in the output buffer, as Linux's i8042_flush reads it. */
function drain(kbc: I8042): number[] {
  const out: number[] = [];
  for (let i = 0; i < 32 && (kbc.read(CMD) & OBF) !== 0; i++) out.push(kbc.read(DATA));
  return out;
}
/** i8042_command with one reply byte. */
function command(kbc: I8042, cmd: number, param?: number): number[] {
  kbc.write(CMD, cmd);
  if (param !== undefined) kbc.write(DATA, param);
  return drain(kbc);
}

test('power-on: status 0x1C (system flag, last write a command, not inhibited), command byte 0x65', () => {
  const { kbc, irq1 } = make();
  assert.is(kbc.read(CMD), SYS | A2 | UNLOCKED);
  assert.equal(command(kbc, 0x20), [0x65]);
  assert.equal(irq1, [true, false], 'command replies raise IRQ 1 when the command byte enables it');
});

test('self-test 0xAA → 0x55, keyboard interface test 0xAB → 0x00, aux interface test 0xA9 → 0x00', () => {
  const { kbc } = make();
  assert.equal(command(kbc, 0xaa), [0x55]);
  assert.equal(command(kbc, 0xab), [0x00]);
  assert.equal(command(kbc, 0xa9), [0x00]);
  assert.is(kbc.read(CMD) & OBF, 0);
});

test('command byte: 0x60 writes, 0x20 reads; status SYS follows bit 2; IRQ 1 gated by bit 0', () => {
  const { kbc, irq1 } = make();
  kbc.write(CMD, 0x60);
  assert.is(kbc.read(CMD) & A2, A2);
  kbc.write(DATA, 0x30); // interfaces disabled, no interrupts, no system flag
  assert.is(kbc.read(CMD) & (A2 | SYS), 0);
  kbc.write(CMD, 0x20);
  assert.is(kbc.read(CMD) & OBF, OBF);
  assert.equal(irq1, [], 'KBD_INT clear: no IRQ 1');
  assert.is(kbc.read(DATA), 0x30);
  assert.is(kbc.commandByte, 0x30);
  assert.equal(command(kbc, 0xaa), [0x55]);
  assert.is(kbc.read(CMD) & SYS, SYS, 'self-test sets the system flag');
});

test('internal RAM bytes 0x21-0x3F read and write through 0x21-0x3F / 0x61-0x7F', () => {
  const { kbc } = make();
  command(kbc, 0x65, 0xa5);
  assert.equal(command(kbc, 0x25), [0xa5]);
});

test('disable/enable keyboard (0xAD/0xAE) and aux (0xA7/0xA8) flip command byte bits 4 and 5', () => {
  const { kbc } = make();
  kbc.write(CMD, 0xad);
  assert.is(kbc.commandByte & 0x10, 0x10);
  kbc.write(CMD, 0xae);
  assert.is(kbc.commandByte & 0x10, 0);
  kbc.write(CMD, 0xa8);
  assert.is(kbc.commandByte & 0x20, 0);
  assert.equal(command(kbc, 0x20), [0x45]);
  kbc.write(CMD, 0xa7);
  assert.equal(command(kbc, 0x20), [0x65]);
});

test('keyboard reset 0xFF → 0xFA 0xAA, each byte a fresh IRQ 1 edge', () => {
  const { kbc, irq1 } = make();
  kbc.write(DATA, 0xff);
  assert.is(kbc.read(CMD) & A2, 0, 'last write was data');
  assert.equal(irq1, [true]);
  assert.is(kbc.read(DATA), 0xfa);
  assert.equal(irq1, [true, false, true]);
  assert.is(kbc.read(DATA), 0xaa);
  assert.equal(irq1, [true, false, true, false]);
  assert.is(kbc.read(DATA), 0xaa, 'an empty buffer reads the last byte again');
});

test('identify 0xF2: 0xAB 0x41 when translating (atkbd "translated" id), 0xAB 0x83 when not', () => {
  const { kbc } = make();
  kbc.write(DATA, 0xf2);
  assert.equal(drain(kbc), [0xfa, 0xab, 0x41]);
  command(kbc, 0x60, 0x25); // translation off
  kbc.write(DATA, 0xf2);
  assert.equal(drain(kbc), [0xfa, 0xab, 0x83]);
});

test('parameter commands (LEDs, typematic, scan-code set), echo, resend, other commands ACK', () => {
  const { kbc } = make();
  kbc.write(DATA, 0xed);
  kbc.write(DATA, 0x07);
  assert.equal(drain(kbc), [0xfa, 0xfa]);
  kbc.write(DATA, 0xf3);
  kbc.write(DATA, 0x20);
  assert.equal(drain(kbc), [0xfa, 0xfa]);
  kbc.write(DATA, 0xf0);
  kbc.write(DATA, 0x00);
  assert.equal(drain(kbc), [0xfa, 0xfa, 0x02], 'scan-code set query');
  kbc.write(DATA, 0xf0);
  kbc.write(DATA, 0x01);
  kbc.write(DATA, 0xf0);
  kbc.write(DATA, 0x00);
  assert.equal(drain(kbc), [0xfa, 0xfa, 0xfa, 0xfa, 0x01]);
  kbc.write(DATA, 0xee);
  assert.equal(drain(kbc), [0xee]);
  kbc.write(DATA, 0xfe);
  assert.equal(drain(kbc), [0xee], 'resend repeats the last byte');
  for (const c of [0xf4, 0xf5, 0xf6, 0xf7, 0xfa]) {
    kbc.write(DATA, c);
    assert.equal(drain(kbc), [0xfa], `command 0x${c.toString(16)}`);
  }
});

test('keyboard bytes wait while the interface is disabled; writing to the keyboard enables it', () => {
  const { kbc } = make();
  kbc.write(CMD, 0xad);
  assert.is(kbc.enqueueKeyboard([0x1c, 0xf0, 0x1c]), 3);
  assert.is(kbc.read(CMD) & OBF, 0);
  kbc.write(CMD, 0xae);
  assert.equal(drain(kbc), [0x1c, 0xf0, 0x1c]);
  kbc.write(CMD, 0xad);
  kbc.write(DATA, 0xf4);
  assert.is(kbc.commandByte & 0x10, 0, 'a byte for the keyboard re-enables its interface');
  assert.equal(drain(kbc), [0xfa]);
  kbc.write(DATA, 0xf5); // scanning off: host input is dropped
  drain(kbc);
  assert.is(kbc.enqueueKeyboard([0x1c]), 0);
});

test('controller replies come before queued keyboard bytes', () => {
  const { kbc } = make();
  kbc.enqueueKeyboard([0x1c, 0x32]);
  kbc.write(CMD, 0x20);
  assert.equal(drain(kbc), [0x1c, 0x65, 0x32], 'the byte already in the buffer stays first');
});

test('output port: 0xD0 reads 0xCF at rest; 0xD1 toggles A20 and resets the CPU on bit 0 = 0', () => {
  const { kbc, a20, resets } = make();
  assert.equal(command(kbc, 0xd0), [0xcf]);
  command(kbc, 0xd1, 0xcd);
  assert.equal(a20, [false]);
  assert.is(kbc.a20Enabled, false);
  command(kbc, 0xd1, 0xcf);
  assert.equal(a20, [false, true]);
  assert.is(resets(), 0);
  command(kbc, 0xd1, 0xce);
  assert.is(resets(), 1);
  assert.equal(command(kbc, 0xd0), [0xcf], 'the reset line is a pulse');
  kbc.write(CMD, 0xdd);
  assert.equal(a20, [false, true, false]);
  kbc.write(CMD, 0xdf);
  assert.equal(a20, [false, true, false, true]);
});

test('output port read reflects the output-buffer interrupt lines', () => {
  const { kbc } = make();
  kbc.enqueueKeyboard([0x1c]);
  kbc.write(CMD, 0xd0);
  assert.equal(drain(kbc), [0x1c, 0xdf], 'OBF (bit 4) was set when the port was read');
});

test('reset commands: 0xFE pulses the reset line; 0xF0-0xFF pulse the lines whose bits are 0', () => {
  const { kbc, resets } = make();
  kbc.write(CMD, 0xfe);
  assert.is(resets(), 1);
  kbc.write(CMD, 0xff);
  kbc.write(CMD, 0xf1);
  assert.is(resets(), 1, 'line 0 not pulsed');
  kbc.write(CMD, 0xf0);
  kbc.write(CMD, 0xfc);
  assert.is(resets(), 3);
});

test('aux loopback 0xD3 (Linux i8042_check_aux / check_mux) and keyboard loopback 0xD2', () => {
  const { kbc, irq12, irq1 } = make();
  command(kbc, 0x60, 0x47); // aux enabled, both interrupts
  kbc.write(CMD, 0xd3);
  kbc.write(DATA, 0x5a);
  assert.is(kbc.read(CMD) & (OBF | AUX_OBF), OBF | AUX_OBF);
  assert.equal(irq12, [true]);
  assert.is(kbc.read(DATA), 0x5a);
  assert.equal(irq12, [true, false]);
  for (const v of [0xf0, 0x56, 0xa4]) assert.equal(command(kbc, 0xd3, v), [v], 'no active multiplexer: 0xA4 echoes');
  kbc.write(CMD, 0xd2);
  kbc.write(DATA, 0x99);
  assert.is(kbc.read(CMD) & AUX_OBF, 0);
  assert.equal(irq1, [true]);
  assert.is(kbc.read(DATA), 0x99);
});

test('no mouse: bytes for the aux device (0xD4) are answered 0xFE with the timeout bit', () => {
  const { kbc } = make();
  kbc.write(CMD, 0xd4);
  kbc.write(DATA, 0xff);
  assert.is(kbc.read(CMD) & (OBF | AUX_OBF | TIMEOUT), OBF | AUX_OBF | TIMEOUT);
  assert.is(kbc.read(DATA), 0xfe);
  assert.is(kbc.read(CMD) & TIMEOUT, 0);
  assert.is(kbc.commandByte & 0x20, 0, 'writing to the aux device enables its interface');
});

test('no keyboard: keyboard commands are answered 0xFE with the timeout bit', () => {
  const { kbc } = make({ keyboard: false });
  kbc.write(DATA, 0xff);
  assert.is(kbc.read(CMD) & (OBF | AUX_OBF | TIMEOUT), OBF | TIMEOUT);
  assert.equal(drain(kbc), [0xfe]);
  assert.is(kbc.enqueueKeyboard([1]), 0);
  assert.equal(command(kbc, 0xab), [0x00], 'the port itself tests fine');
});

test('Linux probe: flush, self-test, stable CTR, CTR write, aux checks, keyboard reset and id', () => {
  const { kbc } = make();
  assert.equal(drain(kbc), []);
  assert.equal(command(kbc, 0xaa), [0x55]);
  const ctr = command(kbc, 0x20)[0]!;
  assert.is(command(kbc, 0x20)[0], ctr);
  assert.is(kbc.read(CMD) & UNLOCKED, UNLOCKED, 'no keylock warning');
  command(kbc, 0x60, (ctr | 0x10) & ~0x01);
  assert.equal(command(kbc, 0xd3, 0x5a), [0x5a]);
  kbc.write(CMD, 0xa7);
  assert.is(command(kbc, 0x20)[0]! & 0x20, 0x20);
  kbc.write(CMD, 0xa8);
  assert.is(command(kbc, 0x20)[0]! & 0x20, 0);
  command(kbc, 0x60, 0x47 & ~0x20);
  kbc.write(DATA, 0xff);
  assert.equal(drain(kbc), [0xfa, 0xaa]);
  kbc.write(DATA, 0xf2);
  assert.equal(drain(kbc), [0xfa, 0xab, 0x41]);
});

test('unknown controller commands are ignored', () => {
  const { kbc } = make();
  kbc.write(CMD, 0xc8);
  kbc.write(CMD, 0xac);
  assert.equal(drain(kbc), []);
  assert.equal(command(kbc, 0xc0), [0x80], 'input port');
  assert.equal(command(kbc, 0xe0), [0x00], 'test inputs');
});

test('port adapter: 0x60 and 0x64', () => {
  const { kbc } = make();
  const r = kbc.ports();
  assert.equal(r.map((x) => [x.base, x.len]), [[0x60, 1], [0x64, 1]]);
  const [data, cmd] = r.map((x) => x.dev);
  cmd!.write(0, 1, 0xaa);
  assert.is(cmd!.read(0, 1) & OBF, OBF);
  assert.is(data!.read(0, 1), 0x55);
  assert.throws(() => kbc.read(1), /offset/);
});

test.run();
