/**
 * Record and replay as functions (the CLI commands and the tests share
 * them): recording runs a guest with a TraceWriter as its sink; replaying
 * rebuilds the machine from a trace header and runs it with a VerifySink.
 */
import { TraceWriter, TraceError, type TraceWriteStats } from '../recorder/index.js';
import { TraceReader, VerifySink, DivergenceError, type TruncationInfo } from '../replay/index.js';
import type { Machine, RunResult } from '../core/hv/machine.js';
import { exitReasonName } from '../core/vmx/exit-reasons.js';
import type { JsonObject } from '../recorder/index.js';
import { buildMachine, type GuestSpec } from './run.js';
import { headerFor, specFromHeader } from './trace-guest.js';
import { CliError } from './common.js';

export interface RecordResult { readonly run: RunResult; readonly stats: TraceWriteStats; readonly seconds: number }

export function recordTrace(spec: GuestSpec, out: string, digestEvery: number, serial: (b: number) => void = () => undefined, chunkEvents?: number, customize?: (m: Machine) => void): RecordResult {
  let writer: TraceWriter;
  try { writer = TraceWriter.open(out, headerFor(spec, out, digestEvery), chunkEvents ? { chunkEvents } : {}); } catch (e) {
    if (e instanceof TraceError) throw new CliError(e.message);
    throw e;
  }
  try {
    const m = buildMachine(spec, serial, writer, digestEvery);
    customize?.(m);
    const t0 = process.hrtime.bigint();
    const run = m.run();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const exits: Record<string, number> = {};
    for (const [k, v] of [...run.exits.entries()].sort((a, b) => a[0] - b[0])) exits[exitReasonName(k) ?? String(k)] = v;
    const stats = writer.close({ stop: run.stop.kind, message: run.stop.message, instructions: run.instructions, exits });
    return { run, stats, seconds };
  } catch (e) {
    writer.abort();
    throw e;
  }
}

export type ReplayOutcome =
  | { readonly kind: 'ok'; readonly events: number; readonly run: RunResult; readonly seconds: number }
  | { readonly kind: 'divergence'; readonly error: DivergenceError }
  | { readonly kind: 'end-mismatch'; readonly message: string; readonly run: RunResult }
  | { readonly kind: 'truncated'; readonly events: number; readonly truncated: TruncationInfo };

export interface ReplayOptions {
  readonly kernel?: string;
  readonly initrd?: string;
  readonly disk?: string;
  /** Hook to alter the machine before it runs (tests use it to change a device). */
  readonly customize?: (m: Machine) => void;
}

export function replayTrace(path: string, opts: ReplayOptions = {}): ReplayOutcome {
  let reader: TraceReader;
  try { reader = TraceReader.open(path); } catch (e) {
    if (e instanceof TraceError) throw new CliError(e.message);
    throw e;
  }
  try {
    const { spec, digestEvery } = specFromHeader(reader.header, path, {
      ...(opts.kernel ? { kernel: opts.kernel } : {}), ...(opts.initrd ? { initrd: opts.initrd } : {}), ...(opts.disk ? { disk: opts.disk } : {}),
    });
    const sink = new VerifySink(reader);
    const m = buildMachine(spec, () => undefined, sink, digestEvery);
    opts.customize?.(m);
    const t0 = process.hrtime.bigint();
    try {
      const run = m.run();
      const { events } = sink.finish();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const summary = reader.footer?.summary as JsonObject | undefined;
      if (summary && (summary.instructions !== run.instructions || summary.stop !== run.stop.kind)) {
        return { kind: 'end-mismatch', run, message: `the recording stopped (${String(summary.stop)}) after ${String(summary.instructions)} instructions, the replay (${run.stop.kind}) after ${run.instructions}` };
      }
      return { kind: 'ok', events, run, seconds };
    } catch (e) {
      if (e instanceof DivergenceError) {
        if (e.kind === 'extra' && e.traceTruncated && reader.truncated) return { kind: 'truncated', events: e.eventNumber, truncated: reader.truncated };
        return { kind: 'divergence', error: e };
      }
      if (e instanceof TraceError) throw new CliError(`${path}: ${e.message}`);
      throw e;
    }
  } finally {
    reader.close();
  }
}
