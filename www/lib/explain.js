// "Why this genre?": a genre's map (from the result's `explain`, computed by the same model
// pass as the scores) drawn as a translucent layer over the poster's thumbnail. Warm where a
// place argues for the genre, blue where it argues against: the colours `onesheet explain`
// uses for its PNG.

/** @typedef {import('./protocol.js').ClassifyResult} ClassifyResult */
/** @typedef {import('./protocol.js').Explain} Explain */

/**
 * Draws `genre`'s map from `explain` (`{ width, height, maps: { Genre: [[…]] } }`) into
 * `canvas`, stretched over `width` × `height` CSS pixels (the model saw the whole poster
 * stretched to its input, so the map covers the whole thumbnail). Returns false when the
 * result has no map for that genre.
 * @param {HTMLCanvasElement} canvas
 * @param {Explain | undefined} explain
 * @param {string} genre
 * @param {number} width
 * @param {number} height
 */
export function drawMap(canvas, explain, genre, width, height) {
  const rows = explain?.maps?.[genre];
  if (!rows?.length || !rows[0]?.length) return false;
  const cells = document.createElement('canvas');
  cells.width = rows[0].length;
  cells.height = rows.length;
  const largest = Math.max(...rows.flat().map(Math.abs)) || 1;
  const pixels = new ImageData(cells.width, cells.height);
  rows.flat().forEach((value, i) => {
    const t = value / largest;
    const [r, g, b, a] = t >= 0
      ? [255, 230 * (1 - t), 0, 0.75 * Math.sqrt(t)]
      : [30, 90, 255, 0.5 * Math.sqrt(-t)];
    pixels.data.set([r, g, b, Math.round(a * 255)], i * 4);
  });
  context2d(cells).putImageData(pixels, 0, 0);
  const ratio = globalThis.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(width * ratio));
  canvas.height = Math.max(1, Math.round(height * ratio));
  canvas.style.setProperty('width', `${width}px`);
  canvas.style.setProperty('height', `${height}px`);
  const context = context2d(canvas);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  context.drawImage(cells, 0, 0, canvas.width, canvas.height);
  return true;
}

/**
 * Fills `list` with a "why?" toggle per predicted genre of `result`; pressing one draws that
 * genre's map on `layer` (a canvas laid over the thumbnail `under`, an element whose box is
 * the poster's), pressing it again hides it. Each button has `aria-pressed` and
 * `data-genre`, and a `part` for styling inside a shadow root.
 * @param {HTMLElement} list
 * @param {ClassifyResult} result
 * @param {HTMLCanvasElement} layer
 * @param {Element} under
 */
export function fillWhy(list, result, layer, under) {
  list.replaceChildren();
  layer.hidden = true;
  const buttons = result.genres
    .filter((genre) => result.explain?.maps?.[genre])
    .map((genre) => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'why';
      button.setAttribute('part', 'why');
      button.dataset.genre = genre;
      button.setAttribute('aria-pressed', 'false');
      button.textContent = `Why ${genre}?`;
      li.append(button);
      return button;
    });
  for (const button of buttons) {
    button.addEventListener('click', () => {
      const on = button.getAttribute('aria-pressed') !== 'true';
      for (const other of buttons) other.setAttribute('aria-pressed', 'false');
      layer.hidden = true;
      delete layer.dataset.genre;
      if (!on) return;
      const box = under.getBoundingClientRect();
      const genre = /** @type {string} */ (button.dataset.genre);
      if (drawMap(layer, result.explain, genre, box.width, box.height)) {
        button.setAttribute('aria-pressed', 'true');
        layer.dataset.genre = genre;
        layer.hidden = false;
      }
    });
  }
  list.append(...buttons.map((b) => /** @type {HTMLLIElement} */ (b.parentElement)));
}

/**
 * A canvas's 2D context (a canvas gives one unless it already has another kind, which these
 * canvases never do).
 * @param {HTMLCanvasElement} canvas
 */
function context2d(canvas) {
  return /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
}
