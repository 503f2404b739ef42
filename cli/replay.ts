/**
 * `hvtrace replay`: rebuild the machine from a trace header, run it with a
 * comparing sink, and stop at the first event that differs.
 */
import { parseArgs } from 'node:util';
import { formatDivergence } from '../replay/index.js';
import { replayTrace } from './session.js';
import { CliError, progressLine } from './common.js';

export const REPLAY_USAGE = `usage: hvtrace replay TRACE.hvt [--kernel PATH] [--initrd PATH] [--disk PATH]

Re-runs the recorded guest and checks every event against the trace.
Inputs are found through the paths in the trace header (relative to the
trace's directory) unless given here; their SHA-256 must match.
Exit status: 0 bit-exact, 1 divergence, 2 bad trace or input, 3 the trace was
truncated and only its complete prefix could be verified.`;

export function replayCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { kernel: { type: 'string' }, initrd: { type: 'string' }, disk: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) { process.stdout.write(REPLAY_USAGE + '\n'); return 0; }
  if (positionals.length !== 1) throw new CliError(positionals.length ? `unexpected argument '${positionals[1]}'` : 'replay needs a trace file');
  const path = positionals[0]!;
  const progress = progressLine('replay');
  const r = replayTrace(path, {
    ...(values.kernel ? { kernel: values.kernel } : {}), ...(values.initrd ? { initrd: values.initrd } : {}), ...(values.disk ? { disk: values.disk } : {}),
    customize: (m) => { m.onProgress = progress.onProgress; },
  });
  progress.done();
  switch (r.kind) {
    case 'ok':
      process.stderr.write(`hvtrace: replay OK: ${r.events} events checked bit-exactly, ${r.run.instructions} instructions, ${r.seconds.toFixed(2)} s (${r.run.stop.message})\n`);
      return 0;
    case 'divergence':
      process.stderr.write(`hvtrace: replay diverged from ${path}\n${formatDivergence(r.error)}\n`);
      return 1;
    case 'end-mismatch':
      process.stderr.write(`hvtrace: replay diverged at the end: ${r.message}\n`);
      return 1;
    case 'truncated':
      process.stderr.write(`hvtrace: ${r.truncated.message}; its ${r.events} complete events replay bit-exactly, the rest of the run cannot be checked\n`);
      return 3;
  }
}
