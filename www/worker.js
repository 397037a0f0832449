// The model's thread: loads the wasm build and a bundle (each fetched once, then kept in the
// Cache API), and answers classify requests one at a time. Spoken to only by
// onesheet-client.js; the protocol is documented there.
//
// A Rust panic aborts the wasm instance (panic = "abort"): nothing can run in it afterwards.
// This worker then reports `crashed` and refuses further work; the client replaces it.
import init, { Onesheet, panicForTesting } from './pkg/onesheet.js';

const CACHE = 'onesheet-v1';

let initialised = false;
let model = null;
/** Bundle bytes by URL, so switching backends does not fetch again. */
const bundles = new Map();
let crashed = false;
// Requests run strictly in order: one model, one poster at a time, honest timings.
let queue = Promise.resolve();

const post = (message) => self.postMessage(message);

self.onmessage = ({ data }) => {
  queue = queue.then(() => handle(data));
};

async function handle(request) {
  const { id, type } = request;
  if (crashed) {
    post({ id, type: 'error', message: 'the model has crashed; it is being restarted' });
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
        value = await panicForTesting();
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

async function load({ wasmUrl, modelUrl, backend }) {
  const [wasm, bundle] = await Promise.all([
    initialised ? null : fetchOnce(wasmUrl, 'wasm'),
    bundles.has(modelUrl) ? null : fetchOnce(modelUrl, 'model'),
  ]);
  if (!initialised) {
    post({ type: 'status', phase: 'compiling' });
    await init({ module_or_path: wasm.bytes });
    initialised = true;
  }
  if (bundle) {
    bundles.clear();
    bundles.set(modelUrl, bundle.bytes);
  }
  post({ type: 'status', phase: 'warming-up', backend });
  model?.free();
  model = null;
  model = await Onesheet.create(bundles.get(modelUrl), backend);
  return {
    backend: model.backend,
    selection: model.selection,
    manifest: model.manifest,
    downloads: { wasm: wasm?.info ?? null, model: bundle?.info ?? null },
  };
}

async function classify({ bytes, rgba, width, height }) {
  if (!model) throw new Error('no model is loaded');
  if (rgba) return model.classifyRgba(new Uint8Array(rgba), width, height);
  return model.classify(new Uint8Array(bytes));
}

/**
 * The bytes at `url`, from the Cache API when it holds a copy the server still vouches for
 * (same ETag / Last-Modified / length on a HEAD request; any copy at all when offline), else
 * downloaded with progress reports and stored for next time.
 */
async function fetchOnce(url, resource) {
  const cache = await openCache();
  const cached = await cache?.match(url);
  if (cached && (await stillCurrent(url, cached))) {
    const bytes = new Uint8Array(await cached.arrayBuffer());
    post({ type: 'progress', resource, loaded: bytes.length, total: bytes.length, cached: true });
    return { bytes, info: { url, bytes: bytes.length, cached: true } };
  }
  let response;
  try {
    response = await fetch(url, { cache: 'no-store' });
  } catch (error) {
    throw new Error(`could not download ${url}: ${describe(error)}`);
  }
  if (!response.ok) {
    throw new Error(`could not download ${url}: HTTP ${response.status} ${response.statusText}`);
  }
  const total = Number(response.headers.get('content-length')) || 0;
  const chunks = [];
  let loaded = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    post({ type: 'progress', resource, loaded, total: Math.max(total, loaded), cached: false });
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
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
  return { bytes, info: { url, bytes: loaded, cached: false } };
}

async function openCache() {
  try {
    return self.caches ? await caches.open(CACHE) : null;
  } catch {
    return null; // storage disabled (private mode, insecure context): download every time
  }
}

async function stillCurrent(url, cached) {
  let head;
  try {
    head = await fetch(url, { method: 'HEAD', cache: 'no-store' });
  } catch {
    return true; // offline: the cached copy is all there is
  }
  if (!head.ok) return false;
  for (const name of ['etag', 'last-modified']) {
    const now = head.headers.get(name);
    const then = cached.headers.get(name);
    if (now && then) return now === then;
  }
  const now = head.headers.get('content-length');
  const then = cached.headers.get('content-length');
  return !now || !then || now === then;
}

function describe(error) {
  return error instanceof Error ? error.message : String(error);
}
