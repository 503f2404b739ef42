/** `hvtrace inspect`: a trace's header, counts by kind and exit reason, and (optionally) its events. */
import { parseArgs } from 'node:util';
import { inspectTrace, formatInspection, TraceError } from '../replay/index.js';
import type { EventKind } from '../core/hv/events.js';
import { CliError } from './common.js';

export const INSPECT_USAGE = `usage: hvtrace inspect TRACE.hvt [--events] [--from N] [--limit M] [--kind K] [--json]

  --events      list events, one per line
  --from N      first event number (default 0)
  --limit M     at most M events (default 100)
  --kind K      only events of kind K: exit, pio, mmio, irq, digest
  --json        machine-readable output`;

const KINDS = ['exit', 'pio', 'mmio', 'irq', 'digest'];

export function inspectCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      events: { type: 'boolean' }, from: { type: 'string' }, limit: { type: 'string' }, kind: { type: 'string' },
      json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(INSPECT_USAGE + '\n'); return 0; }
  if (positionals.length !== 1) throw new CliError('inspect needs exactly one trace file');
  const nonneg = (name: string, v: string | undefined, d: number): number => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new CliError(`--${name} expects a non-negative integer, got '${v}'`);
    return n;
  };
  if (values.kind !== undefined && !KINDS.includes(values.kind)) throw new CliError(`--kind must be one of ${KINDS.join(', ')}, got '${values.kind}'`);
  const wantEvents = values.events || values.from !== undefined || values.limit !== undefined || values.kind !== undefined;
  let x;
  try {
    x = inspectTrace(positionals[0]!, {
      from: nonneg('from', values.from, 0), limit: wantEvents ? nonneg('limit', values.limit, 100) : 0,
      ...(values.kind ? { kind: values.kind as EventKind } : {}),
    });
  } catch (e) {
    if (e instanceof TraceError) throw new CliError(e.message);
    throw e;
  }
  if (values.json) { process.stdout.write(JSON.stringify(x, null, 2) + '\n'); return 0; }
  process.stdout.write(formatInspection(x) + '\n');
  return 0;
}
