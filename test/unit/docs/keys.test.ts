/** docs/architecture.md names the keys the code builds: every key of the key builder is in its table, and nothing else is. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../../shared/paths.js';
import { redisKeys } from '../../../shared/redis/keys.js';

describe('docs/architecture.md: Redis keys', () => {
  const doc = readFileSync(join(packageRoot, 'docs', 'architecture.md'), 'utf8');
  const table = doc.slice(doc.indexOf('## 9. Redis keys'));
  const documented = [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] as string);

  it('lists every key the key builder makes, with the placeholders of the doc', () => {
    const k = redisKeys('<ns>');
    const s = k.session('<id>');
    const built = [
      k.sessionsIndex, k.sessionsDue, k.sessionsControl,
      s.session, s.tasks, s.leases, s.roles, s.hostPages, s.results, s.resultIndex, s.cookies,
      k.rateGlobal(), k.rateHost('<host>'), k.hostBackoff('<host>'), k.hostSlots('<host>'),
      k.robots('<origin>'), k.robotsLock('<origin>'),
      k.config, k.configHistory, k.configChannel, k.legacyConfig, k.legacyConfigHistory, k.bullPrefix,
      k.replica('<replica>'), k.replicasIndex,
      k.urlIndex('<tag>', '<rest>'), k.schedules, k.scheduleRuns('<schedule>'),
    ];
    assert.deepEqual([...documented].sort(), [...built].sort());
    // Every key of the builder is covered above (all its fields but `namespace` and `session`, and every session key).
    assert.equal(Object.keys(k).length - 2 + Object.keys(s).length, built.length);
  });
});
