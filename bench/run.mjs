// The benchmark driver (bench/run.sh sets up and calls it): onesheet in headless Chromium
// against TensorFlow.js (wasm) and ONNX Runtime Web (wasm), then natively against ONNX
// Runtime's CPU engine. Checks every peer's features against onesheet's on the same input and
// fails on a mismatch; writes results/<name>.json, .svg and .md (and, for a full run, the
// table in README.md). See README.md for what each figure means.
//
//   node bench/run.mjs [--quick] [--rounds N] [--warmup N] [--runs N] [--posters N]
//                      [--no-webgpu] [--no-native] [--liftoff] [--name NAME]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromiumArgs, chromiumVersion, launch } from './lib/browser.mjs';
import { benchFiles, serve } from './lib/server.mjs';
import { markdown, svg } from './lib/report.mjs';

const BENCH = import.meta.dirname;
const ROOT = resolve(BENCH, '..');
const SHARED = process.env.ONESHEET_SHARED ?? resolve(ROOT, '../shared');
const TARGET = resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target');

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    warmup: { type: 'string' },
    runs: { type: 'string' },
    'webgpu-runs': { type: 'string' },
    posters: { type: 'string' },
    'no-webgpu': { type: 'boolean', default: false },
    'no-native': { type: 'boolean', default: false },
    liftoff: { type: 'boolean', default: false },
    tolerance: { type: 'string', default: '1e-3' },
    name: { type: 'string' },
    bundle: { type: 'string', default: resolve(ROOT, 'models/onesheet.safetensors') },
  },
});
const quick = opts.quick;
const settings = {
  mode: quick ? 'quick' : 'full',
  rounds: Number(opts.rounds ?? (quick ? 1 : 3)),
  warmup: Number(opts.warmup ?? (quick ? 2 : 5)),
  runs: Number(opts.runs ?? (quick ? 5 : 30)),
  // SwiftShader WebGPU takes seconds per pass: a few runs say all there is to say.
  webgpuRuns: Number(opts['webgpu-runs'] ?? (quick ? 1 : 3)),
  posters: Number(opts.posters ?? (quick ? 20 : 100)),
  tolerance: Number(opts.tolerance),
  liftoff: opts.liftoff,
};
const name = opts.name ?? (quick ? 'quick' : 'latest');
const bundle = resolve(opts.bundle);
const postersDir = resolve(SHARED, 'data/posters/images');
const prepared = JSON.parse(readFileSync(resolve(BENCH, 'build/prepare.json'), 'utf8'));

/** The bundle manifest's input (the poster size): { width, height }. */
function bundleInput(path) {
  const bytes = readFileSync(path);
  const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
  return JSON.parse(header.__metadata__['onesheet.manifest']).input;
}

/** What else is keeping the 2 cores busy (another engineer's builds): names and load. */
function machineLoad() {
  const busy = [];
  const checks = [
    ['rustc', ['-x', 'rustc']],
    ['cargo', ['-x', 'cargo']],
    // npm's wasm-opt runs as `node …/wasm-opt`.
    ['wasm-opt', ['-f', 'wasm-opt']],
    ['node --test', ['-f', 'node --test']],
    ['onesheet', ['-x', 'onesheet']],
  ];
  for (const [label, args] of checks) {
    const found = spawnSync('pgrep', args, { encoding: 'utf8' }).stdout.trim();
    if (found) busy.push(`${label} (${found.split('\n').length})`);
  }
  return { loadavg: loadavg().map((l) => Number(l.toFixed(2))), busy };
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const at = (sorted.length - 1) * p;
  const lo = Math.floor(at);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (at - lo);
}
const stats = (samples) => {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, median: percentile(s, 0.5), p10: percentile(s, 0.1), p90: percentile(s, 0.9) };
};
const median = (xs) => percentile([...xs].sort((a, b) => a - b), 0.5);

/** max |a − b| and that over max |b| (b: onesheet's features). */
function gap(actual, expected) {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  if (actual.length !== expected.length) return { maxAbs: Infinity, relative: Infinity };
  return { maxAbs: worst, relative: worst / scale };
}

const input = bundleInput(bundle);
const posterSize = `${input.width}x${input.height}`;
const sizes = ['224x224', posterSize].filter((s, i, all) => all.indexOf(s) === i);
for (const size of sizes) {
  if (!prepared.inputs[size]) throw new Error(`bench/build has no input for ${size}: run bench/run.sh (prepare.py)`);
}
const poster = prepared.poster;

// The configurations, in the order each round runs them. onesheet has no wasm threads.
// onesheet-cpu runs what Chromium's visitors get (the relaxed-SIMD compilation);
// onesheet-simd128 the plain one, which browsers without relaxed SIMD run.
const configs = [];
for (const size of sizes) {
  configs.push({ runtime: 'onesheet-cpu', threads: 1, size, e2e: size === posterSize });
  configs.push({ runtime: 'onesheet-simd128', threads: 1, size });
  for (const threads of [1, 2]) for (const runtime of ['tfjs', 'ort']) configs.push({ runtime, threads, size });
}
const webgpuConfigs = opts['no-webgpu'] ? [] : (quick ? [posterSize] : sizes).map((size) => ({ runtime: 'onesheet-webgpu', threads: 1, size, webgpu: true }));

const files = benchFiles({ root: ROOT, bench: BENCH, bundle, poster });
files[`/build/input-${posterSize}.f32`] = resolve(BENCH, 'build', prepared.inputs[posterSize].file);
const server = await serve(files);
const keyOf = (c) => `${c.runtime}|${c.threads}|${c.size}`;

async function visit(page, config, { warmup, runs, e2e }) {
  const query = new URLSearchParams({ runtime: config.runtime, threads: config.threads, size: config.size, warmup, runs, e2e: e2e ? 1 : 0 });
  await page.goto(`${server.url}/bench/index.html?${query}`, { waitUntil: 'commit' });
  // Polled slowly, so the driver's checks hardly touch the page's main thread while it runs.
  await page.waitForFunction(() => globalThis.benchResult || globalThis.benchError, null, { timeout: 900_000, polling: 500 });
  const { result, error } = await page.evaluate(() => ({ result: globalThis.benchResult, error: globalThis.benchError }));
  if (error) throw new Error(`${keyOf(config)}: ${error}`);
  return result;
}

/** A fresh browser for `visits` (functions of the page), closed afterwards; console errors kept. */
async function withBrowser(config, liftoff, visits) {
  const chromium = await launch({ webgpu: config.webgpu, liftoff });
  try {
    const context = await chromium.browser.newContext();
    const page = await context.newPage();
    const logs = [];
    page.on('console', (m) => m.type() === 'error' && !m.text().includes('404') && logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(String(e)));
    const out = await visits(page);
    if (logs.length) out.consoleErrors = logs.slice(0, 5);
    return out;
  } finally {
    await chromium.close();
  }
}

/**
 * One round of one configuration, in two fresh browsers:
 * - the measuring pass (with --js-flags=--no-liftoff unless --liftoff): load, first result,
 *   warm-up, timed runs, memory, features and downloads;
 * - the cold pass with Chromium's default wasm tiering, as visitors get it: navigation to first
 *   result with nothing cached, then again in the same context (everything from the HTTP cache).
 *   Without Liftoff a big module compiles wholly with TurboFan before it can run, which is not
 *   what a visitor waits for (ONNX Runtime's 14 MB wasm: ~12 s instead of ~2 s here).
 */
async function runConfig(config, { coldPass = true } = {}) {
  const webgpu = config.webgpu;
  const measured = await withBrowser(config, settings.liftoff, async (page) => ({
    result: await visit(page, config, {
      // create() already ran a warm-up pass; a quick run adds none of its own.
      warmup: webgpu ? Math.min(quick ? 0 : 1, settings.warmup) : settings.warmup,
      runs: webgpu ? settings.webgpuRuns : settings.runs,
      e2e: config.e2e,
    }),
  }));
  const run = { ...measured.result, consoleErrors: measured.consoleErrors };
  if (coldPass && !run.skipped) {
    const only = { warmup: 0, runs: 0, e2e: false };
    const cold = await withBrowser(config, true, async (page) => ({ uncached: await visit(page, config, only), cached: await visit(page, config, only) }));
    run.coldMs = cold.uncached.firstResultMs;
    run.cachedMs = cold.cached.firstResultMs;
  }
  return run;
}

const started = new Date();
const loadBefore = machineLoad();
const samples = new Map();
const busySeen = new Map();
const record = (config, run, round) => {
  // Sampled after every measurement: another engineer's build starting mid-run shows here.
  for (const name of machineLoad().busy) busySeen.set(name.split(' ')[0], (busySeen.get(name.split(' ')[0]) ?? 0) + 1);
  const key = keyOf(config);
  if (!samples.has(key)) samples.set(key, { config, rounds: [] });
  samples.get(key).rounds.push(run);
  const line = run.skipped
    ? `skipped: ${run.skipped}`
    : `median ${median(run.warmMs)?.toFixed(1)} ms; first result ${run.firstResultMs.toFixed(0)} ms (--no-liftoff)` +
      (run.coldMs != null ? `, ${run.coldMs.toFixed(0)} ms (default tiering), cached ${run.cachedMs.toFixed(0)} ms` : '');
  console.log(`  round ${round + 1} ${key.padEnd(30)} ${line}`);
};

try {
  console.log(`bench ${settings.mode}: ${settings.rounds} round(s), ${settings.warmup} warm-up + ${settings.runs} runs; ${chromiumVersion()}; ${sizes.join(', ')}`);
  for (let round = 0; round < settings.rounds; round++) {
    // Each round runs every configuration once, so slow drifts of the machine spread evenly.
    for (const config of configs) record(config, await runConfig(config), round);
  }
  for (const config of webgpuConfigs) record(config, await runConfig(config, { coldPass: !quick }), 0);
} finally {
  await server.close();
}

// Aggregate: warm samples pooled over rounds, cold times the median over rounds.
const browser = [];
for (const { config, rounds } of samples.values()) {
  const first = rounds[0];
  if (first.skipped) {
    browser.push({ ...config, skipped: first.skipped });
    continue;
  }
  const bytes = { raw: 0, gzip: 0, wire: 0, files: [] };
  for (const d of first.downloads.filter((x) => x.transfer > 0 || x.encoded > 0)) {
    const size = server.sizes[d.path] ?? { raw: d.decoded, gzip: d.encoded };
    bytes.raw += size.raw;
    bytes.gzip += size.gzip;
    bytes.wire += d.encoded;
    bytes.files.push({ path: d.path, raw: size.raw, gzip: size.gzip });
  }
  const e2e = rounds.flatMap((r) => r.classify?.ms ?? []);
  const colds = rounds.filter((r) => r.coldMs != null);
  browser.push({
    ...config,
    info: first.info,
    crossOriginIsolated: first.crossOriginIsolated,
    warm: stats(rounds.flatMap((r) => r.warmMs)),
    coldMs: colds.length ? median(colds.map((r) => r.coldMs)) : null,
    cachedMs: colds.length ? median(colds.map((r) => r.cachedMs)) : null,
    coldNoLiftoffMs: median(rounds.map((r) => r.firstResultMs)),
    classify: e2e.length ? { ...stats(e2e), genres: first.classify.genres } : null,
    bytes,
    wasmMemoryBytes: Math.max(...rounds.map((r) => r.wasmMemoryBytes)),
    embedding: first.embedding,
    userAgent: first.userAgent,
    consoleErrors: rounds.flatMap((r) => r.consoleErrors ?? []).slice(0, 5),
  });
}

// onesheet has no wasm threads: its two-thread rows say so rather than go missing.
for (const size of sizes) {
  const at = browser.findIndex((b) => b.runtime === 'onesheet-cpu' && b.size === size);
  if (at >= 0) browser.splice(at + 1, 0, { runtime: 'onesheet-cpu', threads: 2, size, na: 'n/a: onesheet has no wasm threads' });
}

// Native: onesheet classify against ONNX Runtime's CPU engine.
let native = null;
if (!opts['no-native']) {
  const release = resolve(TARGET, 'release/onesheet');
  const binary = existsSync(release) ? release : resolve(TARGET, 'debug/onesheet');
  if (!existsSync(binary)) throw new Error(`no onesheet binary (${release} or target/debug/onesheet): build one, or pass --no-native`);
  const build = binary === release ? 'release' : 'debug (a dev build with dependencies at opt-level 3)';
  console.log(`native: ${binary}, ${settings.posters} posters, ${posterSize}`);
  const args = [resolve(BENCH, 'native.py'), '--onnx', resolve(BENCH, 'build/mobilenet_v2_features.onnx'), '--onesheet', binary, '--bundle', bundle,
    '--posters', postersDir, '--count', String(settings.posters), '--size', posterSize];
  for (const size of sizes) args.push('--parity-input', `${size}=${resolve(BENCH, 'build', prepared.inputs[size].file)}`);
  const out = execFileSync(resolve(BENCH, '.venv/bin/python'), args, { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  native = { binary: binary.replace(`${ROOT}/`, ''), build, ...JSON.parse(out) };
}

// Parity: every runtime's features against onesheet's (CPU) on the same input.
const parity = [];
for (const size of sizes) {
  const reference = browser.find((b) => b.runtime === 'onesheet-cpu' && b.size === size)?.embedding;
  if (!reference) throw new Error(`no onesheet-cpu result at ${size}`);
  for (const b of browser.filter((x) => x.size === size && x.runtime !== 'onesheet-cpu' && !x.skipped && !x.na)) {
    parity.push({ runtime: b.runtime, threads: b.threads, size, ...gap(b.embedding, reference) });
  }
  if (native?.ort_features?.[size]) parity.push({ runtime: 'ort-native', threads: 1, size, ...gap(native.ort_features[size], reference) });
}

// Headline ratios: onesheet ÷ the best peer (lower latency, fewer bytes, less memory is better).
const ratios = [];
for (const size of sizes) {
  const ours = browser.find((b) => b.runtime === 'onesheet-cpu' && b.size === size);
  const peers = browser.filter((b) => b.size === size && (b.runtime === 'tfjs' || b.runtime === 'ort'));
  for (const threads of [1, 'any']) {
    const pool = peers.filter((p) => threads === 'any' || p.threads === threads);
    const best = (f) => pool.reduce((a, b) => (f(b) < f(a) ? b : a));
    const row = (label, f) => {
      const peer = best(f);
      return { metric: label, size, peerThreads: threads, onesheet: f(ours), peer: `${peer.runtime} ${peer.threads}t`, peerValue: f(peer), ratio: f(ours) / f(peer) };
    };
    ratios.push(row('warm median ms', (b) => b.warm.median));
    if (threads === 1) {
      ratios.push(row('first result ms, not cached', (b) => b.coldMs));
      ratios.push(row('first result ms, cached', (b) => b.cachedMs));
      ratios.push(row('download gzip bytes', (b) => b.bytes.gzip));
      ratios.push(row('wasm memory bytes', (b) => b.wasmMemoryBytes));
    }
  }
}
const e2eOurs = browser.find((b) => b.classify);
const tfjsPoster = browser.find((b) => b.runtime === 'tfjs' && b.threads === 1 && b.size === posterSize);
const endToEnd = e2eOurs && tfjsPoster ? { onesheetClassify: e2eOurs.classify, tfjsModelOnly: tfjsPoster.warm, ratio: e2eOurs.classify.median / tfjsPoster.warm.median } : null;

const result = {
  name,
  settings,
  started: started.toISOString(),
  seconds: Math.round((Date.now() - started) / 1000),
  machine: {
    cores: cpus().length,
    cpu: cpus()[0]?.model,
    loadBefore,
    loadAfter: machineLoad(),
    // How many of the browser measurements ended with each other build process running.
    busyDuring: Object.fromEntries(busySeen),
    measurements: [...samples.values()].reduce((n, s) => n + s.rounds.length, 0),
  },
  chromium: { version: chromiumVersion(), userAgent: browser[0]?.userAgent, flags: chromiumArgs({ webgpu: false, liftoff: settings.liftoff }), webgpuFlags: chromiumArgs({ webgpu: true, liftoff: settings.liftoff }).slice(-4) },
  onesheetBuild: readBuiltFrom(),
  prepared: { weights_precision: prepared.weights_precision, gzip_bytes: prepared.gzip_bytes, reference_check_max_rel: prepared.reference_check_max_rel, f16_rounding_effect_rel: prepared.f16_rounding_effect_rel, poster: prepared.poster.replace(`${SHARED}/`, '../shared/') },
  posterSize,
  browser: browser.map(({ embedding, ...rest }) => rest),
  endToEnd,
  native: native && (({ ort_features, ...rest }) => rest)(native),
  parity,
  ratios,
};

function readBuiltFrom() {
  const out = {};
  for (const dir of ['pkg', 'pkg-webgpu']) {
    const file = resolve(ROOT, 'www', dir, '.built-from');
    if (existsSync(file)) out[dir] = readFileSync(file, 'utf8').trim();
  }
  return out;
}

mkdirSync(resolve(BENCH, 'results'), { recursive: true });
writeFileSync(resolve(BENCH, 'results', `${name}.json`), `${JSON.stringify(result, null, 1)}\n`);
writeFileSync(resolve(BENCH, 'results', `${name}.svg`), svg(result));
const table = markdown(result);
writeFileSync(resolve(BENCH, 'results', `${name}.md`), table);
console.log(`\n${table}`);
if (!quick && name === 'latest') {
  // The README keeps the latest full run's table between these markers.
  const readmePath = resolve(BENCH, 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  const begin = '<!-- bench:results:begin -->';
  const end = '<!-- bench:results:end -->';
  if (readme.includes(begin) && readme.includes(end)) {
    writeFileSync(readmePath, `${readme.slice(0, readme.indexOf(begin) + begin.length)}\n${table}\n${readme.slice(readme.indexOf(end))}`);
  }
}
console.log(`wrote bench/results/${name}.json, .svg, .md`);

const bad = parity.filter((p) => !(p.relative <= settings.tolerance));
if (bad.length) {
  for (const p of bad) console.error(`MISMATCH: ${p.runtime} (${p.threads}t, ${p.size}) differs from onesheet by ${p.maxAbs} (relative ${p.relative})`);
  process.exit(1);
}
console.log(`parity: every peer within ${settings.tolerance} (relative) of onesheet's features`);
