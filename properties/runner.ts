/**
 * The round loop shared by the fuzz suites of properties/registry.ts: each
 * round runs every property that has not failed for good, with its own seed;
 * rounds repeat while the time budget lasts (one round without a budget);
 * progress is reported after each step and the failures are collected.
 *
 * What a property runs, and what makes it fail for good, is the suite's
 * business (its `step`); the budget, seeds, counts and report are here.
 */
import type { FuzzFailure, FuzzOptions, FuzzReport } from './registry.js';

/** What a property's step gets for one round. */
export interface FuzzRound {
  /** Runs per property (the --runs option or the suite's default). */
  readonly runs: number;
  /** This property's seed in this round. */
  readonly seed: number;
  /** Whether counterexamples are saved as regression files. */
  readonly save: boolean;
  /** Time left of the budget (at least 1 s), for fast-check's interruptAfterTimeLimit; undefined without a budget. */
  timeLimitMs(): number | undefined;
  /** Count `n` runs of `label` (default: the property's name) and report progress. */
  count(n: number, label?: string): void;
  /** Record a failure. */
  fail(f: FuzzFailure): void;
}

export interface FuzzProperty {
  readonly name: string;
  /** Runs one round of the property; true when it has failed for good (it is not run again). */
  step(round: FuzzRound): boolean;
}

export interface RoundsSpec {
  /** Suite name, for progress. */
  readonly suite: string;
  readonly defaultRuns: number;
  /** Seed of property k in round r: seed + r * 7919 + k * seedStride. */
  readonly seedStride: number;
  readonly properties: readonly FuzzProperty[];
  /** Report the runs of each property (FuzzReport.perProperty). */
  readonly perProperty?: boolean;
  /** Remarks for the report, asked for at the end (FuzzReport.notes). */
  readonly notes?: () => string[];
}

export function runRounds(spec: RoundsSpec, opts: FuzzOptions): FuzzReport {
  const t0 = Date.now();
  const seed0 = opts.seed ?? ((Date.now() ^ (process.pid << 16)) | 0);
  const runs = opts.runs ?? spec.defaultRuns;
  const budgetMs = opts.timeSeconds !== undefined ? opts.timeSeconds * 1000 : 0;
  const failures: FuzzFailure[] = [];
  const finished = new Set<string>();
  const perProp = new Map<string, number>();
  let total = 0;
  for (let round = 0; ; round++) {
    for (const [k, p] of spec.properties.entries()) {
      if (finished.has(p.name)) continue;
      if (round > 0 && Date.now() - t0 >= budgetMs) break;
      const r: FuzzRound = {
        runs, seed: (seed0 + round * 7919 + k * spec.seedStride) | 0, save: opts.save !== false,
        timeLimitMs: () => (budgetMs > 0 ? Math.max(1000, budgetMs - (Date.now() - t0)) : undefined),
        count: (n, label = p.name) => {
          total += n;
          perProp.set(label, (perProp.get(label) ?? 0) + n);
          opts.onProgress?.({ suite: spec.suite, property: label, runs: perProp.get(label) ?? 0, totalRuns: total, failures: failures.length, elapsedMs: Date.now() - t0 });
        },
        fail: (f) => { failures.push(f); },
      };
      if (p.step(r)) finished.add(p.name);
    }
    if (Date.now() - t0 >= budgetMs || finished.size === spec.properties.length) break;
  }
  return {
    failures, runs: total, seed: seed0, elapsedMs: Date.now() - t0,
    ...(spec.perProperty ? { perProperty: Object.fromEntries(perProp) } : {}),
    ...(spec.notes ? { notes: spec.notes() } : {}),
  };
}
