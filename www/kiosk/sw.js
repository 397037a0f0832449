// The kiosk's service worker: after one visit the kiosk works with the network gone, reload
// included, and never shows a browser error page.
//
// Everything the kiosk needs (page, scripts, wasm, model, sample posters) is kept in one cache
// and answered from it first. Online, the page asks for a refresh: every file is checked with
// a HEAD request (ETag), and if anything changed on the server (a new build or model) all
// changed files are downloaded first and only then stored together, so the cache never holds a
// half-updated kiosk (a new wasm with the old script that loads it). The page then reloads when
// no visitor is using it.
const CACHE = 'onesheet-kiosk-v2';
const HERE = new URL('./', self.location.href);
/** The kiosk's files, relative to this script (the kiosk's page is beside it). */
const FILES = [
  './',
  'kiosk.js',
  'kiosk.css',
  'manifest.webmanifest',
  'icon.svg',
  '../lib/client.js',
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
/**
 * Pictures of the gallery's catalogue ("posters like this"), kept as they are shown so they
 * show offline too; its own cache, which `refresh` leaves alone, holding the latest ones.
 */
const PICTURES = 'onesheet-catalogue-pictures';
const MAX_PICTURES = 300;
/** A slow network counts as none after this long, for the page (the cache answers). */
const NAVIGATION_TIMEOUT_MS = 4000;

self.addEventListener('install', (event) => {
  event.waitUntil(refresh().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith('onesheet-kiosk-') && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('message', (event) => {
  if (event.data?.type === 'refresh') {
    event.waitUntil(
      refresh().then(
        (changed) => changed && notify(),
        () => {}, // offline or the server is down: keep what is cached
      ),
    );
  }
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  if (request.destination === 'image' && new URL(request.url).pathname.startsWith('/catalogue/')) {
    event.respondWith(picture(request));
    return;
  }
  event.respondWith(answer(request));
});

/** A catalogue picture: from the network when it answers (and kept), else the kept copy. */
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

async function answer(request) {
  const cache = await caches.open(CACHE);
  const navigation = request.mode === 'navigate';
  const cached = navigation
    ? await cache.match(PAGE)
    : await cache.match(request, { ignoreSearch: true });
  if (cached) return cached;
  try {
    return navigation ? await withTimeout(fetch(request), NAVIGATION_TIMEOUT_MS) : await fetch(request);
  } catch {
    if (navigation) return offlinePage();
    return new Response('offline, and not cached', { status: 503, headers: { 'content-type': 'text/plain' } });
  }
}

/**
 * Brings the cache up to date with the server; resolves to whether anything changed. Throws
 * (keeping the cache as it was) if any file cannot be checked or downloaded.
 */
async function refresh() {
  const cache = await caches.open(CACHE);
  const samples = await sampleFiles();
  const files = [...FILES, ...samples];
  const stale = [];
  await Promise.all(
    files.map(async (url) => {
      const cached = await cache.match(url);
      if (!cached || !(await sameOnServer(url, cached))) stale.push(url);
    }),
  );
  if (!stale.length) return false;
  const fresh = await Promise.all(
    stale.map(async (url) => {
      const response = await fetch(url, { cache: 'no-store' });
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      return [url, response];
    }),
  );
  // Only once every changed file is here: stored together.
  await Promise.all(fresh.map(([url, response]) => cache.put(url, response)));
  // Samples no longer listed are dropped.
  const known = new Set(files);
  for (const request of await cache.keys()) {
    if (!known.has(request.url)) await cache.delete(request);
  }
  return true;
}

/** The sample posters' URLs, from the server's listing. */
async function sampleFiles() {
  const index = new URL('samples/index.json', HERE).href;
  const response = await fetch(index, { cache: 'no-store' });
  if (!response.ok) throw new Error(`${index}: HTTP ${response.status}`);
  const { samples = [] } = await response.json();
  return samples.map((sample) => new URL(sample.url, index).href);
}

/** Whether the server's copy of `url` is the one cached (same ETag, else same length). */
async function sameOnServer(url, cached) {
  const head = await fetch(url, { method: 'HEAD', cache: 'no-store' });
  if (!head.ok) throw new Error(`${url}: HTTP ${head.status}`);
  const now = head.headers.get('etag');
  const then = cached.headers.get('etag');
  if (now && then) return now === then;
  return head.headers.get('content-length') === cached.headers.get('content-length');
}

async function notify() {
  for (const client of await self.clients.matchAll({ type: 'window' })) {
    client.postMessage({ type: 'updated' });
  }
}

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
