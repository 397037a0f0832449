// "Posters like this": the catalogue's nearest posters to a result (its `similar`, found in
// wasm in the index the client loaded), as a list of pictures or names with their similarity.
// Names come from the index file and are written with textContent; pictures only from http(s).

import { percent } from './result.js';

/** @typedef {import('./protocol.js').ClassifyResult} ClassifyResult */

/**
 * Fills `list` with `result.similar` (`[{ file, score, thumbnail? }]`, best first): one
 * `li[data-file]` each, holding an `<img>` when the index says where pictures are, the name
 * and the similarity. Empties and hides `list` when the result has none.
 * @param {HTMLElement} list
 * @param {ClassifyResult} result
 */
export function fillSimilar(list, result) {
  list.replaceChildren();
  const similar = Array.isArray(result.similar) ? result.similar : [];
  list.hidden = similar.length === 0;
  for (const poster of similar) {
    const li = document.createElement('li');
    li.className = 'similar-poster';
    li.setAttribute('part', 'similar-poster');
    li.dataset.file = poster.file;
    li.dataset.score = String(poster.score);
    const picture = safePicture(poster.thumbnail);
    if (picture) {
      const img = document.createElement('img');
      img.src = picture;
      img.alt = '';
      img.loading = 'lazy';
      img.decoding = 'async';
      img.setAttribute('part', 'similar-picture');
      img.addEventListener('error', () => img.remove(), { once: true });
      li.append(img);
    }
    const name = document.createElement('span');
    name.className = 'similar-name';
    name.setAttribute('part', 'similar-name');
    name.textContent = poster.file;
    name.title = poster.file; // cut short to fit; whole on hover
    const score = document.createElement('span');
    score.className = 'similar-score';
    score.setAttribute('part', 'similar-score');
    score.textContent = percent(Math.max(0, poster.score));
    li.append(name, score);
    list.append(li);
  }
}

/**
 * `url` when it is an http(s) picture, else null.
 * @param {unknown} url
 */
function safePicture(url) {
  if (typeof url !== 'string') return null;
  try {
    const parsed = new URL(url, document.baseURI);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}
