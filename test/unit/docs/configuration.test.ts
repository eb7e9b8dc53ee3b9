import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../../shared/paths.js';
import { configurationMarkdown } from '../../../scripts/config-docs.js';

describe('docs/configuration.md', () => {
  it('is exactly what the schema generates (run `npm run docs:config > docs/configuration.md`)', () => {
    const committed = readFileSync(join(packageRoot, 'docs', 'configuration.md'), 'utf8');
    assert.equal(committed, configurationMarkdown());
  });
});
