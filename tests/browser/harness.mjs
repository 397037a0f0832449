// Shared by the browser tests: the real `onesheet serve` on loopback (the one static server
// every face and test uses) and Debian's Chromium, driven by playwright-core. No browser is
// ever downloaded.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';
import { chromiumArgs } from './chromium-flags.mjs';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SHARED = process.env.ONESHEET_SHARED ?? resolve(ROOT, '../shared');
/** Cargo's build outputs: the native binary and the test bundle `scripts/test.sh` writes. */
export const TARGET = resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
export const ONESHEET = resolve(TARGET, 'debug/onesheet');
export const BUNDLE = process.env.ONESHEET_TEST_BUNDLE ?? resolve(TARGET, 'test-bundle.safetensors');
/** Screenshots and other things a test run leaves for people to look at. */
export const ARTIFACTS = resolve(TARGET, 'browser-artifacts');

/**
 * Runs the real `onesheet serve` on a free loopback port (www/ from the repository unless `www`
 * names a copy); resolves to { url, close }. Its first stdout line is the URL.
 */
export function serveOnesheet({ models, samples, catalogue, www = resolve(ROOT, 'www') }) {
  const args = ['serve', '--port', '0', '--www', www, '--models', models];
  if (samples) args.push('--samples', samples);
  if (catalogue) args.push('--catalogue', catalogue);
  return startServer(ONESHEET, args);
}

/**
 * Runs `binary args…` (a server that prints its URL on its first stdout line, as `onesheet
 * serve` and `onesheet kiosk` do); resolves to { url, close }.
 */
export function startServer(binary, args, { cwd } = {}) {
  const child = spawn(binary, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((done, fail) => {
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`onesheet serve exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      done({ url: line.trim().replace(/\/$/, ''), close: () => child.kill() });
    });
  });
}

/**
 * Launches headless Chromium; with `webgpu`, SwiftShader gives it a real WebGPU adapter. With
 * `liftoff`, wasm starts on Chromium's baseline compiler as it does for visitors (faster start,
 * sometimes slower runs); tests leave it off.
 */
export async function launch({ webgpu = false, liftoff = false, extraArgs = [] } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'onesheet-chromium-'));
  const args = [...chromiumArgs({ webgpu, liftoff }), `--user-data-dir=${profile}`, '--remote-debugging-pipe'];
  args.push(...extraArgs);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    ignoreDefaultArgs: true,
    args,
  });
  const close = async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { browser, close };
}

/**
 * One test file's browser setup, as node:test hooks at its top level: before its tests, a
 * scratch folder (`onesheet-<name>-…`), the server `serve(scratch)` resolves to (default:
 * `onesheet serve` with the test bundle's folder as /models/) and headless Chromium
 * (`launch(browser)`); after them, both stopped and the folder removed. Returns the fixture,
 * whose `scratch`, `server` ({ url, close }) and `chromium` ({ browser, close }) are set once
 * `before` has run, and whose `open` starts a page.
 */
export function browserFixture({ name = 'browser', serve = () => serveOnesheet({ models: dirname(BUNDLE) }), browser = {} } = {}) {
  const fixture = {
    scratch: null,
    server: null,
    chromium: null,
    /**
     * A fresh context (fresh storage; `contextOptions` for Playwright's newContext) on
     * `browser` (default the fixture's Chromium), or the `context` given, and a page in it at
     * `url`. The page's console errors and uncaught exceptions are logged (labelled `label`),
     * its `onesheet-genres` and `onesheet-error` events recorded (recordOnesheetEvents), and
     * `init(page, context)` runs before it loads. Resolves to { context, page, requests }:
     * `requests` logs every request of the context, the page's and its workers' (see
     * `logRequests`).
     */
    async open(url, { browser: from = fixture.chromium.browser, context, contextOptions = {}, label = 'page', init } = {}) {
      context ??= await from.newContext(contextOptions);
      const requests = logRequests(context);
      const page = await context.newPage();
      page.on('console', (m) => m.type() === 'error' && console.log(`[${label}] ${m.text()}`));
      page.on('pageerror', (e) => console.log(`[${label} error] ${e.message}`));
      await recordOnesheetEvents(page);
      await init?.(page, context);
      await page.goto(url);
      return { context, page, requests };
    },
  };
  before(async () => {
    // node:test runs a file's top-level hook the moment it is registered: first let the file
    // finish defining what `serve` may use (the fixture itself, for one).
    await null;
    fixture.scratch = mkdtempSync(join(tmpdir(), `onesheet-${name}-`));
    mkdirSync(ARTIFACTS, { recursive: true });
    fixture.server = await serve(fixture.scratch);
    fixture.chromium = await launch(browser);
  });
  after(async () => {
    await fixture.chromium?.close();
    fixture.server?.close();
    if (fixture.scratch) rmSync(fixture.scratch, { recursive: true, force: true });
  });
  return fixture;
}

/**
 * Logs every request `context` makes (its pages' and their workers'), in order, as
 * `{ url, method, body, wire, encoding, settled }`: `body` the request's body or null, and
 * once it has finished `wire`, the response body's bytes that crossed the network (0 for a
 * revalidation the HTTP cache answered: a 304, which Chromium reports as a 200 with no body
 * on the wire), and `encoding`, the response's Content-Encoding ('identity' without one).
 * `settled` resolves once the request has finished or failed, and those are known.
 */
export function logRequests(context) {
  const requests = [];
  const entries = new WeakMap();
  context.on('request', (r) => {
    const entry = { url: r.url(), method: r.method(), body: r.postDataBuffer(), wire: null, encoding: null };
    entry.settled = new Promise((resolve) => {
      entry.settle = resolve;
    });
    entries.set(r, entry);
    requests.push(entry);
  });
  context.on('requestfinished', async (request) => {
    const entry = entries.get(request);
    // The context may close first: then there is nothing left to record.
    const sizes = await request.sizes().catch(() => null);
    const headers = await (await request.response().catch(() => null))?.allHeaders().catch(() => null);
    if (entry && sizes) entry.wire = sizes.responseBodySize;
    if (entry && headers) entry.encoding = headers['content-encoding'] ?? 'identity';
    entry?.settle();
  });
  context.on('requestfailed', (request) => entries.get(request)?.settle());
  return requests;
}

/** `onesheet classify --format jsonl` on `files` with `model`: { file basename: line }. */
export function classifyNatively(files, model = BUNDLE, extraArgs = []) {
  const run = spawnSync(ONESHEET, ['classify', '--model', model, '--format', 'jsonl', ...extraArgs, ...files], {
    encoding: 'utf8',
  });
  if (!run.stdout) throw new Error(`onesheet classify printed nothing: ${run.stderr}`);
  const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
  if (lines.length !== files.length) throw new Error(`onesheet classify: ${run.stderr}`);
  return Object.fromEntries(lines.map((l) => [basename(l.file), l]));
}

/** The largest |a − b| over the 19 scores of two results (each `{ scores }`). */
export function scoreGap(a, b) {
  const genres = Object.keys(b.scores);
  if (genres.length !== 19 || Object.keys(a.scores).length !== 19) {
    throw new Error(`expected 19 scores, got ${Object.keys(a.scores).length} and ${genres.length}`);
  }
  return Math.max(...genres.map((genre) => Math.abs(a.scores[genre] - b.scores[genre])));
}

/**
 * Before `page` loads: records every `onesheet-genres` and `onesheet-error` event that reaches
 * the document, in order, as `window.events` ({ type, detail, target: the element's id }).
 */
export function recordOnesheetEvents(page) {
  return page.addInitScript(() => {
    window.events = [];
    for (const type of ['onesheet-genres', 'onesheet-error']) {
      document.addEventListener(type, (e) => window.events.push({ type, detail: e.detail, target: e.target.id }));
    }
  });
}

/** Waits for the `n`th (1-based) event `recordOnesheetEvents` saw on `page`; returns it. */
export async function nthEvent(page, n) {
  await page.waitForFunction((k) => window.events.length >= k, n, { timeout: 120_000 });
  return page.evaluate((k) => window.events[k - 1], n);
}

/** Reads a safetensors file's F32 tensors: { name: { shape, data: Float32Array } }. */
export function readSafetensors(path) {
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const base = 8 + headerLength;
  const out = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__' || info.dtype !== 'F32') continue;
    const [start, end] = info.data_offsets;
    const slice = bytes.subarray(base + start, base + end);
    const data = new Float32Array(slice.buffer.slice(slice.byteOffset, slice.byteOffset + slice.length));
    out[name] = { shape: info.shape, data };
  }
  return out;
}

/** max |a − b| / max |b|. */
export function relativeError(actual, expected) {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  return worst / scale;
}
