// Every counterexample the VMCS properties ever found (properties/regressions/vmcs/,
// written by `hvtrace fuzz vmcs`) is replayed and must hold now.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadRegressions, replayRegression, regressionDir } from '../../properties/vmcs/suite.js';
import { SUITES } from '../../properties/vmcs/suites.js';
import { ENTRY_RULES } from '../../core/vmx/entry-checks.js';

const regressions = loadRegressions();

test('the regression directory is found and holds at least the first finding', () => {
  assert.match(regressionDir(), /properties[\\/]regressions[\\/]vmcs$/);
  assert.ok(regressions.length >= 1);
  for (const r of regressions) {
    assert.ok(SUITES.includes(r.property), r.file);
    if (r.property === 'violation') assert.ok(ENTRY_RULES.some((x) => x.id === r.rule), `${r.file}: rule ${r.rule}`);
  }
});

for (const r of regressions) {
  test(`replay ${r.file.split(/[\\/]/).pop()}`, () => {
    assert.is(replayRegression(r), null, `was: ${r.message}`);
  });
}

test.run();
