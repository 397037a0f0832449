// "Posters like this" and "why this genre?" in real headless Chromium, on every face: a
// catalogue indexed by `onesheet index` and served by `onesheet serve --catalogue`, searched
// in wasm. A distorted copy of a catalogue poster lists that poster first, with its picture;
// a "why?" toggle draws the genre's map over the thumbnail; the widget (with index-src) and
// the kiosk show the same. The index also reaches a page of another origin (CORS). And
// `onesheet gallery` builds a static site of the same catalogue that works from file://.
// A forged index (its checksum recomputed: it has no key) is refused without costing a result,
// and names in sub-folders become URLs that keep their folders.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BUNDLE, ONESHEET, SHARED, browserFixture, nthEvent, serveOnesheet } from './harness.mjs';

const SOURCE = resolve(SHARED, 'data/posters/images');
/** The catalogue: the first posters of the shared set, one of them under a hostile-ish name. */
const CATALOGUE_SIZE = 16;

let catalogue;
let names;
let query;

const fixture = browserFixture({
  name: 'catalogue',
  // The catalogue indexed and made into a gallery in the scratch folder, then served.
  serve: async (scratch) => {
    catalogue = join(scratch, 'catalogue');
    mkdirSync(catalogue);
    mkdirSync(join(scratch, 'models'));
    copyFileSync(BUNDLE, join(scratch, 'models/onesheet.safetensors'));
    const files = readdirSync(SOURCE).filter((f) => f.endsWith('.jpg')).sort().slice(0, CATALOGUE_SIZE);
    names = files.map((f, i) => (i === 3 ? `<b>odd & "named" ${f}` : f));
    files.forEach((f, i) => copyFileSync(join(SOURCE, f), join(catalogue, names[i])));
    const indexed = spawnSync(
      ONESHEET,
      ['index', catalogue, '--out', join(catalogue, 'catalogue.index'), '--thumbnails', '{file}',
        '--model', BUNDLE],
      { encoding: 'utf8' },
    );
    assert.equal(indexed.status, 0, indexed.stderr);
    // The query: the odd-named poster, as a visitor would have it (another file, another name).
    query = join(scratch, 'visitor-photo.jpg');
    copyFileSync(join(catalogue, names[3]), query);
    const gallery = spawnSync(
      ONESHEET,
      ['gallery', catalogue, '--out', join(scratch, 'site'), '--model', BUNDLE],
      { encoding: 'utf8' },
    );
    assert.equal(gallery.status, 0, gallery.stderr);
    return serveOnesheet({ models: join(scratch, 'models'), catalogue });
  },
});
const open = (url) => fixture.open(url);

/**
 * How the body of the last download of `path` in `requests` (fixture.open's log) was encoded:
 * 'identity' without compression. Revalidations answered by the HTTP cache move no body and
 * do not count.
 */
async function encoding(requests, path) {
  const gets = requests.filter((r) => r.method === 'GET' && new URL(r.url).pathname === path);
  await Promise.all(gets.map((r) => r.settled));
  return gets.filter((r) => r.wire > 0).at(-1)?.encoding;
}

/** How many of the canvas's pixels are drawn (alpha > 0). */
function paintedPixels(canvas) {
  return canvas.evaluate((c) => {
    const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) painted += data[i] > 0 ? 1 : 0;
    return { painted, total: c.width * c.height, hidden: c.hidden };
  });
}

describe('posters like this, and why', () => {
  test('the drop page lists the catalogue poster first, with its picture, and overlays a map', async () => {
    const { context, page, requests } = await open(`${fixture.server.url}/`);
    await page.waitForFunction(() => document.body.dataset.catalogue === '16', null, { timeout: 120_000 });
    await page.locator('#file').setInputFiles(query);
    const card = page.locator('#posters li.poster').first();
    await card.locator('.similar-list li').first().waitFor({ timeout: 120_000 });

    const listed = await card.locator('.similar-list li').evaluateAll((lis) =>
      lis.map((li) => ({ file: li.dataset.file, score: Number(li.dataset.score), text: li.textContent })),
    );
    assert.equal(listed.length, 6, 'six posters like it');
    assert.equal(listed[0].file, names[3], 'the same poster first');
    assert.ok(listed[0].score > 0.95 && listed[0].score > listed[1].score, JSON.stringify(listed.slice(0, 2)));
    assert.ok(listed[0].text.includes('<b>odd'), 'the name shown as text, not markup');
    assert.equal(await card.locator('.similar-list b').count(), 0);
    const picture = card.locator('.similar-list li img').first();
    await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await picture.elementHandle());

    const why = card.locator('button.why').first();
    const genre = await why.getAttribute('data-genre');
    await why.click();
    assert.equal(await why.getAttribute('aria-pressed'), 'true');
    const layer = card.locator('canvas.why-layer');
    const drawn = await paintedPixels(layer);
    assert.equal(drawn.hidden, false);
    assert.ok(drawn.painted > drawn.total / 4, `the map covers the thumbnail: ${JSON.stringify(drawn)}`);
    assert.equal(await layer.getAttribute('data-genre'), genre);
    await why.click();
    assert.equal(await layer.evaluate((c) => c.hidden), true, 'pressed again, the map goes');

    // The big files came compressed (and still worked); pictures as they are.
    assert.equal(await encoding(requests, '/pkg/onesheet_relaxed_bg.wasm'), 'gzip');
    assert.equal(await encoding(requests, '/catalogue/catalogue.index'), 'gzip');
    assert.equal(await encoding(requests, `/catalogue/${encodeURIComponent(names[3])}`), 'identity');

    // Same code, same answer: the page's map is `onesheet explain`'s.
    const result = await page.evaluate(
      async (bytes) => globalThis.onesheetClient.classify(new Uint8Array(bytes)),
      [...readFileSync(query)],
    );
    const cli = spawnSync(ONESHEET, ['explain', '--format', 'json', '--genre', genre, '--model', BUNDLE, query], {
      encoding: 'utf8',
    });
    assert.equal(cli.status, 0, cli.stderr);
    const expected = JSON.parse(cli.stdout).map;
    const actual = result.explain.maps[genre];
    assert.equal(actual.length, expected.length);
    assert.equal(actual[0].length, expected[0].length);
    const scale = Math.max(...expected.flat().map(Math.abs));
    const gap = Math.max(...actual.flat().map((v, i) => Math.abs(v - expected.flat()[i])));
    console.log(`${genre} map: max |page − CLI| = ${gap.toExponential(2)} (largest |value| ${scale.toFixed(2)})`);
    assert.ok(gap <= 1e-3 * scale, `maps differ by ${gap}`);
    await context.close();
  });

  test('the widget with index-src, on a page of another origin, shows the same', async () => {
    const host = createServer((request, response) => {
      response.setHeader('Content-Type', 'text/html; charset=utf-8');
      response.end(`<!doctype html><meta charset="utf-8">
        <script type="module" src="${fixture.server.url}/widget/onesheet-classifier.js"></script>
        <onesheet-classifier id="w" index-src="${fixture.server.url}/catalogue/catalogue.index"></onesheet-classifier>`);
    });
    await new Promise((done) => host.listen(0, '127.0.0.1', done));
    try {
      const { context, page } = await open(`http://127.0.0.1:${host.address().port}/`);
      await page.locator('onesheet-classifier input[type=file]').setInputFiles(query);
      const event = await nthEvent(page, 1);
      assert.equal(event.type, 'onesheet-genres', JSON.stringify(event.detail));
      assert.equal(event.detail.similar[0].file, names[3]);
      const shown = await page.locator('onesheet-classifier [part=similar-poster]').count();
      assert.equal(shown, 6);
      const why = page.locator('onesheet-classifier button.why').first();
      await why.click();
      const drawn = await paintedPixels(page.locator('onesheet-classifier canvas.layer'));
      assert.equal(drawn.hidden, false);
      assert.ok(drawn.painted > drawn.total / 4, JSON.stringify(drawn));
      await context.close();
    } finally {
      host.close();
    }
  });

  test('the gallery works from file://: genre pages, a poster page with maps and similar posters', async () => {
    const { context, page } = await open(pathToFileURL(join(fixture.scratch, 'site/index.html')).href);
    const genres = await page.locator('.genres a').count();
    assert.equal(genres, 19);
    // A genre that has posters, then its best poster.
    const withPosters = page.locator('.genres li', { hasNot: page.locator('.count:text-is("0")') }).first();
    await withPosters.locator('a').click();
    await page.locator('.grid li a').first().click();
    await page.waitForLoadState();
    assert.match(page.url(), /\/posters\/\d+\.html$/);
    const pictures = await page.locator('img').evaluateAll((imgs) => imgs.map((i) => i.complete && i.naturalWidth > 0));
    assert.ok(pictures.length >= 3 && pictures.every(Boolean), `every picture loads: ${pictures}`);
    assert.ok((await page.locator('.why img.map').count()) >= 1, 'a map over the poster per genre');
    assert.equal(await page.locator('ol.grid li').count(), 8, 'eight posters like it');

    // The odd name is text on its page, never markup.
    // Pages are numbered in the order the catalogue was read: by file name.
    const odd = [...names].sort().indexOf(names[3]);
    await page.goto(pathToFileURL(join(fixture.scratch, `site/posters/${odd}.html`)).href);
    assert.equal(await page.locator('h1').textContent(), names[3]);
    assert.equal(await page.locator('main b').count(), 0);
    await page.goto(pathToFileURL(join(fixture.scratch, 'site/colours.html')).href);
    assert.ok((await page.locator('.swatch').count()) > 0);
    await context.close();
  });

  test('the kiosk lists posters like the one it was shown, and still does offline', async () => {
    const { context, page } = await open(`${fixture.server.url}/kiosk/?idle=600`);
    await page.locator('#start').click().catch(() => {});
    await page.locator('#file').setInputFiles(query);
    await page.locator('#similar-list li').first().waitFor({ timeout: 120_000 });
    const first = await page.locator('#similar-list li').first().getAttribute('data-file');
    assert.equal(first, names[3]);
    assert.ok((await page.locator('#why button.why').count()) >= 1);
    const shown = () =>
      page.waitForFunction(
        () => {
          // A picture that fails is removed from the list, so count them too.
          const pictures = [...document.querySelectorAll('#similar-list img')];
          return pictures.length === document.querySelectorAll('#similar-list li').length &&
            pictures.every((i) => i.complete && i.naturalWidth > 0);
        },
        null,
        { timeout: 60_000 },
      );
    await shown();

    // Offline, reloaded: the same poster still lists the same posters, pictures included.
    await page.evaluate(() => navigator.serviceWorker.ready);
    await context.setOffline(true);
    await page.reload();
    await page.locator('#start').click().catch(() => {});
    await page.locator('#file').setInputFiles(query);
    await page.locator('#similar-list li').first().waitFor({ timeout: 120_000 });
    assert.equal(await page.locator('#similar-list li').first().getAttribute('data-file'), names[3]);
    await shown();
    await context.close();
  });
});

/** A safetensors file's header and each tensor's bytes. */
function parseSafetensors(bytes) {
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [start, end] = info.data_offsets;
    tensors[name] = { dtype: info.dtype, shape: info.shape, data: bytes.subarray(8 + length + start, 8 + length + end) };
  }
  return { metadata: header.__metadata__, tensors };
}

/**
 * An index file as anyone can write one: the description and tensors given, the checksum
 * recomputed as onesheet computes it (SHA-256 over the description, then each tensor's name,
 * dtype, shape and data in name order).
 */
function forgeIndex(description, tensors) {
  const names = Object.keys(tensors).sort();
  const hash = createHash('sha256').update(description);
  for (const name of names) {
    const { dtype, shape, data } = tensors[name];
    hash.update(name).update(`${dtype}[${shape.join(', ')}]`).update(data);
  }
  const header = { __metadata__: {
    'onesheet.index_version': '1', 'onesheet.index': description, 'onesheet.checksum': hash.digest('hex'),
  } };
  let offset = 0;
  for (const name of names) {
    const { dtype, shape, data } = tensors[name];
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.length] };
    offset += data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([length, Buffer.from(json), ...names.map((n) => tensors[n].data)]);
}

/** In a page of the server: the model, then each index in turn, then a classification. */
function loadAndClassify(page, indexes, image) {
  return page.evaluate(async ({ indexes, image }) => {
    const wasm = await import('/pkg/onesheet.js');
    await wasm.default();
    const bundle = new Uint8Array(await (await fetch('/models/onesheet.safetensors')).arrayBuffer());
    const model = await wasm.Onesheet.create(bundle, 'cpu');
    const loads = [];
    for (const bytes of indexes) {
      try {
        loads.push(model.loadIndex(new Uint8Array(bytes), 6));
      } catch (error) {
        loads.push({ error: String(error.message ?? error) });
      }
    }
    try {
      return { loads, result: await model.classify(new Uint8Array(image)) };
    } catch (error) {
      return { loads, error: String(error.message ?? error) };
    }
  }, { indexes: indexes.map((b) => [...b]), image: [...image] });
}

describe('a catalogue index from anywhere', () => {
  test('a forged index one value wide is refused, and classify still answers', async () => {
    const genuine = parseSafetensors(readFileSync(join(catalogue, 'catalogue.index')));
    const n = genuine.tensors.scales.shape[0];
    const f32 = (values) => Buffer.from(new Float32Array(values).buffer);
    const forged = forgeIndex(genuine.metadata['onesheet.index'], {
      centre: { dtype: 'F32', shape: [1], data: f32([0]) },
      norms: { dtype: 'F32', shape: [n], data: f32(new Array(n).fill(1)) },
      scales: { dtype: 'F32', shape: [n], data: f32(new Array(n).fill(0.01)) },
      scores: genuine.tensors.scores,
      vectors: { dtype: 'I8', shape: [n, 1], data: Buffer.alloc(n, 1) },
    });
    const page = await fixture.chromium.browser.newPage();
    page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
    await page.goto(`${fixture.server.url}/`);
    const { loads, result, error } = await loadAndClassify(page, [forged], readFileSync(query));
    assert.match(loads[0].error ?? '', /embeddings of 1 values/, JSON.stringify(loads));
    assert.equal(error, undefined, 'classify answers');
    assert.equal(result.similar, undefined, 'without a catalogue');
    assert.equal(Object.keys(result.scores).length, 19);
    await page.close();
  });

  test('names in sub-folders become URLs that keep their folders and round-trip', async () => {
    const nested = join(fixture.scratch, 'nested');
    const files = readdirSync(SOURCE).filter((f) => f.endsWith('.jpg')).sort().slice(0, 3);
    const wanted = ['sub dir/a:b#c?.jpg', 'x%y/ポスター 2.jpg', 'plain/deeper/100%.jpg'];
    wanted.forEach((name, i) => {
      mkdirSync(join(nested, name, '..'), { recursive: true });
      copyFileSync(join(SOURCE, files[i]), join(nested, name));
    });
    const out = join(fixture.scratch, 'nested.index');
    const indexed = spawnSync(
      ONESHEET,
      ['index', nested, '--out', out, '--thumbnails', '/catalogue/{file}', '--model', BUNDLE],
      { encoding: 'utf8' },
    );
    assert.equal(indexed.status, 0, indexed.stderr);
    const page = await fixture.chromium.browser.newPage();
    await page.goto(`${fixture.server.url}/`);
    const { loads, result, error } = await loadAndClassify(page, [readFileSync(out)], readFileSync(query));
    assert.equal(error, undefined, error);
    assert.equal(loads[0].posters, 3, JSON.stringify(loads));
    assert.deepEqual(result.similar.map((s) => s.file).sort(), [...wanted].sort());
    const expected = {
      'sub dir/a:b#c?.jpg': '/catalogue/sub%20dir/a%3Ab%23c%3F.jpg',
      'x%y/ポスター 2.jpg': `/catalogue/x%25y/${encodeURIComponent('ポスター 2.jpg')}`,
      'plain/deeper/100%.jpg': '/catalogue/plain/deeper/100%25.jpg',
    };
    for (const { file, thumbnail } of result.similar) {
      assert.equal(thumbnail, expected[file]);
      const url = new URL(thumbnail, fixture.server.url);
      assert.equal(url.pathname, thumbnail, 'the browser reads the path as written');
      const back = url.pathname.slice('/catalogue/'.length).split('/').map(decodeURIComponent).join('/');
      assert.equal(back, file);
    }
    await page.close();
  });
});
