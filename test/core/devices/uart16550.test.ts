import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Uart16550, type Uart16550Options } from '../../../core/devices/uart16550.js';

// Offsets and values are written as literal numbers from the 16550A datasheet,
// not through the module's constants, so a wrong constant would be caught.
const RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

function make(opts: Omit<Uart16550Options, 'output' | 'irq'> = {}) {
  const out: number[] = [];
  const irq: boolean[] = [];
  const u = new Uart16550({ ...opts, output: (b) => out.push(b), irq: (l) => irq.push(l) });
  return { u, out, irq };
}

test('reset values: LSR 0x60, IIR 0x01, MSR = connected modem inputs', () => {
  const { u, irq } = make();
  assert.is(u.read(LSR), 0x60);
  assert.is(u.read(IIR), 0x01);
  assert.is(u.read(IER), 0x00);
  assert.is(u.read(LCR), 0x00);
  assert.is(u.read(MCR), 0x00);
  assert.is(u.read(MSR), 0xb0); // CTS | DSR | DCD, no deltas
  assert.is(u.read(SCR), 0x00);
  assert.is(u.irqLevel, false);
  assert.equal(irq, []);
});

test('THR write goes straight to the sink; THRE and TEMT stay set', () => {
  const { u, out } = make();
  for (const c of 'Hi\n') u.write(THR, c.charCodeAt(0));
  assert.equal(out, [0x48, 0x69, 0x0a]);
  assert.is(u.read(LSR), 0x60);
  u.write(THR, 0x1ff); // only the low byte is a character
  assert.is(out[3], 0xff);
});

test('DLAB switches offsets 0/1 to the divisor latch', () => {
  const { u, out } = make();
  u.write(IER, 0x05);
  u.write(LCR, 0x83); // DLAB + 8 data bits
  assert.is(u.read(LCR), 0x83);
  u.write(DLL, 0x01);
  u.write(DLM, 0x02);
  assert.is(u.read(DLL), 0x01);
  assert.is(u.read(DLM), 0x02);
  assert.is(u.divisor, 0x0201);
  assert.equal(out, [], 'DLL write is not a transmission');
  u.write(LCR, 0x03);
  assert.is(u.read(IER), 0x05, 'IER untouched by DLM writes');
  u.write(LCR, 0x80);
  assert.is(u.read(DLL), 0x01, 'latch kept');
});

test('scratch register and masked IER/MCR bits', () => {
  const { u } = make();
  u.write(SCR, 0x5a);
  assert.is(u.read(SCR), 0x5a);
  u.write(IER, 0xf0);
  assert.is(u.read(IER), 0x00);
  u.write(MCR, 0xe3);
  assert.is(u.read(MCR), 0x03);
  u.write(LSR, 0x00); // read-only: ignored
  assert.is(u.read(LSR), 0x60);
});

test('register offsets outside 0-7 are a programming error', () => {
  const { u } = make();
  assert.throws(() => u.read(8), (e: unknown) => e instanceof RangeError);
  assert.throws(() => u.write(-1, 0), (e: unknown) => e instanceof RangeError);
});

test('loopback: TX goes to RX, nothing reaches the sink, host input is disconnected', () => {
  const { u, out } = make();
  u.write(MCR, 0x10);
  assert.is(u.enqueueInput([0x31]), 0);
  assert.is(u.rxSpace, 0);
  u.write(THR, 0x41);
  assert.equal(out, []);
  assert.is(u.read(LSR), 0x61); // DR | THRE | TEMT
  assert.is(u.read(RBR), 0x41);
  assert.is(u.read(LSR), 0x60);
  u.write(MCR, 0x00);
  u.write(THR, 0x42);
  assert.equal(out, [0x42]);
});

test('loopback: MSR mirrors MCR (CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2) with deltas', () => {
  const { u } = make();
  assert.is(u.read(MSR), 0xb0);
  // Linux's probe: MCR = LOOP | OUT2 | RTS expects MSR & 0xf0 == 0x90.
  u.write(MCR, 0x1a);
  assert.is(u.read(MSR), 0x92); // CTS | DCD, DSR fell -> DDSR
  assert.is(u.read(MSR), 0x90, 'deltas cleared on read');
  u.write(MCR, 0x15); // LOOP | OUT1 | DTR -> DSR | RI
  assert.is(u.read(MSR), 0x6b); // DCTS | DDSR | DDCD; RI rising is not TERI
  u.write(MCR, 0x10); // all low: RI falls -> TERI
  assert.is(u.read(MSR), 0x06); // DDSR | TERI
  u.write(MCR, 0x00); // back to the modem inputs 0xb0
  assert.is(u.read(MSR), 0xbb);
});

test('FCR: FIFO enable bits in IIR, write-only, RX reset, FCR0 gates the other bits', () => {
  const { u } = make();
  u.write(FCR, 0x01);
  assert.is(u.read(IIR), 0xc1);
  u.enqueueInput([1, 2, 3]);
  assert.is(u.read(LSR), 0x61);
  u.write(FCR, 0x03); // keep FIFOs, reset RX
  assert.is(u.read(LSR), 0x60);
  assert.is(u.rxSpace, 16);
  u.enqueueInput([4, 5]);
  u.write(FCR, 0x00); // disabling FIFOs clears them
  assert.is(u.read(IIR), 0x01);
  assert.is(u.read(LSR), 0x60);
  assert.is(u.rxSpace, 1);
  u.write(FCR, 0xc0); // trigger bits without FCR0 are not programmed
  assert.is(u.read(IIR), 0x01);
});

test('FIFO receive order and overrun: 16 bytes kept, OE set, cleared by reading LSR', () => {
  const { u } = make();
  u.write(FCR, 0x01);
  const input = Array.from({ length: 17 }, (_, i) => 0x40 + i);
  assert.is(u.enqueueInput(input), 16);
  assert.is(u.read(LSR), 0x63); // DR | OE | THRE | TEMT
  assert.is(u.read(LSR), 0x61); // OE cleared by the read
  const got: number[] = [];
  while (u.read(LSR) & 0x01) got.push(u.read(RBR));
  assert.equal(got, input.slice(0, 16));
});

test('non-FIFO overrun overwrites RBR', () => {
  const { u } = make();
  assert.is(u.rxSpace, 1);
  assert.is(u.enqueueInput([0x61, 0x62]), 1);
  assert.is(u.read(LSR), 0x63);
  assert.is(u.read(RBR), 0x62);
  assert.is(u.read(LSR), 0x60);
});

test('interrupt priorities: line status > RX data > THR empty > modem status', () => {
  const { u, irq } = make();
  u.write(IER, 0x0f); // all four sources; THR is empty -> THRE pending
  assert.equal(irq, [true]);
  u.enqueueInput([0x10]);
  assert.is(u.read(IIR), 0x04); // RX data beats THRE
  u.enqueueInput([0x11]); // non-FIFO overrun -> line status
  assert.is(u.read(IIR), 0x06);
  assert.is(u.read(LSR), 0x63); // clears OE
  assert.is(u.read(IIR), 0x04);
  assert.is(u.read(RBR), 0x11);
  assert.is(u.read(IIR), 0x02); // THRE, now cleared by this read
  assert.is(u.read(IIR), 0x01);
  assert.equal(irq, [true, false]);
  u.setModemInputs(0x90); // DSR drops -> DDSR
  assert.equal(irq, [true, false, true]);
  assert.is(u.read(IIR), 0x00);
  assert.is(u.read(IIR), 0x00, 'reading IIR does not clear modem status');
  assert.is(u.read(MSR), 0x92);
  assert.is(u.read(IIR), 0x01);
  assert.equal(irq, [true, false, true, false]);
});

test('THRE interrupt: raised when ETBEI becomes enabled, cleared by IIR read, re-raised after each THR write', () => {
  const { u, out, irq } = make();
  u.write(IER, 0x02);
  assert.equal(irq, [true]);
  assert.is(u.read(IIR), 0x02);
  assert.equal(irq, [true, false]);
  u.write(IER, 0x02); // still enabled: no new interrupt
  assert.is(u.read(IIR), 0x01);
  u.write(THR, 0x41); // THR empties at once -> THRE again
  assert.equal(out, [0x41]);
  assert.equal(irq, [true, false, true]);
  u.write(THR, 0x42); // write clears (line drops), byte leaves (line rises): a fresh edge
  assert.equal(irq, [true, false, true, false, true]);
  u.write(IER, 0x00); // masked
  assert.equal(irq, [true, false, true, false, true, false]);
  assert.is(u.read(IIR), 0x01);
  u.write(IER, 0x02); // 0 -> 1 re-arms
  assert.equal(irq.at(-1), true);
  assert.is(u.read(IIR), 0x02);
});

test('THR write while a higher-priority source holds the line causes no IRQ callback', () => {
  const { u, irq } = make();
  u.write(IER, 0x03);
  u.enqueueInput([1]);
  assert.equal(irq, [true]);
  u.write(THR, 0x30);
  assert.equal(irq, [true]);
  assert.is(u.read(IIR), 0x04);
});

test('FIFO mode: RX data at the trigger level, character timeout below it', () => {
  const { u, irq } = make();
  u.write(FCR, 0xc1); // FIFOs on, trigger 14
  u.write(IER, 0x01);
  u.enqueueInput([1, 2, 3]);
  assert.is(u.read(IIR), 0xcc);
  u.enqueueInput(Array.from({ length: 11 }, (_, i) => i + 4)); // 14 bytes
  assert.is(u.read(IIR), 0xc4);
  assert.is(u.read(RBR), 1); // 13 left, below trigger
  assert.is(u.read(IIR), 0xcc);
  for (let i = 0; i < 13; i++) u.read(RBR);
  assert.is(u.read(IIR), 0xc1);
  assert.equal(irq, [true, false]);
  u.write(FCR, 0x41); // trigger 4
  u.enqueueInput([1, 2, 3, 4]);
  assert.is(u.read(IIR), 0xc4);
});

test('line status interrupt needs ELSI; RX data interrupt needs ERBFI', () => {
  const { u, irq } = make();
  u.enqueueInput([1, 2]); // overrun without any enable
  assert.equal(irq, []);
  assert.is(u.read(IIR), 0x01);
  u.write(IER, 0x04);
  assert.is(u.read(IIR), 0x06);
  u.read(LSR);
  assert.is(u.read(IIR), 0x01);
  assert.equal(irq, [true, false]);
});

test('out2GatesIrq: the PC board gate needs MCR.OUT2 and no loopback', () => {
  const { u, irq } = make({ out2GatesIrq: true });
  u.write(IER, 0x02);
  assert.equal(irq, []);
  assert.is(u.read(IIR), 0x02, 'the UART itself still reports THRE');
  u.write(IER, 0x00);
  u.write(IER, 0x02);
  u.write(MCR, 0x08);
  assert.equal(irq, [true]);
  u.write(MCR, 0x18);
  assert.equal(irq, [true, false]);
});

test('reset() restores register defaults and drops the line', () => {
  const { u, irq } = make();
  u.write(IER, 0x02);
  u.write(LCR, 0x1b);
  u.write(SCR, 9);
  u.write(FCR, 0x01);
  u.reset();
  assert.equal(irq, [true, false]);
  assert.equal([LSR, IIR, IER, LCR, MCR, SCR].map((r) => u.read(r)), [0x60, 0x01, 0, 0, 0, 0]);
});

test.run();
