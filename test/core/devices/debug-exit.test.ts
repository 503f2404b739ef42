import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DebugExit, debugExitStatus } from '../../../core/devices/debug-exit.js';

function make(opts: { iobase?: number; iosize?: number } = {}) {
  const exits: [number, number][] = [];
  const dev = new DebugExit({ ...opts, exit: (status, value) => exits.push([status, value]) });
  return { dev, exits };
}

test('status is (v << 1) | 1: kvm-unit-tests pass 0 → 1, fail 1 → 3, skip 38 → 77, abort 63 → 127', () => {
  const { dev, exits } = make();
  for (const v of [0, 1, 38, 63]) dev.write(0, 4, v);
  assert.equal(exits, [[1, 0], [3, 1], [77, 38], [127, 63]]);
});

test('byte, word and dword writes are masked to their size', () => {
  const { dev, exits } = make();
  dev.write(0, 1, 0x1ff);
  dev.write(0, 2, 0x12345);
  dev.write(0, 4, 0xffffffff);
  assert.equal(exits, [[0x1ff, 0xff], [0x468b, 0x2345], [2 ** 33 - 1, 0xffffffff]]);
  assert.is(debugExitStatus(-1), 2 ** 33 - 1, 'a negative int32 is its unsigned value');
});

test('QEMU defaults: port 0xF4, two ports; any port in the range exits; reads return 0', () => {
  const { dev, exits } = make();
  const [r] = dev.ports();
  assert.equal([r!.base, r!.len], [0xf4, 2]);
  r!.dev.write(1, 1, 2);
  assert.equal(exits, [[5, 2]]);
  assert.is(r!.dev.read(0, 4), 0);
});

test('iobase and iosize are configurable and validated', () => {
  const { dev } = make({ iobase: 0x501, iosize: 1 });
  assert.equal(dev.ports().map((x) => [x.base, x.len]), [[0x501, 1]]);
  assert.throws(() => make({ iobase: 0x10000 }), /iobase/);
  assert.throws(() => make({ iosize: 0 }), /iosize/);
  assert.throws(() => make({ iobase: 0xffff, iosize: 2 }), /iosize/);
});

test.run();
