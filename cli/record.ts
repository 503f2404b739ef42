/**
 * `hvtrace record`: run a guest like `hvtrace run` and write every event
 * (VM exits, port I/O, MMIO, injections, state digests) to a trace file.
 */
import { parseArgs } from 'node:util';
import { TraceWriter, TraceError } from '../recorder/index.js';
import { DEFAULT_DIGEST_EVERY } from '../core/hv/machine.js';
import { RUN_OPTIONS, guestSpecFrom, buildMachine, serialToStdout, summarize, stopStatus } from './run.js';
import { headerFor } from './trace-guest.js';
import { CliError, intOption } from './common.js';
import { exitReasonName } from '../core/vmx/exit-reasons.js';

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
  const header = headerFor(spec, values.output, digestEvery);
  let writer: TraceWriter;
  try { writer = TraceWriter.open(values.output, header); } catch (e) {
    if (e instanceof TraceError) throw new CliError(e.message);
    throw e;
  }
  try {
    const m = buildMachine(spec, values.quiet ? () => undefined : out.put, writer, digestEvery);
    const t0 = process.hrtime.bigint();
    const r = m.run();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    out.flush();
    const exits: Record<string, number> = {};
    for (const [k, v] of [...r.exits.entries()].sort((a, b) => a[0] - b[0])) exits[exitReasonName(k) ?? String(k)] = v;
    const stats = writer.close({ stop: r.stop.kind, message: r.stop.message, instructions: r.instructions, exits });
    process.stderr.write(`hvtrace: ${summarize(r, secs)}\n`);
    process.stderr.write(`hvtrace: recorded ${stats.events} events in ${stats.chunks} chunks to ${values.output} (${stats.bytes} bytes, ${(stats.bytes / Math.max(1, stats.events)).toFixed(2)} bytes/event)\n`);
    return stopStatus(r);
  } catch (e) {
    writer.abort();
    throw e;
  }
}
