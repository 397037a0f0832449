// The drop page (www/) in real headless Chromium, served by the real `onesheet serve`: posters
// picked, dropped and pasted give the same scores as `onesheet classify` on the same files; bad
// files fail alone; a Rust panic does not leave the page dead; nothing carries an image off the
// machine; both backends run. Limits: `?model=` loads only this site's bundles and nothing over
// 64 MiB; files are read two at a time, never when over 64 MiB; Clear cancels what waits.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ARTIFACTS, BUNDLE, SHARED, browserFixture, classifyNatively, launch, scoreGap, serveOnesheet } from './harness.mjs';

const poster = (id) => resolve(SHARED, `data/posters/images/${id}.jpg`);
const POSTERS = ['tt0111161', 'tt0079285', 'tt0080339'].map(poster);
const MiB = 1024 * 1024;
const CPU_TOLERANCE = 1e-4;
const WEBGPU_TOLERANCE = 1e-3;

// /models/ is the test bundle's directory (the fixture's default), so the page can load it
// with ?model=.
const fixture = browserFixture({ name: 'drop-page' });

function assertSameScores(page, native, tolerance, label) {
  assert.ok(native.scores, `${label}: onesheet classify failed: ${native.error}`);
  const genres = Object.keys(native.scores);
  assert.equal(genres.length, 19);
  assert.deepEqual(Object.keys(page.scores).sort(), [...genres].sort(), label);
  let worst = 0;
  for (const genre of genres) worst = Math.max(worst, Math.abs(page.scores[genre] - native.scores[genre]));
  console.log(`${label}: max |page − CLI| = ${worst.toExponential(2)}`);
  assert.ok(worst <= tolerance, `${label}: scores differ by ${worst}`);
  // Near-ties at a threshold could flip on the tolerance; the test bundle's are far apart.
  assert.deepEqual(page.genres, native.genres, label);
}

/**
 * A fresh context (fresh Cache API) on `browser` and the drop page in it, with the test bundle
 * and `query`; every request is logged (the page's and its workers'). With `probe`,
 * `window.probe` watches what the page reads and hands to the model (installProbe).
 */
function openPage(browser, query, { probe = false, url = fixture.server.url } = {}) {
  const params = new URLSearchParams({ model: `/models/${basename(BUNDLE)}`, ...query });
  return fixture.open(`${url}/?${params}`, {
    browser,
    contextOptions: { acceptDownloads: true },
    init: probe ? (page) => page.addInitScript(installProbe) : undefined,
  });
}

/**
 * The GETs in `requests` for a path ending in `suffix` that brought a body over the network
 * (a revalidation answered from the HTTP cache does not), once every one of them has settled.
 */
async function downloads(requests, suffix) {
  const matching = requests.filter((r) => r.method === 'GET' && new URL(r.url).pathname.endsWith(suffix));
  await Promise.all(matching.map((r) => r.settled));
  return matching.filter((r) => r.wire !== 0).length;
}

/**
 * Runs in the page before its scripts: records every classify request posted to a worker and
 * its answer (`outstanding`: posted and not yet answered, and its maximum), every read of a
 * Blob's bytes and every object URL made, with the blob's size and name.
 */
function installProbe() {
  // answeredBy: classify answers per worker, in the order the workers were started.
  const probe = { posted: [], outstanding: 0, maxOutstanding: 0, reads: [], objectUrls: [], answeredBy: [] };
  window.probe = probe;
  const open = new Set();
  const BaseWorker = window.Worker;
  window.Worker = class extends BaseWorker {
    constructor(...args) {
      super(...args);
      const index = probe.answeredBy.push(0) - 1;
      this.addEventListener('message', ({ data }) => {
        if ((data?.type === 'result' || data?.type === 'error') && open.delete(data.id)) {
          probe.outstanding -= 1;
          probe.answeredBy[index] += 1;
        }
      });
    }
    postMessage(message, ...rest) {
      if (message?.type === 'classify') {
        open.add(message.id);
        probe.posted.push({ id: message.id, bytes: message.bytes?.byteLength ?? null });
        probe.outstanding += 1;
        probe.maxOutstanding = Math.max(probe.maxOutstanding, probe.outstanding);
      }
      return super.postMessage(message, ...rest);
    }
  };
  for (const method of ['arrayBuffer', 'bytes', 'stream', 'text']) {
    const original = Blob.prototype[method];
    if (!original) continue;
    Blob.prototype[method] = function (...args) {
      probe.reads.push({ method, size: this.size, name: this.name ?? null });
      return original.apply(this, args);
    };
  }
  const createObjectURL = URL.createObjectURL;
  URL.createObjectURL = (blob) => {
    probe.objectUrls.push({ size: blob.size, name: blob.name ?? null });
    return createObjectURL(blob);
  };
  probe.announced = [];
  document.addEventListener('DOMContentLoaded', () => {
    // Each announcement is a new text node: read from the record, as the status may have
    // moved on by the time the observer runs.
    new MutationObserver((records) => {
      for (const record of records) for (const node of record.addedNodes) probe.announced.push(node.textContent);
    }).observe(document.getElementById('status'), { childList: true });
  });
}

/** Waits for the page to say the model could not start; returns what it says. */
async function waitRefused(page) {
  await page.waitForFunction(() => /could not start/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  return page.textContent('#status');
}

async function waitReady(page) {
  await page.waitForFunction(() => document.body.dataset.backend || /could not start/.test(document.getElementById('status').textContent), null, { timeout: 180_000 });
  const backend = await page.evaluate(() => document.body.dataset.backend);
  assert.ok(backend, await page.textContent('#status'));
  return backend;
}

/** Waits until `count` cards have finished (result or error). */
async function waitCards(page, count) {
  await page.waitForFunction(
    (n) => document.querySelectorAll('#posters > li.done, #posters > li.failed').length >= n,
    count,
    { timeout: 180_000 },
  );
}

async function cards(page) {
  return page.$$eval('#posters > li', (items) =>
    items.map((li) => ({
      name: li.querySelector('.name').textContent,
      state: li.querySelector('.state').textContent,
      done: li.classList.contains('done'),
      failed: li.classList.contains('failed'),
      backend: li.dataset.backend,
      bars: li.querySelectorAll('.bars li').length,
      predicted: [...li.querySelectorAll('.predicted li')].map((x) => x.textContent),
    })),
  );
}

async function downloadJson(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
  return JSON.parse(readFileSync(await download.path(), 'utf8'));
}

/** Files the page builds itself, as the visitor's browser would hand them over. */
async function makeFiles(page, specs) {
  return page.evaluateHandle(async (specs) => {
    const transfer = new DataTransfer();
    for (const { name, type, bytes, encodeAs } of specs) {
      let blob = new Blob([new Uint8Array(bytes)], { type });
      if (encodeAs) {
        const bitmap = await createImageBitmap(blob);
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        canvas.getContext('2d').drawImage(bitmap, 0, 0);
        blob = await canvas.convertToBlob({ type: encodeAs });
      }
      transfer.items.add(new File([blob], name, { type: blob.type }));
    }
    return transfer;
  }, specs);
}

const bytesOf = (path) => [...readFileSync(path)];

describe('CPU backend', () => {
  test('picked posters match `onesheet classify`, download as JSON and CSV, and never leave the page', async () => {
    const { context, page, requests } = await openPage(fixture.chromium.browser, { backend: 'cpu' });
    assert.equal(await waitReady(page), 'cpu');
    assert.match(await page.textContent('#backend-info'), /CPU/);

    // Two posters at once through the real, labelled file input.
    const input = page.getByLabel('Choose poster images…');
    assert.equal(await input.getAttribute('type'), 'file');
    await input.setInputFiles(POSTERS.slice(0, 2));
    await waitCards(page, 2);

    const shown = await cards(page);
    assert.deepEqual(shown.map((c) => c.name), POSTERS.slice(0, 2).map((p) => basename(p)));
    for (const card of shown) {
      assert.ok(card.done, card.state);
      assert.equal(card.backend, 'cpu');
      assert.equal(card.bars, 19);
      assert.ok(card.predicted.length >= 1);
      assert.match(card.state, /\d+ ms on the CPU/);
    }
    assert.match(await page.textContent('#status'), /ms\)/);

    const native = classifyNatively(POSTERS.slice(0, 2));
    const json = await downloadJson(page);
    assert.equal(json.length, 2);
    for (const row of json) {
      assert.equal(row.backend, 'cpu');
      assertSameScores(row, native[row.file], CPU_TOLERANCE, `cpu ${row.file}`);
    }

    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    const lines = readFileSync(await csv.path(), 'utf8').trim().split('\r\n');
    assert.equal(lines.length, 3);
    const header = lines[0].split(',');
    assert.deepEqual(header.slice(0, 5), ['file', 'year', 'genres', 'backend', 'ms']);
    assert.equal(header.length, 5 + 19 + 1);
    const first = lines[1].split(',');
    assert.equal(first[0], basename(POSTERS[0]));
    const action = header.indexOf('Action');
    assert.ok(Math.abs(Number(first[action]) - native[first[0]].scores.Action) <= CPU_TOLERANCE);

    const shot = join(ARTIFACTS, 'drop-page-cpu.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 10_000);

    // The network log: only reads of the page's own files; the model and wasm fetched once.
    const origin = new URL(fixture.server.url).origin;
    for (const r of requests) {
      assert.ok(r.url.startsWith(`${origin}/`) || r.url.startsWith('blob:') || r.url.startsWith('data:'), r.url);
      assert.ok(['GET', 'HEAD'].includes(r.method), `${r.method} ${r.url}`);
      assert.equal(r.body, null, `${r.url} carries a body`);
      for (const p of POSTERS) assert.ok(!r.url.includes(basename(p, '.jpg')), r.url);
    }
    assert.equal(await downloads(requests, basename(BUNDLE)), 1, 'the bundle is downloaded once (the log sees the worker)');
    // One CPU wasm (in Chromium, the relaxed-SIMD compilation), once.
    assert.equal(await downloads(requests, '_bg.wasm'), 1);

    // A second visit takes the model and the wasm from the Cache API: HEAD checks, no download.
    // (Once this visit's other workers have loaded: a reload would cut their requests short.)
    await page.waitForFunction(() => globalThis.onesheetClient.workers === Math.min(4, navigator.hardwareConcurrency));
    requests.length = 0;
    await page.reload();
    await waitReady(page);
    assert.equal(await downloads(requests, basename(BUNDLE)), 0, 'the bundle comes from the cache');
    assert.equal(await downloads(requests, '_bg.wasm'), 0, 'the wasm comes from the cache');
    assert.ok(requests.some((r) => r.method === 'HEAD' && r.url.includes(basename(BUNDLE))));
    await context.close();
  });

  test('both compilations of the CPU build give the scores of the CLI; relaxedSimd: false, or a site without the FMA one, runs the plain one', async () => {
    const { context, page } = await openPage(fixture.chromium.browser, { backend: 'cpu' });
    await waitReady(page);
    const native = classifyNatively([POSTERS[0]])[basename(POSTERS[0])];
    const bytes = bytesOf(POSTERS[0]);
    const runs = await page.evaluate(
      async ({ bytes, model }) => {
        const { OnesheetClient } = await import('/lib/client.js');
        const runs = {};
        for (const [name, options] of Object.entries({
          default: {},
          plain: { relaxedSimd: false },
          // A site that copied only onesheet_bg.wasm (and its glue) elsewhere.
          missing: { wasm: '/pkg-copied/onesheet_bg.wasm' },
        })) {
          const client = new OnesheetClient({ model, backend: 'cpu', ...options });
          try {
            const ready = await client.ready;
            const result = await client.classify(new Uint8Array(bytes));
            runs[name] = { simd: ready.simd, url: ready.downloads.wasm?.url ?? null, result };
          } catch (error) {
            runs[name] = { error: String(error.message ?? error) };
          } finally {
            client.terminate();
          }
        }
        return runs;
      },
      { bytes, model: `/models/${basename(BUNDLE)}` },
    );
    assert.equal(runs.default.simd, 'relaxed-simd', JSON.stringify(runs.default));
    assert.match(runs.default.url, /\/pkg\/onesheet_relaxed_bg\.wasm$/);
    assert.equal(runs.plain.simd, 'simd128', JSON.stringify(runs.plain));
    assert.match(runs.plain.url, /\/pkg\/onesheet_bg\.wasm$/);
    assertSameScores(runs.default.result, native, CPU_TOLERANCE, 'relaxed SIMD');
    assertSameScores(runs.plain.result, native, CPU_TOLERANCE, 'SIMD128');
    // /pkg-copied/ has neither file: the missing FMA compilation falls back to the plain URL,
    // whose own failure is the error reported.
    assert.match(runs.missing.error, /pkg-copied\/onesheet_bg\.wasm"?: HTTP 404/);
    await context.close();
  });

  test('dropped and pasted files: bad ones fail alone, names stay text, PNG and WebP work', async () => {
    const { context, page, requests } = await openPage(fixture.chromium.browser, { backend: 'cpu' });
    await waitReady(page);
    const sneaky = '<img src=x onerror="window.pwned=1">.png';
    const good = readFileSync(POSTERS[0]);
    const drop = await makeFiles(page, [
      // Cut inside the header: the decoder fills in a JPEG cut later in its scan data.
      { name: 'truncated.jpg', type: 'image/jpeg', bytes: [...good.subarray(0, 200)] },
      { name: 'notes.jpg', type: 'image/jpeg', bytes: [...Buffer.from('not a poster, just text')] },
      { name: sneaky, type: 'image/jpeg', bytes: [...good], encodeAs: 'image/png' },
      { name: 'poster.webp', type: 'image/jpeg', bytes: [...good], encodeAs: 'image/webp' },
    ]);
    await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: drop });
    await waitCards(page, 4);

    const shown = await cards(page);
    assert.deepEqual(shown.map((c) => c.name), ['truncated.jpg', 'notes.jpg', sneaky, 'poster.webp']);
    assert.ok(shown[0].failed, shown[0].state);
    assert.match(shown[0].state, /damaged or truncated/);
    assert.ok(shown[1].failed, shown[1].state);
    assert.match(shown[1].state, /not a JPEG, PNG, WebP\b.* image/);
    assert.ok(shown[2].done, shown[2].state);
    assert.ok(shown[3].done, shown[3].state);
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    // The only images are the thumbnails the page made, from object URLs: none from a name.
    const images = await page.$$eval('#posters img', (imgs) =>
      imgs.map((img) => ({ thumb: img.parentElement.classList.contains('thumb'), src: img.getAttribute('src') })),
    );
    assert.equal(images.length, 2, JSON.stringify(images)); // the PNG and the WebP; the others failed
    for (const image of images) {
      assert.ok(image.thumb && image.src.startsWith('blob:'), JSON.stringify(image));
    }
    assert.equal(await page.locator('#posters .thumb.none').count(), 2, 'no preview for the broken files');
    assert.equal(await page.locator('#posters [role=alert]').count(), 2);

    // The PNG the page made is lossless: the CLI on the same bytes must agree.
    const png = await page.evaluate(async (transfer) => [...new Uint8Array(await transfer.files[2].arrayBuffer())], drop);
    const pngPath = join(fixture.scratch, 'poster.png');
    writeFileSync(pngPath, Buffer.from(png));
    const json = await downloadJson(page);
    assert.equal(json.length, 4);
    assert.match(json[0].error, /damaged or truncated/);
    assert.match(json[1].error, /not a JPEG/);
    assertSameScores(json[2], classifyNatively([pngPath])['poster.png'], CPU_TOLERANCE, 'cpu png');

    // Paste one more: it works after the failures.
    const paste = await makeFiles(page, [{ name: 'pasted.jpg', type: 'image/jpeg', bytes: bytesOf(POSTERS[1]) }]);
    await page.evaluate((clipboardData) => {
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData, bubbles: true, cancelable: true }));
    }, paste);
    await waitCards(page, 5);
    const pasted = (await cards(page))[4];
    assert.equal(pasted.name, 'pasted.jpg');
    assert.ok(pasted.done, pasted.state);
    const rows = await downloadJson(page);
    assertSameScores(rows[4], classifyNatively([POSTERS[1]])[basename(POSTERS[1])], CPU_TOLERANCE, 'cpu pasted');

    for (const r of requests) assert.equal(r.body, null, `${r.url} carries a body`);
    await context.close();
  });

  test('a big scan is classified; one over the pixel limit gets its own error', async () => {
    const { context, page } = await openPage(fixture.chromium.browser, { backend: 'cpu' });
    await waitReady(page);
    const files = await page.evaluateHandle(async (bytes) => {
      const poster = await createImageBitmap(new Blob([new Uint8Array(bytes)]));
      const transfer = new DataTransfer();
      // 24 megapixels, like a 300 dpi scan of a one-sheet; then 56, over the 50 allowed.
      for (const [name, width, height] of [['scan.jpg', 4000, 6000], ['huge.jpg', 7000, 8000]]) {
        const canvas = new OffscreenCanvas(width, height);
        canvas.getContext('2d').drawImage(poster, 0, 0, width, height);
        transfer.items.add(new File([await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 })], name));
      }
      return transfer;
    }, bytesOf(POSTERS[0]));
    await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: files });
    await waitCards(page, 2);
    const [scan, huge] = await cards(page);
    assert.ok(scan.done, scan.state);
    assert.equal(scan.bars, 19);
    assert.ok(huge.failed, huge.state);
    assert.match(huge.state, /7000×8000 \(56 megapixels\); the limit is 50 megapixels/);
    await context.close();
  });

  test('a Rust panic is reported and the page keeps working', async () => {
    // The probe keeps every announcement (they are transient: aria-live).
    const { context, page } = await openPage(fixture.chromium.browser, { backend: 'cpu' }, { probe: true });
    await waitReady(page);
    const crash = page.evaluate(() =>
      globalThis.onesheetClient.panicForTesting().then(
        () => 'resolved',
        (error) => ({ name: error.name, message: error.message }),
      ),
    );
    // Handed in while the panic is in flight: it must be answered by the fresh instance.
    await page.getByLabel('Choose poster images…').setInputFiles([POSTERS[2]]);
    const outcome = await crash;
    assert.equal(outcome.name, 'ModelCrashedError');
    assert.match(outcome.message, /deliberate panic/);
    await waitCards(page, 1);
    const announced = await page.evaluate(() => window.probe.announced);
    // The crash hit the first worker (its replacement reloads, then "Ready") or another one
    // of the pool (the rest carried on): either way it is said.
    const said = /restarted after a crash \(Rust panic: .*deliberate panic.*\)(\. Ready|; the other workers carried on)/;
    assert.ok(announced.some((text) => said.test(text)), announced.join('\n'));
    const [row] = await downloadJson(page);
    assertSameScores(row, classifyNatively([POSTERS[2]])[basename(POSTERS[2])], CPU_TOLERANCE, 'after panic');
    await context.close();
  });

  test('keyboard: the drop zone is focusable and Enter opens the file picker', async () => {
    const { context, page } = await openPage(fixture.chromium.browser, { backend: 'cpu' });
    // Listening early: Playwright intercepts the picker only once a listener exists, and that
    // takes a round trip a keypress right after could beat.
    const chosen = page.waitForEvent('filechooser', { timeout: 120_000 });
    await waitReady(page);
    assert.equal(await page.getAttribute('#status', 'aria-live'), 'polite');
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement?.id === 'dropzone')) break;
    }
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'dropzone');
    await page.keyboard.press('Enter');
    const chooser = await chosen;
    assert.ok(chooser.isMultiple());
    await chooser.setFiles([POSTERS[0]]);
    await waitCards(page, 1);
    assert.ok((await cards(page))[0].done);
    await context.close();
  });

  test('a release year refines the scores as `onesheet classify --year` does; impossible years are refused', async () => {
    const { context, page } = await openPage(fixture.chromium.browser, { backend: 'cpu' });
    assert.equal(await waitReady(page), 'cpu');
    const name = basename(POSTERS[0]);
    const plain = classifyNatively([POSTERS[0]])[name];
    const dated = classifyNatively([POSTERS[0]], BUNDLE, ['--year', '1958'])[name];
    assert.ok(scoreGap(dated, plain) > 1e-3, 'the year moved no score');

    // The page's year box applies to the posters added after it is filled.
    await page.getByLabel('Release year, if known').fill('1958');
    await page.getByLabel('Choose poster images…').setInputFiles([POSTERS[0]]);
    await waitCards(page, 1);
    assert.match((await cards(page))[0].state, /refined for 1958/);
    const [row] = await downloadJson(page);
    assert.equal(row.year, 1958);
    assertSameScores(row, dated, CPU_TOLERANCE, 'year 1958');

    // The client API: a number or a numeric string; empty means none; nonsense is refused.
    const answers = await page.evaluate(async (bytes) => {
      const client = globalThis.onesheetClient;
      const blob = () => new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' });
      const attempt = (year) => client.classify(blob(), { year }).catch((e) => ({ error: e.message }));
      return {
        text: await attempt('1958'),
        empty: await attempt(''),
        rgba: await (async () => {
          const bitmap = await createImageBitmap(blob());
          const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
          canvas.getContext('2d').drawImage(bitmap, 0, 0);
          return client.classify(canvas.getContext('2d').getImageData(0, 0, bitmap.width, bitmap.height), { year: 1958 });
        })(),
        early: await attempt(1492),
        fraction: await attempt(1958.5),
        words: await attempt('nineteen fifty'),
      };
    }, bytesOf(POSTERS[0]));
    assert.equal(answers.text.year, 1958);
    assert.ok(scoreGap(answers.text, dated) <= CPU_TOLERANCE);
    assert.equal(answers.empty.year, undefined);
    assert.ok(scoreGap(answers.empty, plain) <= CPU_TOLERANCE);
    assert.equal(answers.rgba.year, 1958);
    assert.match(answers.early.error, /1492 is not a film's release year \(expected 1870 to 2100\)/);
    assert.match(answers.fraction.error, /1958.5 is not a year/);
    assert.match(answers.words.error, /`nineteen fifty` is not a year/);
    // The page still works after the refusals.
    await page.getByLabel('Release year, if known').fill('');
    await page.getByLabel('Choose poster images…').setInputFiles([POSTERS[0]]);
    await waitCards(page, 2);
    const rows = await downloadJson(page);
    assert.equal(rows[1].year, undefined);
    assertSameScores(rows[1], plain, CPU_TOLERANCE, 'no year');
    await context.close();
  });

  test('the client classifies canvas pixels like the same image as PNG; auto without WebGPU picks the CPU build', async () => {
    const { context, page, requests } = await openPage(fixture.chromium.browser, { backend: 'auto' });
    const backend = await waitReady(page);
    assert.equal(backend, 'cpu');
    const info = await page.evaluate(() => globalThis.onesheetClient.ready);
    assert.equal(info.selection.requested, 'auto');
    assert.match(info.selection.reason, /no WebGPU/);
    // A browser without WebGPU never downloads the WebGPU build.
    assert.equal(info.build, 'cpu');
    // Chromium has relaxed SIMD: the CPU build's FMA compilation, and only that one.
    assert.equal(info.simd, 'relaxed-simd');
    assert.match(info.downloads.wasm.url, /\/pkg\/onesheet_relaxed_bg\.wasm$/);
    assert.ok(requests.some((r) => r.url.endsWith('/pkg/onesheet_relaxed_bg.wasm')), 'the CPU build was fetched');
    assert.ok(!requests.some((r) => r.url.endsWith('/pkg/onesheet_bg.wasm')), 'both CPU compilations were fetched');
    assert.deepEqual(requests.filter((r) => r.url.includes('/pkg-webgpu/')), []);
    const { pixels, png } = await page.evaluate(async (bytes) => {
      const bitmap = await createImageBitmap(new Blob([new Uint8Array(bytes)]));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
      const client = globalThis.onesheetClient;
      return {
        pixels: await client.classify(data),
        png: await client.classify(await canvas.convertToBlob({ type: 'image/png' })),
      };
    }, bytesOf(POSTERS[0]));
    for (const genre of Object.keys(png.scores)) {
      assert.ok(Math.abs(pixels.scores[genre] - png.scores[genre]) <= 1e-6, genre);
    }

    // auto remembered the CPU; a remembered WebGPU that no longer loads (this browser has none)
    // is measured again, not trusted, and the new measurement is remembered instead.
    const stored = await page.evaluate(() => {
      const key = Object.keys(localStorage).find((k) => k.startsWith('onesheet:auto-backend:'));
      const choice = JSON.parse(localStorage.getItem(key));
      localStorage.setItem(key, JSON.stringify({ ...choice, backend: 'webgpu', reason: 'a stale choice' }));
      return choice;
    });
    assert.equal(stored.backend, 'cpu');
    await page.reload();
    assert.equal(await waitReady(page), 'cpu');
    const again = (await page.evaluate(() => globalThis.onesheetClient.ready)).selection;
    assert.equal(again.remembered, undefined);
    assert.match(again.reason, /no WebGPU/);
    const now = await page.evaluate(() => Object.entries(localStorage).find(([k]) => k.startsWith('onesheet:auto-backend:'))[1]);
    assert.equal(JSON.parse(now).backend, 'cpu');
    await context.close();
  });
});

describe('limits', () => {
  const ELSEWHERE = 'http://127.0.0.2:1/x.safetensors';

  test('?model= on another origin or with another scheme is refused, and nothing is fetched', async () => {
    const origin = new URL(fixture.server.url).origin;
    const refused = [
      ELSEWHERE,
      '//127.0.0.2:1/x.safetensors',
      `data:application/octet-stream;base64,${Buffer.from('not a bundle').toString('base64')}`,
      `blob:${origin}/00000000-0000-0000-0000-000000000000`,
      'file:///etc/hostname',
      'javascript:alert(1)',
    ];
    for (const model of refused) {
      const { context, page, requests } = await openPage(fixture.chromium.browser, { backend: 'cpu', model });
      const status = await waitRefused(page);
      assert.match(status, /refused to load the model from .*(only this site's own files|only http: and https: URLs)/, model);
      // A moment for anything that would still go out.
      await page.waitForTimeout(500);
      assert.equal(await page.evaluate(() => document.body.dataset.backend), undefined);
      assert.equal(page.workers().length, 0, `${model}: no worker was started`);
      assert.equal(await page.evaluate(() => globalThis.onesheetClient), null);
      for (const r of requests) {
        assert.ok(r.url.startsWith(`${origin}/`) || r.url === 'data:,', `${model}: a request to ${r.url.slice(0, 100)}`);
        assert.doesNotMatch(new URL(r.url).pathname, /\.(safetensors|wasm)$/, `${model}: ${r.url}`);
      }
      // A poster handed in anyway gets the reason, not a hang.
      await page.getByLabel('Choose poster images…').setInputFiles([POSTERS[0]]);
      await waitCards(page, 1);
      const [card] = await cards(page);
      assert.ok(card.failed, card.state);
      assert.match(card.state, /refused to load the model/);
      await context.close();
    }

    // The same site's bundle, named by an absolute URL, still loads and classifies.
    const { context, page, requests } = await openPage(fixture.chromium.browser, {
      backend: 'cpu',
      model: `${origin}/models/${basename(BUNDLE)}`,
    });
    assert.equal(await waitReady(page), 'cpu');
    await page.getByLabel('Choose poster images…').setInputFiles([POSTERS[0]]);
    await waitCards(page, 1);
    assert.ok((await cards(page))[0].done);
    for (const r of requests) assert.ok(r.url.startsWith(`${origin}/`) || r.url.startsWith('blob:') || r.url.startsWith('data:'), r.url);
    await context.close();
  });

  test('the client and the worker refuse other origins and schemes themselves', async () => {
    const origin = new URL(fixture.server.url).origin;
    const { context, page, requests } = await openPage(fixture.chromium.browser, { backend: 'cpu' });
    await waitReady(page);
    const outcome = await page.evaluate(async ({ elsewhere, bundle }) => {
      const { OnesheetClient } = await import('/lib/client.js');
      const client = new OnesheetClient({ model: elsewhere, backend: 'cpu' });
      const statuses = [];
      client.addEventListener('status', ({ detail }) => statuses.push(detail));
      const ready = await client.ready.then(() => 'ready', (e) => e.message);
      const classify = await client.classify(new Uint8Array(4)).then(() => 'classified', (e) => e.message);
      await new Promise((r) => setTimeout(r, 50));
      // The worker, asked directly, as a face that bypassed the client would.
      const ask = (message) =>
        new Promise((resolve) => {
          const worker = new Worker('/lib/worker.js', { type: 'module' });
          worker.onmessage = ({ data }) => {
            if (data.type !== 'result' && data.type !== 'error') return;
            worker.terminate();
            resolve(data.type === 'result' ? 'loaded' : data.message);
          };
          worker.postMessage({ id: 1, type: 'load', backend: 'cpu', ...message });
        });
      const wasmUrl = new URL('/pkg/onesheet_bg.wasm', location.href).href;
      return {
        ready,
        classify,
        statuses,
        crossModel: await ask({ wasmUrl, modelUrl: elsewhere }),
        crossWasm: await ask({ wasmUrl: 'http://127.0.0.2:1/onesheet_bg.wasm', modelUrl: bundle }),
        // allowCrossOrigin allows other origins, never other schemes.
        dataModel: await ask({ wasmUrl, modelUrl: 'data:application/octet-stream;base64,AAAA', allowCrossOrigin: true }),
      };
    }, { elsewhere: ELSEWHERE, bundle: `${origin}/models/${basename(BUNDLE)}` });
    assert.match(outcome.ready, /refused to load the model from http:\/\/127\.0\.0\.2:1: only this site's own files/);
    assert.equal(outcome.classify, outcome.ready);
    assert.deepEqual(outcome.statuses, [{ phase: 'failed', message: outcome.ready }]);
    assert.match(outcome.crossModel, /refused to load the model from http:\/\/127\.0\.0\.2:1/);
    assert.match(outcome.crossWasm, /refused to load the WebAssembly module from http:\/\/127\.0\.0\.2:1/);
    assert.match(outcome.dataModel, /only http: and https: URLs are allowed/);
    for (const r of requests) assert.ok(r.url.startsWith(`${origin}/`) || r.url.startsWith('data:,'), r.url);
    // Only the page's own load fetched anything: the refusals come before any download.
    assert.equal(await downloads(requests, '_bg.wasm'), 1);
    assert.equal(await downloads(requests, basename(BUNDLE)), 1);
    await context.close();
  });

  test('a bundle over 64 MiB is refused, and not cached', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'onesheet-big-model-'));
    const big = join(folder, 'big.safetensors');
    writeFileSync(big, '');
    truncateSync(big, 65 * MiB);
    const other = await serveOnesheet({ models: folder });
    try {
      const { context, page } = await openPage(fixture.chromium.browser, { backend: 'cpu', model: '/models/big.safetensors' }, { url: other.url });
      const status = await waitRefused(page);
      assert.match(status, /the model is 65\.0 MiB, over the 64\.0 MiB limit/);
      const cached = await page.evaluate(async () => {
        const urls = [];
        for (const name of await caches.keys()) {
          for (const request of await (await caches.open(name)).keys()) urls.push(request.url);
        }
        return urls;
      });
      assert.ok(!cached.some((url) => url.endsWith('/big.safetensors')), cached.join('\n'));
      await context.close();
    } finally {
      other.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('files are read a few at a time; one over 64 MiB is refused without being read', async () => {
    const { context, page } = await openPage(fixture.chromium.browser, { backend: 'cpu' }, { probe: true });
    await waitReady(page);
    const files = await page.evaluateHandle(async (bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(65 * 1024 * 1024)], 'huge-scan.jpg', { type: 'image/jpeg' }));
      transfer.items.add(new File([new Uint8Array(bytes)], 'poster.jpg', { type: 'image/jpeg' }));
      return transfer;
    }, bytesOf(POSTERS[0]));
    await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: files });
    await waitCards(page, 2);
    const [huge, small] = await cards(page);
    assert.ok(huge.failed, huge.state);
    assert.match(huge.state, /the file is 65\.0 MiB; the limit is 64\.0 MiB \(it was not read\)/);
    assert.ok(small.done, small.state);
    const probe = await page.evaluate(() => window.probe);
    const touched = [...probe.reads, ...probe.objectUrls].filter((x) => x.size > 64 * MiB);
    assert.deepEqual(touched, [], 'the big file was neither read nor previewed');
    assert.deepEqual(probe.posted.map((p) => p.bytes), [statSync(POSTERS[0]).size]);
    assert.equal(await page.locator('#posters > li:first-child img').count(), 0);

    // Many at once: each row shows at once, but at most one file per worker and one more are
    // with the model at a time, and every worker takes its share (once they have all started:
    // the others load after the first is ready).
    await page.click('#clear');
    await page.waitForFunction(() => globalThis.onesheetClient.workers === Math.min(4, navigator.hardwareConcurrency));
    const six = readdirSync(dirname(POSTERS[0])).filter((n) => n.endsWith('.jpg')).sort().slice(0, 6).map((n) => join(dirname(POSTERS[0]), n));
    await page.getByLabel('Choose poster images…').setInputFiles(six);
    assert.equal(await page.locator('#posters > li').count(), 6);
    await waitCards(page, 6);
    const shown = await cards(page);
    assert.deepEqual(shown.map((c) => c.name), six.map((p) => basename(p)));
    assert.ok(shown.every((c) => c.done), JSON.stringify(shown.map((c) => c.state)));
    const after = await page.evaluate(() => window.probe);
    const { workers, cores } = await page.evaluate(() => ({
      workers: globalThis.onesheetClient.workers,
      cores: navigator.hardwareConcurrency,
    }));
    assert.equal(workers, Math.min(4, cores));
    assert.ok(after.maxOutstanding <= workers + 1, `${after.maxOutstanding} posters were with the model at once`);
    const answering = after.answeredBy.filter((n) => n > 0).length;
    assert.equal(answering, workers, `classify answers per worker: ${after.answeredBy}`);
    assert.match(await page.textContent('#summary'), new RegExp(`[\\d.]+ posters/s with ${workers} workers?`));
    assert.equal(after.posted.length, 7);
    const posterReads = after.reads.filter((r) => six.some((p) => basename(p) === r.name));
    assert.equal(posterReads.length, 6, 'each file read once');
    await context.close();
  });

  test('Clear cancels the posters still waiting; the page goes on normally', async () => {
    const { context, page } = await openPage(fixture.chromium.browser, { backend: 'cpu' }, { probe: true });
    await waitReady(page);
    const folder = dirname(POSTERS[0]);
    const six = readdirSync(folder).filter((n) => n.endsWith('.jpg')).sort().slice(10, 16).map((n) => join(folder, n));
    await page.getByLabel('Choose poster images…').setInputFiles(six);
    // Right away, in the page: no round trip between the drop and the click. The page reads
    // one poster more than it has workers ready, and a second worker may be ready by now.
    const { postedAtClear, workers } = await page.evaluate(() => {
      document.getElementById('clear').click();
      window.probe.announced.length = 0;
      return { postedAtClear: window.probe.posted.length, workers: window.onesheetClient.workers };
    });
    const readLimit = workers + 1;
    assert.ok(postedAtClear <= readLimit, `${postedAtClear} posters were handed over before Clear (${workers} workers)`);
    // Until the model has answered everything it was given, and a while longer.
    await page.waitForFunction(() => window.probe.outstanding === 0, null, { timeout: 60_000 });
    await page.waitForTimeout(1000);
    const probe = await page.evaluate(() => window.probe);
    assert.equal(probe.posted.length, postedAtClear, 'nothing was handed to the model after Clear');
    assert.equal(await page.locator('#posters > li').count(), 0, 'no rows came back');
    assert.equal(await page.textContent('#summary'), '');
    assert.ok(await page.isDisabled('#clear'));
    const names = six.map((p) => basename(p, '.jpg'));
    for (const text of probe.announced) {
      assert.ok(!names.some((n) => text.includes(n)), `announced after Clear: ${text}`);
    }
    const reads = probe.reads.filter((r) => six.some((p) => basename(p) === r.name));
    assert.ok(reads.length <= readLimit, `${reads.length} of the cleared files were read (${workers} workers)`);

    // The next poster is classified as usual, alone.
    await page.getByLabel('Choose poster images…').setInputFiles([POSTERS[1]]);
    await waitCards(page, 1);
    const shown = await cards(page);
    assert.equal(shown.length, 1);
    assert.equal(shown[0].name, basename(POSTERS[1]));
    assert.ok(shown[0].done, shown[0].state);
    assert.match(await page.textContent('#summary'), /^1 classified; \d+ ms per poster/);
    const [row] = await downloadJson(page);
    assertSameScores(row, classifyNatively([POSTERS[1]])[basename(POSTERS[1])], CPU_TOLERANCE, 'after clear');
    await context.close();
  });
});

describe('WebGPU backend (SwiftShader)', () => {
  let gpu;
  before(async () => {
    gpu = await launch({ webgpu: true });
  });
  after(async () => {
    await gpu?.close();
  });

  test('a picked poster matches `onesheet classify` on WebGPU', async () => {
    const { context, page } = await openPage(gpu.browser, { backend: 'webgpu' });
    assert.equal(await waitReady(page), 'webgpu');
    assert.match(await page.textContent('#backend-info'), /GPU/);
    await page.getByLabel('Choose poster images…').setInputFiles([POSTERS[0]]);
    await waitCards(page, 1);
    const [card] = await cards(page);
    assert.equal(card.backend, 'webgpu');
    assert.match(card.state, /on the GPU/);
    const [row] = await downloadJson(page);
    assert.equal(row.backend, 'webgpu');
    assertSameScores(row, classifyNatively([POSTERS[0]])[basename(POSTERS[0])], WEBGPU_TOLERANCE, 'webgpu');
    await page.screenshot({ path: join(ARTIFACTS, 'drop-page-webgpu.png'), fullPage: true });
    await context.close();
  });

  test('auto tries both backends and keeps the faster one on the warm-up', async () => {
    const { context, page, requests } = await openPage(gpu.browser, { backend: 'auto' });
    const backend = await waitReady(page);
    const { selection, build } = await page.evaluate(() => globalThis.onesheetClient.ready);
    // Comparing needs the WebGPU build (it runs both); the CPU build is not fetched besides.
    assert.equal(build, 'webgpu');
    assert.ok(requests.some((r) => r.url.endsWith('/pkg-webgpu/onesheet_bg.wasm')));
    assert.ok(!requests.some((r) => /\/pkg\/onesheet(_relaxed)?_bg\.wasm$/.test(r.url)));
    console.log(`auto: ${selection.reason}`);
    assert.equal(selection.requested, 'auto');
    const { cpu, webgpu } = selection.trials;
    assert.ok(cpu.warmMs > 0 && webgpu.warmMs > 0, JSON.stringify(selection));
    assert.equal(backend, webgpu.warmMs < cpu.warmMs ? 'webgpu' : 'cpu');
    assert.equal(selection.backend, backend);
    assert.equal(selection.remembered, undefined);

    // The next visit loads the winner alone: auto's choice is remembered per browser and model,
    // and a remembered CPU needs only the CPU build. (Once this visit's other workers have
    // loaded theirs: they follow the first worker's build.)
    await page.waitForFunction(() => globalThis.onesheetClient.workers === Math.min(4, navigator.hardwareConcurrency));
    requests.length = 0;
    await page.reload();
    assert.equal(await waitReady(page), backend);
    const reloaded = await page.evaluate(() => globalThis.onesheetClient.ready);
    assert.equal(reloaded.build, backend);
    if (backend === 'cpu') assert.deepEqual(requests.filter((r) => r.url.includes('/pkg-webgpu/')), []);
    const again = reloaded.selection;
    console.log(`auto, next visit: ${again.reason}`);
    assert.equal(again.requested, 'auto');
    assert.equal(again.remembered, true);
    assert.match(again.reason, /^remembered from \d{4}-\d\d-\d\d: /);
    assert.deepEqual(Object.keys(again.trials), [], 'no trials: the winner is loaded alone');

    await context.close();
  });

  test('auto with WebGPU but no WebGPU build on the server runs on the CPU and does not remember it', async () => {
    const { context, page } = await fixture.open(`${fixture.server.url}/shop-demo.html`, { browser: gpu.browser });
    const outcome = await page.evaluate(async (model) => {
      const { OnesheetClient } = await import('/lib/client.js');
      // As while scripts/serve.sh is still building it, or a server that never had it.
      const client = new OnesheetClient({ model, backend: 'auto', webgpuWasm: '/pkg-webgpu/missing_bg.wasm' });
      try {
        const { backend, build, selection } = await client.ready;
        const remembered = Object.keys(localStorage).filter((k) => k.startsWith('onesheet:auto-backend:'));
        return { backend, build, selection, remembered };
      } finally {
        client.terminate();
      }
    }, `/models/${basename(BUNDLE)}`);
    assert.equal(outcome.backend, 'cpu');
    assert.equal(outcome.build, 'cpu');
    assert.match(outcome.selection.reason, /no WebGPU: the WebGPU build could not be loaded \(.*HTTP 404/);
    assert.equal(outcome.selection.provisional, true);
    assert.deepEqual(outcome.remembered, [], 'a missing build is not a measured choice');
    await context.close();
  });
});
