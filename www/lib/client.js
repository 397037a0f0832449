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
//   progress  { resource: 'wasm' | 'model' | 'index', loaded, total, cached }  bytes, while
//             downloading
//   status    { phase: 'downloading' | 'compiling' | 'warming-up' | 'ready' | 'restarting'
//               | 'failed', backend?, message? }
//   ready     the same object `ready` resolves to, after every (re)load
//   restart   { reason, reloading }  the model crashed (a Rust panic) and a fresh worker replaced
//             it; reloading: it was the first worker, and `ready` follows once its replacement
//             has loaded (otherwise the pool's other workers carry on meanwhile)
//
// The worker protocol (the messages between the client and worker.js) is typed in protocol.js;
// the workers themselves are run by pool.js, and the URL rules live in urls.js.

import { MAX_WORKERS, WorkerPool } from './pool.js';
import { SIMILAR_POSTERS } from './protocol.js';
import { allowedUrl, resolveUrl as resolve } from './urls.js';

export { allowedUrl, shorten } from './urls.js';

/** @typedef {import('./protocol.js').Backend} Backend */
/** @typedef {import('./protocol.js').LoadRequest} LoadRequest */
/** @typedef {import('./protocol.js').ClassifyRequest} ClassifyRequest */
/** @typedef {import('./protocol.js').LoadInfo} LoadInfo */
/** @typedef {import('./protocol.js').ClassifyResult} ClassifyResult */
/** @typedef {import('./protocol.js').Selection} Selection */
/** @typedef {import('./protocol.js').Progress} Progress */
/** @typedef {import('./protocol.js').Phase} Phase */
/** @typedef {import('./pool.js').Lane} Lane */

const HERE = import.meta.url;

const MiB = 1024 * 1024;
/**
 * The largest image file any face reads: no poster scan is bigger, and a bigger one is refused
 * by its size before it is read, previewed or handed to the model.
 */
export const MAX_FILE_BYTES = 64 * MiB;

/**
 * Why `file` (a Blob) is too big to read, or null when it is not.
 * @param {unknown} file
 */
export function tooBigToRead(file) {
  if (!(file instanceof Blob) || file.size <= MAX_FILE_BYTES) return null;
  const mebibytes = (/** @type {number} */ bytes) => `${(bytes / MiB).toFixed(1)} MiB`;
  return `the file is ${mebibytes(file.size)}; the limit is ${mebibytes(MAX_FILE_BYTES)} (it was not read)`;
}

/** Consecutive crashes (with no success between them) after which the client gives up. */
const MAX_RESTARTS = 3;

/** A request the model crashed on: `crashed` is true and the client has already restarted. */
export class ModelCrashedError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'ModelCrashedError';
    this.crashed = true;
  }
}

/**
 * @typedef {object} ClientOptions
 * @property {string} [model] bundle URL (default models/onesheet.safetensors)
 * @property {Backend} [backend] default 'auto'
 * @property {string} [wasm] URL of the CPU build's onesheet_bg.wasm (default: ../pkg/ beside
 *   this file); where the browser has relaxed SIMD, its FMA compilation
 *   onesheet_relaxed_bg.wasm beside it runs instead, if the site has it
 * @property {boolean} [relaxedSimd] false: always the plain SIMD128 compilation (default
 *   true). The two agree to within float rounding.
 * @property {string | null} [webgpuWasm] URL of the WebGPU build's onesheet_bg.wasm (default:
 *   ../pkg-webgpu/ beside this file), fetched only where WebGPU is asked for or `auto` finds a
 *   WebGPU adapter; null: the site has no WebGPU build, `auto` runs on the CPU
 * @property {string} [worker] URL of worker.js (default: beside this file)
 * @property {string} [base] what relative URLs are relative to (default: the document)
 * @property {boolean} [allowCrossOrigin] fetch the model and wasm from other origins too
 *   (default false: only this page's origin; never from a visitor's input)
 * @property {boolean} [workerViaBlob] start the worker from a `blob:` module, so that the
 *   page's service worker also serves the worker's own scripts (default false)
 * @property {string | null} [index] URL of a catalogue index (`onesheet index`): each result then
 *   lists the posters most like it, `similar: [{ file, score, thumbnail? }]`; `ready` reports
 *   it as `catalogue: { url, posters, thumbnails }` or `{ url, error }`
 * @property {number} [similar] how many similar posters a result lists (default 6)
 * @property {number | string} [workers] how many posters may be classified at once, each in
 *   its own worker with its own copy of the model (about 100 MB each; default 1, at most 8;
 *   WebGPU always uses one). `workers` says how many are running.
 */

/**
 * The client's events (see the header), each a CustomEvent with this `detail`.
 * @typedef {object} ClientEvents
 * @property {Progress} progress
 * @property {{ phase: Phase, backend?: Backend, message?: string }} status
 * @property {LoadInfo} ready
 * @property {{ reason: string, reloading: boolean }} restart
 */

/**
 * A listener for the client's event `K`.
 * @template {keyof ClientEvents} K
 * @typedef {(event: CustomEvent<ClientEvents[K]>) => void} ClientListener
 */

export class OnesheetClient extends EventTarget {
  /** @type {Map<string, OnesheetClient>} */
  static #shared = new Map();

  /**
   * One client per (model, backend) for the whole page: widgets share the worker and model.
   * Each call counts a user; each user calls `release()` once, and the last one to go stops
   * the worker (a later `shared()` starts a fresh one).
   * @param {ClientOptions} [options]
   */
  static shared(options = {}) {
    const key = JSON.stringify([
      resolve(options.model ?? 'models/onesheet.safetensors', options.base),
      options.backend ?? 'auto',
      options.allowCrossOrigin === true,
      options.index ? resolve(options.index, options.base) : null,
      options.similar ?? SIMILAR_POSTERS,
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
  /** @type {string | null} */
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
  /** @type {Backend} */
  #backend;
  /**
   * The model's workers. The first loads (and, for `auto`, measures) alone, so a first visit
   * is not slowed by the others; the rest start once it is ready, on the backend it chose.
   */
  #pool;
  /** How many workers the client may run (`options.workers`). */
  #poolSize;
  /**
   * The latest load's outcome, which later workers follow.
   * @type {LoadInfo | null}
   */
  #loaded = null;
  /** @type {Promise<LoadInfo>} */
  #readyPromise;
  #terminated = false;
  /**
   * Why this client will never run (a refused URL), or null.
   * @type {Error | null}
   */
  #refused = null;
  /**
   * Why this client stopped for good (its model kept crashing), or null.
   * @type {ModelCrashedError | null}
   */
  #stopped = null;

  /** @param {ClientOptions} [options] */
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
      similar: options.similar ?? SIMILAR_POSTERS,
    };
    this.#backend = options.backend ?? 'auto';
    this.#poolSize = Math.max(1, Math.min(MAX_WORKERS, Math.floor(Number(options.workers) || 1)));
    this.#pool = new WorkerPool(this.#options.worker, this.#options.workerViaBlob, {
      // The first worker speaks for the client; the others load from its cache, quietly.
      news: (lane, news) => {
        if (lane === this.#pool.first) this.#emit(news.type, news);
      },
      crash: (lane, reason) => this.#crash(lane, reason),
    });
    try {
      const { allowCrossOrigin, base } = { ...this.#options, base: options.base };
      allowedUrl(this.#options.model, { base, allowCrossOrigin, what: 'the model' });
      allowedUrl(this.#options.wasm, { base, allowCrossOrigin, what: 'the WebAssembly module' });
      if (this.#options.webgpuWasm) {
        allowedUrl(this.#options.webgpuWasm, { base, allowCrossOrigin, what: 'the WebAssembly module' });
      }
    } catch (error) {
      this.#readyPromise = this.#refuse(/** @type {Error} */ (error));
      return;
    }
    this.#pool.add();
    this.#readyPromise = this.#load();
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
    return this.#pool.ready;
  }

  /**
   * Reloads the model on another backend; files already downloaded are not fetched again.
   * @param {Backend} backend
   */
  setBackend(backend) {
    this.#backend = backend;
    if (this.#refused || this.#stopped || this.#terminated) return this.#readyPromise;
    // The other workers follow the new choice once the first has made it.
    this.#pool.shrink(1, new Error('the backend changed'));
    this.#readyPromise = this.#load();
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
   * @param {Blob | ArrayBuffer | ArrayBufferView | ImageData} image
   * @param {{ signal?: AbortSignal, year?: number | string | null }} [options]
   * @returns {Promise<ClassifyResult>}
   */
  async classify(image, { signal, year } = {}) {
    this.#check();
    signal?.throwIfAborted();
    /** @type {ClassifyRequest} */
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
    return this.#pool.request(message, signal);
  }

  /**
   * Tests only: makes the wasm panic, to show a page survives it. Rejects with ModelCrashedError;
   * with a wasm build that lacks the `testing` feature, rejects with a plain error instead.
   */
  panicForTesting() {
    this.#check();
    return this.#pool.request({ type: 'panic-for-testing' });
  }

  /** Stops the worker; pending requests reject. */
  terminate() {
    this.#terminated = true;
    this.#pool.stop(new Error('the onesheet client was terminated'));
  }

  /**
   * EventTarget's, typed: a listener for one of the client's events gets its `detail`.
   * @template {keyof ClientEvents} K
   * @overload
   * @param {K} type
   * @param {ClientListener<K>} listener
   * @param {boolean | AddEventListenerOptions} [options]
   * @returns {void}
   */
  /**
   * @overload
   * @param {string} type
   * @param {EventListenerOrEventListenerObject | null} listener
   * @param {boolean | AddEventListenerOptions} [options]
   * @returns {void}
   */
  /**
   * @override
   * @param {string} type
   * @param {ClientListener<any> | EventListenerOrEventListenerObject | null} listener
   * @param {boolean | AddEventListenerOptions} [options]
   */
  addEventListener(type, listener, options) {
    super.addEventListener(type, /** @type {EventListenerOrEventListenerObject | null} */ (listener), options);
  }

  /**
   * EventTarget's, typed as `addEventListener` is.
   * @template {keyof ClientEvents} K
   * @overload
   * @param {K} type
   * @param {ClientListener<K>} listener
   * @param {boolean | EventListenerOptions} [options]
   * @returns {void}
   */
  /**
   * @overload
   * @param {string} type
   * @param {EventListenerOrEventListenerObject | null} listener
   * @param {boolean | EventListenerOptions} [options]
   * @returns {void}
   */
  /**
   * @override
   * @param {string} type
   * @param {ClientListener<any> | EventListenerOrEventListenerObject | null} listener
   * @param {boolean | EventListenerOptions} [options]
   */
  removeEventListener(type, listener, options) {
    super.removeEventListener(type, /** @type {EventListenerOrEventListenerObject | null} */ (listener), options);
  }

  #check() {
    if (this.#refused) throw this.#refused;
    if (this.#stopped) throw this.#stopped;
    if (this.#terminated) throw new Error('the onesheet client was terminated');
  }

  /**
   * A URL the client may not fetch: no worker, `ready` and every request fail with `error`.
   * @param {Error} error
   * @returns {Promise<LoadInfo>} `ready`, rejected
   */
  #refuse(error) {
    this.#refused = error;
    const ready = Promise.reject(error);
    ready.catch(() => {});
    // After the constructor returns, so listeners added right after it hear it.
    setTimeout(() => this.#emit('status', { phase: 'failed', message: error.message }), 0);
    return ready;
  }

  /**
   * @template {keyof ClientEvents} K
   * @param {K} type
   * @param {ClientEvents[K]} detail
   */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * The load request for `backend`: the same files for every worker.
   * @param {Backend} backend
   * @returns {LoadRequest}
   */
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
   * Asks the first worker to load the model; returns the new `ready`, which the caller makes
   * the client's at once (an older load's outcome is then no longer announced). `auto`
   * measures both backends once per browser and model, then loads the one that won (see
   * `rememberedChoice`); if that one no longer loads, it measures again. Once loaded, the
   * other workers start.
   * @returns {Promise<LoadInfo>}
   */
  #load() {
    this.#emit('status', { phase: 'downloading' });
    this.#loaded = null;
    const remembered = this.#backend === 'auto' ? rememberedChoice(this.#options.model) : null;
    const message = this.#loadMessage(remembered?.backend ?? this.#backend);
    const request = this.#pool.send(this.#pool.first, message, { load: true }).then(
      (info) => {
        if (remembered) return withRemembered(info, remembered);
        if (this.#backend === 'auto') rememberChoice(this.#options.model, info.selection);
        return info;
      },
      (error) => {
        if (!remembered || this.#stopped || this.#terminated) throw error;
        forgetChoice(this.#options.model);
        return this.#pool.send(this.#pool.first, { ...message, backend: 'auto' }, { load: true }).then((info) => {
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
    return ready;
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
    while (this.#pool.lanes.length < size) {
      const lane = this.#pool.add();
      this.#pool.send(lane, { ...this.#loadMessage(info.backend), build: info.build }, { load: true }).catch(() => {
        this.#pool.remove(lane, new Error('this worker could not load the model'));
      });
    }
  }

  /**
   * A worker's wasm instance died: fail what it was running, start a fresh worker in its
   * place with the same model, and resend what was waiting there.
   * @param {Lane} lane
   * @param {string} reason
   */
  #crash(lane, reason) {
    if (this.#terminated) return;
    const { running, waiting } = this.#pool.takeOver(lane);
    if (running && !running.load) {
      running.reject(
        new ModelCrashedError(`the model crashed on this request and was restarted (${reason})`),
      );
    }

    if (this.#pool.crashes > MAX_RESTARTS) {
      const error = new ModelCrashedError(`the model keeps crashing and was stopped (${reason})`);
      this.#stopped = error;
      this.#readyPromise = Promise.reject(error);
      this.#readyPromise.catch(() => {});
      this.#emit('status', { phase: 'failed', message: error.message });
      if (running?.load) running.reject(error);
      for (const pending of waiting) pending.reject(error);
      this.#pool.stop(error);
      return;
    }
    const fresh = this.#pool.replace(lane);
    if (fresh === this.#pool.first) {
      // WebGPU is the likelier culprit when loading crashes, and 'auto' can do without it.
      if (running?.load && this.#backend === 'auto') this.#backend = 'cpu';
      this.#emit('restart', { reason, reloading: true });
      this.#emit('status', { phase: 'restarting', message: reason });
      this.#readyPromise = this.#load();
      // Whoever waits on an older load (via `ready`) gets the fresh one's outcome.
      for (const old of [running, ...waiting]) {
        if (old?.load) this.#readyPromise.then(old.resolve, old.reject);
      }
    } else {
      this.#emit('restart', { reason, reloading: false });
      const { backend = 'cpu', build } = this.#loaded ?? {};
      this.#pool.send(fresh, { ...this.#loadMessage(backend), build }, { load: true }).catch(() => {});
      if (running?.load) running.reject(new Error('this worker crashed while loading'));
    }
    for (const pending of waiting) {
      if (!pending.load) fresh.send(pending);
    }
  }
}

// ---- auto's choice, remembered per browser and model ---------------------------------------

/** How long a measured choice stands before `auto` measures again. */
const CHOICE_DAYS = 30;
const choiceKey = (/** @type {string} */ model) => `onesheet:auto-backend:${model}`;

/**
 * What `auto` chose, as stored.
 * @typedef {{ backend: 'cpu' | 'webgpu', reason: string, userAgent: string, at: string }} Choice
 */

/**
 * The backend `auto` chose on an earlier visit with this model in this browser (the same user
 * agent, within CHOICE_DAYS): `{ backend, reason, at }`, or null. Warming up both backends
 * costs the losing one's download of shaders and runs on every visit; the winner is the same
 * on the same machine.
 * @param {string} model
 * @returns {Choice | null}
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

/**
 * @param {string} model
 * @param {Selection | undefined} selection
 */
function rememberChoice(model, selection) {
  if (selection?.requested !== 'auto' || selection.provisional) return;
  try {
    const { backend, reason } = selection;
    /** @type {Choice} */
    const choice = { backend, reason, userAgent: navigator.userAgent, at: new Date().toISOString() };
    globalThis.localStorage?.setItem(choiceKey(model), JSON.stringify(choice));
  } catch {
    // Full or disabled storage: the next visit measures again.
  }
}

/** @param {string} model */
function forgetChoice(model) {
  try {
    globalThis.localStorage?.removeItem(choiceKey(model));
  } catch {
    // Nothing stored, nothing to forget.
  }
}

/**
 * `info` from a load with the remembered backend, told as `auto`'s choice.
 * @param {LoadInfo} info
 * @param {Choice} choice
 * @returns {LoadInfo}
 */
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
