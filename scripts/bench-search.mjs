// Measures "posters like this" in the browser: the wasm search of a catalogue index, as the
// drop page runs it (its `timing.searchMs`), warm, over N posters classified one by one.
//
//   cargo run -p onesheet-cli --example retrieval    # with ONESHEET_WRITE_INDEX=DIR:
//   ONESHEET_WRITE_INDEX=/tmp/big cargo run -p onesheet-cli --example retrieval
//   node scripts/bench-search.mjs --catalogue /tmp/big [--model models/onesheet.safetensors] [--posters 20]
//
// The index must have been made with the same model (the example uses the shipped one).
import { readdirSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, SHARED, launch, serveOnesheet } from '../tests/browser/harness.mjs';

const { values } = parseArgs({
  options: {
    catalogue: { type: 'string' },
    model: { type: 'string', default: resolve(ROOT, 'models/onesheet.safetensors') },
    posters: { type: 'string', default: '20' },
  },
});
if (!values.catalogue) throw new Error('--catalogue DIR (a folder holding catalogue.index) is required');
const model = resolve(values.model);
const images = resolve(SHARED, 'data/posters/images');
const posters = readdirSync(images).sort().slice(0, Number(values.posters)).map((f) => resolve(images, f));

const server = await serveOnesheet({ models: dirname(model), catalogue: resolve(values.catalogue) });
const chromium = await launch();
try {
  const page = await chromium.browser.newPage();
  const query = new URLSearchParams({ model: `/models/${basename(model)}`, backend: 'cpu' });
  await page.goto(`${server.url}/?${query}`);
  await page.waitForFunction(() => document.body.dataset.catalogue, null, { timeout: 600_000 });
  const catalogue = await page.evaluate(() => Number(document.body.dataset.catalogue));
  const times = [];
  for (const poster of posters) {
    const result = await page.evaluate(async (bytes) => {
      return globalThis.onesheetClient.classify(new Uint8Array(bytes));
    }, [...(await import('node:fs')).readFileSync(poster)]);
    times.push(result.timing.searchMs);
  }
  const warm = times.slice(1).sort((a, b) => a - b);
  const at = (q) => warm[Math.min(warm.length - 1, Math.floor(q * warm.length))];
  console.log(
    JSON.stringify({ catalogue, posters: warm.length, searchMs: { median: at(0.5), p10: at(0.1), p90: at(0.9) } }),
  );
} finally {
  await chromium.close();
  server.close();
}
