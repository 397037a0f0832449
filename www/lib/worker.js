// The model's thread: loads the wasm build and a bundle (each fetched once, then kept in the
// Cache API), and answers classify requests one at a time. Spoken to only by the client's
// pool (pool.js), in the messages protocol.js types.
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
import { MAX_SIMILAR_POSTERS, SIMILAR_POSTERS } from './protocol.js';
import { RELAXED_SIMD, relaxedSibling } from './simd.js';
import { allowedUrl, shorten } from './urls.js';

/** @typedef {import('./protocol.js').ToWorker} ToWorker */
/** @typedef {import('./protocol.js').FromWorker} FromWorker */
/** @typedef {import('./protocol.js').PostedRequest} PostedRequest */
/** @typedef {import('./protocol.js').LoadRequest} LoadRequest */
/** @typedef {import('./protocol.js').ClassifyRequest} ClassifyRequest */
/** @typedef {import('./protocol.js').LoadInfo} LoadInfo */
/** @typedef {import('./protocol.js').ClassifyResult} ClassifyResult */
/** @typedef {import('./protocol.js').Catalogue} Catalogue */
/** @typedef {import('./protocol.js').Selection} Selection */
/** @typedef {import('./protocol.js').Manifest} Manifest */
/** @typedef {import('./protocol.js').Backend} Backend */
/** @typedef {import('./protocol.js').Build} Build */
/** @typedef {import('./protocol.js').Resource} Resource */
/** @typedef {import('./protocol.js').Download} Download */

/**
 * A wasm build's module namespace (wasm-bindgen's glue, `onesheet.js` in www/pkg and
 * www/pkg-webgpu, whose onesheet.d.ts is generated with the build): what this worker uses.
 * @typedef {object} WasmBuild
 * @property {(init: { module_or_path: WebAssembly.Module | Response | Uint8Array }) => Promise<unknown>} default
 * @property {{ create(bundle: Uint8Array, backend: Backend, options: { warmUp: boolean }): Promise<Model> }} Onesheet
 * @property {() => Promise<void>} [panicForTesting] only in builds with the `testing` feature
 */

/**
 * A loaded model (the wasm build's `Onesheet`).
 * @typedef {object} Model
 * @property {'cpu' | 'webgpu'} backend
 * @property {Selection} selection
 * @property {Manifest} manifest
 * @property {(image: Uint8Array, options?: { year: number | string }) => Promise<ClassifyResult>} classify
 * @property {(rgba: Uint8Array, width: number, height: number, options?: { year: number | string }) => Promise<ClassifyResult>} classifyRgba
 * @property {(bytes: Uint8Array, count: number) => { posters: number, thumbnails: string | null }} loadIndex
 * @property {() => Promise<unknown>} warmUp
 * @property {() => void} free
 */

/**
 * What `fetchOnce` hands back: the bytes (and for a downloaded wasm, its compiled `module`),
 * with where they came from.
 * @typedef {{ bytes: Uint8Array, module?: WebAssembly.Module, info: Download }} Fetched
 */
/**
 * The wasm from the browser's HTTP cache, to compile while reading (see `currentWasm`).
 * @typedef {{ response: Response, info: Download }} CachedWasm
 */

/** Each build's JavaScript, beside this worker; its wasm comes from the load request's URL. */
const GLUE = { cpu: '../pkg/onesheet.js', webgpu: '../pkg-webgpu/onesheet.js' };

const CACHE = 'onesheet-v2';
/** Caches of earlier versions (v1 stored any URL, of any size): deleted on first use. */
const OLD_CACHES = /^onesheet-v\d+$/;

const MiB = 1024 * 1024;
/**
 * The most this worker downloads or reads from its cache, per resource.
 * @type {Record<Resource, number>}
 */
const MAX_BYTES = { wasm: 64 * MiB, model: 64 * MiB, index: 64 * MiB };
/** @type {Record<Resource, string>} */
const NAMES = { wasm: 'the WebAssembly module', model: 'the model', index: 'the catalogue index' };

/** Whether the loaded model has been warmed up (see `warmUpWhenIdle`). */
let warmed = false;
/**
 * Each build (`cpu`, `webgpu`) once instantiated: `{ wasm: its module namespace, relaxed:
 * whether it is the relaxed-SIMD compilation }`.
 * @type {Map<Build, { wasm: WasmBuild, relaxed: boolean }>}
 */
const builds = new Map();
/**
 * The build `model` came from (its `panicForTesting`, if it has one).
 * @type {WasmBuild | null}
 */
let active = null;
/** @type {Model | null} */
let model = null;
/**
 * Bundle bytes by URL, so switching backends does not fetch again.
 * @type {Map<string, Uint8Array>}
 */
const bundles = new Map();
/**
 * The catalogue index's bytes and URL (its pictures' URLs are relative to it).
 * @type {{ url: string, bytes: Uint8Array } | null}
 */
let catalogue = null;
let crashed = false;
// Requests run strictly in order: one model, one poster at a time, honest timings.
let queue = Promise.resolve();

const post = (/** @type {FromWorker} */ message) => self.postMessage(message);

/**
 * Ids of requests received and not yet started; those the client aborted meanwhile.
 * @type {Set<number>}
 */
const queued = new Set();
/** @type {Set<number>} */
const cancelled = new Set();

self.onmessage = (/** @type {MessageEvent<ToWorker>} */ { data }) => {
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

/** @param {PostedRequest} request */
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

/** @param {Error} error */
function reportCrash(error) {
  if (crashed) return;
  crashed = true;
  // Left there by the panic hook the wasm build's `start` installs.
  const panic = /** @type {{ onesheetLastPanic?: unknown }} */ (globalThis).onesheetLastPanic;
  post({
    type: 'crashed',
    message: panic
      ? `Rust panic: ${String(panic).replace(/\s+/g, ' ').trim()}`
      : `WebAssembly trap: ${error.message}`,
  });
}

/**
 * @param {LoadRequest} request
 * @returns {Promise<LoadInfo>}
 */
async function load({
  wasmUrl,
  webgpuWasmUrl = null,
  modelUrl,
  backend,
  build: wantedBuild = null,
  relaxedSimd = true,
  allowCrossOrigin = false,
  indexUrl = null,
  similarCount = SIMILAR_POSTERS,
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
  /** @type {LoadInfo['timing']} */
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
  const bytes = /** @type {Uint8Array} */ (bundles.get(modelUrl)); // fetched above, or before
  const loaded = await wasm.Onesheet.create(bytes, runOn, { warmUp: runOn === 'auto' });
  model = loaded;
  active = wasm;
  warmed = runOn === 'auto';
  timing.totalMs = performance.now() - started;
  let selection = loaded.selection;
  if (plan.fallback) {
    selection = { ...selection, requested: 'auto', reason: `no WebGPU: ${plan.fallback}` };
    // A build that could not be had this time (still building, offline) may be there next
    // time: `auto` should not remember the CPU for it.
    if (plan.temporary) selection.provisional = true;
  }
  return {
    backend: loaded.backend,
    selection,
    build,
    // The instruction set the model's wasm runs: 'relaxed-simd' (the CPU build's FMA
    // compilation) or 'simd128'.
    simd: builds.get(build)?.relaxed ? 'relaxed-simd' : 'simd128',
    manifest: loaded.manifest,
    downloads: { wasm: downloadedWasm, model: bundle?.info ?? null },
    // Milliseconds from the load request: the wasm downloaded (or read from the cache) and
    // compiled, the bundle downloaded or read, the model ready.
    timing,
    catalogue: indexUrl ? await loadIndex(loaded, indexUrl, similarCount, allowCrossOrigin) : null,
  };
}

/**
 * Which build a load needs: `{ build: 'cpu' | 'webgpu', fallback? }`. `cpu` needs only the CPU
 * build (or the one `wantedBuild` names, which runs the CPU too); `webgpu` the WebGPU one;
 * `auto` the WebGPU one (to compare both) only where this browser offers a WebGPU adapter and
 * the page has a WebGPU build, otherwise the CPU with the reason as `fallback` (`temporary`
 * when the reason may pass: set by `load` when the WebGPU build could not be had).
 * @param {Backend} backend
 * @param {string | null} webgpuWasmUrl
 * @param {Build | null} wantedBuild
 * @returns {Promise<{ build: Build, fallback?: string, temporary?: boolean }>}
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
 * @param {Build} build
 * @param {{ cpu: string, webgpu: string | null, relaxed: string | null }} urls
 * @param {boolean} allowCrossOrigin
 * @returns {Promise<{ wasm: WasmBuild, downloaded: Download | null }>}
 */
async function instantiate(build, urls, allowCrossOrigin) {
  const built = builds.get(build);
  if (built) return { wasm: built.wasm, downloaded: null };
  /** @type {Promise<WasmBuild>} */
  const glue = import(GLUE[build]);
  let loaded = null;
  if (build === 'cpu' && urls.relaxed) {
    loaded = await instantiateFrom(glue, urls.relaxed, allowCrossOrigin).catch(() => null);
  }
  const relaxed = loaded !== null;
  // planBuild asks for the WebGPU build only where the page has one.
  loaded ??= await instantiateFrom(glue, /** @type {string} */ (urls[build]), allowCrossOrigin);
  builds.set(build, { wasm: loaded.wasm, relaxed });
  return loaded;
}

/**
 * @param {Promise<WasmBuild>} glue
 * @param {string} url
 * @param {boolean} allowCrossOrigin
 */
async function instantiateFrom(glue, url, allowCrossOrigin) {
  const [wasm, fetched] = await Promise.all([glue, fetchOnce(url, 'wasm', allowCrossOrigin)]);
  post({ type: 'status', phase: 'compiling' });
  const source = 'response' in fetched ? fetched.response : (fetched.module ?? fetched.bytes);
  await wasm.default({ module_or_path: source });
  return { wasm, downloaded: fetched.info };
}

/**
 * Loads the catalogue index into `model`: `{ url, posters, thumbnails }`, or `{ url, error }`
 * when it cannot be had (missing, damaged, made with another model). The model works without.
 * @param {Model} model
 * @param {string} url
 * @param {number} count
 * @param {boolean} allowCrossOrigin
 * @returns {Promise<Catalogue>}
 */
async function loadIndex(model, url, count, allowCrossOrigin) {
  try {
    checkUrl(url, 'index', allowCrossOrigin);
    if (catalogue?.url !== url) {
      catalogue = { url, bytes: (await fetchOnce(url, 'index', allowCrossOrigin)).bytes };
    }
    const similar = Math.max(1, Math.min(MAX_SIMILAR_POSTERS, count | 0));
    return { url, ...model.loadIndex(catalogue.bytes, similar) };
  } catch (error) {
    return { url, error: describe(error) };
  }
}

/**
 * Throws unless `url` may be fetched: the client's own rule (`allowedUrl`), enforced here too
 * because the worker is what fetches.
 * @param {string} url
 * @param {Resource} resource
 * @param {boolean} allowCrossOrigin
 */
function checkUrl(url, resource, allowCrossOrigin) {
  allowedUrl(url, { base: self.location.href, allowCrossOrigin, what: NAMES[resource] });
}

/**
 * Over the limit: a clear error.
 * @param {Resource} resource
 * @param {number | null} bytes its size, when known
 */
function tooBig(resource, bytes) {
  return new Error(
    `${NAMES[resource]} is ${bytes === null ? 'larger than' : `${mebibytes(bytes)}, over`} ` +
      `the ${mebibytes(MAX_BYTES[resource])} limit; it was not loaded`,
  );
}

/**
 * @param {ClassifyRequest} request
 * @returns {Promise<ClassifyResult>}
 */
async function classify(request) {
  if (!model) throw new Error('no model is loaded');
  const options = request.year === undefined ? undefined : { year: request.year };
  const result =
    'rgba' in request
      ? await model.classifyRgba(new Uint8Array(request.rgba), request.width, request.height, options)
      : await model.classify(new Uint8Array(request.bytes), options);
  // Pictures of similar posters are named relative to the index (only a loaded one finds any).
  const index = catalogue?.url;
  for (const poster of result.similar ?? []) {
    if (poster.thumbnail && index) poster.thumbnail = new URL(poster.thumbnail, index).href;
  }
  return result;
}

/**
 * @overload
 * @param {string} url
 * @param {'wasm'} resource
 * @param {boolean} allowCrossOrigin
 * @returns {Promise<Fetched | CachedWasm>}
 */
/**
 * @overload
 * @param {string} url
 * @param {'model' | 'index'} resource
 * @param {boolean} allowCrossOrigin
 * @returns {Promise<Fetched>}
 */
/**
 * The bytes at `url` (already checked by `checkUrl`) — for the wasm, its compiled `module` or
 * a cached `response` to compile while reading —, from the Cache API when it holds a copy
 * the server still vouches for (same ETag / Last-Modified / length on a HEAD request, for the
 * wasm a conditional GET; any copy at all when offline), else downloaded with progress
 * reports and stored for next time. Never more than MAX_BYTES[resource].
 * @param {string} url
 * @param {Resource} resource
 * @param {boolean} allowCrossOrigin
 * @returns {Promise<Fetched | CachedWasm>}
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
  // Only a status with no body (204, 205, 304) has none: nothing onesheet serves.
  if (!body) throw new Error(`could not download ${shorten(url)}: HTTP ${response.status} with no body`);
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
    /** @type {Record<string, string>} */
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

/**
 * Asks the server whether `cached` is still its copy of `url`; `mode` as for the download.
 * @param {string} url
 * @param {Response} cached
 * @param {RequestMode} mode
 */
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
 * @param {string} url
 * @param {Response} cached
 * @param {RequestMode} mode
 * @returns {Promise<CachedWasm | null>}
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

/**
 * Whether the server's `response` is the version of the file `cached` holds.
 * @param {Response} response
 * @param {Response} cached
 */
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

/** @param {unknown} error */
function describe(error) {
  return error instanceof Error ? error.message : String(error);
}

/** @param {number} bytes */
function mebibytes(bytes) {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
