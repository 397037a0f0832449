// The drop page: posters in (drop, paste, pick), genres out. The model runs in a worker behind
// lib/client.js; this file is only the page. Every name and message from a file or the
// model is written with textContent: nothing here parses HTML.
//
// Files are read lazily: each dropped file gets its row at once, but its bytes (and its
// thumbnail) are read only when a model worker is nearly free, one more than there are
// workers at a time, so a drop of a thousand posters holds a few of them in memory, not all.
// Clear drops what waits.
import { OnesheetClient, allowedUrl, tooBigToRead } from './lib/client.js';
import { fillWhy } from './lib/explain.js';
import { fillGenres, fillScores, ms } from './lib/result.js';
import { fillSimilar } from './lib/similar.js';

/** @typedef {import('./lib/protocol.js').Backend} Backend */
/** @typedef {import('./lib/protocol.js').ClassifyResult} ClassifyResult */
/** @typedef {import('./lib/protocol.js').Progress} Progress */
/** @typedef {import('./lib/protocol.js').Resource} Resource */

/**
 * A poster handed in, as the downloads list it: its result or why it has none (neither yet:
 * still to come).
 * @typedef {{ name: string, size: number, type: string, year?: string, result?: ClassifyResult,
 *   error?: string }} Entry
 */

/**
 * A poster's row on the page (newCard).
 * @typedef {{ item: HTMLElement, thumb: HTMLElement, state: HTMLElement, predicted: HTMLElement,
 *   bars: HTMLElement, why: HTMLElement, layer: HTMLCanvasElement, similar: HTMLElement,
 *   similarList: HTMLElement }} Card
 */

/**
 * A poster waiting for its turn with the model.
 * @typedef {{ file: File, entry: Entry, card: Card, signal: AbortSignal }} Job
 */

const params = new URLSearchParams(location.search);
/** @type {Backend[]} */
const BACKENDS = ['auto', 'cpu', 'webgpu'];
const requested = BACKENDS.find((backend) => backend === params.get('backend')) ?? 'auto';
/**
 * Model workers: one per core up to four (each holds its own model, ~100 MB), so a drop of
 * many posters uses every core; `?workers=N` (1 to 8) sets it.
 */
const WORKERS = Math.max(1, Math.min(8, Math.floor(Number(params.get('workers'))) || Math.min(4, navigator.hardwareConcurrency || 1)));

/** An element of the page (index.html has each of these). */
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const ui = {
  status: $('status'),
  loadLabel: $('load-label'),
  progress: /** @type {HTMLProgressElement} */ ($('load-progress')),
  backendInfo: $('backend-info'),
  backend: /** @type {HTMLSelectElement} */ ($('backend')),
  dropzone: $('dropzone'),
  file: /** @type {HTMLInputElement} */ ($('file')),
  year: /** @type {HTMLInputElement} */ ($('year')),
  posters: $('posters'),
  summary: $('summary'),
  csv: /** @type {HTMLButtonElement} */ ($('download-csv')),
  json: /** @type {HTMLButtonElement} */ ($('download-json')),
  clear: /** @type {HTMLButtonElement} */ ($('clear')),
  template: /** @type {HTMLTemplateElement} */ ($('poster-template')),
  modelInfo: $('model-info'),
};

/**
 * The model the page loads. `?model=` is anyone's link, so it may only name a bundle on this
 * site (http or https): another origin or a data:, blob: or file: URL is refused here, before
 * anything is fetched; the client and its worker hold to the same rule.
 */
let modelUrl = null;
/**
 * Why the model cannot start, when `?model=` was refused.
 * @type {string | null}
 */
let refused = null;
try {
  modelUrl = allowedUrl(params.get('model') ?? 'models/onesheet.safetensors', {
    base: location.href,
    what: 'the model',
  });
} catch (error) {
  refused = `${/** @type {Error} */ (error).message}. Ask for a model with ?model=/models/NAME.safetensors (a file on this site).`;
}

/**
 * The catalogue whose posters "like this" each result lists: `?index=` (on this site, like
 * the model), else the one `onesheet serve --catalogue DIR` serves; none is fine.
 */
let indexUrl = null;
try {
  indexUrl = allowedUrl(params.get('index') ?? 'catalogue/catalogue.index', {
    base: location.href,
    what: 'the catalogue index',
  });
} catch {
  indexUrl = null;
}

const client = modelUrl === null
  ? null
  : new OnesheetClient({ model: modelUrl, backend: requested, index: indexUrl, workers: WORKERS });
// For the console and the browser tests.
/** @type {{ onesheetClient?: OnesheetClient | null }} */ (globalThis).onesheetClient = client;

/**
 * Every poster handed in, in order: { name, size, type, result?, error? }.
 * @type {Entry[]}
 */
const results = [];
/** @type {string[]} */
let genreNames = [];

// ---- loading ---------------------------------------------------------------------------------

/** @type {Partial<Record<Resource, Progress>>} */
const downloads = {};
/** @type {Record<string, string>} */
const PHASES = {
  downloading: 'Downloading the model…',
  compiling: 'Compiling the model…',
  'warming-up': 'Warming up the model…',
  restarting: 'The model crashed and is restarting…',
};

client?.addEventListener('progress', ({ detail }) => {
  downloads[detail.resource] = detail;
  const parts = /** @type {Progress[]} */ (Object.values(downloads));
  const loaded = parts.reduce((sum, p) => sum + p.loaded, 0);
  const total = parts.reduce((sum, p) => sum + p.total, 0);
  showLoading(true);
  if (total > 0) {
    ui.progress.max = total;
    ui.progress.value = loaded;
  }
  const cached = parts.every((p) => p.cached);
  ui.loadLabel.textContent = cached
    ? 'Loading the model from this browser’s cache…'
    : `Downloading the model: ${megabytes(loaded)} of ${megabytes(total)}`;
});

client?.addEventListener('status', ({ detail }) => {
  if (detail.phase === 'ready') return; // the ready event has the details
  if (detail.phase === 'failed') {
    showLoading(false);
    announce(`The model could not start: ${detail.message}`);
    ui.backendInfo.textContent = '';
    return;
  }
  const text = PHASES[detail.phase];
  if (!text) return;
  if (detail.phase !== 'downloading') {
    showLoading(true);
    ui.progress.removeAttribute('value'); // indeterminate
    ui.loadLabel.textContent = text;
  }
  if (detail.phase === 'restarting') announce(`${text} (${detail.message})`);
});

client?.addEventListener('ready', ({ detail }) => {
  performance.mark('onesheet:ready');
  showLoading(false);
  document.body.dataset.backend = detail.backend;
  genreNames = detail.manifest.genres.map((g) => g.name);
  const { selection } = detail;
  ui.backendInfo.textContent =
    `Running on ${backendName(detail.backend)}` +
    (selection.requested === 'auto' ? `: ${selection.reason}` : '') +
    `. Ready in ${ms(selection.loadMs)}.`;
  const provenance = detail.manifest.provenance;
  ui.modelInfo.textContent = `${detail.manifest.architecture}, ${detail.manifest.weights_dtype}` +
    (provenance.trained ? `, trained on ${provenance.training_data}` : ', untrained genre head (test model)') +
    (detail.catalogue?.posters ? `; similar posters from a catalogue of ${detail.catalogue.posters}` : '');
  document.body.dataset.catalogue = detail.catalogue?.posters ? String(detail.catalogue.posters) : '';
  const again = restartedAfter ? `The model was restarted after a crash (${restartedAfter}). ` : '';
  restartedAfter = null;
  announce(`${again}Ready: the model runs on ${backendName(detail.backend)}. Drop posters to classify them.`);
});

/**
 * Why the model last crashed, until the fresh one is ready.
 * @type {string | null}
 */
let restartedAfter = null;
client?.addEventListener('restart', ({ detail }) => {
  if (detail.reloading) {
    restartedAfter = detail.reason; // announced with the fresh model's `ready`
  } else {
    announce(`The model was restarted after a crash (${detail.reason}); the other workers carried on.`);
  }
});

ui.backend.value = requested;
ui.backend.addEventListener('change', () => {
  const url = new URL(location.href);
  url.searchParams.set('backend', ui.backend.value);
  history.replaceState(null, '', url);
  // The select offers the backends only.
  client?.setBackend(/** @type {Backend} */ (ui.backend.value)).catch(() => {}); // shown by the status listener
});

if (refused) {
  showLoading(false);
  ui.backend.disabled = true;
  ui.modelInfo.textContent = 'none';
  announce(`The model could not start: ${refused}`);
}

/** @param {boolean} on */
function showLoading(on) {
  /** @type {HTMLElement} */ (ui.progress.closest('.load')).hidden = !on;
}

// ---- input: drop, paste, pick -----------------------------------------------------------------

ui.file.addEventListener('change', () => {
  addFiles(ui.file.files ?? []);
  ui.file.value = ''; // choosing the same file again still counts
});

ui.dropzone.addEventListener('keydown', (event) => {
  if (event.target === ui.dropzone && (event.key === 'Enter' || event.key === ' ')) {
    event.preventDefault();
    ui.file.click();
  }
});

// A drop anywhere on the page counts, so a near miss does not navigate away to the image.
document.addEventListener('dragover', (event) => {
  if (!event.dataTransfer?.types.includes('Files')) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = 'copy';
  ui.dropzone.classList.add('dragging');
});
document.addEventListener('dragleave', (event) => {
  if (event.relatedTarget === null) ui.dropzone.classList.remove('dragging');
});
document.addEventListener('drop', (event) => {
  if (!event.dataTransfer?.files.length) return;
  event.preventDefault();
  ui.dropzone.classList.remove('dragging');
  addFiles(event.dataTransfer.files);
});

document.addEventListener('paste', (event) => {
  const files = [...(event.clipboardData?.files ?? [])];
  if (!files.length) return;
  event.preventDefault();
  addFiles(files, 'pasted image');
});

/**
 * @param {Iterable<File>} fileList
 * @param {string} [fallbackName]
 */
function addFiles(fileList, fallbackName = 'image') {
  const files = [...fileList];
  if (!files.length) return;
  announce(`Classifying ${files.length === 1 ? 'one poster' : `${files.length} posters`}…`);
  for (const file of files) enqueue(file, file.name || fallbackName);
  updateSummary();
  updateButtons();
  pump();
}

// ---- one poster at a time ----------------------------------------------------------------------

/**
 * Posters with a row but not yet read: { file, entry, card, signal }.
 * @type {Job[]}
 */
const waiting = [];
/** Posters being read or with the model, not yet answered. */
let inFlight = 0;
/** Aborted by Clear: what was read or sent before it is cancelled, and its answer dropped. */
let session = new AbortController();
/**
 * Thumbnails' object URLs not yet revoked.
 * @type {Set<string>}
 */
const objectUrls = new Set();

/**
 * @param {File} file
 * @param {string} name
 */
function enqueue(file, name) {
  // The year box as it is when the poster arrives: changing it later does not move posters
  // already dropped.
  const year = ui.year.value.trim() || undefined;
  /** @type {Entry} */
  const entry = { name, size: file.size, type: file.type, year };
  results.push(entry);
  const card = newCard(name);
  // Before anything reads the file or draws it.
  const refusal = tooBigToRead(file);
  if (refusal) {
    noPreview(card.thumb);
    finish(entry, card, null, new Error(refusal));
    return;
  }
  waiting.push({ file, entry, card, signal: session.signal });
}

/**
 * Throughput while the model is busy: posters answered since the queue last started from
 * empty, and when that was; `rate`, posters a second over that time.
 * @type {{ since: number | null, answered: number, rate?: number }}
 */
const busy = { since: null, answered: 0 };

/**
 * Hands waiting posters to the model while each worker has at most one, and one more is read
 * and waiting behind them.
 */
function pump() {
  const limit = (client?.workers || 1) + 1;
  while (inFlight < limit && waiting.length) {
    const job = /** @type {Job} */ (waiting.shift()); // there is one: waiting.length > 0
    if (inFlight === 0 && busy.since === null) Object.assign(busy, { since: performance.now(), answered: 0 });
    inFlight += 1;
    classifyJob(job).finally(() => {
      inFlight -= 1;
      pump();
      if (inFlight === 0) busy.since = null;
    });
  }
}

/** @param {Job} job */
async function classifyJob({ file, entry, card, signal }) {
  card.state.textContent = 'Classifying…';
  thumbnail(file, card.thumb);
  /** @type {ClassifyResult | null} */
  let result = null;
  /** @type {Error | null} */
  let error = null;
  try {
    if (!client) throw new Error(refused ?? 'the model could not start');
    result = await client.classify(file, { signal, year: entry.year });
  } catch (caught) {
    error = /** @type {Error} */ (caught); // the client rejects with Errors
  }
  if (signal.aborted) return; // cleared while it was read or classified
  finish(entry, card, result, error);
}

/**
 * @param {Entry} entry
 * @param {Card} card
 * @param {ClassifyResult | null} result
 * @param {Error | null} error when there is no result
 */
function finish(entry, card, result, error) {
  if (result) {
    entry.result = result;
    busy.answered += 1;
    busy.rate = busy.since === null ? busy.rate : busy.answered / ((performance.now() - busy.since) / 1000);
    showResult(card, result);
    if (!performance.getEntriesByName('onesheet:first-result').length) {
      performance.mark('onesheet:first-result');
    }
    announce(`${entry.name}: ${result.genres.join(', ')} (${ms(result.timing.totalMs)})`);
  } else {
    const { message } = /** @type {Error} */ (error);
    entry.error = message;
    showError(card, message);
    announce(`${entry.name}: could not classify: ${message}`);
  }
  updateSummary();
  updateButtons();
}

/**
 * @param {string} name
 * @returns {Card}
 */
function newCard(name) {
  const item = /** @type {HTMLElement} */ (
    /** @type {Element} */ (ui.template.content.firstElementChild).cloneNode(true)
  );
  // The template holds each of these parts.
  const part = (/** @type {string} */ selector) => /** @type {HTMLElement} */ (item.querySelector(selector));
  item.setAttribute('aria-busy', 'true');
  part('.name').textContent = name;
  part('.state').textContent = 'Waiting…';
  ui.posters.append(item);
  return {
    item,
    thumb: part('.thumb'),
    state: part('.state'),
    predicted: part('.predicted'),
    bars: part('.bars'),
    why: part('.why-list'),
    layer: /** @type {HTMLCanvasElement} */ (part('.why-layer')),
    similar: part('.similar'),
    similarList: part('.similar-list'),
  };
}

/**
 * @param {Card} card
 * @param {ClassifyResult} result
 */
function showResult(card, result) {
  card.item.removeAttribute('aria-busy');
  card.item.classList.add('done');
  card.item.dataset.backend = result.backend;
  card.state.textContent =
    `${ms(result.timing.totalMs)} on ${backendName(result.backend)}` +
    ` (decoding ${ms(result.timing.decodeMs)}, model ${ms(result.timing.inferMs)})` +
    (result.year ? `; refined for ${result.year}` : '');
  fillGenres(card.predicted, result);
  fillScores(card.bars, result);
  fillWhy(card.why, result, card.layer, card.thumb);
  fillSimilar(card.similarList, result);
  card.similar.hidden = card.similarList.hidden;
}

/**
 * @param {Card} card
 * @param {string} message
 */
function showError(card, message) {
  card.item.removeAttribute('aria-busy');
  card.item.classList.add('failed');
  card.state.textContent = `Could not classify this file: ${message}`;
  card.state.setAttribute('role', 'alert');
}

/**
 * A preview from an object URL (called only for files under the size limit, when their turn
 * comes): the browser decodes it for display at thumbnail size. The URL is revoked once the
 * image has loaded or failed, or when Clear removes the row.
 * @param {File} file
 * @param {HTMLElement} into
 */
function thumbnail(file, into) {
  const url = URL.createObjectURL(file);
  objectUrls.add(url);
  const img = document.createElement('img');
  img.alt = 'Poster preview';
  img.decoding = 'async';
  const done = () => {
    URL.revokeObjectURL(url);
    objectUrls.delete(url);
  };
  img.addEventListener('load', done, { once: true });
  img.addEventListener('error', () => {
    done();
    img.remove();
    noPreview(into);
  }, { once: true });
  img.src = url;
  into.append(img);
}

/** @param {HTMLElement} into */
function noPreview(into) {
  into.classList.add('none');
  into.textContent = 'No preview';
}

// ---- summary and downloads --------------------------------------------------------------------

function updateSummary() {
  const done = results.filter((r) => r.result);
  const failed = results.filter((r) => r.error).length;
  const pending = results.length - done.length - failed;
  if (!results.length) {
    ui.summary.textContent = '';
    return;
  }
  const times = done.map((r) => /** @type {ClassifyResult} */ (r.result).timing.totalMs);
  const mean = times.length ? times.reduce((a, b) => a + b, 0) / times.length : 0;
  ui.summary.textContent =
    `${done.length} classified` +
    (failed ? `, ${failed} failed` : '') +
    (pending ? `, ${pending} to go` : '') +
    (times.length ? `; ${ms(mean)} per poster on average` : '') +
    (busy.answered > 1 && busy.rate ? `; ${busy.rate.toFixed(1)} posters/s with ${plural(client?.workers ?? 0, 'worker')}` : '');
}

/**
 * @param {number} n
 * @param {string} word
 */
function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function updateButtons() {
  const any = results.some((r) => r.result || r.error);
  ui.csv.disabled = !any;
  ui.json.disabled = !any;
  ui.clear.disabled = !results.length;
}

// Clear drops every row and everything queued: posters not yet read are never read, and the
// answer for one the model is working on is ignored.
ui.clear.addEventListener('click', () => {
  const cancelled = results.filter((r) => !r.result && !r.error).length;
  session.abort();
  session = new AbortController();
  waiting.length = 0;
  for (const url of objectUrls) URL.revokeObjectURL(url);
  objectUrls.clear();
  results.length = 0;
  ui.posters.replaceChildren();
  updateSummary();
  updateButtons();
  announce(
    cancelled
      ? `Results cleared; ${cancelled === 1 ? 'one poster not yet classified was' : `${cancelled} posters not yet classified were`} cancelled.`
      : 'Results cleared.',
  );
});

ui.json.addEventListener('click', () => {
  const finished = results.filter((r) => r.result || r.error);
  const rows = finished.map((r) =>
    r.result
      ? {
          file: r.name,
          scores: r.result.scores,
          genres: r.result.genres,
          ...(r.result.year ? { year: r.result.year } : {}),
          backend: r.result.backend,
          ms: r.result.timing.totalMs,
          ...(r.result.similar
            ? { similar: r.result.similar.map(({ file, score }) => ({ file, score })) }
            : {}),
        }
      : { file: r.name, error: r.error },
  );
  download('onesheet-genres.json', 'application/json', `${JSON.stringify(rows, null, 2)}\n`);
});

ui.csv.addEventListener('click', () => {
  const names = genreNames.length ? genreNames : Object.keys(results.find((r) => r.result)?.result?.scores ?? {});
  /** @type {(string | number)[][]} */
  const lines = [['file', 'year', 'genres', 'backend', 'ms', ...names, 'error']];
  for (const r of results) {
    if (r.result) {
      const { scores, genres, backend, timing, year } = r.result;
      lines.push([r.name, year ?? '', genres.join('|'), backend, timing.totalMs.toFixed(1), ...names.map((n) => String(scores[n])), '']);
    } else if (r.error) {
      lines.push([r.name, r.year ?? '', '', '', '', ...names.map(() => ''), r.error]);
    }
  }
  download('onesheet-genres.csv', 'text/csv', lines.map((l) => l.map(csvField).join(',')).join('\r\n') + '\r\n');
});

/**
 * RFC 4180 quoting; a leading = + - @ is defused so spreadsheets do not run it as a formula.
 * @param {string | number} value
 */
function csvField(value) {
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text) && Number.isNaN(Number(text))) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * @param {string} name
 * @param {string} type
 * @param {string} text
 */
function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- text -------------------------------------------------------------------------------------

/** @param {string} text */
function announce(text) {
  ui.status.textContent = text;
}

/** @param {string} backend */
function backendName(backend) {
  return backend === 'webgpu' ? 'the GPU (WebGPU)' : 'the CPU (WebAssembly)';
}

/** @param {number} bytes */
function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

