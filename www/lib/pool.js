// The client's model workers: each a Lane (one worker and the requests it has not answered),
// numbered requests routed to the ready worker with the least work queued, aborts turned into
// cancels, and the workers' messages sorted into answers and news for the client. What to load,
// when to restart and what to tell the page stay with the client (client.js): the pool only
// carries requests and reports what happened to them.

/** @typedef {import('./protocol.js').Request} Request */
/** @typedef {import('./protocol.js').PostedRequest} PostedRequest */
/** @typedef {import('./protocol.js').FromWorker} FromWorker */
/** @typedef {import('./protocol.js').Progress} Progress */
/** @typedef {import('./protocol.js').Status} Status */
/** @typedef {import('./protocol.js').Answers} Answers */
/** @typedef {import('./protocol.js').ToWorker} ToWorker */

/**
 * A request posted and not yet answered. `load`: a load request, which makes its worker ready.
 * @typedef {object} Pending
 * @property {PostedRequest} message
 * @property {(value: any) => void} resolve
 * @property {(reason: unknown) => void} reject
 * @property {boolean} [load]
 */

/**
 * What the pool tells its owner.
 * @typedef {object} PoolEvents
 * @property {(lane: Lane, news: Progress | Status) => void} news a worker's download progress
 *   or load phase
 * @property {(lane: Lane, reason: string) => void} crash a worker's wasm instance died (or the
 *   worker itself failed): the owner decides what replaces it (`takeOver`, `replace`)
 */

/** The most workers one pool runs: each holds a model (~100 MB with its buffers). */
export const MAX_WORKERS = 8;

export class WorkerPool {
  /**
   * The workers, in the order they started (a crashed one's replacement takes its place).
   * @type {Lane[]}
   */
  lanes = [];
  /** Crashes with no successful request between them (all workers together). */
  crashes = 0;
  #url;
  #viaBlob;
  #events;
  #nextId = 1;

  /**
   * @param {string} url worker.js
   * @param {boolean} viaBlob start the workers from `blob:` modules (see `startWorker`)
   * @param {PoolEvents} events
   */
  constructor(url, viaBlob, events) {
    this.#url = url;
    this.#viaBlob = viaBlob;
    this.#events = events;
  }

  /** The first worker (undefined once the pool has stopped). */
  get first() {
    return this.lanes[0];
  }

  /** How many workers have their model loaded. */
  get ready() {
    return this.lanes.filter((lane) => lane.ready).length;
  }

  /** Starts one more worker, after the others. */
  add() {
    const lane = this.#spawn();
    this.lanes.push(lane);
    return lane;
  }

  /**
   * Stops `lane`'s worker and drops it; what it had not answered rejects with `error`.
   * @param {Lane} lane
   * @param {unknown} error
   */
  remove(lane, error) {
    if (!this.lanes.includes(lane)) return;
    this.lanes.splice(this.lanes.indexOf(lane), 1);
    lane.stop(error);
  }

  /**
   * Stops every worker after the first `keep`; what they had not answered rejects with `error`.
   * @param {number} keep
   * @param {unknown} error
   */
  shrink(keep, error) {
    for (const lane of this.lanes.splice(keep)) lane.stop(error);
  }

  /**
   * Takes a dead worker's requests away from it: the one it was running (if any) and those
   * waiting behind it, for the owner to fail or send again. The worker is terminated.
   * @param {Lane} lane
   * @returns {{ running: Pending | undefined, waiting: Pending[] }}
   */
  takeOver(lane) {
    lane.worker.terminate();
    const running = lane.running === null ? undefined : lane.pending.get(lane.running);
    if (lane.running !== null) lane.pending.delete(lane.running);
    const waiting = [...lane.pending.values()];
    lane.pending.clear();
    return { running, waiting };
  }

  /**
   * A fresh worker in `lane`'s place (after `takeOver`).
   * @param {Lane} lane
   */
  replace(lane) {
    const fresh = this.#spawn();
    this.lanes[this.lanes.indexOf(lane)] = fresh;
    return fresh;
  }

  /**
   * Sends a request to the ready worker with the least work queued (the first worker while
   * none is ready: the request waits there behind the load).
   * @template {Request} R
   * @param {R} message
   * @param {AbortSignal} [signal]
   * @returns {Promise<Answers[R['type']]>}
   */
  request(message, signal) {
    const ready = this.lanes.filter((lane) => lane.ready);
    const lane = ready.length
      ? ready.reduce((best, lane) => (lane.pending.size < best.pending.size ? lane : best))
      : this.lanes[0];
    return this.send(lane, message, { signal });
  }

  /**
   * Sends a request to `lane`'s worker. With `signal` aborted before the answer, it rejects
   * with the signal's reason, and the worker skips the request if it has not started it.
   * @template {Request} R
   * @param {Lane} lane
   * @param {R} message
   * @param {{ load?: boolean, signal?: AbortSignal }} [options]
   * @returns {Promise<Answers[R['type']]>}
   */
  send(lane, message, { load = false, signal } = {}) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      /** @type {Pending} */
      const pending = { message: { ...message, id }, resolve, reject, load };
      if (signal) {
        const abort = () => {
          // The request may have moved to a fresh worker since (a crash).
          const owner = this.lanes.find((l) => l.pending.get(id) === pending);
          if (!owner) return;
          owner.pending.delete(id);
          owner.post({ type: 'cancel', id });
          reject(signal.reason);
        };
        signal.addEventListener('abort', abort, { once: true });
        /** @type {<T>(settle: (value: T) => void) => (value: T) => void} */
        const settling = (settle) => (value) => {
          signal.removeEventListener('abort', abort);
          settle(value);
        };
        pending.resolve = settling(resolve);
        pending.reject = settling(reject);
      }
      lane.send(pending);
    });
  }

  /**
   * Stops every worker; what they had not answered rejects with `error`.
   * @param {unknown} error
   */
  stop(error) {
    this.shrink(0, error);
  }

  /** A fresh worker, its messages routed back here. */
  #spawn() {
    const lane = new Lane(startWorker(this.#url, this.#viaBlob));
    lane.worker.onmessage = ({ data }) => this.#receive(lane, data);
    // A worker that fails to start at all (bad URL, syntax error) or throws uncaught.
    lane.worker.onerror = (event) => {
      event.preventDefault();
      this.#crash(lane, `the worker failed: ${event.message || 'it could not start'}`);
    };
    return lane;
  }

  /**
   * @param {Lane} lane
   * @param {FromWorker} data
   */
  #receive(lane, data) {
    switch (data.type) {
      case 'progress':
      case 'status':
        this.#events.news(lane, data);
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
          else this.crashes = 0;
          pending.resolve(data.value);
        } else {
          pending.reject(new Error(data.message));
        }
      }
    }
  }

  /**
   * @param {Lane} lane
   * @param {string} reason
   */
  #crash(lane, reason) {
    if (!this.lanes.includes(lane)) return; // stopped or replaced already
    this.crashes += 1;
    this.#events.crash(lane, reason);
  }
}

/** One model worker and the requests it has not answered yet. */
export class Lane {
  /** @param {Worker} worker */
  constructor(worker) {
    this.worker = worker;
    /** @type {Map<number, Pending>} */
    this.pending = new Map();
    /**
     * The id of the request the worker is running, or null.
     * @type {number | null}
     */
    this.running = null;
    /** Whether its model is loaded (the first load succeeded). */
    this.ready = false;
  }

  /**
   * Posts a request and keeps it until it is answered.
   * @param {Pending} pending
   */
  send(pending) {
    this.pending.set(pending.message.id, pending);
    this.post(pending.message);
  }

  /** @param {ToWorker} message */
  post(message) {
    this.worker.postMessage(message);
  }

  /**
   * Stops the worker; what it had not answered rejects with `error`.
   * @param {unknown} error
   */
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
 * @param {string} url
 * @param {boolean} [viaBlob]
 */
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
