// The gallery kiosk: a visitor holds a poster up to the camera (or taps one of the kiosk's
// samples, or picks a photo) and sees its genres, large. Back to the attract screen after
// `?idle=` seconds (default 60) without a touch. Every result is also dispatched on the
// document as `onesheet-genres` (the widget's event and detail; `onesheet-error` on failure),
// so a gallery can log or react. A service worker (sw.js) keeps everything for offline use.
import { OnesheetClient, tooBigToRead } from '../lib/client.js';
import { fillWhy } from '../lib/explain.js';
import { describeGenres, fillGenres, fillScores, genresDetail } from '../lib/result.js';
import { fillSimilar } from '../lib/similar.js';
import { drawThumbnail } from '../lib/thumbnail.js';

/** @typedef {import('../lib/protocol.js').Backend} Backend */

const params = new URLSearchParams(location.search);
const IDLE_SECONDS = seconds(params.get('idle'), 60);
// The kiosk has only the CPU build (below): 'webgpu' would be refused.
/** @type {Backend[]} */
const BACKENDS = ['auto', 'cpu'];
/** Rows of scores under the genres: the rest are too small to matter to a visitor. */
const SCORE_ROWS = 8;
/** The camera frame is classified at up to this size (2:3); the model resizes it anyway. */
const CAPTURE_WIDTH = 480;

/** An element of the kiosk's page (index.html has each of these). */
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const ui = {
  attract: $('attract'),
  start: $('start'),
  main: $('main'),
  video: /** @type {HTMLVideoElement} */ ($('video')),
  cameraMessage: $('camera-message'),
  capture: /** @type {HTMLButtonElement} */ ($('capture')),
  file: /** @type {HTMLInputElement} */ ($('file')),
  year: /** @type {HTMLInputElement} */ ($('year')),
  samples: $('samples'),
  result: $('result'),
  thumbnail: /** @type {HTMLCanvasElement} */ ($('thumbnail')),
  genres: $('genres'),
  scores: $('scores'),
  why: $('why'),
  layer: /** @type {HTMLCanvasElement} */ ($('why-layer')),
  similar: $('similar'),
  similarList: $('similar-list'),
  again: $('again'),
  status: $('status'),
};

const client = new OnesheetClient({
  model: '../models/onesheet.safetensors',
  backend: BACKENDS.find((backend) => backend === params.get('backend')) ?? 'auto',
  // Under `onesheet serve` the kiosk's service worker covers /kiosk/ only, and a worker at
  // /lib/worker.js would be outside it (offline, it could not start); a blob: worker belongs
  // to this page's service worker wherever its scripts live.
  workerViaBlob: true,
  // The kiosk carries the CPU build only (in onesheet-kiosk and in its offline cache): it
  // answers one visitor's poster at a time, and a 16 MB WebGPU build would not pay for itself.
  webgpuWasm: null,
  // The gallery's catalogue, when the server has one (`--catalogue`); the kiosk works without.
  index: '/catalogue/catalogue.index',
});
// For the console and the browser tests.
/** @type {{ onesheetClient?: OnesheetClient }} */ (globalThis).onesheetClient = client;

let ready = false;
client.addEventListener('progress', ({ detail }) => {
  if (!ready && detail.total > 0 && !detail.cached) {
    status(`Downloading the model: ${Math.round((100 * detail.loaded) / detail.total)}%`);
  }
});
client.addEventListener('status', ({ detail }) => {
  if (detail.phase === 'failed') status(`The model could not start: ${detail.message}`, true);
});
client.addEventListener('ready', () => {
  ready = true;
  status('Ready: show a poster to the camera, tap one of ours, or choose a photo.');
});
client.ready.catch(() => {}); // shown by the status listener

// ---- screens and the idle reset ----------------------------------------------------------------

let idleTimer = 0;

function wake() {
  if (!ui.main.hidden) return;
  ui.attract.hidden = true;
  ui.main.hidden = false;
  startCamera();
  ui.capture.focus();
}

function sleep() {
  stopCamera();
  generation += 1; // an answer still on its way is for a visitor who left
  ui.result.hidden = true;
  ui.year.value = ''; // the next visitor's poster is another film
  ui.main.hidden = true;
  ui.attract.hidden = false;
  document.body.dataset.screen = 'attract';
  if (updateWaiting) location.reload();
}

function touched() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(sleep, IDLE_SECONDS * 1000);
}

for (const type of ['pointerdown', 'keydown', 'wheel', 'touchstart']) {
  document.addEventListener(type, touched, { passive: true, capture: true });
}
ui.start.addEventListener('click', () => {
  wake();
  document.body.dataset.screen = 'main';
});
ui.again.addEventListener('click', () => {
  ui.result.hidden = true;
  ui.capture.focus();
});
document.body.dataset.screen = 'attract';
touched();

// ---- the camera --------------------------------------------------------------------------------

/** @type {MediaStream | null} */
let stream = null;

async function startCamera() {
  ui.cameraMessage.hidden = true;
  if (!navigator.mediaDevices?.getUserMedia) {
    cameraUnavailable('This kiosk has no camera access here.');
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: 'environment', width: { ideal: 1280 }, height: { ideal: 960 } },
      audio: false,
    });
  } catch (caught) {
    const error = /** @type {{ name?: string, message?: string } | null | undefined} */ (caught);
    const reason =
      error?.name === 'NotAllowedError' || error?.name === 'SecurityError'
        ? 'The camera is not allowed on this kiosk.'
        : error?.name === 'NotFoundError' || error?.name === 'OverconstrainedError'
          ? 'No camera was found.'
          : `The camera could not start (${error?.message ?? error}).`;
    cameraUnavailable(reason);
    return;
  }
  if (ui.main.hidden) {
    stopCamera(); // went idle while the camera was starting
    return;
  }
  ui.video.srcObject = stream;
  await ui.video.play().catch(() => {});
  ui.capture.disabled = false;
  document.body.dataset.camera = 'on';
}

/** @param {string} reason */
function cameraUnavailable(reason) {
  ui.capture.disabled = true;
  document.body.dataset.camera = 'off';
  ui.cameraMessage.textContent = `${reason} Tap one of our posters below, or choose a photo.`;
  ui.cameraMessage.hidden = false;
}

function stopCamera() {
  for (const track of stream?.getTracks() ?? []) track.stop();
  stream = null;
  ui.video.srcObject = null;
  ui.capture.disabled = true;
}

ui.capture.addEventListener('click', () => {
  const { videoWidth: width, videoHeight: height } = ui.video;
  if (!width || !height) return;
  // The centred 2:3 part of the frame, as the viewfinder's outline shows it.
  const cropHeight = Math.min(height, (width * 3) / 2) * 0.9;
  const cropWidth = (cropHeight * 2) / 3;
  const canvas = document.createElement('canvas');
  canvas.width = Math.min(CAPTURE_WIDTH, Math.round(cropWidth));
  canvas.height = Math.round((canvas.width * 3) / 2);
  // A fresh canvas always gives a 2D context.
  const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  context.drawImage(
    ui.video,
    (width - cropWidth) / 2,
    (height - cropHeight) / 2,
    cropWidth,
    cropHeight,
    0,
    0,
    canvas.width,
    canvas.height,
  );
  classify(context.getImageData(0, 0, canvas.width, canvas.height), 'camera');
});

// ---- samples and photos ------------------------------------------------------------------------

ui.file.addEventListener('change', () => {
  const [file] = ui.file.files ?? [];
  ui.file.value = '';
  if (file) classify(file, file.name || 'photo');
});

async function loadSamples() {
  let list;
  try {
    const response = await fetch('samples/index.json');
    if (!response.ok) return;
    list = (await response.json()).samples ?? [];
  } catch {
    return; // no samples: the camera and the file picker remain
  }
  for (const sample of list) {
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.sample = sample.name;
    const img = document.createElement('img');
    img.alt = '';
    img.loading = 'lazy';
    img.src = new URL(sample.url, new URL('samples/index.json', location.href)).href;
    const label = document.createElement('span');
    label.textContent = sample.name.replace(/\.[^.]+$/, '');
    button.append(img, label);
    button.addEventListener('click', () => classifySample(sample.name, img.src));
    const item = document.createElement('li');
    item.append(button);
    ui.samples.append(item);
  }
}

/**
 * @param {string} name
 * @param {string} url
 */
async function classifySample(name, url) {
  let blob;
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    blob = await response.blob();
  } catch (error) {
    fail(name, new Error(`the sample could not be read (${describe(error)})`));
    return;
  }
  classify(blob, name);
}

// ---- classifying -------------------------------------------------------------------------------

/** Bumped per poster and on going idle: only the latest answer is shown. */
let generation = 0;

/**
 * @param {Blob | ImageData} image
 * @param {string} name
 */
async function classify(image, name) {
  const mine = ++generation;
  const refusal = tooBigToRead(image);
  if (refusal) {
    fail(name, new Error(refusal));
    return;
  }
  status(`Looking at ${name}…`);
  try {
    const [result] = await Promise.all([
      client.classify(image, { year: ui.year.value.trim() }),
      drawThumbnail(ui.thumbnail, image, 360),
    ]);
    if (mine !== generation) return;
    fillGenres(ui.genres, result);
    fillScores(ui.scores, result, { limit: SCORE_ROWS });
    ui.result.hidden = false;
    fillWhy(ui.why, result, ui.layer, ui.thumbnail);
    fillSimilar(ui.similarList, result);
    ui.similar.hidden = ui.similarList.hidden;
    status(describeGenres(name, result));
    ui.again.focus();
    document.dispatchEvent(
      new CustomEvent('onesheet-genres', { detail: genresDetail(name, result), bubbles: true, composed: true }),
    );
  } catch (error) {
    if (mine === generation) fail(name, error);
  }
}

/**
 * @param {string} name
 * @param {unknown} error
 */
function fail(name, error) {
  const message = describe(error);
  status(`Could not read ${name}: ${message}`, true);
  document.dispatchEvent(
    new CustomEvent('onesheet-error', { detail: { file: name, message }, bubbles: true, composed: true }),
  );
}

/**
 * @param {string} text
 * @param {boolean} [error]
 */
function status(text, error = false) {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', error);
}

/**
 * @param {string | null} text
 * @param {number} fallback
 */
function seconds(text, fallback) {
  const value = Number(text);
  return text !== null && Number.isFinite(value) && value > 0 ? Math.min(value, 86_400) : fallback;
}

/** @param {unknown} error */
function describe(error) {
  return error instanceof Error ? error.message : String(error);
}

// ---- offline -----------------------------------------------------------------------------------

/** The service worker fetched a new build or model: reload when no visitor is using it. */
let updateWaiting = false;

async function registerServiceWorker() {
  if (!navigator.serviceWorker) return;
  navigator.serviceWorker.addEventListener('message', ({ data }) => {
    if (data?.type === 'update-failed') {
      // Not the visitor's concern (the kiosk runs on what it has): for whoever looks after it.
      document.body.dataset.updateError = data.message;
      console.warn('onesheet kiosk: the update failed, the cached kiosk stays:', data.message);
      return;
    }
    if (data?.type !== 'updated') return;
    delete document.body.dataset.updateError;
    updateWaiting = true;
    if (!ui.attract.hidden) location.reload();
  });
  try {
    const registration = await navigator.serviceWorker.register('sw.js');
    await navigator.serviceWorker.ready;
    // Online, ask whether the server has something newer than what is cached.
    registration.active?.postMessage({ type: 'refresh' });
    document.body.dataset.offlineReady = 'true';
  } catch (error) {
    console.warn('onesheet kiosk: no offline support:', error);
  }
}

loadSamples();
registerServiceWorker();
