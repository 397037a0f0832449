// Measures the drop page in headless Chromium (with --js-flags=--no-liftoff, as the tests run):
// cold time to the first result (model not cached, then cached), warm per-poster time, the
// throughput of a drop of many posters with the page's workers, and the bytes the page
// downloads. Needs the wasm build and the native binary (scripts/serve.sh
// or scripts/test.sh builds both).
//
//   node scripts/bench-page.mjs [--model PATH] [--backend cpu|webgpu|auto] [--posters N] [--liftoff]
//                               [--workers N] [--gpu | --no-gpu]
//
// --gpu gives the browser a WebGPU adapter (SwiftShader); by default it has one unless the
// backend is cpu. --no-gpu measures `auto` as a visitor without WebGPU meets it.
//
// --liftoff drops --no-liftoff: wasm then starts on the baseline compiler, as for visitors.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { basename, dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BUNDLE, ROOT, SHARED, launch, serveOnesheet } from '../tests/browser/harness.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: BUNDLE },
    backend: { type: 'string', default: 'cpu' },
    posters: { type: 'string', default: '20' },
    liftoff: { type: 'boolean', default: false },
    workers: { type: 'string' },
    gpu: { type: 'boolean' },
  },
  allowNegative: true,
});
const model = resolve(values.model);
const images = resolve(SHARED, 'data/posters/images');
const posters = readdirSync(images).sort().slice(0, Number(values.posters)).map((f) => resolve(images, f));

const server = await serveOnesheet({ models: dirname(model) });
// A server is up long before its first visitor: let it make its gzip copies of the wasm and
// the model first (it does as it starts), or the first visit would wait for them.
await new Promise((done) => setTimeout(done, 3000));
const chromium = await launch({ webgpu: values.gpu ?? values.backend !== 'cpu', liftoff: values.liftoff });
const query = new URLSearchParams({ model: `/models/${basename(model)}`, backend: values.backend });
if (values.workers) query.set('workers', values.workers);
const url = `${server.url}/?${query}`;

const marks = (page) =>
  page.evaluate(() => Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, m.startTime])));
const waitDone = (page, n) =>
  page.waitForFunction((n) => document.querySelectorAll('#posters > li.done, #posters > li.failed').length >= n, n, {
    timeout: 600_000,
  });

try {
  const context = await chromium.browser.newContext();
  const page = await context.newPage();
  const fetched = new Map();
  /** Body bytes as they crossed the network (compressed when the server compressed them). */
  const wire = new Map();
  context.on('requestfinished', async (request) => {
    const response = await request.response();
    // Only what crossed the network (not the previews' blob: URLs).
    if (request.method() === 'GET' && response?.status() === 200 && request.url().startsWith('http')) {
      const path = new URL(request.url()).pathname;
      fetched.set(path, (fetched.get(path) ?? 0) + 1);
      if (!wire.has(path)) wire.set(path, (await request.sizes()).responseBodySize);
    }
  });

  // Cold, nothing cached: the poster is handed in as soon as the page is interactive.
  const run = async () => {
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    await page.getByLabel('Choose poster images…').setInputFiles([posters[0]]);
    await waitDone(page, 1);
    const { selection, timing } = await page.evaluate(() => globalThis.onesheetClient.ready);
    const first = await page.$eval('#posters > li', (li) => li.querySelector('.state').textContent);
    return { ...(await marks(page)), selection, timing, first };
  };
  const cold = await run();
  const files = [...fetched.keys()];
  // Several cached visits: the browser may keep the compiled wasm only after the first.
  const visits = [await run(), await run(), await run()];
  const cached = visits.at(-1);

  // Warm: many posters once the model is up in every worker.
  await page.waitForFunction(() => {
    const wanted = Number(new URLSearchParams(location.search).get('workers')) || Math.min(4, navigator.hardwareConcurrency);
    return globalThis.onesheetClient.workers === wanted;
  });
  const workers = await page.evaluate(() => globalThis.onesheetClient.workers);
  const dropped = performance.now();
  await page.getByLabel('Choose poster images…').setInputFiles(posters);
  await waitDone(page, posters.length + 1);
  const throughput = posters.length / ((performance.now() - dropped) / 1000);
  const json = await (async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
    return JSON.parse(readFileSync(await download.path(), 'utf8'));
  })();
  const warm = json.slice(1).filter((r) => r.ms).map((r) => r.ms).sort((a, b) => a - b);
  const median = warm[Math.floor(warm.length / 2)];
  const mean = warm.reduce((a, b) => a + b, 0) / warm.length;
  const backend = json[0].backend;

  const flags = values.liftoff ? 'default wasm tiering' : '--js-flags=--no-liftoff';
  console.log(`backend ${backend}; chromium --headless=new, ${flags}`);
  for (const [label, r] of [['not cached', cold], ['cached (last visit)', cached]]) {
    const { loadMs } = r.selection;
    const { wasmMs, modelMs, totalMs } = r.timing;
    const model = modelMs === undefined ? '' : `, model file ${modelMs.toFixed(0)} ms`;
    console.log(`  ${label}: worker load ${totalMs.toFixed(0)} ms (wasm fetched and compiled ${wasmMs.toFixed(0)} ms${model}; Onesheet.create ${loadMs.toFixed(0)} ms); first poster: ${r.first}`);
  }
  console.log(`cold, not cached: ready ${cold['onesheet:ready'].toFixed(0)} ms, first result ${cold['onesheet:first-result'].toFixed(0)} ms after navigation start`);
  visits.forEach((visit, i) => {
    console.log(`cold, cached (visit ${i + 2}): ready ${visit['onesheet:ready'].toFixed(0)} ms, first result ${visit['onesheet:first-result'].toFixed(0)} ms`);
  });
  console.log(`warm per poster (${warm.length} posters, decode + model): median ${median.toFixed(0)} ms, mean ${mean.toFixed(0)} ms, min ${warm[0].toFixed(0)}, max ${warm.at(-1).toFixed(0)}`);
  console.log(`a drop of ${posters.length} posters with ${workers} worker(s): ${throughput.toFixed(2)} posters/s (the page says: ${await page.textContent('#summary')})`);

  let total = 0;
  let totalGz = 0;
  let totalWire = 0;
  console.log('downloaded on the first visit (bytes: the file, gzip -9 of it, what crossed the network):');
  for (const path of files.sort()) {
    const file = path.startsWith('/models/') ? resolve(dirname(model), path.slice('/models/'.length)) : resolve(ROOT, 'www', path === '/' ? 'index.html' : path.slice(1));
    const bytes = readFileSync(file);
    const gz = gzipSync(bytes, { level: 9 }).length;
    const sent = wire.get(path) ?? 0;
    total += bytes.length;
    totalGz += gz;
    totalWire += sent;
    console.log(`  ${path.padEnd(42)} ${String(statSync(file).size).padStart(10)} ${String(gz).padStart(10)} ${String(sent).padStart(10)}`);
  }
  console.log(`  ${'total'.padEnd(42)} ${String(total).padStart(10)} ${String(totalGz).padStart(10)} ${String(totalWire).padStart(10)}`);
  await context.close();
} finally {
  await chromium.close();
  server.close();
}
