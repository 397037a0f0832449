// The shop widget (<onesheet-classifier>) in real headless Chromium: on the demo shop's form it
// ticks exactly the genres `onesheet classify` gives, with the same scores; several widgets
// share one worker and one download; removing the last frees the worker; a bad file fails
// alone; form-field fills only fields that hold text or choices; and a shop page on another origin, under a strict CSP, loads it straight from
// `onesheet serve` and classifies, with no request but the widget's own files.
import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename, join, resolve } from 'node:path';
import {
  ARTIFACTS,
  BUNDLE,
  SHARED,
  browserFixture,
  classifyNatively,
  nthEvent,
  scoreGap,
  serveOnesheet,
} from './harness.mjs';

const POSTERS = ['tt0111161', 'tt0079285'].map((id) => resolve(SHARED, `data/posters/images/${id}.jpg`));
const TOLERANCE = 1e-4;
/** What the widget may fetch: its own scripts, the wasm build and the model. */
const WIDGET_FILES = /^\/(widget\/onesheet-classifier\.js|lib\/[a-z-]+\.js|pkg\/onesheet(\.js|(_relaxed)?_bg\.wasm)|models\/onesheet\.safetensors)$/;

let native;

const fixture = browserFixture({
  name: 'widget',
  // The widget's default model is /models/onesheet.safetensors: here, the test bundle.
  serve: (scratch) => {
    mkdirSync(join(scratch, 'models'));
    copyFileSync(BUNDLE, join(scratch, 'models/onesheet.safetensors'));
    return serveOnesheet({ models: join(scratch, 'models') });
  },
});

before(() => {
  native = classifyNatively(POSTERS);
});

/**
 * A fresh context and page at `url`; every request (the page's and its workers') is logged,
 * and every CSP violation the page meets is kept in `window.violations`.
 */
function open(url) {
  return fixture.open(url, {
    init: (page) =>
      page.addInitScript(() => {
        window.violations = [];
        document.addEventListener('securitypolicyviolation', (e) => window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));
      }),
  });
}

function assertMatchesNative(detail, file) {
  const expected = native[basename(file)];
  assert.equal(detail.file, basename(file));
  const gap = scoreGap(detail, expected);
  console.log(`${basename(file)}: max |widget − CLI| = ${gap.toExponential(2)}`);
  assert.ok(gap <= TOLERANCE, `scores differ by ${gap}`);
  assert.deepEqual(detail.genres, expected.genres);
  assert.deepEqual(Object.keys(detail.scores), Object.keys(expected.scores), 'the model order');
}

describe('the shop widget', () => {
  test('on the demo shop, a poster ticks exactly the CLI genres, and the seller can change them', async () => {
    const { context, page, requests } = await open(`${fixture.server.url}/shop-demo.html`);
    const input = page.locator('onesheet-classifier input[type=file]');
    await input.setInputFiles(POSTERS[0]);
    const event = await nthEvent(page, 1);
    assert.equal(event.type, 'onesheet-genres');
    assertMatchesNative(event.detail, POSTERS[0]);

    const ticked = await page.$$eval('input[name=genres]:checked', (boxes) => boxes.map((b) => b.value));
    assert.deepEqual(ticked.sort(), [...native[basename(POSTERS[0])].genres].sort());
    // The widget shows at most max-genres rows, best first, in its shadow root.
    const rows = await page.locator('onesheet-classifier li[data-genre]').evaluateAll((lis) => lis.map((li) => li.dataset.genre));
    const best = Object.entries(event.detail.scores).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([g]) => g);
    assert.deepEqual(rows, best);
    const live = await page.locator('onesheet-classifier [role=status]').textContent();
    assert.match(live, new RegExp(basename(POSTERS[0])));

    // The seller overrides a suggestion; the form keeps it.
    const box = page.locator('input[name=genres][value=Western]');
    const before = await box.isChecked();
    await box.setChecked(!before);
    assert.equal(await box.isChecked(), !before);

    // The element's method gives the same detail as the event.
    const again = await page.locator('onesheet-classifier').evaluate(async (el, bytes) => {
      const blob = new File([new Uint8Array(bytes)], 'again.jpg', { type: 'image/jpeg' });
      return el.classify(blob);
    }, [...readFileSync(POSTERS[1])]);
    assertMatchesNative({ ...again, file: basename(POSTERS[1]) }, POSTERS[1]);
    assert.equal(again.file, 'again.jpg');

    // A shop that knows the film's year says so with the `year` attribute: the scores are the
    // CLI's with `--year`; an impossible year is an error event, and removing it goes back.
    const withYear = classifyNatively([POSTERS[1]], BUNDLE, ['--year', '1931'])[basename(POSTERS[1])];
    assert.ok(scoreGap(withYear, native[basename(POSTERS[1])]) > 1e-3, 'the year moved no score');
    const classifyWith = (year) =>
      page.locator('onesheet-classifier').evaluate(async (el, [bytes, year]) => {
        if (year === null) el.removeAttribute('year');
        else el.setAttribute('year', year);
        const blob = new File([new Uint8Array(bytes)], 'dated.jpg', { type: 'image/jpeg' });
        return el.classify(blob).catch((e) => ({ error: e.message }));
      }, [[...readFileSync(POSTERS[1])], year]);
    const dated = await classifyWith('1931');
    const gap = scoreGap(dated, withYear);
    console.log(`year 1931: max |widget − CLI --year| = ${gap.toExponential(2)}`);
    assert.ok(gap <= TOLERANCE, `scores differ by ${gap}`);
    assert.deepEqual(dated.genres, withYear.genres);
    assert.match((await classifyWith('1492')).error, /1492 is not a film's release year/);
    assert.ok(scoreGap(await classifyWith(null), native[basename(POSTERS[1])]) <= TOLERANCE);

    await page.screenshot({ path: join(ARTIFACTS, 'widget-shop-demo.png'), fullPage: true });
    // Host styles do not reach into the widget, and its styles do not leak out.
    const styles = await page.evaluate(() => {
      const widget = document.querySelector('onesheet-classifier');
      const button = widget.shadowRoot.querySelector('button');
      const hostButton = document.querySelector('button[type=submit]');
      return {
        inside: getComputedStyle(button).fontFamily,
        hostLabel: getComputedStyle(document.querySelector('.genres label')).display,
        hostButtonRadius: getComputedStyle(hostButton).borderRadius,
      };
    });
    assert.doesNotMatch(styles.inside, /Georgia/, 'the shop font leaked into the widget');
    assert.equal(styles.hostButtonRadius, '0px', 'the widget styled the host button');

    for (const { url: href, method } of requests) {
      const url = new URL(href);
      assert.equal(url.origin, fixture.server.url, `a request left the server: ${url}`);
      assert.ok(method === 'GET' || method === 'HEAD', `${method} ${url}`);
      assert.ok(
        WIDGET_FILES.test(url.pathname) || /^\/shop-demo\.(html|css|js)$/.test(url.pathname),
        `not the widget's own file: ${url.pathname}`,
      );
    }
    await context.close();
  });

  test('two widgets share one worker and one download; the last one removed frees it', async () => {
    const { context, page, requests } = await open(`${fixture.server.url}/shop-demo.html`);
    await page.evaluate(() => {
      const second = document.createElement('onesheet-classifier');
      second.id = 'second';
      document.body.append(second);
    });
    await page.locator('#second input[type=file]').setInputFiles(POSTERS[1]);
    const event = await nthEvent(page, 1);
    assert.equal(event.target, 'second');
    assertMatchesNative(event.detail, POSTERS[1]);
    await page.locator('onesheet-classifier:not(#second) input[type=file]').setInputFiles(POSTERS[0]);
    assertMatchesNative((await nthEvent(page, 2)).detail, POSTERS[0]);
    const gets = (path) => requests.filter((r) => r.method === 'GET' && new URL(r.url).pathname === path).length;
    assert.equal(gets('/models/onesheet.safetensors'), 1, 'the model was downloaded more than once');
    // Chromium runs the CPU build's relaxed-SIMD compilation, and fetches only that one.
    assert.equal(gets('/pkg/onesheet_relaxed_bg.wasm'), 1, 'the wasm was downloaded more than once');
    assert.equal(gets('/pkg/onesheet_bg.wasm'), 0, 'both CPU compilations were downloaded');
    assert.equal(page.workers().length, 1, 'one model worker for both widgets');

    // Remove both: the worker goes. Re-add one: a fresh worker, and it works.
    const widgets = await page.evaluate(() => {
      const all = [...document.querySelectorAll('onesheet-classifier')];
      for (const el of all) el.remove();
      window.removed = all;
      return all.length;
    });
    assert.equal(widgets, 2);
    await waitFor(() => page.workers().length === 0, 'the worker was not freed');
    await page.evaluate(() => document.querySelector('form .field:nth-of-type(3)').append(window.removed[0]));
    await page.locator('onesheet-classifier input[type=file]').setInputFiles(POSTERS[1]);
    assertMatchesNative((await nthEvent(page, 3)).detail, POSTERS[1]);
    assert.equal(page.workers().length, 1);
    await context.close();
  });

  test('a bad file raises onesheet-error, and the next poster works, chosen from the keyboard', async () => {
    const { context, page } = await open(`${fixture.server.url}/shop-demo.html`);
    // Listening from the start: Playwright intercepts file choosers only once it listens, and
    // turning that on as Enter is pressed can lose the race.
    const chooserOpened = page.waitForEvent('filechooser', { timeout: 60_000 });
    const input = page.locator('onesheet-classifier input[type=file]');
    await input.setInputFiles({ name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not an image at all') });
    const error = await nthEvent(page, 1);
    assert.equal(error.type, 'onesheet-error');
    assert.equal(error.detail.file, 'notes.jpg');
    assert.ok(error.detail.message.length > 0);
    const status = await page.locator('onesheet-classifier [role=status]').textContent();
    assert.match(status, /Could not classify notes\.jpg/);
    await page.screenshot({ path: join(ARTIFACTS, 'widget-error.png') });
    // Keyboard: Tab reaches the drop zone, Enter opens the file picker, and the poster chosen
    // there is classified like any other.
    const dropzone = page.locator('onesheet-classifier [part=dropzone]');
    await dropzone.focus();
    assert.equal(await page.evaluate(() => document.querySelector('onesheet-classifier').shadowRoot.activeElement?.getAttribute('part')), 'dropzone');
    await page.keyboard.press('Enter');
    const chooser = await chooserOpened;
    await chooser.setFiles(POSTERS[0]);
    const ok = await nthEvent(page, 2);
    assert.equal(ok.type, 'onesheet-genres');
    assertMatchesNative(ok.detail, POSTERS[0]);
    await context.close();
  });

  test('form-field fills text and choices only: a file input and buttons of that name are left alone', async () => {
    // A shop whose form reuses the field's name on a file input and on buttons (the order puts
    // the buttons first, so they are met before the file input). Outside any form, a second
    // widget names a file input and a hidden input.
    const genres = Object.keys(native[basename(POSTERS[0])].scores);
    const boxes = genres.map((g) => `<label><input type="checkbox" name="genres" value="${g}"> ${g}</label>`).join('');
    const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A shop</title>
<link rel="icon" href="data:,">
<script type="module" src="${fixture.server.url}/widget/onesheet-classifier.js"></script></head>
<body><form id="listing">
<input type="text" name="genres" id="text"><textarea name="genres" id="notes"></textarea>${boxes}
<input type="submit" name="genres" id="submit" value="Save listing">
<input type="button" name="genres" id="button" value="Preview">
<input type="reset" name="genres" id="reset" value="Start again">
<input type="image" name="genres" id="image" alt="Go" value="go">
<input type="file" name="genres" id="file">
<onesheet-classifier id="in-form" form-field="genres"></onesheet-classifier></form>
<input type="file" name="upload" id="upload"><input type="hidden" name="upload" id="hidden">
<onesheet-classifier id="outside" form-field="upload"></onesheet-classifier></body></html>`;
    const shop = await serveShop(html);
    try {
      const { context, page } = await open(`${shop.url}/`);
      await page.locator('#in-form input[type=file]').setInputFiles(POSTERS[0]);
      const event = await nthEvent(page, 1);
      assert.equal(event.type, 'onesheet-genres', JSON.stringify(event.detail));
      assert.equal(event.target, 'in-form');
      assertMatchesNative(event.detail, POSTERS[0]);
      const expected = native[basename(POSTERS[0])].genres;
      assert.equal(await page.inputValue('#text'), expected.join(', '));
      assert.equal(await page.inputValue('#notes'), expected.join(', '));
      const ticked = await page.$$eval('input[type=checkbox]:checked', (all) => all.map((b) => b.value));
      assert.deepEqual(ticked.sort(), [...expected].sort());
      const untouched = await page.evaluate(() =>
        Object.fromEntries(['submit', 'button', 'reset', 'image'].map((id) => [id, document.getElementById(id).value])),
      );
      assert.deepEqual(untouched, { submit: 'Save listing', button: 'Preview', reset: 'Start again', image: 'go' });
      assert.equal(await page.evaluate(() => document.getElementById('file').files.length), 0);
      const status = page.locator('#in-form [role=status]');
      assert.doesNotMatch(await status.textContent(), /Could not classify/);

      // Outside a form: the document's fields of that name, by the element's own method.
      const outside = await page.locator('#outside').evaluate(async (el, bytes) => {
        const blob = new File([new Uint8Array(bytes)], 'outside.jpg', { type: 'image/jpeg' });
        return el.classify(blob).catch((e) => ({ error: e.message }));
      }, [...readFileSync(POSTERS[0])]);
      assert.equal(outside.error, undefined, outside.error);
      assert.deepEqual(outside.genres, expected);
      assert.equal(await page.inputValue('#hidden'), expected.join(', '));
      assert.equal(await page.evaluate(() => document.getElementById('upload').files.length), 0);
      assert.deepEqual(
        (await page.evaluate(() => window.events)).map((e) => `${e.type} ${e.target}`),
        ['onesheet-genres in-form', 'onesheet-genres outside'],
      );
      await context.close();
    } finally {
      shop.close();
    }
  });

  test('a shop page on another origin with a strict CSP loads the widget cross-origin', async () => {
    // The shop: its own server, on another port (another origin), allowing scripts only from
    // the onesheet server, wasm compilation, a blob: worker whose imports come from the
    // onesheet server (a module worker's imports are checked against worker-src), and fetches
    // to the onesheet server.
    const csp = [
      "default-src 'none'",
      `script-src ${fixture.server.url} 'wasm-unsafe-eval'`,
      `worker-src blob: ${fixture.server.url}`,
      `connect-src ${fixture.server.url}`,
      "style-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
    ].join('; ');
    const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A shop</title>
<script type="module" src="${fixture.server.url}/widget/onesheet-classifier.js"></script></head>
<body><h1>Another shop</h1><form><input type="hidden" name="tags" id="tags">
<onesheet-classifier form-field="tags" max-genres="3"></onesheet-classifier></form></body></html>`;
    const shop = await serveShop(html, { 'content-security-policy': csp });
    const shopUrl = shop.url;
    try {
      const { context, page, requests } = await open(`${shopUrl}/`);
      await page.locator('onesheet-classifier input[type=file]').setInputFiles(POSTERS[1]);
      const event = await nthEvent(page, 1);
      assert.equal(event.type, 'onesheet-genres', JSON.stringify(event.detail));
      assertMatchesNative(event.detail, POSTERS[1]);
      assert.equal(await page.inputValue('#tags'), native[basename(POSTERS[1])].genres.join(', '));
      assert.deepEqual(await page.evaluate(() => window.violations), [], 'CSP violations');
      await page.screenshot({ path: join(ARTIFACTS, 'widget-cross-origin.png') });
      for (const { url: href, method } of requests) {
        const url = new URL(href);
        // The worker's one-line starter module: made in the page, not fetched from anywhere.
        if (url.protocol === 'blob:') continue;
        if (url.origin === shopUrl) {
          assert.equal(url.pathname, '/', `the shop page asked for ${url}`);
          continue;
        }
        assert.equal(url.origin, fixture.server.url, `a request left for ${url}`);
        assert.ok(method === 'GET' || method === 'HEAD', `${method} ${url}`);
        assert.match(url.pathname, WIDGET_FILES);
      }
      await context.close();
    } finally {
      shop.close();
    }
  });
});

/** A shop's own server on another loopback port (another origin) with one page at `/`. */
async function serveShop(html, headers = {}) {
  const shop = createServer((request, response) => {
    if (request.url !== '/') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...headers });
    response.end(html);
  });
  await new Promise((done) => shop.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${shop.address().port}`, close: () => shop.close() };
}

async function waitFor(condition, message, timeout = 10_000) {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeout) assert.fail(message);
    await new Promise((done) => setTimeout(done, 50));
  }
}
