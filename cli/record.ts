/**
 * `hvtrace record`: run a guest like `hvtrace run` and write every event
 * (VM exits, port I/O, MMIO, injections, state digests) to a trace file.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_DIGEST_EVERY } from '../core/hv/machine.js';
import { RUN_OPTIONS, guestSpecFrom, serialToStdout, summarize, stopStatus, failureContext } from './run.js';
import { recordTrace } from './session.js';
import { CliError, intOption, progressLine } from './common.js';

export const RECORD_USAGE = `usage: hvtrace record <guest image> -o TRACE.hvt [run options] [--digest-every N]

Runs the guest like 'hvtrace run' and records every event to TRACE.hvt.
  -o, --output FILE       trace file to write
  --digest-every N        a state digest after every N events (default ${DEFAULT_DIGEST_EVERY})
  --quiet                 do not echo the guest's serial output`;

export function recordCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { ...RUN_OPTIONS, output: { type: 'string', short: 'o' }, 'digest-every': { type: 'string' }, quiet: { type: 'boolean' } },
  });
  if (values.help) { process.stdout.write(RECORD_USAGE + '\n'); return 0; }
  if (!values.output) throw new CliError('record needs an output file: -o TRACE.hvt');
  const spec = guestSpecFrom(values, positionals);
  const digestEvery = intOption('digest-every', values['digest-every'], DEFAULT_DIGEST_EVERY);
  const out = serialToStdout();
  // With the guest's console quiet, a terminal shows the run's progress instead.
  const progress = values.quiet ? progressLine('record') : { onProgress: null, done: () => undefined };
  const r = recordTrace(spec, values.output, digestEvery, values.quiet ? (b) => out.tail.put(b) : out.put, undefined, (m) => { m.onProgress = progress.onProgress; });
  progress.done();
  out.flush();
  process.stderr.write(`hvtrace: ${summarize(r.run, r.seconds)}\n`);
  process.stderr.write(failureContext(r.run, out.tail));
  const st = r.stats;
  process.stderr.write(`hvtrace: recorded ${st.events} events in ${st.chunks} chunks to ${values.output} (${st.bytes} bytes, ${(st.bytes / Math.max(1, st.events)).toFixed(2)} bytes/event)\n`);
  return stopStatus(r.run);
}
