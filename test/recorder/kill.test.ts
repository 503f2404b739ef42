import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { TraceReader } from '../../replay/reader.js';
import { sampleEvents, tmpDir } from './helpers.js';

test('a recording killed with SIGKILL keeps every complete chunk', async () => {
  const t = tmpDir();
  try {
    const writerUrl = new URL('../../recorder/writer.js', import.meta.url).href;
    const helpersUrl = new URL('./helpers.js', import.meta.url).href;
    const trace = t.file('killed.hvt');
    const script = t.file('child.mjs');
    fs.writeFileSync(script, `
      import { TraceWriter } from ${JSON.stringify(writerUrl)};
      import { HEADER, sampleEvents } from ${JSON.stringify(helpersUrl)};
      const w = TraceWriter.open(${JSON.stringify(trace)}, HEADER, { chunkEvents: 64 });
      for (const e of sampleEvents(10 * 64 + 5)) w.event(e);
      process.stdout.write('ready\\n');
      setInterval(() => {}, 1000);
    `);
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
    child.kill('SIGKILL');
    assert.is(await exited, 'SIGKILL');
    const r = TraceReader.open(trace);
    try {
      assert.is(r.footer, null);
      assert.is(r.truncated?.completeChunks, 10);
      assert.is(r.truncated?.events, 640);
      assert.is(r.truncated?.message, 'truncated after 10 complete chunks (640 events)');
      assert.equal([...r], sampleEvents(640));
    } finally {
      r.close();
    }
  } finally {
    t.cleanup();
  }
});

test.run();
