/** `hvtrace diff`: the first differing event of two traces and their summary counts. */
import { parseArgs } from 'node:util';
import { diffTraces, formatDiff, TraceError } from '../replay/index.js';
import { CliError } from './common.js';

export const DIFF_USAGE = `usage: hvtrace diff A.hvt B.hvt [--json]

Exit status: 0 when the event streams are identical, 1 when they differ.`;

export function diffCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) { process.stdout.write(DIFF_USAGE + '\n'); return 0; }
  if (positionals.length !== 2) throw new CliError('diff needs two trace files');
  let d;
  try { d = diffTraces(positionals[0]!, positionals[1]!); } catch (e) {
    if (e instanceof TraceError) throw new CliError(e.message);
    throw e;
  }
  process.stdout.write((values.json ? JSON.stringify(d, null, 2) : formatDiff(d)) + '\n');
  return d.eventsIdentical ? 0 : 1;
}
