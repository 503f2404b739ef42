// The round loop shared by the fuzz suites (properties/runner.ts): seeds,
// counts, progress, failures, and when it stops.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runRounds, type FuzzRound } from '../../properties/runner.js';
import type { FuzzProgress } from '../../properties/registry.js';

const failure = (property: string, seed: number) => ({ property, message: 'm', counterexample: 'c', seed, path: '', shrinks: 0 });

test('without a budget: one round, seed + k * stride, progress after each count', () => {
  const seen: [string, number, number, boolean][] = [];
  const progress: FuzzProgress[] = [];
  const step = (name: string, fails: boolean) => (r: FuzzRound): boolean => {
    seen.push([name, r.seed, r.runs, r.save]);
    assert.is(r.timeLimitMs(), undefined);
    if (fails) r.fail(failure(name, r.seed));
    r.count(r.runs);
    r.count(1, `${name} extra`);
    return fails;
  };
  const rep = runRounds({
    suite: 's', defaultRuns: 5, seedStride: 100,
    properties: [{ name: 'a', step: step('a', false) }, { name: 'b', step: step('b', true) }],
  }, { seed: 3, onProgress: (p) => progress.push(p) });
  assert.equal(seen, [['a', 3, 5, true], ['b', 103, 5, true]]);
  assert.equal(rep.failures, [failure('b', 103)]);
  assert.is(rep.runs, 12);
  assert.is(rep.seed, 3);
  assert.is(rep.perProperty, undefined);
  assert.is(rep.notes, undefined);
  assert.equal(progress.map((p) => [p.suite, p.property, p.runs, p.totalRuns, p.failures]),
    [['s', 'a', 5, 5, 0], ['s', 'a extra', 1, 6, 0], ['s', 'b', 5, 11, 1], ['s', 'b extra', 1, 12, 1]]);
});

test('with a budget: rounds repeat (seed + round * 7919), a property that failed for good is not run again', () => {
  const seeds: Record<string, number[]> = { a: [], b: [] };
  let calls = 0;
  const rep = runRounds({
    suite: 's', defaultRuns: 1, seedStride: 1, perProperty: true, notes: () => ['n'],
    properties: ['a', 'b'].map((name) => ({
      name,
      step: (r: FuzzRound): boolean => {
        calls++;
        seeds[name]!.push(r.seed);
        assert.ok((r.timeLimitMs() ?? 0) >= 1000);
        r.count(r.runs);
        return name === 'b';
      },
    })),
  }, { runs: 2, seed: 0, timeSeconds: 0.05, save: false });
  assert.equal(seeds['b'], [1]);
  assert.ok(seeds['a']!.length >= 2, `${calls} calls`);
  assert.equal(seeds['a']!.slice(0, 2), [0, 7919]);
  assert.equal(rep.perProperty, { a: 2 * seeds['a']!.length, b: 2 });
  assert.equal(rep.notes, ['n']);
});

test('stops when every property has failed for good, even with time left', () => {
  let calls = 0;
  const rep = runRounds({
    suite: 's', defaultRuns: 1, seedStride: 1,
    properties: [{ name: 'a', step: (r: FuzzRound) => { calls++; r.count(1); return true; } }],
  }, { seed: 0, timeSeconds: 60 });
  assert.is(calls, 1);
  assert.is(rep.runs, 1);
});

test.run();
