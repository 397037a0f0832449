// One benchmark run of one runtime, driven by bench/run.mjs through the URL:
//   /bench/index.html?runtime=onesheet-cpu|onesheet-simd128|onesheet-webgpu|tfjs|ort&threads=1&size=224x320
//                    &warmup=5&runs=30&e2e=1
// Loads only that runtime (so its cold time and downloads are its own), runs the model on the
// input prepare.py wrote, and leaves everything in `window.benchResult` (or `benchError`).
const params = new URLSearchParams(location.search);
const runtime = params.get('runtime');
const threads = Number(params.get('threads') ?? '1');
const [width, height] = (params.get('size') ?? '224x224').split('x').map(Number);
const warmup = Number(params.get('warmup') ?? '5');
const runs = Number(params.get('runs') ?? '30');
const e2e = params.get('e2e') === '1';

const MODULES = {
  'onesheet-cpu': 'onesheet',
  'onesheet-simd128': 'onesheet',
  'onesheet-webgpu': 'onesheet',
  tfjs: 'tfjs',
  ort: 'ort',
};

/** Times `runs` awaited calls of `fn` after `warmup` untimed ones; returns ms per call and the last result. */
async function time(fn, warmup, runs) {
  for (let i = 0; i < warmup; i++) await fn();
  const ms = [];
  let last;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    last = await fn();
    ms.push(performance.now() - start);
  }
  return { ms, last };
}

/** What the runtime fetched: everything but the bench page itself and its input. */
function downloads() {
  return performance
    .getEntriesByType('resource')
    .map((e) => ({ path: new URL(e.name).pathname, status: e.responseStatus, transfer: e.transferSize, encoded: e.encodedBodySize, decoded: e.decodedBodySize }))
    .filter((e) => !e.path.startsWith('/bench/') && !e.path.startsWith('/build/input-') && e.status !== 404);
}

async function main() {
  if (!MODULES[runtime]) throw new Error(`unknown runtime ${runtime}`);
  // Fetched alongside the runtime, not counted as its download.
  const input = fetch(`/build/input-${width}x${height}.f32`).then(async (r) => {
    if (!r.ok) throw new Error(`no input for ${width}x${height}: run prepare.py`);
    return new Float32Array(await r.arrayBuffer());
  });
  const { load } = await import(`./${MODULES[runtime]}.js`);
  const model = await load({ runtime, threads, width, height });
  if (model.skipped) return { runtime, skipped: model.skipped };
  const loadedMs = performance.now();
  const x = model.prepare(await input);
  const first = await model.run(x);
  const firstResultMs = performance.now();
  const warm = await time(() => model.run(x), warmup, runs);
  let classify;
  if (e2e && model.classify) {
    const jpeg = new Uint8Array(await (await fetch('/poster.jpg')).arrayBuffer());
    const timed = await time(() => model.classify(jpeg), Math.min(warmup, 2), runs);
    classify = { ms: timed.ms, genres: timed.last.genres };
  }
  return {
    runtime,
    threads,
    width,
    height,
    info: model.info,
    crossOriginIsolated: globalThis.crossOriginIsolated,
    loadedMs,
    firstResultMs,
    warmMs: warm.ms,
    classify,
    firstEmbedding: Array.from(first),
    embedding: Array.from(warm.last ?? first),
    wasmMemoryBytes: globalThis.benchWasmBytes(),
    downloads: downloads(),
    userAgent: navigator.userAgent,
  };
}

main().then(
  (result) => {
    globalThis.benchResult = result;
    document.getElementById('status').textContent = 'done';
  },
  (error) => {
    globalThis.benchError = String(error?.stack ?? error);
    document.getElementById('status').textContent = `failed: ${error}`;
  },
);
