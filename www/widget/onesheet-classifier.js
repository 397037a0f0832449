// <onesheet-classifier>: the shop's widget. One module script defines it:
//
//   <script type="module" src="https://onesheet.example/widget/onesheet-classifier.js"></script>
//   <onesheet-classifier form-field="genres" max-genres="5"></onesheet-classifier>
//
// It finds the wasm, the worker and the shipped model relative to its own URL, so it works
// wherever it is hosted, from the page's origin or another (the server sends CORS headers on
// /widget/, /lib/, /pkg/ and /models/). The poster never leaves the page: the model runs in a
// worker, and the only requests are for the widget's own scripts, the wasm and the model.
//
// Attributes (each mirrored by a property): model-src (bundle URL, default the shipped model
// beside the widget), backend (auto | cpu | webgpu), max-genres (rows shown, default 5),
// form-field (the `name` of a field in the host's form to fill with the predicted genres:
// checkboxes whose values are genre names are ticked exactly; a text or hidden input gets them
// comma-separated; file inputs and buttons of that name are left alone), index-src (a
// catalogue index made by `onesheet index`: the widget then shows "posters like this" under a
// result, found in wasm on the visitor's machine), year (the film's release year, when the
// shop knows it: it refines the genres by decade; empty means unknown, and an impossible year
// is reported as an error).
//
// Events (bubbling, composed): `onesheet-genres` with detail `{ file, scores, genres, similar? }`
// (all 19 scores; genres best first; with index-src, the similar posters `[{ file, score }]`) and `onesheet-error` with detail `{ file, message }`. Method
// `el.classify(fileOrBlob)` resolves to the same detail. Styling: CSS custom properties
// (--onesheet-accent, --onesheet-background, --onesheet-foreground, --onesheet-muted,
// --onesheet-radius, --onesheet-font) and the parts dropzone, button, thumbnail, status,
// genres, genre, predicted, genre-name, bar, fill, score, why (a "Why Horror?" toggle per
// predicted genre: it draws the genre's map over the thumbnail), similar, similar-poster,
// similar-picture, similar-name, similar-score.
import { OnesheetClient, tooBigToRead } from '../lib/client.js';
import { fillWhy } from '../lib/explain.js';
import { describeGenres, fileName, fillScores, genresDetail } from '../lib/result.js';
import { fillSimilar } from '../lib/similar.js';
import { drawThumbnail } from '../lib/thumbnail.js';

/** @typedef {import('../lib/protocol.js').Backend} Backend */
/** @typedef {import('../lib/protocol.js').ClassifyResult} ClassifyResult */
/** @typedef {import('../lib/client.js').ClientEvents} ClientEvents */
/**
 * @template {keyof ClientEvents} K
 * @typedef {import('../lib/client.js').ClientListener<K>} ClientListener
 */

const SHIPPED_MODEL = new URL('../models/onesheet.safetensors', import.meta.url).href;
/** @type {Backend[]} */
const BACKENDS = ['auto', 'cpu', 'webgpu'];
const DEFAULT_MAX_GENRES = 5;

// Constructed, not a <style> element: a host page's CSP without 'unsafe-inline' still applies it.
const styles = new CSSStyleSheet();
styles.replaceSync(`
  :host {
    --_accent: var(--onesheet-accent, #8a2be2);
    --_background: var(--onesheet-background, #fff);
    --_foreground: var(--onesheet-foreground, #1d1d1f);
    --_muted: var(--onesheet-muted, #6b6b70);
    --_radius: var(--onesheet-radius, 10px);
    display: block;
    max-width: 28rem;
    color: var(--_foreground);
    font: var(--onesheet-font, 15px/1.4 system-ui, sans-serif);
  }
  :host([hidden]) { display: none; }
  * { box-sizing: border-box; }
  .dropzone {
    display: grid;
    gap: .5rem;
    justify-items: center;
    padding: 1rem;
    border: 2px dashed color-mix(in srgb, var(--_accent) 55%, transparent);
    border-radius: var(--_radius);
    background: var(--_background);
    text-align: center;
    cursor: pointer;
  }
  .dropzone:focus-visible { outline: 3px solid var(--_accent); outline-offset: 2px; }
  .dropzone.dragging { border-style: solid; background: color-mix(in srgb, var(--_accent) 8%, var(--_background)); }
  .hint { margin: 0; color: var(--_muted); font-size: .9em; }
  button {
    font: inherit;
    padding: .4rem .9rem;
    border: 0;
    border-radius: calc(var(--_radius) * .6);
    background: var(--_accent);
    color: #fff;
    cursor: pointer;
  }
  button:focus-visible { outline: 3px solid var(--_foreground); outline-offset: 2px; }
  input[type=file] { position: absolute; width: 1px; height: 1px; opacity: 0; pointer-events: none; }
  .result { display: flex; gap: .75rem; align-items: flex-start; margin-top: .75rem; }
  .result[hidden] { display: none; }
  canvas { flex: none; border-radius: calc(var(--_radius) * .5); box-shadow: 0 1px 4px #0003; }
  canvas[width="0"] { display: none; }
  .status { margin: .5rem 0 0; min-height: 1.4em; color: var(--_muted); }
  .status.error { color: #b00020; }
  ol { list-style: none; margin: 0; padding: 0; flex: 1; display: grid; gap: .25rem; }
  li { display: grid; grid-template-columns: 7.5rem 1fr 3.8rem; gap: .4rem; align-items: center; }
  li.yes .genre { font-weight: 600; }
  .bar { height: .55rem; border-radius: 1rem; background: color-mix(in srgb, var(--_muted) 22%, transparent); overflow: hidden; }
  .fill { display: block; height: 100%; width: calc(var(--score) * 100%); background: var(--_muted); }
  li.yes .fill { background: var(--_accent); }
  .score { text-align: right; font-variant-numeric: tabular-nums; font-size: .9em; }
  .thumb { position: relative; flex: none; align-self: flex-start; }
  .thumb canvas { display: block; }
  .thumb .layer { position: absolute; inset: 0; pointer-events: none; box-shadow: none; }
  .thumb .layer[hidden] { display: none; }
  .scores { flex: 1; display: grid; gap: .4rem; }
  .why-list { display: flex; flex-wrap: wrap; gap: .3rem; list-style: none; margin: 0; padding: 0; }
  .why-list li { display: block; }
  .why { padding: .1rem .55rem; font-size: .8em; background: transparent; color: var(--_foreground);
    border: 1px solid color-mix(in srgb, var(--_muted) 60%, transparent); }
  .why[aria-pressed="true"] { background: var(--_accent); border-color: var(--_accent); color: #fff; }
  .similar { margin-top: .75rem; }
  .similar[hidden] { display: none; }
  .similar h3 { margin: 0 0 .35rem; font-size: .95em; }
  .similar ol { display: flex; flex-wrap: wrap; gap: .5rem; }
  .similar li { display: grid; grid-template-columns: none; width: 4.5rem; gap: .1rem; font-size: .75em; }
  .similar img { width: 4.5rem; height: auto; border-radius: calc(var(--_radius) * .4); }
  .similar-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .similar-score { color: var(--_muted); }
  .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
`);

let instances = 0;

export class OnesheetClassifier extends HTMLElement {
  static observedAttributes = ['model-src', 'backend', 'max-genres', 'form-field', 'index-src', 'year'];

  /** @type {OnesheetClient | null} */
  #client = null;
  /**
   * What this widget listens to on its client, to stop listening when it lets the client go.
   * @type {[keyof ClientEvents, ClientListener<any>][]}
   */
  #listeners = [];
  #ui;
  /** @type {ClassifyResult | null} */
  #lastResult = null;
  /** The poster being classified: a newer one makes an older answer stale. */
  #generation = 0;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open', delegatesFocus: false });
    root.adoptedStyleSheets = [styles];
    const id = `onesheet-${++instances}`;
    const input = h('input', { type: 'file', accept: 'image/jpeg,image/png,image/webp,.jpg,.jpeg,.png,.webp', tabindex: '-1', 'aria-hidden': 'true' });
    const button = h('button', { type: 'button', part: 'button' }, 'Choose a poster…');
    const dropzone = h(
      'div',
      { class: 'dropzone', part: 'dropzone', tabindex: '0', role: 'group', 'aria-label': 'Poster genres: drop, paste or choose a poster image', 'aria-describedby': `${id}-hint` },
      h('p', { class: 'hint', id: `${id}-hint` }, 'Drop a poster here, paste it, or'),
      button,
      input,
    );
    const canvas = h('canvas', { part: 'thumbnail', width: '0', height: '0', role: 'img', 'aria-label': 'Poster preview' });
    const layer = h('canvas', { class: 'layer', hidden: '', 'aria-hidden': 'true' });
    const thumb = h('div', { class: 'thumb' }, canvas, layer);
    const list = h('ol', { part: 'genres', 'aria-label': 'Genres with scores' });
    const why = h('ul', { class: 'why-list', 'aria-label': 'Show where the model saw a genre' });
    const result = h('div', { class: 'result', hidden: '' }, thumb, h('div', { class: 'scores' }, list, why));
    const similarList = h('ol', { 'aria-label': 'Posters like this' });
    const similar = h('section', { class: 'similar', part: 'similar', hidden: '' }, h('h3', {}, 'Posters like this'), similarList);
    const status = h('p', { class: 'status', part: 'status', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' });
    root.append(dropzone, result, similar, status);
    this.#ui = { input, button, dropzone, canvas, list, result, status, layer, thumb, why, similar, similarList };

    button.addEventListener('click', (event) => {
      event.stopPropagation();
      input.click();
    });
    dropzone.addEventListener('click', () => input.click());
    dropzone.addEventListener('keydown', (event) => {
      if (event.target === dropzone && (event.key === 'Enter' || event.key === ' ')) {
        event.preventDefault();
        input.click();
      }
    });
    input.addEventListener('change', () => {
      const [file] = input.files ?? [];
      input.value = ''; // the same file chosen again still counts
      if (file) this.#classifyQuietly(file);
    });
    dropzone.addEventListener('dragover', (event) => {
      if (!event.dataTransfer?.types.includes('Files')) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
      dropzone.classList.add('dragging');
    });
    dropzone.addEventListener('dragleave', () => dropzone.classList.remove('dragging'));
    dropzone.addEventListener('drop', (event) => {
      const file = event.dataTransfer?.files[0];
      dropzone.classList.remove('dragging');
      if (!file) return;
      event.preventDefault();
      this.#classifyQuietly(file);
    });
    // Pasting while the widget has focus: a copied image arrives as a file.
    this.addEventListener('paste', (event) => {
      const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
      if (!file) return;
      event.preventDefault();
      this.#classifyQuietly(file, 'pasted image');
    });
  }

  // ---- attributes and properties ------------------------------------------------------------

  get modelSrc() {
    return this.getAttribute('model-src') ?? '';
  }
  set modelSrc(value) {
    this.setAttribute('model-src', value);
  }
  get backend() {
    const value = this.getAttribute('backend');
    return BACKENDS.find((backend) => backend === value) ?? 'auto';
  }
  set backend(value) {
    this.setAttribute('backend', value);
  }
  get maxGenres() {
    const value = Number.parseInt(this.getAttribute('max-genres') ?? '', 10);
    return Number.isFinite(value) && value > 0 ? Math.min(value, 19) : DEFAULT_MAX_GENRES;
  }
  set maxGenres(value) {
    this.setAttribute('max-genres', String(value));
  }
  get indexSrc() {
    return this.getAttribute('index-src') ?? '';
  }

  set indexSrc(value) {
    this.setAttribute('index-src', value);
  }

  get year() {
    return (this.getAttribute('year') ?? '').trim();
  }
  set year(/** @type {string | number | null | undefined} */ value) {
    if (value === null || value === undefined || value === '') this.removeAttribute('year');
    else this.setAttribute('year', String(value));
  }

  get formField() {
    return this.getAttribute('form-field') ?? '';
  }
  set formField(value) {
    this.setAttribute('form-field', value);
  }

  /** Resolves when the model is loaded: `{ backend, selection, manifest, downloads }`. */
  get ready() {
    return this.isConnected ? this.#connect().ready : Promise.reject(notConnected());
  }

  connectedCallback() {
    this.#connect();
  }

  disconnectedCallback() {
    this.#disconnect();
  }

  /**
   * @param {string} name
   * @param {string | null} before
   * @param {string | null} after
   */
  attributeChangedCallback(name, before, after) {
    if (before === after) return;
    if ((name === 'model-src' || name === 'backend' || name === 'index-src') && this.#client) {
      // Another model or backend: this widget moves to the client for it.
      this.#disconnect();
      if (this.isConnected) this.#connect();
    } else if (name === 'max-genres' && this.#lastResult) {
      fillScores(this.#ui.list, this.#lastResult, { limit: this.maxGenres });
    }
  }

  // ---- classifying --------------------------------------------------------------------------

  /**
   * Classifies one poster (a File or Blob). Resolves to `{ file, scores, genres }` and
   * dispatches `onesheet-genres`; on failure dispatches `onesheet-error` and rejects.
   * @param {Blob} image
   * @param {string} [name]
   */
  async classify(image, name = fileName(image)) {
    const generation = ++this.#generation;
    const { status, result, canvas } = this.#ui;
    try {
      if (!this.isConnected) throw notConnected();
      if (!(image instanceof Blob)) throw new TypeError('classify() takes a File or a Blob');
      const refusal = tooBigToRead(image);
      if (refusal) throw new Error(refusal);
      status.classList.remove('error');
      status.textContent = `Classifying ${name}…`;
      result.hidden = false;
      this.#ui.list.replaceChildren();
      this.#ui.why.replaceChildren();
      this.#ui.layer.hidden = true;
      this.#ui.similar.hidden = true;
      const drawn = drawThumbnail(canvas, image);
      const answer = await this.#connect().classify(image, { year: this.year });
      await drawn;
      if (generation !== this.#generation) return genresDetail(name, answer);
      this.#lastResult = answer;
      fillScores(this.#ui.list, answer, { limit: this.maxGenres });
      fillWhy(this.#ui.why, answer, this.#ui.layer, this.#ui.canvas);
      fillSimilar(this.#ui.similarList, answer);
      this.#ui.similar.hidden = this.#ui.similarList.hidden;
      status.textContent = describeGenres(name, answer);
      // The host's form is the host's: a field the widget cannot fill leaves the result standing.
      try {
        this.#fillFormField(answer.genres);
      } catch (error) {
        console.warn('<onesheet-classifier>: could not fill the form field:', error);
      }
      const detail = genresDetail(name, answer);
      this.dispatchEvent(new CustomEvent('onesheet-genres', { detail, bubbles: true, composed: true }));
      return detail;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (generation === this.#generation) {
        this.#lastResult = null;
        result.hidden = true;
        this.#ui.similar.hidden = true;
        status.classList.add('error');
        status.textContent = `Could not classify ${name}: ${message}`;
      }
      const detail = { file: name, message };
      this.dispatchEvent(new CustomEvent('onesheet-error', { detail, bubbles: true, composed: true }));
      throw error;
    }
  }

  /**
   * From the widget's own inputs: the events carry the outcome, so nothing more to report.
   * @param {File} file
   * @param {string} [fallback]
   */
  #classifyQuietly(file, fallback) {
    this.classify(file, fileName(file, fallback)).catch(() => {});
  }

  /**
   * Fills the host form's `form-field`: inside a form, that form's fields of that name;
   * otherwise the document's. Only fields that hold text or choices are filled: a file input
   * cannot take a value, and a button's value is its label.
   * @param {string[]} genres
   */
  #fillFormField(genres) {
    const name = this.formField;
    if (!name) return;
    const form = this.closest('form');
    const root = /** @type {ParentNode} */ (this.getRootNode());
    const scope = form ? [...form.elements] : [...root.querySelectorAll('[name]')];
    const fields = scope.filter((field) => 'name' in field && field.name === name);
    const changed = [];
    for (const field of fields) {
      try {
        if (fillField(field, genres)) changed.push(field);
      } catch (error) {
        // One odd field (a host's own element, a custom setter) leaves the others filled.
        console.warn(`<onesheet-classifier>: could not fill a field named ${name}:`, error);
      }
    }
    // As if the seller had changed them: the host's own listeners see it.
    for (const field of changed) {
      field.dispatchEvent(new Event('input', { bubbles: true }));
      field.dispatchEvent(new Event('change', { bubbles: true }));
    }
  }

  // ---- the shared model ---------------------------------------------------------------------

  /** This widget's client: the page's shared one for its model and backend. */
  #connect() {
    if (this.#client && !this.#client.terminated) return this.#client;
    const model = this.modelSrc || SHIPPED_MODEL;
    // The host page chose the model's URL; the widget's own files may be on another origin.
    const client = OnesheetClient.shared({
      model,
      backend: this.backend,
      allowCrossOrigin: true,
      index: this.indexSrc || undefined,
    });
    this.#client = client;
    const { status } = this.#ui;
    /**
     * @template {keyof ClientEvents} K
     * @param {K} type
     * @param {ClientListener<K>} listener
     */
    const listen = (type, listener) => {
      client.addEventListener(type, listener);
      this.#listeners.push([type, listener]);
    };
    listen('progress', ({ detail }) => {
      if (this.#lastResult || detail.total <= 0) return;
      status.textContent = detail.cached
        ? 'Loading the model…'
        : `Downloading the model: ${Math.round((100 * detail.loaded) / detail.total)}%`;
    });
    listen('status', ({ detail }) => {
      if (detail.phase === 'failed') {
        status.classList.add('error');
        status.textContent = `The model could not start: ${detail.message}`;
      }
    });
    listen('ready', () => {
      if (!this.#lastResult && !status.classList.contains('error')) status.textContent = 'Ready for a poster.';
    });
    client.ready.catch(() => {}); // shown by the status listener
    return client;
  }

  #disconnect() {
    const client = this.#client;
    if (!client) return;
    for (const [type, listener] of this.#listeners) client.removeEventListener(type, listener);
    this.#listeners = [];
    this.#client = null;
    client.release();
  }
}

/** Input types whose value is free text the seller could have typed the genres into. */
const TEXT_INPUTS = new Set(['text', 'search', 'hidden']);

/**
 * Puts `genres` into one form field the way the seller would; returns whether the field
 * changed (one the widget fills). Checkboxes and radios are ticked by value, a select's options
 * selected, text inputs and textareas get the genres comma-separated; anything else (file,
 * submit, button, reset, image, number, date…) is left alone.
 * @param {Element} field
 * @param {string[]} genres
 */
function fillField(field, genres) {
  if (field instanceof HTMLInputElement && (field.type === 'checkbox' || field.type === 'radio')) {
    const checked = genres.includes(field.value);
    if (field.checked === checked) return false;
    field.checked = checked;
    return true;
  }
  if (field instanceof HTMLSelectElement) {
    for (const option of field.options) option.selected = genres.includes(option.value);
    return true;
  }
  if ((field instanceof HTMLInputElement && TEXT_INPUTS.has(field.type)) || field instanceof HTMLTextAreaElement) {
    field.value = genres.join(', ');
    return true;
  }
  return false;
}

/** Only a widget in a document holds a model: a removed one has let its share go. */
function notConnected() {
  return new Error('the <onesheet-classifier> is not in a document; add it to the page first');
}

/**
 * A new element with attributes and children (strings become text).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string>} [attributes]
 * @param {(Node | string)[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

if (!customElements.get('onesheet-classifier')) {
  customElements.define('onesheet-classifier', OnesheetClassifier);
}
