// A long session on the drop page in real headless Chromium (CPU backend): 500 posters through
// the page's real file input, in batches of 25 cleared in between, as a shop assistant might
// work through a catalogue. Every poster must get its result, and memory must settle: the
// worker's wasm memory plus the JavaScript heaps of the page and the worker may grow by less
// than 10% between poster 50 (everything warm) and poster 500.
//
// Memory is read over the Chrome DevTools Protocol, not through any hook in the page: the
// page's heap with Performance.getMetrics, the worker's by attaching to its target (its heap
// with Runtime.getHeapUsage, its wasm memory by finding every WebAssembly.Memory object in its
// heap with Runtime.queryObjects). Each reading follows a forced garbage collection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { BUNDLE, SHARED, browserFixture } from './harness.mjs';

const POSTER_DIR = resolve(SHARED, 'data/posters/images');
const DISTINCT = 50;
// 500 by default (the full soak: `node --test tests/browser/soak.test.mjs`); scripts/test.sh
// runs a shorter pass (ONESHEET_SOAK_POSTERS=150) so CI's clean run stays inside its budget.
const TOTAL = Number(process.env.ONESHEET_SOAK_POSTERS ?? 500);
const BATCH = 25;
const BASELINE_AFTER = 50;
if (!Number.isInteger(TOTAL) || TOTAL < 2 * BASELINE_AFTER || TOTAL % BATCH !== 0) {
  throw new Error(`ONESHEET_SOAK_POSTERS must be a multiple of ${BATCH}, at least ${2 * BASELINE_AFTER}`);
}
const MAX_GROWTH = 0.1;

const fixture = browserFixture({ name: 'soak' });

/**
 * A CDP session on the page's model worker, through the browser's own session: Playwright's
 * sessions open only on pages and frames, so this one talks to the worker with
 * Target.sendMessageToTarget.
 */
async function attachToWorker(browser) {
  const session = await browser.newBrowserCDPSession();
  const { targetInfos } = await session.send('Target.getTargets');
  const workers = targetInfos.filter((t) => t.type === 'worker' && new URL(t.url).pathname === '/lib/worker.js');
  assert.equal(workers.length, 1, JSON.stringify(targetInfos.map((t) => [t.type, t.url])));
  const { sessionId } = await session.send('Target.attachToTarget', { targetId: workers[0].targetId, flatten: false });
  let next = 1;
  const waiting = new Map();
  session.on('Target.receivedMessageFromTarget', (event) => {
    if (event.sessionId !== sessionId) return;
    const message = JSON.parse(event.message);
    const pending = waiting.get(message.id);
    if (!pending) return;
    waiting.delete(message.id);
    if (message.error) pending.reject(new Error(`${pending.method}: ${message.error.message}`));
    else pending.resolve(message.result);
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject, method });
      session.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) }).catch(reject);
    });
  const detach = async () => {
    await session.send('Target.detachFromTarget', { sessionId }).catch(() => {});
    await session.detach().catch(() => {});
  };
  return { send, detach };
}

/** Bytes of every WebAssembly.Memory alive in the worker (the model's instance has one). */
async function wasmMemoryBytes(worker) {
  const group = 'soak';
  const proto = await worker.send('Runtime.evaluate', { expression: 'WebAssembly.Memory.prototype', objectGroup: group });
  const { objects } = await worker.send('Runtime.queryObjects', { prototypeObjectId: proto.result.objectId, objectGroup: group });
  const { result } = await worker.send('Runtime.callFunctionOn', {
    objectId: objects.objectId,
    functionDeclaration: 'function () { return this.map((memory) => memory.buffer.byteLength); }',
    returnByValue: true,
  });
  await worker.send('Runtime.releaseObjectGroup', { objectGroup: group });
  assert.ok(result.value.length >= 1, 'the worker has a wasm memory');
  return result.value.reduce((a, b) => a + b, 0);
}

async function measure(pageCdp, worker) {
  await pageCdp.send('HeapProfiler.collectGarbage');
  await worker.send('HeapProfiler.collectGarbage');
  const { metrics } = await pageCdp.send('Performance.getMetrics');
  const pageHeap = metrics.find((m) => m.name === 'JSHeapUsedSize').value;
  const { usedSize: workerHeap } = await worker.send('Runtime.getHeapUsage');
  const wasm = await wasmMemoryBytes(worker);
  return { wasm, pageHeap, workerHeap, total: wasm + pageHeap + workerHeap };
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;

test(`${TOTAL} posters in one session: every one classified, memory settles`, { timeout: 20 * 60_000 }, async () => {
  const posters = readdirSync(POSTER_DIR).filter((n) => n.endsWith('.jpg')).sort().slice(0, DISTINCT);
  assert.equal(posters.length, DISTINCT, `${POSTER_DIR} has fewer than ${DISTINCT} posters`);

  // One model worker: its memory is what the soak follows (the pool's others hold the same).
  const params = new URLSearchParams({ model: `/models/${basename(BUNDLE)}`, backend: 'cpu', workers: '1' });
  let pageCdp;
  const { context, page } = await fixture.open(`${fixture.server.url}/?${params}`, {
    init: async (page, context) => {
      pageCdp = await context.newCDPSession(page);
      await pageCdp.send('Performance.enable');
    },
  });
  await page.waitForFunction(
    () => document.body.dataset.backend || /could not start/.test(document.getElementById('status').textContent),
    null,
    { timeout: 180_000 },
  );
  assert.equal(await page.evaluate(() => document.body.dataset.backend), 'cpu', await page.textContent('#status'));
  const worker = await attachToWorker(fixture.chromium.browser);

  const input = page.getByLabel('Choose poster images…');
  const readings = [];
  let classified = 0;
  const modelMs = [];
  const started = performance.now();
  try {
    for (let offset = 0; offset < TOTAL; offset += BATCH) {
      const batch = Array.from({ length: BATCH }, (_, i) => posters[(offset + i) % DISTINCT]);
      await input.setInputFiles(batch.map((name) => join(POSTER_DIR, name)));
      await page.waitForFunction(
        (n) => document.querySelectorAll('#posters > li.done, #posters > li.failed').length >= n,
        BATCH,
        { timeout: 120_000 },
      );
      const rows = await page.$$eval('#posters > li', (items) =>
        items.map((li) => ({
          name: li.querySelector('.name').textContent,
          done: li.classList.contains('done'),
          state: li.querySelector('.state').textContent,
          bars: li.querySelectorAll('.bars li').length,
        })),
      );
      assert.deepEqual(rows.map((r) => r.name), batch, `posters ${offset + 1}–${offset + BATCH}`);
      for (const row of rows) {
        assert.ok(row.done && row.bars === 19, `${row.name} (poster ${offset + rows.indexOf(row) + 1}): ${row.state}`);
      }
      classified += rows.length;
      const summary = await page.textContent('#summary');
      assert.match(summary, new RegExp(`^${BATCH} classified;`));
      // The page's own figure: the model's time per poster (decode + inference), this batch.
      modelMs.push(Number(/; (\d+) ms per poster/.exec(summary)?.[1]));

      await page.click('#clear');
      assert.equal(await page.locator('#posters > li').count(), 0);
      const done = offset + BATCH;
      if (done === BASELINE_AFTER || done % 100 === 0 || done === TOTAL) {
        const reading = { posters: done, seconds: (performance.now() - started) / 1000, ...(await measure(pageCdp, worker)) };
        readings.push(reading);
        console.log(
          `after ${String(done).padStart(3)} posters (${reading.seconds.toFixed(1)} s): wasm ${mb(reading.wasm)}, ` +
            `page heap ${mb(reading.pageHeap)}, worker heap ${mb(reading.workerHeap)}, total ${mb(reading.total)}`,
        );
      }
    }
  } finally {
    await worker.detach();
  }

  assert.equal(classified, TOTAL, 'every poster got a result');
  const base = readings.find((r) => r.posters === BASELINE_AFTER);
  const end = readings.at(-1);
  const growth = (end.total - base.total) / base.total;
  const seconds = (performance.now() - started) / 1000;
  const median = [...modelMs].sort((x, y) => x - y)[Math.floor(modelMs.length / 2)];
  console.log(`soak: the model's time per poster, batch means: median ${median} ms (min ${Math.min(...modelMs)}, max ${Math.max(...modelMs)})`);
  console.log(
    `soak: ${TOTAL} posters in ${seconds.toFixed(1)} s (${((seconds * 1000) / TOTAL).toFixed(0)} ms each, page included); ` +
      `wasm + JS heaps ${mb(base.total)} after ${BASELINE_AFTER} → ${mb(end.total)} after ${TOTAL}: ` +
      `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(2)}% (wasm ${mb(base.wasm)} → ${mb(end.wasm)}, ` +
      `page heap ${mb(base.pageHeap)} → ${mb(end.pageHeap)}, worker heap ${mb(base.workerHeap)} → ${mb(end.workerHeap)})`,
  );
  assert.ok(growth < MAX_GROWTH, `memory grew ${(growth * 100).toFixed(1)}% between poster ${BASELINE_AFTER} and ${TOTAL}`);
  await context.close();
});
