import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { describeBytes, describeInput, sha256File } from '../../recorder/inputs.js';
import { TraceError } from '../../recorder/format.js';
import { tmpDir } from './helpers.js';

const ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

test('sha256File / describeInput hash file contents and name inputs by base name', () => {
  const t = tmpDir();
  try {
    fs.writeFileSync(t.file('kernel.bin'), 'abc');
    assert.is(sha256File(t.file('kernel.bin')), ABC);
    assert.equal(describeInput('kernel', t.file('kernel.bin')), { role: 'kernel', name: 'kernel.bin', size: 3, sha256: ABC });
    assert.equal(describeInput('disk', t.file('kernel.bin'), 'rootfs'), { role: 'disk', name: 'rootfs', size: 3, sha256: ABC });
    // Larger than one read block.
    const big = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
    fs.writeFileSync(t.file('big'), big);
    assert.is(describeInput('initrd', t.file('big')).size, big.length);
    assert.throws(() => sha256File(t.file('missing')), (e: unknown) => e instanceof TraceError && e.code === 'IO' && /missing/.test(e.message));
  } finally {
    t.cleanup();
  }
});

test('describeBytes hashes strings as UTF-8', () => {
  assert.equal(describeBytes('cmdline', 'cmdline', 'abc'), { role: 'cmdline', name: 'cmdline', size: 3, sha256: ABC });
  assert.is(describeBytes('cmdline', 'c', 'é').size, 2);
  assert.is(describeBytes('guest', 'g', new Uint8Array([0x61, 0x62, 0x63])).sha256, ABC);
});

test.run();
