// onesheet's browser client: the model in a Web Worker behind a small promise API, for every
// face of onesheet (the drop page, a kiosk, a shop widget). No framework, no build step.
//
//   import { OnesheetClient } from './lib/client.js';
//   const client = new OnesheetClient({ model: 'models/onesheet.safetensors', backend: 'auto' });
//   client.addEventListener('progress', (e) => console.log(e.detail)); // download progress
//   const info = await client.ready;      // { backend, selection, manifest, downloads }
//   const r = await client.classify(file); // Blob | ArrayBuffer | typed array | ImageData
//   client.classify(file, { signal });     // an AbortSignal cancels it (rejects with its reason)
//   client.classify(file, { year: 1958 }); // the release year, when known, refines the genres
//   r.scores.Action; r.genres; r.decisions; r.timing.totalMs; r.backend
//
// Several widgets on one page share one worker and one model: `OnesheetClient.shared(options)`
// counts its users and `client.release()` stops the worker when the last one goes.
//
// The client fetches only http(s) URLs on the page's own origin, unless it is told otherwise
// with `allowCrossOrigin: true` (a deliberate choice of whoever embeds it, never a visitor's
// query string); a refused URL fails `ready` and every request, and nothing is fetched. The
// worker enforces the same rule and caps each download (64 MiB for the model, 64 MiB for the
// wasm). `allowedUrl(url, options)` applies the rule for a page that wants to check first.
//
// Events (CustomEvent, payload in `detail`):
//   progress  { resource: 'wasm' | 'model', loaded, total, cached }  bytes, while downloading
//   status    { phase: 'downloading' | 'compiling' | 'warming-up' | 'ready' | 'restarting'
//               | 'failed', backend?, message? }
//   ready     the same object `ready` resolves to, after every (re)load
//   restart   { reason, reloading }  the model crashed (a Rust panic) and a fresh worker replaced
//             it; reloading: it was the first worker, and `ready` follows once its replacement
//             has loaded (otherwise the pool's other workers carry on meanwhile)
//
// Worker protocol (worker.js; structured-clone messages; requests run one at a time, in order):
//   → { id, type: 'load', wasmUrl, webgpuWasmUrl?, relaxedSimd?, modelUrl,
//       backend: 'auto' | 'cpu' | 'webgpu', build?: 'cpu' | 'webgpu', allowCrossOrigin? }
//       wasmUrl: the CPU build; webgpuWasmUrl: the WebGPU build, null when the site has none;
//       relaxedSimd: false never loads the CPU build's relaxed-SIMD compilation (default true);
//       build: which wasm build runs 'cpu' (default the CPU one); allowCrossOrigin: default
//       false, every URL must be on the worker's origin (http(s) only in any case)
//   → { id, type: 'classify', bytes: ArrayBuffer, year? } | { id, type: 'classify', rgba, width,
//       height, year? }                          (year: a number or numeric string; see classify)
//   → { id, type: 'panic-for-testing' }             (a deliberate Rust panic; only wasm built
//                                                   with the `testing` feature has it)
//   → { type: 'cancel', id }                        request `id` was aborted: if it has not
//                                                   started, the worker answers it with an
//                                                   error at once instead of running it
//   ← { id, type: 'busy' }                          the worker started request `id`
//   ← { id, type: 'result', value } | { id, type: 'error', message }
//   ← { type: 'progress', resource, loaded, total, cached } | { type: 'status', phase, backend? }
//   ← { type: 'crashed', message }                  the wasm instance is dead; replace the worker

const HERE = import.meta.url;

const MiB = 1024 * 1024;
/**
 * The largest image file any face reads: no poster scan is bigger, and a bigger one is refused
 * by its size before it is read, previewed or handed to the model.
 */
export const MAX_FILE_BYTES = 64 * MiB;

/** Why `file` (a Blob) is too big to read, or null when it is not. */
export function tooBigToRead(file) {
  if (!(file instanceof Blob) || file.size <= MAX_FILE_BYTES) return null;
  const mebibytes = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;
  return `the file is ${mebibytes(file.size)}; the limit is ${mebibytes(MAX_FILE_BYTES)} (it was not read)`;
}

/** Consecutive crashes (with no success between them) after which the client gives up. */
const MAX_RESTARTS = 3;

/**
 * `url` resolved against `base` (default: the document), as long as the client may fetch it:
 * an http: or https: URL, on this page's origin unless `allowCrossOrigin`. Throws an Error that
 * says why not (for a person to read: `what` names the resource, e.g. 'the model').
 */
export function allowedUrl(url, { base, allowCrossOrigin = false, what = 'the file' } = {}) {
  let resolved;
  try {
    resolved = new URL(url, base ?? globalThis.document?.baseURI ?? HERE);
  } catch {
    throw new Error(`${what} URL ${shorten(url)} is not a valid URL`);
  }
  if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') {
    throw new Error(`refused to load ${what} from ${shorten(url)}: only http: and https: URLs are allowed`);
  }
  const here = globalThis.location?.origin;
  if (!allowCrossOrigin && resolved.origin !== here) {
    throw new Error(
      `refused to load ${what} from ${resolved.origin}: only this site's own files (${here}) are allowed`,
    );
  }
  return resolved.href;
}

/** A request the model crashed on: `crashed` is true and the client has already restarted. */
export class ModelCrashedError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ModelCrashedError';
    this.crashed = true;
  }
}

export class OnesheetClient extends EventTarget {
  static #shared = new Map();

  /**
   * One client per (model, backend) for the whole page: widgets share the worker and model.
   * Each call counts a user; each user calls `release()` once, and the last one to go stops
   * the worker (a later `shared()` starts a fresh one).
   */
  static shared(options = {}) {
    const key = JSON.stringify([
      resolve(options.model ?? 'models/onesheet.safetensors', options.base),
      options.backend ?? 'auto',
      options.allowCrossOrigin === true,
      options.index ? resolve(options.index, options.base) : null,
      options.similar ?? 6,
    ]);
    let client = OnesheetClient.#shared.get(key);
    if (!client || client.#terminated) {
      client = new OnesheetClient(options);
      client.#sharedKey = key;
      OnesheetClient.#shared.set(key, client);
    }
    client.#users += 1;
    return client;
  }

  /** Users of a shared client (`shared()` calls not yet released). */
  #users = 0;
  #sharedKey = null;

  /**
   * One user is done with this client: a shared client stops when its last user releases it,
   * any other at once.
   */
  release() {
    if (this.#sharedKey !== null) {
      this.#users = Math.max(0, this.#users - 1);
      if (this.#users > 0) return;
      if (OnesheetClient.#shared.get(this.#sharedKey) === this) {
        OnesheetClient.#shared.delete(this.#sharedKey);
      }
    }
    if (!this.#terminated) this.terminate();
  }

  /** Whether the worker has been stopped (`terminate()` or the last `release()`). */
  get terminated() {
    return this.#terminated;
  }

  #options;
  #backend;
  /**
   * The model's workers. The first loads (and, for `auto`, measures) alone, so a first visit
   * is not slowed by the others; the rest start once it is ready, on the backend it chose.
   */
  #lanes = [];
  /** How many workers the client may run (`options.workers`). */
  #poolSize;
  /** The latest load's outcome, which later workers follow. */
  #loaded = null;
  #nextId = 1;
  /** Crashes with no successful request between them (all workers together). */
  #crashes = 0;
  #readyPromise;
  #terminated = false;
  /** Why this client will never run (a refused URL), or null. */
  #refused = null;
  /** Why this client stopped for good (its model kept crashing), or null. */
  #stopped = null;

  /**
   * @param {object} [options]
   * @param {string} [options.model] bundle URL (default models/onesheet.safetensors)
   * @param {'auto'|'cpu'|'webgpu'} [options.backend] default 'auto'
   * @param {string} [options.wasm] URL of the CPU build's onesheet_bg.wasm (default: ../pkg/
   *   beside this file); where the browser has relaxed SIMD, its FMA compilation
   *   onesheet_relaxed_bg.wasm beside it runs instead, if the site has it
   * @param {boolean} [options.relaxedSimd] false: always the plain SIMD128 compilation (default
   *   true). The two agree to within float rounding.
   * @param {string|null} [options.webgpuWasm] URL of the WebGPU build's onesheet_bg.wasm
   *   (default: ../pkg-webgpu/ beside this file), fetched only where WebGPU is asked for or
   *   `auto` finds a WebGPU adapter; null: the site has no WebGPU build, `auto` runs on the CPU
   * @param {string} [options.worker] URL of worker.js (default: beside this file)
   * @param {string} [options.base] what relative URLs are relative to (default: the document)
   * @param {boolean} [options.allowCrossOrigin] fetch the model and wasm from other origins
   *   too (default false: only this page's origin; never from a visitor's input)
   * @param {boolean} [options.workerViaBlob] start the worker from a `blob:` module, so that
   *   the page's service worker also serves the worker's own scripts (default false)
   * @param {string} [options.index] URL of a catalogue index (`onesheet index`): each result
   *   then lists the posters most like it, `similar: [{ file, score, thumbnail? }]`; `ready`
   *   reports it as `catalogue: { url, posters, thumbnails }` or `{ url, error }`
   * @param {number} [options.similar] how many similar posters a result lists (default 6)
   * @param {number} [options.workers] how many posters may be classified at once, each in its
   *   own worker with its own copy of the model (about 100 MB each; default 1, at most 8;
   *   WebGPU always uses one). `workers` says how many are running.
   */
  constructor(options = {}) {
    super();
    this.#options = {
      model: resolve(options.model ?? 'models/onesheet.safetensors', options.base),
      wasm: resolve(options.wasm ?? new URL('../pkg/onesheet_bg.wasm', HERE).href, options.base),
      webgpuWasm:
        options.webgpuWasm === null
          ? null
          : resolve(options.webgpuWasm ?? new URL('../pkg-webgpu/onesheet_bg.wasm', HERE).href, options.base),
      worker: resolve(options.worker ?? new URL('worker.js', HERE).href, options.base),
      allowCrossOrigin: options.allowCrossOrigin === true,
      workerViaBlob: options.workerViaBlob === true,
      relaxedSimd: options.relaxedSimd !== false,
      index: options.index ? resolve(options.index, options.base) : null,
      similar: options.similar ?? 6,
    };
    this.#backend = options.backend ?? 'auto';
    this.#poolSize = Math.max(1, Math.min(MAX_WORKERS, Math.floor(Number(options.workers) || 1)));
    try {
      const { allowCrossOrigin, base } = { ...this.#options, base: options.base };
      allowedUrl(this.#options.model, { base, allowCrossOrigin, what: 'the model' });
      allowedUrl(this.#options.wasm, { base, allowCrossOrigin, what: 'the WebAssembly module' });
      if (this.#options.webgpuWasm) {
        allowedUrl(this.#options.webgpuWasm, { base, allowCrossOrigin, what: 'the WebAssembly module' });
      }
    } catch (error) {
      this.#refuse(error);
      return;
    }
    this.#start();
  }

  /**
   * Resolves when the model is loaded: `{ backend, selection, build, simd, manifest, downloads,
   * timing: { wasmMs, modelMs?, totalMs }, catalogue }` (`build`: 'cpu' or 'webgpu', the wasm
   * build that runs it; `simd`: 'relaxed-simd' or 'simd128', the compilation it runs).
   */
  get ready() {
    return this.#readyPromise;
  }

  /** The backend asked for (`ready` says which one runs). */
  get requestedBackend() {
    return this.#backend;
  }

  /** How many workers have the model loaded and take posters now. */
  get workers() {
    return this.#lanes.filter((lane) => lane.ready).length;
  }

  /** Reloads the model on another backend; files already downloaded are not fetched again. */
  setBackend(backend) {
    this.#backend = backend;
    if (this.#refused || this.#stopped || this.#terminated) return this.#readyPromise;
    // The other workers follow the new choice once the first has made it.
    for (const lane of this.#lanes.splice(1)) lane.stop(new Error('the backend changed'));
    this.#load();
    return this.#readyPromise;
  }

  /**
   * Classifies one image: a Blob or File (JPEG, PNG, WebP), its bytes, or an ImageData.
   * Resolves to `{ backend, scores, genres, decisions, explain, similar?, year?, timing }`
   * (`explain`: the predicted genres' maps, see lib/explain.js; `similar`: with an index).
   * `year`, the film's release year when known (a number or a numeric string; empty or absent
   * means unknown), refines the genres by decade; the result echoes it when the model knows
   * years, and an impossible year rejects. Rejects with the reason the
   * image could not be read, or a ModelCrashedError when the model died on it. With `signal`
   * aborted, it rejects at once with the signal's reason: before the image is handed to the
   * worker, it never is; after, the worker skips it if it has not started it.
   */
  async classify(image, { signal, year } = {}) {
    this.#check();
    signal?.throwIfAborted();
    let message;
    if (globalThis.ImageData && image instanceof ImageData) {
      message = { type: 'classify', rgba: image.data.slice().buffer, width: image.width, height: image.height };
    } else if (image instanceof Blob) {
      const refusal = tooBigToRead(image);
      if (refusal) throw new Error(refusal);
      message = { type: 'classify', bytes: await image.arrayBuffer() };
    } else if (image instanceof ArrayBuffer) {
      message = { type: 'classify', bytes: image.slice(0) };
    } else if (ArrayBuffer.isView(image)) {
      const view = new Uint8Array(image.buffer, image.byteOffset, image.byteLength);
      message = { type: 'classify', bytes: view.slice().buffer };
    } else {
      throw new TypeError('classify() takes a Blob, an ArrayBuffer, a typed array or an ImageData');
    }
    signal?.throwIfAborted(); // aborted while the Blob was read
    if (year !== undefined && year !== null && year !== '') message.year = year;
    return this.#request(message, {}, signal);
  }

  /**
   * Tests only: makes the wasm panic, to show a page survives it. Rejects with ModelCrashedError;
   * with a wasm build that lacks the `testing` feature, rejects with a plain error instead.
   */
  panicForTesting() {
    this.#check();
    return this.#request({ type: 'panic-for-testing' });
  }

  /** Stops the worker; pending requests reject. */
  terminate() {
    this.#terminated = true;
    const error = new Error('the onesheet client was terminated');
    for (const lane of this.#lanes.splice(0)) lane.stop(error);
  }

  #check() {
    if (this.#refused) throw this.#refused;
    if (this.#stopped) throw this.#stopped;
    if (this.#terminated) throw new Error('the onesheet client was terminated');
  }

  /** A URL the client may not fetch: no worker, `ready` and every request fail with `error`. */
  #refuse(error) {
    this.#refused = error;
    this.#readyPromise = Promise.reject(error);
    this.#readyPromise.catch(() => {});
    // After the constructor returns, so listeners added right after it hear it.
    setTimeout(() => this.#emit('status', { phase: 'failed', message: error.message }), 0);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #start() {
    this.#lanes.push(this.#spawn());
    this.#load();
  }

  /** A fresh worker, its messages routed back here. */
  #spawn() {
    const lane = new Lane(startWorker(this.#options.worker, this.#options.workerViaBlob));
    lane.worker.onmessage = ({ data }) => this.#receive(lane, data);
    // A worker that fails to start at all (bad URL, syntax error) or throws uncaught.
    lane.worker.onerror = (event) => {
      event.preventDefault();
      this.#crash(lane, `the worker failed: ${event.message || 'it could not start'}`);
    };
    return lane;
  }

  /** The load request for `backend`: the same files for every worker. */
  #loadMessage(backend) {
    return {
      type: 'load',
      wasmUrl: this.#options.wasm,
      webgpuWasmUrl: this.#options.webgpuWasm,
      relaxedSimd: this.#options.relaxedSimd,
      modelUrl: this.#options.model,
      backend,
      allowCrossOrigin: this.#options.allowCrossOrigin,
      indexUrl: this.#options.index,
      similarCount: this.#options.similar,
    };
  }

  /**
   * Asks the first worker to load the model; returns the raw request. `auto` measures both
   * backends once per browser and model, then loads the one that won (see `rememberedChoice`);
   * if that one no longer loads, it measures again. Once loaded, the other workers start.
   */
  #load() {
    this.#emit('status', { phase: 'downloading' });
    this.#loaded = null;
    const remembered = this.#backend === 'auto' ? rememberedChoice(this.#options.model) : null;
    const message = this.#loadMessage(remembered?.backend ?? this.#backend);
    const first = this.#lanes[0];
    const request = this.#send(first, message, { load: true }).then(
      (info) => {
        if (remembered) return withRemembered(info, remembered);
        if (this.#backend === 'auto') rememberChoice(this.#options.model, info.selection);
        return info;
      },
      (error) => {
        if (!remembered || this.#stopped || this.#terminated) throw error;
        forgetChoice(this.#options.model);
        return this.#send(this.#lanes[0], { ...message, backend: 'auto' }, { load: true }).then((info) => {
          rememberChoice(this.#options.model, info.selection);
          return info;
        });
      },
    );
    const ready = request.then(
      (info) => {
        if (this.#readyPromise === ready) {
          this.#loaded = info;
          this.#emit('status', { phase: 'ready', backend: info.backend });
          this.#emit('ready', info);
          this.#grow();
        }
        return info;
      },
      (error) => {
        if (this.#readyPromise === ready) {
          this.#emit('status', { phase: 'failed', message: error.message });
        }
        throw error;
      },
    );
    // Callers see a failure through `ready` or their own requests; not as an unhandled one.
    ready.catch(() => {});
    this.#readyPromise = ready;
    return request;
  }

  /**
   * Starts the workers the pool lacks, on the backend the first one runs (no second
   * measurement). WebGPU has one device to share: one worker. The files come from the cache
   * the first worker filled. A worker that fails to load is dropped; the others go on.
   */
  #grow() {
    const info = this.#loaded;
    if (!info || this.#stopped || this.#terminated) return;
    const size = info.backend === 'webgpu' ? 1 : this.#poolSize;
    while (this.#lanes.length < size) {
      const lane = this.#spawn();
      this.#lanes.push(lane);
      this.#send(lane, { ...this.#loadMessage(info.backend), build: info.build }, { load: true }).catch(() => {
        if (this.#lanes.includes(lane)) {
          this.#lanes.splice(this.#lanes.indexOf(lane), 1);
          lane.stop(new Error('this worker could not load the model'));
        }
      });
    }
  }

  /**
   * Sends a request to the ready worker with the least work queued (the first worker while
   * none is ready: the request waits there behind the load).
   */
  #request(message, extra = {}, signal = undefined) {
    const ready = this.#lanes.filter((lane) => lane.ready);
    const lane = ready.length
      ? ready.reduce((best, lane) => (lane.pending.size < best.pending.size ? lane : best))
      : this.#lanes[0];
    return this.#send(lane, message, extra, signal);
  }

  #send(lane, message, extra = {}, signal = undefined) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const pending = { message: { ...message, id }, resolve, reject, ...extra };
      if (signal) {
        const abort = () => {
          const owner = this.#lanes.find((l) => l.pending.get(id) === pending);
          if (!owner) return;
          owner.pending.delete(id);
          owner.worker.postMessage({ type: 'cancel', id });
          reject(signal.reason);
        };
        signal.addEventListener('abort', abort, { once: true });
        const settle = (fn) => (value) => {
          signal.removeEventListener('abort', abort);
          fn(value);
        };
        pending.resolve = settle(resolve);
        pending.reject = settle(reject);
      }
      lane.post(pending);
    });
  }

  #receive(lane, data) {
    switch (data.type) {
      case 'progress':
      case 'status':
        // The first worker speaks for the client; the others load from its cache, quietly.
        if (lane === this.#lanes[0]) this.#emit(data.type, data);
        return;
      case 'busy':
        lane.running = data.id;
        return;
      case 'crashed':
        this.#crash(lane, data.message);
        return;
      case 'result':
      case 'error': {
        if (lane.running === data.id) lane.running = null;
        const pending = lane.pending.get(data.id);
        if (!pending) return; // aborted
        lane.pending.delete(data.id);
        if (data.type === 'result') {
          if (pending.load) lane.ready = true;
          else this.#crashes = 0;
          pending.resolve(data.value);
        } else {
          pending.reject(new Error(data.message));
        }
      }
    }
  }

  /**
   * A worker's wasm instance died: fail what it was running, start a fresh worker in its
   * place with the same model, and resend what was waiting there.
   */
  #crash(lane, reason) {
    if (this.#terminated || !this.#lanes.includes(lane)) return;
    lane.worker.terminate();
    this.#crashes += 1;

    const running = lane.pending.get(lane.running);
    lane.pending.delete(lane.running);
    const waiting = [...lane.pending.values()];
    lane.pending.clear();
    if (running && !running.load) {
      running.reject(
        new ModelCrashedError(`the model crashed on this request and was restarted (${reason})`),
      );
    }

    if (this.#crashes > MAX_RESTARTS) {
      const error = new ModelCrashedError(`the model keeps crashing and was stopped (${reason})`);
      this.#stopped = error;
      this.#readyPromise = Promise.reject(error);
      this.#readyPromise.catch(() => {});
      this.#emit('status', { phase: 'failed', message: error.message });
      if (running?.load) running.reject(error);
      for (const pending of waiting) pending.reject(error);
      for (const other of this.#lanes.splice(0)) other.stop(error);
      return;
    }
    const fresh = this.#spawn();
    this.#lanes[this.#lanes.indexOf(lane)] = fresh;
    const first = fresh === this.#lanes[0];
    if (first) {
      // WebGPU is the likelier culprit when loading crashes, and 'auto' can do without it.
      if (running?.load && this.#backend === 'auto') this.#backend = 'cpu';
      this.#emit('restart', { reason, reloading: true });
      this.#emit('status', { phase: 'restarting', message: reason });
      const load = this.#load();
      // Whoever waits on an older load (via `ready`) gets the fresh one's outcome.
      for (const old of [running, ...waiting]) {
        if (old?.load) load.then(old.resolve, old.reject);
      }
    } else {
      this.#emit('restart', { reason, reloading: false });
      const { backend = 'cpu', build } = this.#loaded ?? {};
      this.#send(fresh, { ...this.#loadMessage(backend), build }, { load: true }).catch(() => {});
      if (running?.load) running.reject(new Error('this worker crashed while loading'));
    }
    for (const pending of waiting) {
      if (!pending.load) fresh.post(pending);
    }
  }
}

/** The most workers one client runs: each holds a model (~100 MB with its buffers). */
const MAX_WORKERS = 8;

/** One model worker and the requests it has not answered yet. */
class Lane {
  constructor(worker) {
    this.worker = worker;
    /** id → { message, resolve, reject, load? } */
    this.pending = new Map();
    /** The id of the request the worker is running, or null. */
    this.running = null;
    /** Whether its model is loaded (the first load succeeded). */
    this.ready = false;
  }

  post(pending) {
    this.pending.set(pending.message.id, pending);
    this.worker.postMessage(pending.message);
  }

  /** Stops the worker; what it had not answered rejects with `error`. */
  stop(error) {
    this.worker.terminate();
    this.ready = false;
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}

/**
 * A module worker running `url`. Browsers refuse a worker script from another origin (a shop
 * page embedding the widget from an onesheet server), so such a worker starts from a one-line
 * module of the page's own origin (a `blob:` URL) that imports the real one: the import is an
 * ordinary CORS module fetch, and the worker's relative imports resolve against its real URL.
 * The host page's CSP must allow `worker-src blob: <onesheet origin>` for this (a module
 * worker's imports are checked against worker-src; www/README.md gives the whole policy).
 * With `viaBlob` a same-origin worker starts this way too: a blob: worker is controlled by
 * its page's service worker whatever its script's URL (the kiosk, offline, needs that).
 */
// ---- auto's choice, remembered per browser and model ---------------------------------------

/** How long a measured choice stands before `auto` measures again. */
const CHOICE_DAYS = 30;
const choiceKey = (model) => `onesheet:auto-backend:${model}`;

/**
 * The backend `auto` chose on an earlier visit with this model in this browser (the same user
 * agent, within CHOICE_DAYS): `{ backend, reason, at }`, or null. Warming up both backends
 * costs the losing one's download of shaders and runs on every visit; the winner is the same
 * on the same machine.
 */
export function rememberedChoice(model) {
  try {
    const choice = JSON.parse(globalThis.localStorage?.getItem(choiceKey(model)) ?? 'null');
    const fresh = Date.now() - Date.parse(choice?.at) < CHOICE_DAYS * 86_400_000;
    if (fresh && choice.userAgent === navigator.userAgent && ['cpu', 'webgpu'].includes(choice.backend)) {
      return choice;
    }
  } catch {
    // No storage (a sandboxed frame, storage off): measure every time.
  }
  return null;
}

function rememberChoice(model, selection) {
  if (selection?.requested !== 'auto' || selection.provisional) return;
  try {
    const { backend, reason } = selection;
    const choice = { backend, reason, userAgent: navigator.userAgent, at: new Date().toISOString() };
    globalThis.localStorage?.setItem(choiceKey(model), JSON.stringify(choice));
  } catch {
    // Full or disabled storage: the next visit measures again.
  }
}

function forgetChoice(model) {
  try {
    globalThis.localStorage?.removeItem(choiceKey(model));
  } catch {
    // Nothing stored, nothing to forget.
  }
}

/** `info` from a load with the remembered backend, told as `auto`'s choice. */
function withRemembered(info, choice) {
  return {
    ...info,
    selection: {
      ...info.selection,
      requested: 'auto',
      reason: `remembered from ${choice.at.slice(0, 10)}: ${choice.reason}`,
      remembered: true,
    },
  };
}

function startWorker(url, viaBlob = false) {
  if (!viaBlob && new URL(url).origin === globalThis.location?.origin) {
    return new Worker(url, { type: 'module' });
  }
  const source = new Blob([`import ${JSON.stringify(url)};\n`], { type: 'text/javascript' });
  const blobUrl = URL.createObjectURL(source);
  try {
    return new Worker(blobUrl, { type: 'module' });
  } finally {
    // The worker has its own reference to the script by the time it starts fetching.
    setTimeout(() => URL.revokeObjectURL(blobUrl), 60_000);
  }
}

function resolve(url, base) {
  try {
    return new URL(url, base ?? globalThis.document?.baseURI ?? HERE).href;
  } catch {
    return String(url); // refused with a clear error by allowedUrl
  }
}

/** A URL for a message: a long one (a `data:` URL) cut short. */
export function shorten(url) {
  const text = String(url);
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}…` : text);
}
