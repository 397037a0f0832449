// The benchmark's own static server on loopback: the bench page, the peers' files from
// bench/node_modules, onesheet's wasm builds from www/pkg*, the model bundle and the peers'
// weights built by prepare.py. Every response is cross-origin isolated (COOP + COEP), because
// the peers' wasm threads need SharedArrayBuffer, and every runtime is served the same way so
// their cold times compare. Only an allow-list of files is served (no directory walking).
//
// Bodies go gzip -9 to browsers that accept it, compressed once at start-up so that no
// runtime's first request pays for compression; the sizes are reported as "gzip".
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.jpg': 'image/jpeg',
};
// JPEG is already compressed; everything else (wasm, weights, scripts) is worth gzip.
const COMPRESS = (path) => extname(path) !== '.jpg';

/**
 * Serves `files` ({ '/url/path': '/abs/file' }) on 127.0.0.1; resolves to
 * { url, close, sizes: { '/url/path': { raw, gzip } } }. Files that do not exist are left out
 * (an unbuilt www/pkg-webgpu, say) and answer 404.
 */
export async function serve(files) {
  const table = new Map();
  for (const [path, file] of Object.entries(files)) {
    if (!existsSync(file)) continue;
    const body = readFileSync(file);
    const gzip = COMPRESS(file) ? gzipSync(body, { level: 9 }) : null;
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    table.set(path, { body, gzip, etag, type: TYPES[extname(file)] ?? 'application/octet-stream' });
  }
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://x').pathname);
    const entry = table.get(path === '/' ? '/bench/index.html' : path);
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      // The second navigation of a run is "cached": served from the HTTP cache without even a
      // revalidation, for every runtime alike. A fresh browser profile starts each run empty.
      'Cache-Control': 'max-age=3600',
    };
    if (!entry || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, headers).end();
      return;
    }
    const gzip = entry.gzip && /\bgzip\b/.test(request.headers['accept-encoding'] ?? '');
    const etag = gzip ? entry.etag.replace(/"$/, '-gzip"') : entry.etag;
    headers.ETag = etag;
    headers['Content-Type'] = entry.type;
    headers.Vary = 'Accept-Encoding';
    if (request.headers['if-none-match'] === etag) {
      response.writeHead(304, headers).end();
      return;
    }
    const body = gzip ? entry.gzip : entry.body;
    if (gzip) headers['Content-Encoding'] = 'gzip';
    headers['Content-Length'] = body.length;
    response.writeHead(200, headers);
    response.end(request.method === 'HEAD' ? undefined : body);
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  const sizes = Object.fromEntries(
    [...table].map(([path, e]) => [path, { raw: e.body.length, gzip: e.gzip?.length ?? e.body.length }]),
  );
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    sizes,
    close: () => new Promise((done) => server.close(done)),
  };
}

/** The files the bench serves, from the repository root, bench/ and the poster. */
export function benchFiles({ root, bench, bundle, poster }) {
  const files = {};
  const add = (url, file) => (files[url] = resolve(file));
  for (const name of ['index.html', 'main.js', 'memory.js', 'onesheet.js', 'tfjs.js', 'ort.js', 'safetensors.js']) {
    add(`/bench/${name}`, resolve(bench, 'page', name));
  }
  for (const name of ['mobilenet_v2_features.onnx', 'mobilenet_v2_features.safetensors', 'input-224x224.f32']) {
    add(`/build/${name}`, resolve(bench, 'build', name));
  }
  // The poster input size comes from the bundle, so its input file is added by the caller too.
  for (const path of ['pkg/onesheet.js', 'pkg/onesheet_bg.wasm', 'pkg/onesheet_relaxed_bg.wasm', 'pkg-webgpu/onesheet.js', 'pkg-webgpu/onesheet_bg.wasm', 'lib/simd.js']) {
    add(`/${path}`, resolve(root, 'www', path));
  }
  add('/models/onesheet.safetensors', bundle);
  add('/poster.jpg', poster);
  const modules = resolve(bench, 'node_modules');
  // The UMD builds: the ES module builds import Node's fs, path and os, which a page cannot.
  const tfjs = ['tfjs-core/dist/tf-core.es2017.min.js', 'tfjs-backend-wasm/dist/tf-backend-wasm.es2017.min.js'];
  for (const wasm of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
    tfjs.push(`tfjs-backend-wasm/dist/${wasm}`);
  }
  for (const file of tfjs) add(`/peers/@tensorflow/${file}`, resolve(modules, '@tensorflow', file));
  // ONNX Runtime Web's wasm-only build; it imports its wasm glue (.mjs) and binary at run time.
  for (const name of ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']) {
    add(`/peers/onnxruntime-web/dist/${name}`, resolve(modules, 'onnxruntime-web/dist', name));
  }
  return files;
}
