/**
 * The fuzz suites `hvtrace fuzz <suite>` can run. A suite runs its
 * fast-check properties for a number of runs and/or a time budget, reports
 * progress, saves every (shrunk) counterexample as a regression file that
 * the tests replay, and returns the failures.
 *
 * To add a suite: implement FuzzSuite in properties/<name>/ (its run is
 * usually properties/runner.ts's round loop over the suite's properties)
 * and add it to FUZZ_SUITES below.
 */
import { MMIO_SUITE } from './mmio/suite.js';
import { VMCS_SUITE } from './vmcs/suite.js';

export interface FuzzProgress {
  readonly suite: string;
  readonly property: string;
  /** Runs of this property so far in this invocation. */
  readonly runs: number;
  /** Runs of all properties so far. */
  readonly totalRuns: number;
  readonly failures: number;
  readonly elapsedMs: number;
}

export interface FuzzOptions {
  /** Runs per property per round (suite default if absent). */
  readonly runs?: number;
  /** fast-check seed of the first round (later rounds use seed + round). */
  readonly seed?: number;
  /** Keep running rounds until this many seconds have passed. */
  readonly timeSeconds?: number;
  readonly onProgress?: (p: FuzzProgress) => void;
  /** Save counterexamples as regression files (default true). */
  readonly save?: boolean;
}

export interface FuzzFailure {
  readonly property: string;
  /** What differed, for the shrunk counterexample. */
  readonly message: string;
  /** The shrunk counterexample, human-readable. */
  readonly counterexample: string;
  /** fast-check replay coordinates. */
  readonly seed: number;
  readonly path: string;
  readonly shrinks: number;
  /** Regression file written for it (absent when saving is off). */
  readonly file?: string;
}

export interface FuzzReport {
  readonly failures: FuzzFailure[];
  readonly runs: number;
  readonly seed: number;
  readonly elapsedMs: number;
  /** Runs per property. */
  readonly perProperty?: Readonly<Record<string, number>>;
  /** Remarks that are not failures. */
  readonly notes?: readonly string[];
}

export interface FuzzSuite {
  readonly description: string;
  /** Property names, in the order they run. */
  readonly properties: readonly string[];
  run(opts: FuzzOptions): FuzzReport | Promise<FuzzReport>;
}

export const FUZZ_SUITES: Record<string, FuzzSuite> = {
  mmio: MMIO_SUITE,
  vmcs: VMCS_SUITE,
};
