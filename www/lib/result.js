// The one result every face hands out and shows: what `client.classify()` resolves to, as an
// event's detail (`onesheet-genres`, from the widget and the kiosk) and as rows of genres with
// bars. Every name and number is written with textContent: nothing here parses HTML.

/** @typedef {import('./protocol.js').ClassifyResult} ClassifyResult */

/**
 * What the faces hand out for a poster: its name, its scores and genres, and its similar
 * posters when there is a catalogue.
 * @typedef {{ file: string, scores: Record<string, number>, genres: string[],
 *   similar?: { file: string, score: number }[] }} GenresDetail
 */

/**
 * The detail of an `onesheet-genres` event (and what the widget's `classify()` resolves to):
 * the file's name, all 19 scores keyed by genre in the model's order, and the predicted genres,
 * best first. The same fields as a line of `onesheet classify --format jsonl`; with a
 * catalogue index, also `similar: [{ file, score }]`, as `onesheet similar` lists them.
 * @param {string} file
 * @param {ClassifyResult} result
 */
export function genresDetail(file, result) {
  /** @type {GenresDetail} */
  const detail = { file, scores: { ...result.scores }, genres: [...result.genres] };
  if (Array.isArray(result.similar)) {
    detail.similar = result.similar.map(({ file: name, score }) => ({ file: name, score }));
  }
  return detail;
}

/**
 * A file's name for a result: a File's own name, else what the caller calls it.
 * @param {unknown} image
 * @param {string} [fallback]
 */
export function fileName(image, fallback = 'image') {
  const name = /** @type {{ name?: unknown } | null | undefined} */ (image)?.name;
  return typeof name === 'string' && name ? name : fallback;
}

/**
 * Fills `list` (a `<ul>` or `<ol>`) with one row per genre, highest score first, at most
 * `limit` rows: `li[data-genre][data-score]` (class `yes` when predicted) holding
 * `.genre`, `.bar > .fill` (width from the `--score` custom property, 0 to 1) and `.score`.
 * Each part also carries a `part` attribute, for styling inside a shadow root.
 * @param {HTMLElement} list
 * @param {ClassifyResult} result
 * @param {{ limit?: number }} [options]
 */
export function fillScores(list, result, { limit = Infinity } = {}) {
  list.replaceChildren();
  const order = Object.entries(result.scores).sort((a, b) => b[1] - a[1]).slice(0, limit);
  for (const [genre, score] of order) {
    const predicted = Boolean(result.decisions?.[genre] ?? result.genres.includes(genre));
    const li = element('li', '', predicted ? 'genre predicted' : 'genre');
    li.dataset.genre = genre;
    li.dataset.score = String(score);
    if (predicted) li.classList.add('yes');
    const label = element('span', 'genre', 'genre-name');
    label.textContent = genre;
    const bar = element('span', 'bar', 'bar');
    bar.setAttribute('aria-hidden', 'true');
    const fill = element('span', 'fill', 'fill');
    fill.style.setProperty('--score', String(score));
    bar.append(fill);
    const value = element('span', 'score', 'score');
    value.textContent = percent(score) + (predicted ? ' ✓' : '');
    if (predicted) {
      const hidden = element('span', 'visually-hidden');
      hidden.textContent = ' (predicted)';
      value.append(hidden);
    }
    li.append(label, bar, value);
    list.append(li);
  }
}

/**
 * Fills `list` with the predicted genres, best first, one `li` each.
 * @param {HTMLElement} list
 * @param {ClassifyResult} result
 */
export function fillGenres(list, result) {
  list.replaceChildren(
    ...result.genres.map((genre) => {
      const li = element('li', '', 'predicted-genre');
      li.textContent = genre;
      return li;
    }),
  );
}

/**
 * One sentence for a screen reader: the genres, or that none cleared its threshold.
 * @param {string} name
 * @param {ClassifyResult} result
 */
export function describeGenres(name, result) {
  return result.genres.length
    ? `${name}: ${result.genres.join(', ')}`
    : `${name}: no genre is likely enough to name`;
}

/** @param {number} score */
export function percent(score) {
  return `${(score * 100).toFixed(1)}%`;
}

/** @param {number} value */
export function ms(value) {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

/**
 * @param {string} tag
 * @param {string} className
 * @param {string} [part]
 */
function element(tag, className, part) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (part) node.setAttribute('part', part);
  return node;
}
