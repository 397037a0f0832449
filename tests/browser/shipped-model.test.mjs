// The README's main job as a visitor meets it: `onesheet serve` with the repository's models/,
// the page at / with no parameters (so the shipped, trained bundle), a poster picked through the
// file input, and the genres shown match `onesheet classify` with its default model.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { basename, resolve } from 'node:path';

import { ONESHEET, ROOT, SHARED, browserFixture, serveOnesheet } from './harness.mjs';

const POSTER = resolve(SHARED, 'data/posters/images/tt0080339.jpg');
const SHIPPED = resolve(ROOT, 'models/onesheet.safetensors');

const fixture = browserFixture({
  name: 'shipped-model',
  serve: () => serveOnesheet({ models: resolve(ROOT, 'models') }),
});

test('the page at / loads the shipped model and agrees with `onesheet classify`', async () => {
  const { context, page } = await fixture.open(`${fixture.server.url}/?backend=cpu`, {
    contextOptions: { acceptDownloads: true },
  });
  await page.waitForFunction(() => document.body.dataset.backend, null, { timeout: 180_000 });
  // The page names the model it runs: trained, not the test bundle.
  assert.doesNotMatch(await page.textContent('body'), /untrained/);

  await page.getByLabel('Choose poster images…').setInputFiles(POSTER);
  await page.waitForFunction(() => document.querySelector('#posters > li.done'), null, { timeout: 180_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
  const [row] = JSON.parse(readFileSync(await download.path(), 'utf8'));

  // Run from the repository root, as a shop would: the default --model is the shipped bundle.
  const run = spawnSync(ONESHEET, ['classify', '--format', 'jsonl', POSTER], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const native = JSON.parse(run.stdout);
  assert.equal(basename(native.file), row.file);
  let worst = 0;
  for (const [genre, score] of Object.entries(native.scores)) {
    worst = Math.max(worst, Math.abs(row.scores[genre] - score));
  }
  console.log(`shipped model, ${row.file}: max |page − CLI| = ${worst.toExponential(2)}; genres ${row.genres.join(', ')}`);
  assert.ok(worst <= 1e-4, `scores differ by ${worst}`);
  assert.deepEqual(row.genres, native.genres);
  assert.ok(row.genres.length >= 1 && row.genres.length < 19, `${row.genres}`);
  assert.ok(readFileSync(SHIPPED).length > 1_000_000);
  await context.close();
});
