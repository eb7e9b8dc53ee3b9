/**
 * Mocha's spec reporter, plus the wall time of each test file (its hooks included, where a
 * stack starts and stops) and, at the end, the slowest files: what to look at when the CI run
 * grows. Used by .mocharc.json and the test:chaos and test:cluster scripts
 * (`--reporter dist/test/support/spec-times.js`).
 */
import { relative } from 'node:path';
import Mocha from 'mocha';

/** Files named at the end of the run, slowest first. */
const SLOWEST = 12;

const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END } = Mocha.Runner.constants;

export default class SpecTimes extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    const started = new Map<string, number>();
    const took = new Map<string, number>();
    // A file's suites are the root's children that name it; a file with several top-level
    // suites counts from its first one's start to its last one's end.
    runner.on(EVENT_SUITE_BEGIN, (suite: Mocha.Suite) => {
      if (suite.parent?.root !== true || !suite.file || started.has(suite.file)) return;
      started.set(suite.file, performance.now());
    });
    runner.on(EVENT_SUITE_END, (suite: Mocha.Suite) => {
      if (suite.parent?.root !== true || !suite.file) return;
      const t0 = started.get(suite.file);
      if (t0 !== undefined) took.set(suite.file, performance.now() - t0);
    });
    runner.once(EVENT_RUN_END, () => {
      const all = [...took].sort((a, b) => b[1] - a[1]);
      const total = all.reduce((s, [, ms]) => s + ms, 0);
      const lines = all.slice(0, SLOWEST).map(([file, ms]) => `  ${(ms / 1000).toFixed(1).padStart(7)} s  ${relative(process.cwd(), file)}`);
      process.stdout.write(`\n  The slowest of ${all.length} test files (${(total / 1000).toFixed(0)} s in all files):\n${lines.join('\n')}\n`);
    });
  }
}
