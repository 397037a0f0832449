// The kiosk's service worker: after one visit the kiosk works with the network gone, reload
// included, and never shows a browser error page.
//
// Everything the kiosk needs (page, scripts, wasm, model, sample posters) is kept in one cache,
// a generation, and answered from it first. Online, the page asks for a refresh: every file is
// checked with a HEAD request (ETag), and if anything changed on the server (a new build or
// model) a new generation is built aside: the unchanged files copied from the live one, the
// changed ones downloaded (each must still be what the HEAD check saw, and every file must
// still be so once all are stored, or the server was mid-deploy and the refresh is tried again
// a little later). Only when every file is stored does one small pointer switch to it, so no
// request is ever answered from a half-updated kiosk (a new wasm with the old script that
// loads it); a failed refresh deletes its generation and tells the page why. The page then
// reloads when no visitor is using it.
/** This script's global scope (tsc's worker library types `self` as any worker's). */
const scope = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
/** Generations are `onesheet-kiosk-gen-…`; the pointer names the live one. */
const PREFIX = 'onesheet-kiosk-';
const POINTER = `${PREFIX}live`;
/** What the kiosk's first service worker kept everything in: read once, to save downloads. */
const LEGACY = `${PREFIX}v2`;
/** A refresh that meets the server mid-deploy is tried this many times in all, this far apart. */
const ATTEMPTS = 3;
const RETRY_MS = 1500;
const HERE = new URL('./', scope.location.href);
/** The kiosk's files, relative to this script (the kiosk's page is beside it). */
const FILES = [
  './',
  'kiosk.js',
  'kiosk.css',
  'manifest.webmanifest',
  'icon.svg',
  '../lib/client.js',
  '../lib/pool.js',
  '../lib/protocol.js',
  '../lib/urls.js',
  '../lib/worker.js',
  '../lib/result.js',
  '../lib/thumbnail.js',
  '../lib/explain.js',
  '../lib/similar.js',
  '../lib/simd.js',
  '../pkg/onesheet.js',
  '../pkg/onesheet_bg.wasm',
  // Both compilations of the CPU build: the kiosk's browser loads one, by what it runs.
  '../pkg/onesheet_relaxed_bg.wasm',
  '../models/onesheet.safetensors',
  'samples/index.json',
].map((path) => new URL(path, HERE).href);
const PAGE = FILES[0];
/** The pointer's one entry: its body is the live generation's cache name. */
const POINTER_KEY = new URL('live-generation', HERE).href;
/**
 * Pictures of the gallery's catalogue ("posters like this"), kept as they are shown so they
 * show offline too; its own cache, which `refresh` leaves alone, holding the latest ones.
 */
const PICTURES = 'onesheet-catalogue-pictures';
const MAX_PICTURES = 300;
/** A slow network counts as none after this long, for the page (the cache answers). */
const NAVIGATION_TIMEOUT_MS = 4000;

scope.addEventListener('install', (event) => {
  event.waitUntil(refreshRetrying().then(() => scope.skipWaiting()));
});

scope.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      await exclusively(async () => {
        const live = await liveGeneration();
        if (live) await deleteGenerationsBut(live);
      });
      await scope.clients.claim();
    })(),
  );
});

scope.addEventListener('message', (event) => {
  if (event.data?.type === 'refresh') {
    event.waitUntil(
      refreshRetrying().then(
        (changed) => (changed ? notify({ type: 'updated' }) : undefined),
        // Offline, the server down, the storage full: the live generation stays whole, and the
        // page is told, so an operator can see why the kiosk is not taking an update.
        (error) => notify({ type: 'update-failed', message: describe(error) }),
      ),
    );
  }
});

scope.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== scope.location.origin) return;
  if (request.destination === 'image' && new URL(request.url).pathname.startsWith('/catalogue/')) {
    event.respondWith(picture(request));
    return;
  }
  event.respondWith(answer(request));
});

/**
 * A catalogue picture: from the network when it answers (and kept), else the kept copy.
 * @param {Request} request
 */
async function picture(request) {
  const cache = await caches.open(PICTURES);
  try {
    const response = await fetch(request);
    if (response.ok) {
      await cache.put(request, response.clone()).catch(() => {}); // a full quota costs nothing
      const kept = await cache.keys();
      for (const old of kept.slice(0, Math.max(0, kept.length - MAX_PICTURES))) await cache.delete(old);
    }
    return response;
  } catch {
    return (await cache.match(request)) ?? new Response('offline, and not kept', { status: 503 });
  }
}

/** @param {Request} request */
async function answer(request) {
  const navigation = request.mode === 'navigate';
  const cached = navigation ? await fromLive(PAGE) : await fromLive(request, { ignoreSearch: true });
  if (cached) return cached;
  try {
    return navigation ? await withTimeout(fetch(request), NAVIGATION_TIMEOUT_MS) : await fetch(request);
  } catch {
    if (navigation) return offlinePage();
    return new Response('offline, and not cached', { status: 503, headers: { 'content-type': 'text/plain' } });
  }
}

/**
 * The live generation's copy of `request`, if it has one.
 * @param {RequestInfo} request
 * @param {CacheQueryOptions} [options]
 */
async function fromLive(request, options = {}) {
  // A refresh may switch generations and delete the old one between reading the pointer and
  // reading the file: then the pointer is read again. `caches.match` with a cache name, unlike
  // `caches.open`, never makes an empty cache of a deleted generation's name.
  for (let attempt = 0; attempt < 2; attempt++) {
    const live = await liveGeneration();
    if (!live) return undefined;
    const cached = await caches.match(request, { ...options, cacheName: live });
    if (cached || (await caches.has(live))) return cached;
  }
  return undefined;
}

/** The live generation's cache name, or null before the first refresh has finished. */
async function liveGeneration() {
  const pointer = await caches.match(POINTER_KEY, { cacheName: POINTER });
  return pointer ? pointer.text() : null;
}

/** A refresh, tried again a little later while the server's files move under it. */
async function refreshRetrying() {
  for (let attempt = 1; ; attempt++) {
    try {
      return await exclusively(refresh);
    } catch (error) {
      if (!(error instanceof Moved) || attempt >= ATTEMPTS) throw error;
      await new Promise((done) => setTimeout(done, RETRY_MS * attempt));
    }
  }
}

/** The server's files changed while a refresh was reading them. */
class Moved extends Error {}

/**
 * Brings the kiosk up to date with the server; resolves to whether anything changed. Throws,
 * with the live generation untouched, if any file cannot be checked, downloaded or stored.
 */
async function refresh() {
  const live = await liveGeneration();
  const source = live ?? ((await caches.has(LEGACY)) ? LEGACY : null);
  const files = [...FILES, ...(await sampleFiles())];
  const seen = new Map(await Promise.all(files.map(async (url) => /** @type {const} */ ([url, await onServer(url)]))));
  const kept = new Map();
  await Promise.all(
    files.map(async (url) => {
      const cached = source && (await caches.match(url, { cacheName: source }));
      if (cached && same(seen.get(url), cached.headers)) kept.set(url, cached);
    }),
  );
  const stale = files.filter((url) => !kept.has(url));
  // A sample no longer listed makes a change too: the next generation leaves it out.
  const listed = live && (await (await caches.open(live)).keys()).length === files.length;
  if (live && !stale.length && listed) return false;

  const name = `${PREFIX}gen-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const next = await caches.open(name);
  try {
    const stored = await Promise.allSettled([
      ...[...kept].map(([url, response]) => next.put(url, response)),
      ...stale.map(async (url) => {
        const response = await fetch(url, { cache: 'no-store' });
        if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
        if (!same(seen.get(url), response.headers)) throw new Moved(`${url} changed on the server during the update`);
        await next.put(url, response);
      }),
    ]);
    const failed = stored.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    // A deploy writes its files one by one: one that was unchanged at the HEAD check may have
    // changed since, and the new generation would pair it, old, with the others, new.
    const now = await Promise.all(files.map(async (url) => /** @type {const} */ ([url, await onServer(url)])));
    const moved = now.find(([url, state]) => !sameState(seen.get(url), state));
    if (moved) throw new Moved(`${moved[0]} changed on the server during the update`);
    const pointer = await caches.open(POINTER);
    await pointer.put(POINTER_KEY, new Response(name, { headers: { 'content-type': 'text/plain' } }));
  } catch (error) {
    await caches.delete(name);
    throw error;
  }
  // The switch is made: an old generation left behind is deleted by the next one.
  await deleteGenerationsBut(name).catch(() => {});
  return true;
}

/**
 * Deletes every kiosk cache but `live` and the pointer: old generations, abandoned ones.
 * @param {string} live
 */
async function deleteGenerationsBut(live) {
  for (const name of await caches.keys()) {
    if (name.startsWith(PREFIX) && name !== live && name !== POINTER) await caches.delete(name);
  }
}

/**
 * Runs `task` while no other refresh runs (in this worker, or in a newer version of it being
 * installed beside this one): each builds its own generation, but only one deletes the others.
 * @template T
 * @param {() => Promise<T>} task
 * @returns {Promise<T>}
 */
function exclusively(task) {
  const locks = scope.navigator.locks;
  return locks ? locks.request(`${PREFIX}refresh`, task) : task();
}

/** The sample posters' URLs, from the server's listing. */
async function sampleFiles() {
  const index = new URL('samples/index.json', HERE).href;
  const response = await fetch(index, { cache: 'no-store' });
  if (!response.ok) throw new Error(`${index}: HTTP ${response.status}`);
  /** @type {{ samples?: { url: string }[] }} */
  const { samples = [] } = await response.json();
  return samples.map((sample) => new URL(sample.url, index).href);
}

/**
 * A copy of a file as the server describes it.
 * @typedef {{ etag: string | null, length: string | null }} State
 */

/**
 * The server's copy of `url` as a HEAD request sees it: `{ etag, length }`.
 * @param {string} url
 */
async function onServer(url) {
  const head = await fetch(url, { method: 'HEAD', cache: 'no-store' });
  if (!head.ok) throw new Error(`${url}: HTTP ${head.status}`);
  return stateOf(head.headers);
}

/**
 * @param {Headers} headers
 * @returns {State}
 */
function stateOf(headers) {
  return { etag: headers.get('etag'), length: headers.get('content-length') };
}

/**
 * Whether a response with `headers` is the copy the server had in `state`.
 * @param {State | undefined} state
 * @param {Headers} headers
 */
function same(state, headers) {
  return sameState(state, stateOf(headers));
}

/**
 * The same copy: the same ETag, or without ETags the same length.
 * @param {State | undefined} a undefined: a file the refresh did not check (not the same)
 * @param {State} b
 */
function sameState(a, b) {
  if (!a) return false;
  if (a.etag && b.etag) return a.etag === b.etag;
  return a.length === b.length;
}

/** @param {{ type: 'updated' } | { type: 'update-failed', message: string }} message */
async function notify(message) {
  for (const client of await scope.clients.matchAll({ type: 'window' })) client.postMessage(message);
}

/** @param {unknown} error */
function describe(error) {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), ms)),
  ]);
}

/** Never a browser error page: what a visitor sees when the kiosk was never loaded here. */
function offlinePage() {
  const html = `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>onesheet kiosk — offline</title>
<body style="font:24px system-ui;background:#111114;color:#f4efe6;display:grid;place-content:center;height:100vh;margin:0;text-align:center">
<h1>The kiosk is offline</h1><p>It has not been loaded on this device yet. Connect it to the network once.</p>`;
  return new Response(html, { status: 503, headers: { 'content-type': 'text/html; charset=utf-8' } });
}
