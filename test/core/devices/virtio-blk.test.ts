import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysMem } from '../../../core/memory/physmem.js';
import { memoryDisk, type Disk } from '../../../core/devices/disk.js';
import { PciHost } from '../../../core/devices/pci.js';
import { legacyVringLayout, VirtioBlk, type VirtioBlkOptions } from '../../../core/devices/virtio-blk.js';

// Register offsets, bits and ring layouts are literal numbers from Virtio 1.0
// §4.1.4.8 (legacy layout), §2.4 (split virtqueues, legacy alignment 4096)
// and §5.2 (block device), not the module's constants.
const HOST_FEATURES = 0x00, GUEST_FEATURES = 0x04, QUEUE_PFN = 0x08, QUEUE_NUM = 0x0c, QUEUE_SEL = 0x0e,
  QUEUE_NOTIFY = 0x10, STATUS = 0x12, ISR = 0x13, CONFIG = 0x14;
const F_NEXT = 1, F_WRITE = 2, F_INDIRECT = 4;
const T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8;
const RAM = 0x10_0000; // 1 MiB
const SECTORS = 64;
// Queue of 8 at PFN 0x10: descriptors 0x10000 (8 × 16), avail 0x10080 (6 + 2·8 bytes), used at the next 4 KiB: 0x11000.
const PFN = 0x10, DESC = 0x10000, AVAIL = 0x10080, USED = 0x11000;

function pattern(sectors: number): Uint8Array {
  const b = new Uint8Array(sectors * 512);
  for (let s = 0; s < sectors; s++) for (let k = 0; k < 512; k++) b[s * 512 + k] = (s * 13 + k * 3) & 0xff;
  return b;
}

interface Desc { addr: number; len: number; flags: number; next?: number }

function setup(opts: Partial<VirtioBlkOptions> & { diskData?: Uint8Array; readOnly?: boolean } = {}) {
  const mem = new PhysMem(RAM + 0x1000 * 4); // pages above RAM stand for hypervisor structures
  const diskData = opts.diskData ?? pattern(SECTORS);
  const original = diskData.slice();
  const disk = opts.disk ?? memoryDisk(diskData, { readOnly: opts.readOnly ?? false });
  const irq: boolean[] = [];
  const writes: [number, number][] = [];
  const errors: string[] = [];
  const blk = new VirtioBlk({
    mem, disk, ramBytes: RAM, queueSize: 8,
    irq: (l) => irq.push(l), onGuestWrite: (pa, len) => writes.push([pa, len]), onError: (m) => errors.push(m),
    ...opts,
  });
  const dv = mem.dv;
  let availIdx = 0;
  const api = {
    mem, disk, diskData, original, blk, irq, writes, errors,
    /** Driver init as Linux's legacy virtio-pci does it, queue at PFN 0x10. */
    init(features = 0xffff_ffff) {
      blk.write(STATUS, 1, 0);
      blk.write(STATUS, 1, 1);
      blk.write(STATUS, 1, 1 | 2);
      blk.write(GUEST_FEATURES, 4, blk.read(HOST_FEATURES, 4) & features);
      blk.write(QUEUE_SEL, 2, 0);
      assert.is(blk.read(QUEUE_NUM, 2), 8);
      blk.write(QUEUE_PFN, 4, PFN);
      blk.write(STATUS, 1, 1 | 2 | 4);
    },
    desc(i: number, d: Desc) {
      const a = DESC + 16 * i;
      dv.setUint32(a, d.addr % 0x1_0000_0000, true);
      dv.setUint32(a + 4, Math.floor(d.addr / 0x1_0000_0000), true);
      dv.setUint32(a + 8, d.len, true);
      dv.setUint16(a + 12, d.flags, true);
      dv.setUint16(a + 14, d.next ?? 0, true);
    },
    header(pa: number, type: number, sector: number) {
      dv.setUint32(pa, type, true);
      dv.setUint32(pa + 4, 0, true);
      dv.setUint32(pa + 8, sector % 0x1_0000_0000, true);
      dv.setUint32(pa + 12, Math.floor(sector / 0x1_0000_0000), true);
    },
    /** Put chain heads in the available ring and publish avail.idx (no notify). */
    offer(...heads: number[]) {
      for (const h of heads) {
        dv.setUint16(AVAIL + 4 + 2 * (availIdx % 8), h, true);
        availIdx = (availIdx + 1) & 0xffff;
      }
      dv.setUint16(AVAIL + 2, availIdx, true);
    },
    notify() { blk.write(QUEUE_NOTIFY, 2, 0); },
    /** The driver's fresh ring after a device reset. */
    resetRing() { availIdx = 0; mem.u8.fill(0, DESC, USED + 0x1000); },
    usedIdx() { return dv.getUint16(USED + 2, true); },
    used(i: number) { return { id: dv.getUint32(USED + 4 + 8 * (i % 8), true), len: dv.getUint32(USED + 8 + 8 * (i % 8), true) }; },
    /** A three-descriptor request: header (0x20000), data, status (0x22000). */
    request(type: number, sector: number, data: { addr: number; len: number; write: boolean } | null, head = 0) {
      api.header(0x20000, type, sector);
      mem.u8[0x22000] = 0xee;
      api.desc(head, { addr: 0x20000, len: 16, flags: F_NEXT, next: head + 1 });
      if (data) {
        api.desc(head + 1, { addr: data.addr, len: data.len, flags: F_NEXT | (data.write ? F_WRITE : 0), next: head + 2 });
        api.desc(head + 2, { addr: 0x22000, len: 1, flags: F_WRITE });
      } else {
        api.desc(head + 1, { addr: 0x22000, len: 1, flags: F_WRITE });
      }
      api.offer(head);
      api.notify();
      return mem.u8[0x22000];
    },
  };
  return api;
}

test('PCI identity: 1AF4:1001 transitional block, subsystem 2, class 010000, INTA#, 0x40-byte I/O BAR0', () => {
  const { blk } = setup();
  const p = blk.pci;
  assert.is(p.configRead(0x00, 4), 0x1001_1af4);
  assert.is(p.configRead(0x08, 4), 0x0100_0000); // class 01 00 00, revision 0
  assert.is(p.configRead(0x0e, 1), 0x00);
  assert.is(p.configRead(0x2c, 4), 0x0002_1af4);
  assert.is(p.configRead(0x3d, 1), 0x01);
  assert.is(p.configRead(0x10, 4), 0x0000_0001);
  p.configWrite(0x10, 4, 0xffff_ffff);
  assert.is(p.configRead(0x10, 4), 0xffff_ffc1);
  for (let r = 0x14; r < 0x28; r += 4) { p.configWrite(r, 4, 0xffff_ffff); assert.is(p.configRead(r, 4), 0); }
  // on the bus at slot 1, as the seed had it
  const host = new PciHost();
  host.add(1, p);
  assert.is(host.configRead(0, 1, 0, 0, 4), 0x1001_1af4);
});

test('registers after reset; device config: capacity, seg_max, blk_size, writeback', () => {
  const { blk } = setup();
  // SEG_MAX (bit 2) | BLK_SIZE (bit 6) | FLUSH (bit 9)
  assert.is(blk.read(HOST_FEATURES, 4), 0x0000_0244);
  assert.is(blk.read(GUEST_FEATURES, 4), 0);
  assert.is(blk.read(QUEUE_PFN, 4), 0);
  assert.is(blk.read(QUEUE_NUM, 2), 8);
  assert.is(blk.read(QUEUE_SEL, 2), 0);
  assert.is(blk.read(STATUS, 1), 0);
  assert.is(blk.read(ISR, 1), 0);
  assert.is(blk.read(CONFIG + 0, 4), 64); // capacity low
  assert.is(blk.read(CONFIG + 4, 4), 0); // capacity high
  assert.is(blk.read(CONFIG + 8, 4), 0); // size_max (not offered)
  assert.is(blk.read(CONFIG + 12, 4), 6); // seg_max = queue size − 2
  assert.is(blk.read(CONFIG + 16, 4), 0); // geometry (not offered)
  assert.is(blk.read(CONFIG + 20, 4), 512); // blk_size
  assert.is(blk.read(CONFIG + 24, 4), 0); // topology (not offered)
  assert.is(blk.read(CONFIG + 32, 1), 1); // writeback: FLUSH is offered
  assert.is(blk.read(CONFIG + 0, 1), 64);
  assert.is(blk.read(CONFIG + 0, 2), 64);
  blk.write(CONFIG, 4, 0xffff_ffff); // config is read-only
  assert.is(blk.read(CONFIG, 4), 64);
  blk.write(HOST_FEATURES, 4, 0);
  assert.is(blk.read(HOST_FEATURES, 4), 0x244);
  // default queue size 256 and seg_max 254
  const big = new VirtioBlk({ mem: new PhysMem(0x10000), disk: memoryDisk(new Uint8Array(512)) });
  assert.is(big.read(QUEUE_NUM, 2), 256);
  assert.is(big.read(CONFIG + 12, 4), 254);
  assert.is(big.read(CONFIG, 4), 1);
});

test('read-only disk offers VIRTIO_BLK_F_RO (bit 5)', () => {
  const { blk } = setup({ readOnly: true });
  assert.is(blk.read(HOST_FEATURES, 4), 0x0000_0264);
});

test('feature negotiation: the device keeps only offered bits', () => {
  const { blk } = setup();
  blk.write(GUEST_FEATURES, 4, 0xffff_ffff);
  assert.is(blk.read(GUEST_FEATURES, 4), 0x244);
  assert.is(blk.negotiatedFeatures, 0x244);
  blk.write(GUEST_FEATURES, 4, (1 << 9) | (1 << 28) | (1 << 29)); // FLUSH, INDIRECT_DESC, EVENT_IDX
  assert.is(blk.read(GUEST_FEATURES, 4), 0x200);
});

test('status transitions and reset on writing 0', () => {
  const { blk, irq } = setup();
  blk.write(STATUS, 1, 1);
  assert.is(blk.read(STATUS, 1), 1);
  blk.write(STATUS, 1, 3);
  assert.is(blk.read(STATUS, 1), 3);
  blk.write(GUEST_FEATURES, 4, 0x200);
  blk.write(QUEUE_PFN, 4, PFN);
  blk.write(QUEUE_SEL, 2, 0);
  blk.write(STATUS, 1, 7);
  assert.is(blk.read(STATUS, 1), 7);
  blk.write(STATUS, 1, 7 | 0x80); // FAILED
  assert.is(blk.read(STATUS, 1), 0x87);
  blk.write(STATUS, 1, 0);
  assert.is(blk.read(STATUS, 1), 0);
  assert.is(blk.read(GUEST_FEATURES, 4), 0);
  assert.is(blk.read(QUEUE_PFN, 4), 0);
  assert.equal(irq, []);
});

test('queue setup via PFN: per selected queue; 0 disables; outside RAM needs reset', () => {
  const { blk, irq, errors } = setup();
  blk.write(QUEUE_PFN, 4, PFN);
  assert.is(blk.read(QUEUE_PFN, 4), PFN);
  blk.write(QUEUE_SEL, 2, 1); // no queue 1
  assert.is(blk.read(QUEUE_SEL, 2), 1);
  assert.is(blk.read(QUEUE_NUM, 2), 0);
  assert.is(blk.read(QUEUE_PFN, 4), 0);
  blk.write(QUEUE_PFN, 4, 0x20);
  blk.write(QUEUE_SEL, 2, 0);
  assert.is(blk.read(QUEUE_PFN, 4), PFN);
  blk.write(QUEUE_PFN, 4, 0);
  assert.is(blk.read(QUEUE_PFN, 4), 0);
  // rings of a queue of 8 need 0x1046 bytes: PFN 0xFF would end at 0x100000 + 0x46 > 1 MiB of RAM
  blk.write(QUEUE_PFN, 4, 0xff);
  assert.is(blk.read(STATUS, 1), 0x40);
  assert.is(blk.needsReset, true);
  assert.equal(irq, [true]);
  assert.is(blk.read(ISR, 1), 0x02); // configuration change
  assert.equal(irq, [true, false]);
  assert.is(errors.length, 1);
  assert.match(errors[0]!, /outside guest RAM/);
  assert.is(blk.lastError, errors[0]);
  blk.write(STATUS, 1, 1); // the driver cannot clear NEEDS_RESET by writing status
  assert.is(blk.read(STATUS, 1), 0x41);
  blk.write(STATUS, 1, 0);
  assert.is(blk.read(STATUS, 1), 0);
  assert.is(blk.needsReset, false);
  blk.write(QUEUE_PFN, 4, 0xfe); // ends at 0xff046: fits
  assert.is(blk.needsReset, false);
});

test('legacy ring layout (alignment 4096)', () => {
  assert.equal(legacyVringLayout(0x10000, 8), { desc: 0x10000, avail: 0x10080, used: 0x11000, end: 0x11046 });
  // 256: 4096 bytes of descriptors, avail 6 + 512 → used at +0x2000, 6 + 2048 bytes
  assert.equal(legacyVringLayout(0x10000, 256), { desc: 0x10000, avail: 0x11000, used: 0x12000, end: 0x12806 });
});

test('IN: a full request cycle (read two sectors), used ring, ISR and INTx', () => {
  const t = setup();
  t.init();
  t.mem.dirty.fill(0);
  const st = t.request(T_IN, 3, { addr: 0x21000, len: 1024, write: true });
  assert.is(st, 0);
  assert.equal(t.mem.u8.slice(0x21000, 0x21400), t.original.slice(3 * 512, 5 * 512));
  assert.is(t.usedIdx(), 1);
  assert.equal(t.used(0), { id: 0, len: 1025 });
  assert.equal(t.blk.queueState, { pfn: PFN, lastAvail: 1, usedIdx: 1 });
  // every guest write was reported and marked dirty
  assert.equal(t.writes, [[0x21000, 1024], [0x22000, 1], [USED + 4, 8], [USED + 2, 2]]);
  assert.is(t.mem.dirty[0x21], 1);
  assert.is(t.mem.dirty[0x22], 1);
  assert.is(t.mem.dirty[0x11], 1);
  assert.is(t.mem.dirty[0x20], 0); // the header was only read
  // level-triggered: asserted until ISR is read
  assert.equal(t.irq, [true]);
  assert.is(t.blk.irqLevel, true);
  assert.is(t.blk.pci.status & 0x08, 0x08);
  assert.is(t.blk.read(ISR, 1), 0x01);
  assert.equal(t.irq, [true, false]);
  assert.is(t.blk.read(ISR, 1), 0x00);
  assert.equal(t.irq, [true, false]);
  assert.is(t.blk.stats.reads, 1);
  assert.is(t.blk.stats.sectorsRead, 2);
});

test('OUT: writes a sector to the disk; used len 1', () => {
  const t = setup();
  t.init();
  t.mem.u8.fill(0x5a, 0x21000, 0x21200);
  assert.is(t.request(T_OUT, 10, { addr: 0x21000, len: 512, write: false }), 0);
  assert.equal(t.used(0), { id: 0, len: 1 });
  const want = t.original.slice();
  want.fill(0x5a, 10 * 512, 11 * 512);
  assert.equal(t.diskData, want);
  assert.equal(t.writes.map((w) => w[0]), [0x22000, USED + 4, USED + 2]); // no data written to RAM
  assert.is(t.blk.stats.sectorsWritten, 1);
});

test('FLUSH: flushes the disk; GET_ID: 20-byte serial, NUL-padded', () => {
  let flushes = 0;
  const base = memoryDisk(pattern(4));
  const disk: Disk = { ...base, read: base.read, write: base.write, flush: () => { flushes++; }, close: base.close };
  const t = setup({ disk });
  t.init();
  assert.is(t.request(T_FLUSH, 0, null), 0);
  assert.is(flushes, 1);
  assert.equal(t.used(0), { id: 0, len: 1 });
  t.mem.u8.fill(0xff, 0x21000, 0x21020);
  assert.is(t.request(T_GET_ID, 0, { addr: 0x21000, len: 20, write: true }), 0);
  const id = new Uint8Array(20);
  id.set(new TextEncoder().encode('hvtrace-disk'));
  assert.equal(t.mem.u8.slice(0x21000, 0x21014), id);
  assert.is(t.mem.u8[0x21014], 0xff); // nothing past 20 bytes
  assert.equal(t.used(1), { id: 0, len: 21 });
  // a custom serial, and a short buffer gets the first bytes
  const u = setup({ serial: 'ABCDEFGHIJKLMNOPQRST' });
  u.init();
  u.mem.u8.fill(0xff, 0x21000, 0x21020);
  assert.is(u.request(T_GET_ID, 0, { addr: 0x21000, len: 8, write: true }), 0);
  assert.equal([...u.mem.u8.slice(0x21000, 0x21009)], [...'ABCDEFGH'].map((c) => c.charCodeAt(0)).concat(0xff));
  assert.equal(u.used(0), { id: 0, len: 9 });
  assert.throws(() => setup({ serial: 'x'.repeat(21) }), RangeError);
});

test('unknown request types complete with UNSUPP (2)', () => {
  const t = setup();
  t.init();
  assert.is(t.request(11, 0, { addr: 0x21000, len: 16, write: false }), 2); // DISCARD, not offered
  assert.equal(t.used(0), { id: 0, len: 1 });
  assert.is(t.blk.stats.unsupported, 1);
  assert.is(t.blk.needsReset, false);
});

test('request-level errors complete with IOERR (1) and leave data alone', () => {
  const t = setup();
  t.init();
  t.mem.u8.fill(0x33, 0x21000, 0x22000);
  // past the capacity: sectors 63–64 of 64
  assert.is(t.request(T_IN, 63, { addr: 0x21000, len: 1024, write: true }), 1);
  assert.is(t.mem.u8[0x21000], 0x33);
  assert.equal(t.used(0), { id: 0, len: 1 });
  // data outside guest RAM (0x100000 is the first byte past it)
  assert.is(t.request(T_IN, 0, { addr: 0xfff00, len: 512, write: true }), 1);
  assert.is(t.mem.u8[0xfff00], 0);
  assert.is(t.request(T_OUT, 0, { addr: 0x1_0000_0000, len: 512, write: false }), 1);
  // length not a multiple of 512
  assert.is(t.request(T_IN, 0, { addr: 0x21000, len: 500, write: true }), 1);
  assert.is(t.mem.u8[0x21000], 0x33);
  // short header: 8 bytes
  t.desc(0, { addr: 0x20000, len: 8, flags: F_NEXT, next: 1 });
  t.desc(1, { addr: 0x22000, len: 1, flags: F_WRITE });
  t.offer(0);
  t.notify();
  assert.is(t.mem.u8[0x22000], 1);
  // readable after writable
  t.header(0x20000, T_OUT, 0);
  t.desc(0, { addr: 0x20000, len: 16, flags: F_NEXT, next: 1 });
  t.desc(1, { addr: 0x21000, len: 512, flags: F_NEXT | F_WRITE, next: 2 });
  t.desc(2, { addr: 0x21200, len: 512, flags: F_NEXT, next: 3 });
  t.desc(3, { addr: 0x22000, len: 1, flags: F_WRITE });
  t.offer(0);
  t.notify();
  assert.is(t.mem.u8[0x22000], 1);
  assert.equal(t.diskData, t.original);
  assert.is(t.usedIdx(), 6);
  assert.is(t.blk.stats.ioErrors, 6);
  assert.is(t.blk.needsReset, false);
});

test('writes to a read-only disk fail with IOERR', () => {
  const t = setup({ readOnly: true });
  t.init();
  assert.is(t.request(T_OUT, 0, { addr: 0x21000, len: 512, write: false }), 1);
  assert.equal(t.diskData, t.original);
  assert.is(t.request(T_IN, 0, { addr: 0x21000, len: 512, write: true }), 0);
});

test('a failing disk gives IOERR without touching guest memory', () => {
  const base = memoryDisk(pattern(4));
  const disk: Disk = { ...base, read: () => { throw new Error('EIO'); }, write: base.write, flush: () => { throw new Error('EIO'); }, close: base.close };
  const t = setup({ disk });
  t.init();
  t.mem.u8.fill(0x44, 0x21000, 0x21200);
  assert.is(t.request(T_IN, 0, { addr: 0x21000, len: 512, write: true }), 1);
  assert.is(t.mem.u8[0x21000], 0x44);
  assert.is(t.request(T_FLUSH, 0, null), 1);
});

test('invalid descriptors put the device in DEVICE_NEEDS_RESET, never throw', () => {
  const cases: [string, (t: ReturnType<typeof setup>) => void, RegExp][] = [
    ['next index ≥ queue size', (t) => {
      t.header(0x20000, T_IN, 0);
      t.desc(0, { addr: 0x20000, len: 16, flags: F_NEXT, next: 99 });
    }, /index 99/],
    ['head index ≥ queue size', (t) => { void t; }, /index 200/],
    ['a loop', (t) => {
      t.header(0x20000, T_IN, 0);
      t.desc(0, { addr: 0x20000, len: 16, flags: F_NEXT, next: 1 });
      t.desc(1, { addr: 0x21000, len: 512, flags: F_NEXT | F_WRITE, next: 0 });
    }, /loop/],
    ['indirect', (t) => {
      t.desc(0, { addr: 0x20000, len: 32, flags: F_INDIRECT });
    }, /indirect/],
    ['no writable byte', (t) => {
      t.header(0x20000, T_FLUSH, 0);
      t.desc(0, { addr: 0x20000, len: 16, flags: F_NEXT, next: 1 });
      t.desc(1, { addr: 0x22000, len: 0, flags: F_WRITE });
    }, /no device-writable byte/],
    ['status byte outside RAM', (t) => {
      t.header(0x20000, T_FLUSH, 0);
      t.desc(0, { addr: 0x20000, len: 16, flags: F_NEXT, next: 1 });
      t.desc(1, { addr: RAM, len: 1, flags: F_WRITE }); // first byte of the hypervisor's pages
    }, /status byte at 0x100000/],
  ];
  for (const [name, build, msg] of cases) {
    const t = setup();
    t.init();
    build(t);
    t.offer(name.startsWith('head') ? 200 : 0);
    t.notify();
    assert.is(t.blk.read(STATUS, 1), 0x47, name);
    assert.is(t.usedIdx(), 0, name);
    assert.equal(t.irq, [true], name);
    assert.is(t.errors.length, 1, name);
    assert.match(t.errors[0]!, msg, name);
    assert.is(t.mem.u8[RAM], 0, name);
    // further notifies are ignored until reset
    t.request(T_FLUSH, 0, null, 4);
    assert.is(t.usedIdx(), 0, name);
    assert.is(t.blk.read(ISR, 1), 0x02, name);
    // after a reset and re-init the queue works again
    t.resetRing();
    t.init();
    assert.is(t.blk.read(STATUS, 1), 7, name);
    assert.is(t.request(T_FLUSH, 0, null), 0, name);
    assert.is(t.usedIdx(), 1, name);
  }
});

test('avail.idx more than a queue ahead needs reset', () => {
  const t = setup();
  t.init();
  t.mem.dv.setUint16(AVAIL + 2, 9, true);
  t.notify();
  assert.is(t.blk.needsReset, true);
  assert.match(t.blk.lastError!, /avail\.idx 9/);
});

test('a batch of requests in one notify: one interrupt, used ring in order', () => {
  const t = setup();
  t.init();
  // three FLUSH-like chains built from separate descriptors: heads 0, 2, 4
  for (const [h, type] of [[0, T_FLUSH], [2, T_GET_ID], [4, 42]] as const) {
    const hdr = 0x20000 + 0x100 * h;
    t.header(hdr, type, 0);
    t.desc(h, { addr: hdr, len: 16, flags: F_NEXT, next: h + 1 });
    t.desc(h + 1, { addr: 0x22000 + 0x100 * h, len: type === T_GET_ID ? 21 : 1, flags: F_WRITE });
  }
  t.offer(0, 2, 4);
  t.notify();
  assert.is(t.usedIdx(), 3);
  assert.equal([t.used(0), t.used(1), t.used(2)], [{ id: 0, len: 1 }, { id: 2, len: 21 }, { id: 4, len: 1 }]);
  assert.equal([t.mem.u8[0x22000], t.mem.u8[0x22200 + 20], t.mem.u8[0x22400]], [0, 0, 2]);
  assert.equal(t.irq, [true]);
  t.notify(); // nothing new: no new interrupt, ISR still pending
  assert.equal(t.irq, [true]);
  assert.is(t.blk.read(ISR, 1), 1);
});

test('VRING_AVAIL_F_NO_INTERRUPT suppresses the interrupt, not the completion', () => {
  const t = setup();
  t.init();
  t.mem.dv.setUint16(AVAIL, 1, true);
  assert.is(t.request(T_FLUSH, 0, null), 0);
  assert.is(t.usedIdx(), 1);
  assert.equal(t.irq, []);
  assert.is(t.blk.read(ISR, 1), 0);
});

test('PCI interrupt-disable masks the line; ISR still reports; reading ISR lowers the request', () => {
  const t = setup();
  t.init();
  t.blk.pci.configWrite(0x04, 2, 0x0401); // I/O + interrupt disable
  t.request(T_FLUSH, 0, null);
  assert.equal(t.irq, []);
  assert.is(t.blk.pci.status & 0x08, 0x08);
  t.blk.pci.configWrite(0x04, 2, 0x0001);
  assert.equal(t.irq, [true]);
  assert.is(t.blk.read(ISR, 1), 1);
  assert.equal(t.irq, [true, false]);
  assert.is(t.blk.pci.status & 0x08, 0);
});

test('a wide read covering ISR clears it', () => {
  const t = setup();
  t.init();
  t.request(T_FLUSH, 0, null);
  const v = t.blk.read(QUEUE_NOTIFY, 4); // notify(2) | status | ISR
  assert.is(v >>> 24, 1);
  assert.is((v >>> 16) & 0xff, 7);
  assert.is(t.blk.read(ISR, 1), 0);
  assert.equal(t.irq, [true, false]);
});

test('scatter/gather: data split across odd-sized descriptors; status sharing the data descriptor', () => {
  const t = setup();
  t.init();
  t.header(0x20000, T_IN, 5);
  t.desc(0, { addr: 0x20000, len: 16, flags: F_NEXT, next: 1 });
  t.desc(1, { addr: 0x21000, len: 100, flags: F_NEXT | F_WRITE, next: 2 });
  t.desc(2, { addr: 0x23000, len: 412, flags: F_NEXT | F_WRITE, next: 3 });
  t.desc(3, { addr: 0x24000, len: 513, flags: F_WRITE }); // 512 data + status
  t.offer(0);
  t.notify();
  const want = t.original.slice(5 * 512, 7 * 512);
  assert.equal(t.mem.u8.slice(0x21000, 0x21000 + 100), want.slice(0, 100));
  assert.equal(t.mem.u8.slice(0x23000, 0x23000 + 412), want.slice(100, 512));
  assert.equal(t.mem.u8.slice(0x24000, 0x24000 + 512), want.slice(512));
  assert.is(t.mem.u8[0x24000 + 512], 0);
  assert.equal(t.used(0), { id: 0, len: 1025 });
  // OUT with header and data in one readable descriptor (any layout)
  t.header(0x25000, T_OUT, 7);
  t.mem.u8.fill(0x9c, 0x25010, 0x25210);
  t.desc(4, { addr: 0x25000, len: 16 + 512, flags: F_NEXT, next: 5 });
  t.desc(5, { addr: 0x22000, len: 1, flags: F_WRITE });
  t.offer(4);
  t.notify();
  assert.is(t.mem.u8[0x22000], 0);
  assert.equal(t.diskData.slice(7 * 512, 8 * 512), new Uint8Array(512).fill(0x9c));
});

test('avail and used indices wrap at 65536', () => {
  const t = setup();
  t.init();
  t.header(0x20000, T_FLUSH, 0);
  t.desc(0, { addr: 0x20000, len: 16, flags: F_NEXT, next: 1 });
  t.desc(1, { addr: 0x22000, len: 1, flags: F_WRITE });
  for (let i = 0; i < 65540; i++) { t.offer(0); t.notify(); }
  assert.is(t.usedIdx(), 65540 & 0xffff);
  assert.equal(t.blk.queueState, { pfn: PFN, lastAvail: 4, usedIdx: 4 });
  assert.is(t.blk.needsReset, false);
  assert.is(t.blk.stats.flushes, 65540);
});

test('notify for another queue, or before the queue is set up, does nothing', () => {
  const t = setup();
  t.header(0x20000, T_FLUSH, 0);
  t.desc(0, { addr: 0x20000, len: 16, flags: F_NEXT, next: 1 });
  t.desc(1, { addr: 0x22000, len: 1, flags: F_WRITE });
  t.offer(0);
  t.notify(); // PFN 0
  assert.is(t.usedIdx(), 0);
  t.blk.write(QUEUE_PFN, 4, PFN);
  t.blk.write(QUEUE_NOTIFY, 2, 1);
  assert.is(t.usedIdx(), 0);
  t.notify(); // served before DRIVER_OK, as legacy drivers expect
  assert.is(t.usedIdx(), 1);
  assert.equal(t.irq, [true]);
});

test('ramBytes bounds guest RAM: descriptors into the pages above it are refused', () => {
  const t = setup();
  t.init();
  assert.is(t.request(T_IN, 0, { addr: RAM + 0x100, len: 512, write: true }), 1);
  assert.equal(t.mem.u8.slice(RAM, RAM + 0x1000), new Uint8Array(0x1000));
  assert.throws(() => new VirtioBlk({ mem: new PhysMem(0x1000), disk: memoryDisk(new Uint8Array(512)), ramBytes: 0x2000 }), RangeError);
  assert.throws(() => new VirtioBlk({ mem: new PhysMem(0x1000), disk: memoryDisk(new Uint8Array(512)), queueSize: 100 }), RangeError);
});

test('deterministic: the same driver actions give the same memory and disk', () => {
  const run = () => {
    const t = setup();
    t.init();
    t.mem.u8.fill(0x61, 0x21000, 0x21400);
    t.request(T_OUT, 1, { addr: 0x21000, len: 1024, write: false });
    t.request(T_IN, 0, { addr: 0x23000, len: 2048, write: true });
    t.request(T_GET_ID, 0, { addr: 0x24000, len: 20, write: true });
    t.blk.read(ISR, 1);
    return { mem: t.mem.u8.slice(0, RAM), disk: t.diskData.slice(), irq: t.irq.slice(), writes: t.writes.slice() };
  };
  assert.equal(run(), run());
});

test.run();
