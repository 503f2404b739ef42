import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DiskError, memoryDisk, openDisk } from '../../../core/devices/disk.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvtrace-disk-'));
let serial = 0;

/** A temp image of `sectors` sectors; byte k of sector s is (s * 7 + k) & 0xff. */
function image(sectors: number): { file: string; bytes: Uint8Array } {
  const bytes = new Uint8Array(sectors * 512);
  for (let s = 0; s < sectors; s++) for (let k = 0; k < 512; k++) bytes[s * 512 + k] = (s * 7 + k) & 0xff;
  const file = path.join(dir, `img${serial++}.raw`);
  fs.writeFileSync(file, bytes);
  return { file, bytes };
}

function filled(sectors: number, v: number): Uint8Array { return new Uint8Array(sectors * 512).fill(v); }

function diskErr(fn: () => unknown, reason: string, pathPart: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, DiskError);
    const d = e as DiskError;
    assert.is(d.reason, reason);
    assert.is(d.name, 'DiskError');
    assert.ok(d.message.includes(pathPart), d.message);
    return;
  }
  assert.unreachable(`expected DiskError ${reason}`);
}

test('opening: missing, directory, empty, shorter than a sector, not a multiple of 512', () => {
  const missing = path.join(dir, 'nope.img');
  diskErr(() => openDisk(missing), 'missing', missing);
  diskErr(() => openDisk(dir), 'not-a-file', dir);
  const empty = path.join(dir, 'empty.img');
  fs.writeFileSync(empty, new Uint8Array(0));
  diskErr(() => openDisk(empty), 'empty', empty);
  const tiny = path.join(dir, 'tiny.img');
  fs.writeFileSync(tiny, new Uint8Array(100));
  diskErr(() => openDisk(tiny), 'empty', '100 bytes');
  const odd = path.join(dir, 'odd.img');
  fs.writeFileSync(odd, new Uint8Array(1000));
  diskErr(() => openDisk(odd), 'unaligned', 'not a multiple of 512');
  const { file } = image(1);
  diskErr(() => openDisk(file, { persist: true, readOnly: true }), 'options', file);
});

test('sectors and reads of the image', () => {
  const { file, bytes } = image(8);
  const d = openDisk(file);
  assert.is(d.sectors, 8);
  assert.is(d.persist, false);
  assert.is(d.readOnly, false);
  const buf = new Uint8Array(3 * 512);
  d.read(2, 3, buf);
  assert.equal(buf, bytes.slice(2 * 512, 5 * 512));
  d.read(7, 1, buf);
  assert.equal(buf.slice(0, 512), bytes.slice(7 * 512));
  d.read(0, 0, new Uint8Array(0));
  d.close();
});

test('overlay (default): reads see writes, the image file never changes', () => {
  const { file, bytes } = image(8);
  const d = openDisk(file);
  const w = filled(2, 0xaa);
  d.write(3, 2, w);
  w.fill(0x55); // the overlay keeps its own copy
  assert.is(d.overlaySectors, 2);
  const buf = new Uint8Array(6 * 512);
  d.read(1, 6, buf); // file, file, overlay, overlay, file, file
  const want = bytes.slice(512, 7 * 512);
  want.fill(0xaa, 2 * 512, 4 * 512);
  assert.equal(buf, want);
  d.write(6, 1, filled(1, 0x11));
  d.write(3, 1, filled(1, 0x22)); // overwrite an overlay sector
  const all = new Uint8Array(8 * 512);
  d.read(0, 8, all);
  const want2 = bytes.slice();
  want2.fill(0x22, 3 * 512, 4 * 512);
  want2.fill(0xaa, 4 * 512, 5 * 512);
  want2.fill(0x11, 6 * 512, 7 * 512);
  assert.equal(all, want2);
  assert.is(d.overlaySectors, 3);
  d.flush();
  d.close();
  assert.equal(new Uint8Array(fs.readFileSync(file)), bytes);
  // A new open starts from the image again.
  const again = openDisk(file);
  const s3 = new Uint8Array(512);
  again.read(3, 1, s3);
  assert.equal(s3, bytes.slice(3 * 512, 4 * 512));
  again.close();
});

test('the overlay does not need write access to the image', () => {
  const { file, bytes } = image(2);
  fs.chmodSync(file, 0o444);
  const d = openDisk(file);
  d.write(0, 1, filled(1, 0x77));
  const b = new Uint8Array(512);
  d.read(0, 1, b);
  assert.equal(b, filled(1, 0x77));
  d.close();
  assert.equal(new Uint8Array(fs.readFileSync(file)), bytes);
});

test('persist: writes go through to the file, flush succeeds, a new open sees them', () => {
  const { file, bytes } = image(4);
  const d = openDisk(file, { persist: true });
  assert.is(d.persist, true);
  d.write(1, 2, filled(2, 0xcd));
  assert.is(d.overlaySectors, 0);
  d.flush();
  const want = bytes.slice();
  want.fill(0xcd, 512, 3 * 512);
  assert.equal(new Uint8Array(fs.readFileSync(file)), want);
  const b = new Uint8Array(4 * 512);
  d.read(0, 4, b);
  assert.equal(b, want);
  d.close();
  const again = openDisk(file);
  again.read(0, 4, b);
  assert.equal(b, want);
  again.close();
  assert.is(fs.statSync(file).size, 4 * 512); // never grows
});

test('read-only: writes are refused with a DiskError', () => {
  const { file, bytes } = image(2);
  const d = openDisk(file, { readOnly: true });
  assert.is(d.readOnly, true);
  diskErr(() => d.write(0, 1, filled(1, 1)), 'read-only', file);
  const b = new Uint8Array(512);
  d.read(0, 1, b);
  assert.equal(b, bytes.slice(0, 512));
  d.close();
});

test('range and buffer checks are RangeErrors; use after close is a DiskError', () => {
  const { file } = image(4);
  const d = openDisk(file);
  assert.throws(() => d.read(3, 2, new Uint8Array(1024)), RangeError);
  assert.throws(() => d.read(-1, 1, new Uint8Array(512)), RangeError);
  assert.throws(() => d.read(0.5, 1, new Uint8Array(512)), RangeError);
  assert.throws(() => d.read(0, 2, new Uint8Array(1000)), RangeError);
  assert.throws(() => d.write(4, 1, new Uint8Array(512)), RangeError);
  d.close();
  d.close(); // idempotent
  diskErr(() => d.read(0, 1, new Uint8Array(512)), 'io', 'closed');
  diskErr(() => d.flush(), 'io', 'closed');
});

test('a truncated image is reported on read, not returned as zeros', () => {
  const { file } = image(4);
  const d = openDisk(file);
  fs.truncateSync(file, 2 * 512);
  const b = new Uint8Array(512);
  d.read(1, 1, b);
  diskErr(() => d.read(3, 1, b), 'io', 'end of file');
  d.close();
});

test('memoryDisk: same interface over a byte array', () => {
  const data = new Uint8Array(1024);
  const d = memoryDisk(data, { label: 'mem0' });
  assert.is(d.sectors, 2);
  d.write(1, 1, filled(1, 9));
  assert.is(data[512], 9);
  const b = new Uint8Array(512);
  d.read(1, 1, b);
  assert.equal(b, filled(1, 9));
  assert.throws(() => d.read(2, 1, b), RangeError);
  diskErr(() => memoryDisk(new Uint8Array(100)), 'empty', 'memory');
  diskErr(() => memoryDisk(new Uint8Array(600), { label: 'x' }), 'unaligned', 'x');
  const ro = memoryDisk(new Uint8Array(512), { readOnly: true });
  diskErr(() => ro.write(0, 1, b), 'read-only', 'memory');
});

test.after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
