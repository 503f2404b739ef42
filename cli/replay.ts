/**
 * `hvtrace replay`: rebuild the machine from a trace header, run it with a
 * comparing sink, and stop at the first event that differs.
 */
import { parseArgs } from 'node:util';
import { TraceReader, TraceError, VerifySink, DivergenceError, formatDivergence } from '../replay/index.js';
import { buildMachine } from './run.js';
import { specFromHeader } from './trace-guest.js';
import { CliError } from './common.js';
import type { JsonObject } from '../recorder/index.js';

export const REPLAY_USAGE = `usage: hvtrace replay TRACE.hvt [--kernel PATH] [--initrd PATH]

Re-runs the recorded guest and checks every event against the trace.
Inputs are found through the paths in the trace header (relative to the
trace's directory) unless given here; their SHA-256 must match.
Exit status: 0 bit-exact, 1 divergence, 2 bad trace or input, 3 the trace was
truncated and only its complete prefix could be verified.`;

export function replayCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { kernel: { type: 'string' }, initrd: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) { process.stdout.write(REPLAY_USAGE + '\n'); return 0; }
  if (positionals.length !== 1) throw new CliError(positionals.length ? `unexpected argument '${positionals[1]}'` : 'replay needs a trace file');
  const path = positionals[0]!;
  let reader: TraceReader;
  try { reader = TraceReader.open(path); } catch (e) {
    if (e instanceof TraceError) throw new CliError(e.message);
    throw e;
  }
  try {
    const { spec, digestEvery } = specFromHeader(reader.header, path, {
      ...(values.kernel ? { kernel: values.kernel } : {}), ...(values.initrd ? { initrd: values.initrd } : {}),
    });
    const sink = new VerifySink(reader);
    const m = buildMachine(spec, () => undefined, sink, digestEvery);
    const t0 = process.hrtime.bigint();
    let result;
    try {
      const r = m.run();
      result = sink.finish();
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const summary = reader.footer?.summary as JsonObject | undefined;
      if (summary && (summary.instructions !== r.instructions || summary.stop !== r.stop.kind)) {
        process.stderr.write(`hvtrace: replay diverged at the end: the recording stopped (${String(summary.stop)}) after ${String(summary.instructions)} instructions, the replay (${r.stop.kind}) after ${r.instructions}\n`);
        return 1;
      }
      process.stderr.write(`hvtrace: replay OK: ${result.events} events checked bit-exactly, ${r.instructions} instructions, ${secs.toFixed(2)} s (${r.stop.message})\n`);
      return 0;
    } catch (e) {
      if (e instanceof DivergenceError) {
        if (e.kind === 'extra' && e.traceTruncated) {
          process.stderr.write(`hvtrace: ${reader.truncated?.message ?? 'trace truncated'}; its ${e.eventNumber} complete events replay bit-exactly, the rest of the run cannot be checked\n`);
          return 3;
        }
        process.stderr.write(`hvtrace: replay diverged from ${path}\n${formatDivergence(e)}\n`);
        return 1;
      }
      if (e instanceof TraceError) throw new CliError(`${path}: ${e.message}`);
      throw e;
    }
  } finally {
    reader.close();
  }
}
