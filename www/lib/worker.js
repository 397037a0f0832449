// The model's thread: loads the wasm build and a bundle (each fetched once, then kept in the
// Cache API), and answers classify requests one at a time. Spoken to only by
// client.js; the protocol is documented there.
//
// What it fetches is bounded: only http(s) URLs, only on this worker's own origin unless the
// load request says `allowCrossOrigin` (then, too, it checks a cached copy with a HEAD request
// only when allowed), and at most MAX_BYTES per resource, checked on Content-Length and counted
// while streaming.
//
// A Rust panic aborts the wasm instance (panic = "abort"): nothing can run in it afterwards.
// This worker then reports `crashed` and refuses further work; the client replaces it.
//
// Two builds of the same crate: `pkg/` runs the CPU only (a fraction of the download), and
// `pkg-webgpu/` runs WebGPU and the CPU. A worker imports the WebGPU build only when the page
// asks for WebGPU, or asks for `auto` where the browser offers a WebGPU adapter; everyone else
// never downloads it. Of the CPU build's two compilations (simd.js), a worker downloads only
// the one its browser runs.
import { allowedUrl, shorten } from './client.js';
import { RELAXED_SIMD, relaxedSibling } from './simd.js';

/** Each build's JavaScript, beside this worker; its wasm comes from the load request's URL. */
const GLUE = { cpu: '../pkg/onesheet.js', webgpu: '../pkg-webgpu/onesheet.js' };

const CACHE = 'onesheet-v2';
/** Caches of earlier versions (v1 stored any URL, of any size): deleted on first use. */
const OLD_CACHES = /^onesheet-v\d+$/;

const MiB = 1024 * 1024;
/** The most this worker downloads or reads from its cache, per resource. */
const MAX_BYTES = { wasm: 64 * MiB, model: 64 * MiB, index: 64 * MiB };
const NAMES = { wasm: 'the WebAssembly module', model: 'the model', index: 'the catalogue index' };

/** Whether the loaded model has been warmed up (see `warmUpWhenIdle`). */
let warmed = false;
/**
 * Each build (`cpu`, `webgpu`) once instantiated: `{ wasm: its module namespace, relaxed:
 * whether it is the relaxed-SIMD compilation }`.
 */
const builds = new Map();
/** The build `model` came from (its `panicForTesting`, if it has one). */
let active = null;
let model = null;
/** Bundle bytes by URL, so switching backends does not fetch again. */
const bundles = new Map();
/** The catalogue index's bytes and URL (its pictures' URLs are relative to it). */
let catalogue = null;
let crashed = false;
// Requests run strictly in order: one model, one poster at a time, honest timings.
let queue = Promise.resolve();

const post = (message) => self.postMessage(message);

/** Ids of requests received and not yet started; those the client aborted meanwhile. */
const queued = new Set();
const cancelled = new Set();

self.onmessage = ({ data }) => {
  // A cancel overtakes the queue: the request it names is skipped when its turn comes.
  if (data.type === 'cancel') {
    if (queued.has(data.id)) cancelled.add(data.id);
    return;
  }
  queued.add(data.id);
  queue = queue.then(() => handle(data)).then(warmUpWhenIdle);
};

/**
 * Warms the model up once no request is waiting: the browser compiles a wasm function on its
 * first call, so the first poster after an idle warm-up does not pay for that. A poster that
 * arrives meanwhile waits for one blank run (tens of milliseconds).
 */
async function warmUpWhenIdle() {
  if (warmed || !model || crashed || queued.size > 0) return;
  warmed = true;
  try {
    await model.warmUp();
  } catch (error) {
    if (error instanceof WebAssembly.RuntimeError) reportCrash(error);
    // Otherwise only a warm-up: the next poster meets the same problem and reports it.
  }
}

async function handle(request) {
  const { id, type } = request;
  queued.delete(id);
  if (crashed) {
    cancelled.delete(id);
    post({ id, type: 'error', message: 'the model has crashed; it is being restarted' });
    return;
  }
  if (cancelled.delete(id)) {
    post({ id, type: 'error', message: 'cancelled' });
    return;
  }
  post({ id, type: 'busy' });
  try {
    let value;
    switch (type) {
      case 'load':
        value = await load(request);
        break;
      case 'classify':
        value = await classify(request);
        break;
      case 'panic-for-testing':
        // A namespace lookup: the test-only export exists only in builds with the `testing`
        // feature.
        if (typeof active?.panicForTesting !== 'function') {
          throw new Error('this wasm build has no test hooks (it was built without the "testing" feature)');
        }
        value = await active.panicForTesting();
        break;
      default:
        throw new Error(`unknown request type ${JSON.stringify(type)}`);
    }
    post({ id, type: 'result', value });
  } catch (error) {
    if (error instanceof WebAssembly.RuntimeError) {
      reportCrash(error);
    } else {
      post({ id, type: 'error', message: describe(error) });
    }
  }
}

// A panic inside an async Rust function traps in wasm-bindgen-futures' task queue, outside any
// promise this file awaits: it surfaces here, and the awaiting request never settles.
self.addEventListener('unhandledrejection', (event) => {
  if (event.reason instanceof WebAssembly.RuntimeError) {
    event.preventDefault();
    reportCrash(event.reason);
  }
});
self.addEventListener('error', (event) => {
  if (event.error instanceof WebAssembly.RuntimeError) {
    event.preventDefault();
    reportCrash(event.error);
  }
});

function reportCrash(error) {
  if (crashed) return;
  crashed = true;
  const panic = globalThis.onesheetLastPanic;
  post({
    type: 'crashed',
    message: panic
      ? `Rust panic: ${String(panic).replace(/\s+/g, ' ').trim()}`
      : `WebAssembly trap: ${error.message}`,
  });
}

async function load({
  wasmUrl,
  webgpuWasmUrl = null,
  modelUrl,
  backend,
  build: wantedBuild = null,
  relaxedSimd = true,
  allowCrossOrigin = false,
  indexUrl = null,
  similarCount = 6,
}) {
  // Refused before anything is fetched.
  checkUrl(wasmUrl, 'wasm', allowCrossOrigin);
  if (webgpuWasmUrl) checkUrl(webgpuWasmUrl, 'wasm', allowCrossOrigin);
  checkUrl(modelUrl, 'model', allowCrossOrigin);
  const started = performance.now();
  const plan = await planBuild(backend, webgpuWasmUrl, wantedBuild);
  const relaxed = relaxedSimd && RELAXED_SIMD ? relaxedSibling(wasmUrl) : null;
  const urls = { cpu: wasmUrl, webgpu: webgpuWasmUrl, relaxed };
  let build = plan.build;
  const timing = {};
  const bundleFetch = bundles.has(modelUrl)
    ? null
    : fetchOnce(modelUrl, 'model', allowCrossOrigin).then((bundle) => {
        timing.modelMs = performance.now() - started;
        return bundle;
      });
  bundleFetch?.catch(() => {}); // awaited below; not unhandled while the wasm loads
  let downloadedWasm = null;
  let wasm;
  try {
    ({ wasm, downloaded: downloadedWasm } = await instantiate(build, urls, allowCrossOrigin));
  } catch (error) {
    // `auto` does not need WebGPU: a WebGPU build that cannot be had (missing on this server,
    // offline) leaves the CPU.
    if (build !== 'webgpu' || backend !== 'auto') throw error;
    Object.assign(plan, { fallback: `the WebGPU build could not be loaded (${describe(error)})`, temporary: true });
    build = 'cpu';
    ({ wasm, downloaded: downloadedWasm } = await instantiate(build, urls, allowCrossOrigin));
  }
  timing.wasmMs = performance.now() - started;
  const bundle = await bundleFetch;
  if (bundle) {
    bundles.clear();
    bundles.set(modelUrl, bundle.bytes);
  }
  const runOn = plan.fallback ? 'cpu' : backend;
  post({ type: 'status', phase: 'warming-up', backend: runOn });
  model?.free();
  model = null;
  // One backend: loaded only, warmed up later if no poster is waiting (a poster handed in at
  // once goes first). `auto` warms up both while measuring them.
  model = await wasm.Onesheet.create(bundles.get(modelUrl), runOn, { warmUp: runOn === 'auto' });
  active = wasm;
  warmed = runOn === 'auto';
  timing.totalMs = performance.now() - started;
  let selection = model.selection;
  if (plan.fallback) {
    selection = { ...selection, requested: 'auto', reason: `no WebGPU: ${plan.fallback}` };
    // A build that could not be had this time (still building, offline) may be there next
    // time: `auto` should not remember the CPU for it.
    if (plan.temporary) selection.provisional = true;
  }
  return {
    backend: model.backend,
    selection,
    build,
    // The instruction set the model's wasm runs: 'relaxed-simd' (the CPU build's FMA
    // compilation) or 'simd128'.
    simd: builds.get(build)?.relaxed ? 'relaxed-simd' : 'simd128',
    manifest: model.manifest,
    downloads: { wasm: downloadedWasm, model: bundle?.info ?? null },
    // Milliseconds from the load request: the wasm downloaded (or read from the cache) and
    // compiled, the bundle downloaded or read, the model ready.
    timing,
    catalogue: indexUrl ? await loadIndex(indexUrl, similarCount, allowCrossOrigin) : null,
  };
}

/**
 * Which build a load needs: `{ build: 'cpu' | 'webgpu', fallback? }`. `cpu` needs only the CPU
 * build (or the one `wantedBuild` names, which runs the CPU too); `webgpu` the WebGPU one; `auto` the WebGPU one (to compare both) only where this
 * browser offers a WebGPU adapter and the page has a WebGPU build, otherwise the CPU with the
 * reason as `fallback`.
 */
async function planBuild(backend, webgpuWasmUrl, wantedBuild) {
  // The pool's later workers run the build the first one loaded (already in the cache).
  if (backend === 'cpu') return { build: wantedBuild === 'webgpu' && webgpuWasmUrl ? 'webgpu' : 'cpu' };
  if (backend === 'webgpu') {
    if (!webgpuWasmUrl) throw new Error('this page has no WebGPU build of onesheet; use the CPU');
    return { build: 'webgpu' };
  }
  if (!webgpuWasmUrl) return { build: 'cpu', fallback: 'this page has no WebGPU build of onesheet' };
  const missing = await whyNoWebgpu();
  return missing ? { build: 'cpu', fallback: missing } : { build: 'webgpu' };
}

/** Why this browser cannot run WebGPU, or null when it offers an adapter. */
async function whyNoWebgpu() {
  if (!self.navigator?.gpu) return 'this browser has no WebGPU (navigator.gpu is missing)';
  try {
    const adapter = await self.navigator.gpu.requestAdapter();
    return adapter ? null : 'WebGPU is present but offers no adapter (no usable GPU)';
  } catch (error) {
    return `navigator.gpu.requestAdapter() failed: ${describe(error)}`;
  }
}

/**
 * The module namespace of `build`, instantiated once per worker from its URL in `urls`, and
 * what was downloaded for it this time (null when it was already running). The CPU build
 * runs its relaxed-SIMD compilation where `urls.relaxed` names one; if that cannot be had (a
 * site that copied only `onesheet_bg.wasm`), the plain one.
 */
async function instantiate(build, urls, allowCrossOrigin) {
  if (builds.has(build)) return { wasm: builds.get(build).wasm, downloaded: null };
  const glue = import(GLUE[build]);
  let loaded = null;
  if (build === 'cpu' && urls.relaxed) {
    loaded = await instantiateFrom(glue, urls.relaxed, allowCrossOrigin).catch(() => null);
  }
  const relaxed = loaded !== null;
  loaded ??= await instantiateFrom(glue, urls[build], allowCrossOrigin);
  builds.set(build, { wasm: loaded.wasm, relaxed });
  return loaded;
}

async function instantiateFrom(glue, url, allowCrossOrigin) {
  const [wasm, fetched] = await Promise.all([glue, fetchOnce(url, 'wasm', allowCrossOrigin)]);
  post({ type: 'status', phase: 'compiling' });
  await wasm.default({ module_or_path: fetched.module ?? fetched.response ?? fetched.bytes });
  return { wasm, downloaded: fetched.info };
}

/**
 * Loads the catalogue index into the model: `{ url, posters, thumbnails }`, or `{ url, error }`
 * when it cannot be had (missing, damaged, made with another model). The model works without.
 */
async function loadIndex(url, count, allowCrossOrigin) {
  try {
    checkUrl(url, 'index', allowCrossOrigin);
    if (catalogue?.url !== url) {
      catalogue = { url, bytes: (await fetchOnce(url, 'index', allowCrossOrigin)).bytes };
    }
    return { url, ...model.loadIndex(catalogue.bytes, Math.max(1, Math.min(50, count | 0))) };
  } catch (error) {
    return { url, error: describe(error) };
  }
}

/**
 * Throws unless `url` may be fetched: the client's own rule (`allowedUrl`), enforced here too
 * because the worker is what fetches.
 */
function checkUrl(url, resource, allowCrossOrigin) {
  allowedUrl(url, { base: self.location.href, allowCrossOrigin, what: NAMES[resource] });
}

/** Over the limit: a clear error. */
function tooBig(resource, bytes) {
  return new Error(
    `${NAMES[resource]} is ${bytes === null ? 'larger than' : `${mebibytes(bytes)}, over`} ` +
      `the ${mebibytes(MAX_BYTES[resource])} limit; it was not loaded`,
  );
}

async function classify({ bytes, rgba, width, height, year }) {
  if (!model) throw new Error('no model is loaded');
  const options = year === undefined ? undefined : { year };
  const result = rgba
    ? await model.classifyRgba(new Uint8Array(rgba), width, height, options)
    : await model.classify(new Uint8Array(bytes), options);
  // Pictures of similar posters are named relative to the index.
  for (const poster of result.similar ?? []) {
    if (poster.thumbnail) poster.thumbnail = new URL(poster.thumbnail, catalogue.url).href;
  }
  return result;
}

/**
 * The bytes at `url` (already checked by `checkUrl`) — for the wasm, its compiled `module` or
 * a cached `response` to compile while reading —, from the Cache API when it holds a copy
 * the server still vouches for (same ETag / Last-Modified / length on a HEAD request, for the
 * wasm a conditional GET; any copy at all when offline), else downloaded with progress reports and stored for next time. Never
 * more than MAX_BYTES[resource].
 */
async function fetchOnce(url, resource, allowCrossOrigin) {
  const limit = MAX_BYTES[resource];
  // 'same-origin' also fails a redirect to another origin, before anything is sent there.
  const mode = allowCrossOrigin ? 'cors' : 'same-origin';
  const cache = await openCache();
  let cached = await cache?.match(url);
  if (cached && !(Number(cached.headers.get('content-length')) <= limit)) {
    await cache.delete(url).catch(() => {});
    cached = null;
  }
  if (cached && resource === 'wasm' && /^application\/wasm\b/.test(cached.headers.get('content-type') ?? '')) {
    const current = await currentWasm(url, cached, mode);
    if (current) return current;
  } else if (cached && (await stillCurrent(url, cached, mode))) {
    const bytes = new Uint8Array(await cached.arrayBuffer());
    if (bytes.length <= limit) {
      post({ type: 'progress', resource, loaded: bytes.length, total: bytes.length, cached: true });
      return { bytes, info: { url, bytes: bytes.length, cached: true } };
    }
  }
  let response;
  // Stops the download (and a compile reading it) when it runs over the limit.
  const download = new AbortController();
  try {
    // The wasm also goes into the browser's HTTP cache (see above); the rest only into ours.
    const httpCache = resource === 'wasm' ? 'no-cache' : 'no-store';
    response = await fetch(url, { cache: httpCache, mode, credentials: 'same-origin', signal: download.signal });
  } catch (error) {
    throw new Error(`could not download ${shorten(url)}: ${describe(error)}`);
  }
  if (!response.ok) {
    response.body?.cancel().catch(() => {});
    throw new Error(`could not download ${shorten(url)}: HTTP ${response.status} ${response.statusText}`);
  }
  // A compressed response announces its compressed length; `onesheet serve` adds the length
  // fetch hands out (decoded), which sizes the buffer and the progress.
  const declared = response.headers.get('content-length');
  const decoded = response.headers.get('x-decoded-content-length');
  const total = Number(decoded ?? declared) || 0;
  if (total > limit || Number(declared) > limit) {
    response.body?.cancel().catch(() => {});
    throw tooBig(resource, Math.max(total, Number(declared) || 0));
  }
  // The wasm compiles while it streams in (a clone of the response: the browser can keep the
  // optimised code beside its HTTP-cache copy), so a first visit waits for the download or the
  // compile, not for both in turn; the original is counted for the progress bar and kept in
  // our cache.
  let compiling = null;
  if (resource === 'wasm') {
    compiling = WebAssembly.compileStreaming(response.clone());
    compiling.catch(() => {}); // awaited below, after the download; not unhandled before
  }
  const body = response.body;
  // With a length, one buffer of that size; without, chunks joined at the end.
  let bytes = total > 0 ? new Uint8Array(total) : null;
  const chunks = [];
  let loaded = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > limit) {
      download.abort();
      throw tooBig(resource, null);
    }
    if (bytes && loaded + value.length <= bytes.length) {
      bytes.set(value, loaded);
    } else {
      if (bytes) chunks.push(bytes.subarray(0, loaded)); // longer than it said
      bytes = null;
      chunks.push(value);
    }
    loaded += value.length;
    post({ type: 'progress', resource, loaded, total: Math.max(total, loaded), cached: false });
  }
  if (bytes) {
    bytes = loaded === bytes.length ? bytes : bytes.slice(0, loaded);
  } else {
    bytes = new Uint8Array(loaded);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
  }
  post({ type: 'progress', resource, loaded, total: loaded, cached: false });
  if (cache) {
    const headers = {};
    for (const name of ['content-type', 'etag', 'last-modified']) {
      const value = response.headers.get(name);
      if (value) headers[name] = value;
    }
    headers['content-length'] = String(loaded);
    // A full quota only costs the next visit a download.
    await cache.put(url, new Response(bytes, { headers })).catch(() => {});
  }
  const module = compiling ? await compiling : undefined;
  return { bytes, module, info: { url, bytes: loaded, cached: false } };
}

let cacheOpened = null;

async function openCache() {
  cacheOpened ??= (async () => {
    try {
      if (!self.caches) return null;
      for (const name of await caches.keys()) {
        if (name !== CACHE && OLD_CACHES.test(name)) await caches.delete(name);
      }
      return await caches.open(CACHE);
    } catch {
      return null; // storage disabled (private mode, insecure context): download every time
    }
  })();
  return cacheOpened;
}

/** Asks the server whether `cached` is still its copy of `url`; `mode` as for the download. */
async function stillCurrent(url, cached, mode) {
  let head;
  try {
    head = await fetch(url, { method: 'HEAD', cache: 'no-store', mode, credentials: 'same-origin' });
  } catch {
    return true; // offline: the cached copy is all there is
  }
  return head.ok && sameVersion(head, cached);
}

/**
 * The cached wasm, as a response to compile while reading, when the server still has that
 * version (or cannot be asked: offline); null when it has another. One conditional GET
 * through the browser's HTTP cache asks, in place of a HEAD: answered 304, it hands over the
 * browser's copy, beside which Chromium keeps the optimised machine code it made on an
 * earlier visit, so the module starts on fast code instead of its baseline compile. (A new
 * version's body is dropped here and downloaded with progress below, once per update.)
 */
async function currentWasm(url, cached, mode) {
  const length = Number(cached.headers.get('content-length'));
  const info = { url, bytes: length, cached: true };
  let response;
  try {
    response = await fetch(url, { cache: 'no-cache', mode, credentials: 'same-origin' });
  } catch {
    response = cached; // offline: ours is all there is
  }
  if (response !== cached && !(response.ok && sameVersion(response, cached))) {
    response.body?.cancel().catch(() => {});
    return null;
  }
  post({ type: 'progress', resource: 'wasm', loaded: length, total: length, cached: true });
  return { response, info };
}

/** Whether the server's `response` is the version of the file `cached` holds. */
function sameVersion(response, cached) {
  for (const name of ['etag', 'last-modified']) {
    const now = response.headers.get(name);
    const then = cached.headers.get(name);
    if (now && then) return now === then;
  }
  const now = response.headers.get('content-length');
  const then = cached.headers.get('content-length');
  return !now || !then || now === then;
}

function describe(error) {
  return error instanceof Error ? error.message : String(error);
}

function mebibytes(bytes) {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
