// The gallery kiosk in real headless Chromium, served by the `onesheet-kiosk` binary copied alone
// to an empty folder (page, wasm and shipped model inside it): loaded once, it
// works offline, reload included; a sample poster gives the CLI's scores; the idle reset
// returns to the attract screen; Chromium's fake camera feeds a frame through the capture path
// to a result; a denied camera says so and the samples still work; an update is all or nothing
// (a storage that refuses it, or files that move on the server mid-update, never leave the
// kiosk with a new script beside an old wasm or model).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { spawnSync } from 'node:child_process';
import { basename, dirname, join, resolve } from 'node:path';
import {
  ARTIFACTS,
  BUNDLE,
  ONESHEET,
  ROOT,
  SHARED,
  browserFixture,
  classifyNatively,
  launch,
  nthEvent,
  scoreGap,
  serveOnesheet,
  startServer,
} from './harness.mjs';

// Sorted by name, as the kiosk lists them.
const SAMPLES = ['tt0080339', 'tt0111161'].map((id) => resolve(SHARED, `data/posters/images/${id}.jpg`));
const SHIPPED_MODEL = resolve(ROOT, 'models/onesheet.safetensors');
const TOLERANCE = 1e-4;
/** The kiosk's own binary, beside the onesheet CLI. */
const KIOSK = join(dirname(ONESHEET), 'onesheet-kiosk');

// Nothing but the binary (and the sample posters) in the folder it runs from.
const fixture = browserFixture({
  name: 'kiosk',
  serve: async (scratch) => {
    const bin = join(scratch, 'bin');
    mkdirSync(bin);
    copyFileSync(KIOSK, join(bin, 'onesheet-kiosk'));
    const samples = join(scratch, 'samples');
    mkdirSync(samples);
    for (const file of SAMPLES) copyFileSync(file, join(samples, basename(file)));
    const kiosk = await startServer(join(bin, 'onesheet-kiosk'), ['--port', '0', '--samples', samples], { cwd: bin });
    console.log(`kiosk binary: ${(statSync(join(bin, 'onesheet-kiosk')).size / 1e6).toFixed(1)} MB`);
    return kiosk;
  },
  browser: { extraArgs: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'] },
});

/** The kiosk with `query`, in a fresh context the size of a kiosk's screen on `browser`. */
function open(query = '', { browser } = {}) {
  return fixture.open(`${fixture.server.url}/${query}`, {
    browser,
    contextOptions: { viewport: { width: 1080, height: 1600 } },
    label: 'kiosk',
  });
}

function assertMatchesCli(detail, file) {
  const expected = classifyNatively([file], SHIPPED_MODEL)[basename(file)];
  assert.equal(detail.file, basename(file));
  const gap = scoreGap(detail, expected);
  console.log(`${basename(file)}: max |kiosk − CLI| = ${gap.toExponential(2)}`);
  assert.ok(gap <= TOLERANCE, `scores differ by ${gap}`);
  assert.deepEqual(detail.genres, expected.genres);
}

describe('the gallery kiosk', () => {
  test('loaded once, it works offline (reload included) and classifies a sample like the CLI', async () => {
    const { context, page } = await open('?idle=600');
    await page.waitForFunction(() => document.body.dataset.offlineReady === 'true', null, { timeout: 120_000 });
    await page.evaluate(() => window.onesheetClient.ready);
    await page.screenshot({ path: join(ARTIFACTS, 'kiosk-attract.png') });
    // Installable: a manifest that opens the kiosk full screen, with an icon.
    const manifest = await page.evaluate(async () => {
      const link = document.querySelector('link[rel=manifest]');
      return (await fetch(link.href)).json();
    });
    assert.equal(manifest.display, 'fullscreen');
    assert.equal(new URL(manifest.start_url, `${fixture.server.url}/`).href, `${fixture.server.url}/`);
    assert.ok(manifest.icons.length > 0);

    await context.setOffline(true);
    await page.reload();
    await page.click('#start');
    await page.evaluate(() => window.onesheetClient.ready);
    const sample = page.locator('[data-sample]').first();
    assert.equal(await page.locator('[data-sample]').count(), SAMPLES.length);
    assert.equal(await sample.getAttribute('data-sample'), basename(SAMPLES[0]));
    await sample.click();
    const event = await nthEvent(page, 1);
    assert.equal(event.type, 'onesheet-genres', JSON.stringify(event.detail));
    assertMatchesCli(event.detail, SAMPLES[0]);
    assert.ok(await page.locator('#result').isVisible());
    const shown = await page.locator('#genres li').allTextContents();
    assert.deepEqual(shown, event.detail.genres);
    await page.screenshot({ path: join(ARTIFACTS, 'kiosk-offline-result.png') });

    // Any other address on the kiosk, offline, still opens the kiosk: never a browser error.
    const other = await context.newPage();
    const response = await other.goto(`${fixture.server.url}/never-cached.html`);
    assert.equal(response.status(), 200);
    assert.ok(await other.locator('#attract').isVisible());
    await context.close();
  });

  test('a release year typed in the box refines the scores as `onesheet classify --year` does', async () => {
    const { context, page } = await open('?idle=600');
    await page.click('#start');
    await page.evaluate(() => window.onesheetClient.ready);
    const name = basename(SAMPLES[0]);
    const plain = classifyNatively([SAMPLES[0]], SHIPPED_MODEL)[name];
    const dated = classifyNatively([SAMPLES[0]], SHIPPED_MODEL, ['--year', '1958'])[name];
    assert.ok(scoreGap(dated, plain) > 1e-3, 'the year moved no score');

    await page.fill('#year', '1958');
    await page.locator('[data-sample]').first().click();
    const event = await nthEvent(page, 1);
    assert.equal(event.type, 'onesheet-genres', JSON.stringify(event.detail));
    const gap = scoreGap(event.detail, dated);
    console.log(`${name}, year 1958: max |kiosk − CLI| = ${gap.toExponential(2)}`);
    assert.ok(gap <= TOLERANCE, `scores differ by ${gap}`);
    assert.deepEqual(event.detail.genres, dated.genres);
    await context.close();
  });

  test('the idle reset returns to the attract screen', async () => {
    const { context, page } = await open('?idle=2');
    await page.click('#start');
    assert.ok(await page.locator('#main').isVisible());
    await page.waitForFunction(() => document.body.dataset.screen === 'attract', null, { timeout: 10_000 });
    assert.ok(await page.locator('#attract').isVisible());
    assert.ok(await page.locator('#main').isHidden());
    await context.close();
  });

  test("the fake camera's frame goes through the capture path to a result", async () => {
    const { context, page } = await open('?idle=600');
    await page.click('#start');
    await page.waitForFunction(() => document.body.dataset.camera === 'on', null, { timeout: 20_000 });
    await page.evaluate(() => window.onesheetClient.ready);
    await page.waitForFunction(() => document.getElementById('video').videoWidth > 0);
    await page.click('#capture');
    const event = await nthEvent(page, 1);
    assert.equal(event.type, 'onesheet-genres', JSON.stringify(event.detail));
    assert.equal(event.detail.file, 'camera');
    assert.equal(Object.keys(event.detail.scores).length, 19);
    for (const score of Object.values(event.detail.scores)) assert.ok(score >= 0 && score <= 1);
    await page.screenshot({ path: join(ARTIFACTS, 'kiosk-camera-result.png') });
    await context.close();
  });

  test('a denied camera says so, and the sample posters still work', async () => {
    // A browser with a camera but without the flag that accepts every permission prompt, and
    // the camera denied to the kiosk's origin: as a visitor who said no.
    const denying = await launch({ extraArgs: ['--use-fake-device-for-media-stream'] });
    const cdp = await denying.browser.newBrowserCDPSession();
    await cdp.send('Browser.setPermission', {
      permission: { name: 'camera' },
      setting: 'denied',
      origin: fixture.server.url,
    });
    const { page } = await open('?idle=600', { browser: denying.browser });
    await page.click('#start');
    const message = page.locator('#camera-message');
    await message.waitFor({ state: 'visible', timeout: 20_000 });
    assert.match(await message.textContent(), /not allowed/);
    assert.ok(await page.locator('#capture').isDisabled());
    await page.screenshot({ path: join(ARTIFACTS, 'kiosk-camera-denied.png') });
    await page.locator('[data-sample]').nth(1).click();
    const event = await nthEvent(page, 1);
    assert.equal(event.type, 'onesheet-genres', JSON.stringify(event.detail));
    assertMatchesCli(event.detail, SAMPLES[1]);
    await denying.close();
  });

  test('`onesheet kiosk` runs the kiosk binary beside it, and says how to build it when it is missing', async () => {
    const beside = await startServer(ONESHEET, ['kiosk', '--port', '0']);
    try {
      const page = await fetch(`${beside.url}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /onesheet kiosk/);
    } finally {
      beside.close();
    }
    const alone = join(fixture.scratch, 'alone');
    mkdirSync(alone);
    copyFileSync(ONESHEET, join(alone, 'onesheet'));
    const run = spawnSync(join(alone, 'onesheet'), ['kiosk', '--port', '0'], { encoding: 'utf8' });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /onesheet-kiosk is missing: build the kiosk with `cargo build -p onesheet-server --features kiosk`/);
  });

  test('a new model on the server replaces the cached one, and works offline after', async () => {
    // The kiosk under `onesheet serve`, whose models folder the test can change.
    const models = join(fixture.scratch, 'models');
    mkdirSync(models);
    copyFileSync(BUNDLE, join(models, 'onesheet.safetensors')); // untrained head
    const server = await serveOnesheet({ models });
    const context = await fixture.chromium.browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${server.url}/kiosk/?idle=600`);
      await page.waitForFunction(() => document.body.dataset.offlineReady === 'true', null, { timeout: 120_000 });
      assert.equal(await trained(page), false);

      // A new model lands on the server (written aside and renamed, as the trainer does).
      copyFileSync(SHIPPED_MODEL, join(models, 'next.tmp'));
      renameSync(join(models, 'next.tmp'), join(models, 'onesheet.safetensors'));
      await page.reload(); // the cached kiosk, which asks the service worker to refresh
      const deadline = Date.now() + 120_000;
      while (!(await trained(page).catch(() => false))) {
        assert.ok(Date.now() < deadline, 'the new model never replaced the cached one');
        await new Promise((done) => setTimeout(done, 500));
      }
      await context.setOffline(true);
      await page.reload();
      assert.equal(await trained(page), true, 'offline, the kiosk went back to the old model');
    } finally {
      await context.close();
      server.close();
    }
  });

  test('an update is all or nothing: a refused one keeps the old files and says why, and files moved mid-update are fetched again', async () => {
    // A copy of the kiosk's files the test can redeploy, under `onesheet serve`, behind a
    // loopback proxy that lets the test act between the service worker's requests.
    const www = join(fixture.scratch, 'www-update');
    // (index.html too: `onesheet serve` takes a folder as www/ only if it has one.)
    for (const file of ['kiosk', 'lib', 'pkg', 'index.html']) cpSync(resolve(ROOT, 'www', file), join(www, file), { recursive: true });
    const models = join(fixture.scratch, 'models-update');
    mkdirSync(models);
    copyFileSync(BUNDLE, join(models, 'onesheet.safetensors'));
    const server = await serveOnesheet({ models, www });
    const proxy = await proxyTo(server.url);
    const context = await fixture.chromium.browser.newContext();
    try {
      const page = await context.newPage();
      page.on('pageerror', (e) => console.log(`[kiosk error] ${e.message}`));
      await page.goto(`${proxy.url}/kiosk/?idle=600`);
      await page.waitForFunction(() => document.body.dataset.offlineReady === 'true', null, { timeout: 120_000 });
      // Away from the attract screen the page stays put when told of an update, so what the
      // service worker serves can be read the moment it switches.
      await page.click('#start');
      await page.evaluate(() => {
        window.workerMessages = [];
        navigator.serviceWorker.addEventListener('message', ({ data }) => window.workerMessages.push(data));
      });
      const before = await served(page);
      for (const path of UPDATED) assert.equal(before[path].cached, before[path].server, `${path} is not cached`);

      // A new script and model on the server, and a storage with room for the script alone.
      const cdp = await context.newCDPSession(page);
      const { usage } = await page.evaluate(() => navigator.storage.estimate());
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: proxy.url, quotaSize: usage + 1_000_000 });
      redeploy(join(www, 'pkg/onesheet.js'));
      redeploy(join(models, 'onesheet.safetensors'), SHIPPED_MODEL);
      await askToRefresh(page);
      const failure = await workerMessage(page, 'update-failed');
      assert.match(failure.message, /quota/i);
      assert.equal(await page.evaluate(() => document.body.dataset.updateError), failure.message);
      const kept = await served(page);
      for (const path of UPDATED) {
        assert.equal(kept[path].cached, before[path].cached, `${path}: the cache no longer serves the old one`);
      }
      assert.notEqual(kept['/pkg/onesheet.js'].server, before['/pkg/onesheet.js'].server, 'the script was not redeployed');
      assert.equal((await generations(page)).length, 1, 'the failed update left its files behind');

      // Room again, and a deploy that writes the wasm only once the service worker is
      // downloading the new script (the HEAD checks saw the old wasm): it must not pair them.
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: proxy.url });
      let wasmMoved = false;
      proxy.before('GET', '/pkg/onesheet.js', () => {
        redeploy(join(www, 'pkg/onesheet_relaxed_bg.wasm'));
        wasmMoved = true;
      });
      await askToRefresh(page);
      await workerMessage(page, 'updated');
      assert.ok(wasmMoved, 'the wasm was never redeployed mid-update');
      const after = await served(page);
      for (const path of UPDATED) {
        assert.equal(after[path].cached, after[path].server, `${path}: the update switched to a mismatched set`);
      }
      assert.notEqual(after['/pkg/onesheet_relaxed_bg.wasm'].cached, before['/pkg/onesheet_relaxed_bg.wasm'].cached);
      const scriptGets = proxy.requests.filter((r) => r === 'GET /pkg/onesheet.js').length;
      assert.ok(scriptGets >= 2, `the refresh was not tried again (${scriptGets} downloads of the script)`);
      assert.equal((await generations(page)).length, 1, 'the old generation was not deleted');
      assert.equal(await page.evaluate(() => document.body.dataset.updateError), undefined);
    } finally {
      await context.close();
      proxy.close();
      server.close();
    }
  });
});

/** Whether the model the kiosk loaded has a trained head (the shipped one) or not (the test one). */
async function trained(page) {
  await page.waitForFunction(() => window.onesheetClient, null, { timeout: 60_000 });
  return page.evaluate(() => window.onesheetClient.ready.then((info) => info.manifest.provenance.trained));
}

/** Files a deploy changes together: the wasm's script, the wasm Chromium runs, the model. */
const UPDATED = ['/pkg/onesheet.js', '/pkg/onesheet_relaxed_bg.wasm', '/models/onesheet.safetensors'];

/**
 * For each of `UPDATED`: the ETag of the copy the kiosk's service worker answers with, and of
 * the server's copy (a HEAD, which the service worker leaves to the network).
 */
function served(page) {
  return page.evaluate(async (paths) => {
    const out = {};
    for (const path of paths) {
      const cached = await fetch(path);
      await cached.body?.cancel();
      const server = await fetch(path, { method: 'HEAD', cache: 'no-store' });
      out[path] = { cached: cached.headers.get('etag'), server: server.headers.get('etag') };
    }
    return out;
  }, UPDATED);
}

/** Asks the service worker to refresh, as the kiosk's page does when it loads. */
function askToRefresh(page) {
  return page.evaluate(async () => {
    window.workerMessages.length = 0;
    (await navigator.serviceWorker.ready).active.postMessage({ type: 'refresh' });
  });
}

/** The first message of `type` the service worker sent the page since it was last asked. */
async function workerMessage(page, type) {
  await page.waitForFunction((t) => window.workerMessages.some((m) => m.type === t), type, { timeout: 120_000 });
  return page.evaluate((t) => window.workerMessages.find((m) => m.type === t), type);
}

/** The service worker's caches of kiosk files (each a complete generation, or one being built). */
function generations(page) {
  return page.evaluate(async () => (await caches.keys()).filter((name) => name.startsWith('onesheet-kiosk-gen-')));
}

/** Writes `file` anew (from `source`, else the same bytes) aside and renames it in: a new ETag. */
function redeploy(file, source = file) {
  copyFileSync(source, `${file}.next`);
  renameSync(`${file}.next`, file);
}

/**
 * A loopback proxy to `upstream` (another origin, so its own service worker): it logs each
 * request as `METHOD /path`, and `before(method, path, act)` runs `act` once, just before the
 * next such request is forwarded.
 */
async function proxyTo(upstream) {
  const target = new URL(upstream);
  const requests = [];
  const pending = [];
  const proxy = createServer((incoming, outgoing) => {
    const line = `${incoming.method} ${incoming.url}`;
    requests.push(line);
    const at = pending.findIndex((p) => p.line === line);
    if (at >= 0) pending.splice(at, 1)[0].act();
    const forward = httpRequest(
      { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: { ...incoming.headers, host: target.host } },
      (answer) => {
        outgoing.writeHead(answer.statusCode, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forward.on('error', () => outgoing.destroy());
    incoming.pipe(forward);
  });
  await new Promise((done) => proxy.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${proxy.address().port}`,
    requests,
    before: (method, path, act) => pending.push({ line: `${method} ${path}`, act }),
    close: () => proxy.close(),
  };
}
