// Where the browser's model time goes: Chromium's sampling CPU profiler (over the DevTools
// protocol) around repeated `embedPixels` calls on the CPU build, self time summed per wasm
// function and per crate. Needs a build that keeps the names section: the tests' build
// (`ONESHEET_WASM_PROFILE=wasm-test scripts/build-wasm.sh`, what scripts/test.sh makes); the
// shipped build (wasm-opt) has none, and the report then says so.
//
//   node scripts/profile-wasm.mjs [--model PATH] [--runs N] [--width 224 --height 320] [--top 25]
//                                 [--wasm onesheet_relaxed_bg.wasm | onesheet_bg.wasm]
//
// (--wasm: which compilation of www/pkg; the relaxed-SIMD one by default, as Chromium's visitors
// get.)
import { basename, dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { launch, serveOnesheet } from '../tests/browser/harness.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/onesheet.safetensors' },
    runs: { type: 'string', default: '30' },
    width: { type: 'string', default: '224' },
    height: { type: 'string', default: '320' },
    top: { type: 'string', default: '25' },
    wasm: { type: 'string', default: 'onesheet_relaxed_bg.wasm' },
  },
});
const model = resolve(values.model);
const [width, height, runs] = [values.width, values.height, values.runs].map(Number);

const server = await serveOnesheet({ models: dirname(model) });
const chromium = await launch();
try {
  const page = await chromium.browser.newPage();
  await page.goto(`${server.url}/`);
  await page.evaluate(
    async ({ bundleUrl, width, height, wasmFile }) => {
      const wasm = await import('/pkg/onesheet.js');
      await wasm.default({ module_or_path: `/pkg/${wasmFile}` });
      const bytes = new Uint8Array(await (await fetch(bundleUrl)).arrayBuffer());
      const model = await wasm.Onesheet.create(bytes, 'cpu');
      // A fixed input: profiles of two runs differ only by sampling.
      const input = new Float32Array(3 * width * height).map((_, i) => Math.sin(i) * 0.9);
      for (let i = 0; i < 3; i++) await model.embedPixels(input, width, height);
      globalThis.profiled = { model, input };
    },
    { bundleUrl: `/models/${basename(model)}`, width, height, wasmFile: basename(values.wasm) },
  );

  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
  await cdp.send('Profiler.start');
  const wallMs = await page.evaluate(
    async ({ runs, width, height }) => {
      const { model, input } = globalThis.profiled;
      const started = performance.now();
      for (let i = 0; i < runs; i++) await model.embedPixels(input, width, height);
      return (performance.now() - started) / runs;
    },
    { runs, width, height },
  );
  const { profile } = await cdp.send('Profiler.stop');

  // Self time per node from the samples and their intervals.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const name = node.callFrame.functionName || `(${node.callFrame.url ? 'anonymous' : node.callFrame.functionName || 'program'})`;
    self.set(name, (self.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = (self.get('(idle)') ?? 0) + (self.get('(program)') ?? 0) + (self.get('(garbage collector)') ?? 0);
  const named = [...self.keys()].some((n) => /burn|gemm|flex/.test(n));

  console.log(`${runs} × embedPixels ${width}×${height} on the CPU build: ${wallMs.toFixed(1)} ms per call (wall, under the profiler)`);
  if (!named) {
    console.log('this wasm has no names section (an optimised build): build it with ONESHEET_WASM_PROFILE=wasm-test');
  }
  const busy = total - idle;
  const share = (ms) => `${((100 * ms) / busy).toFixed(1).padStart(5)}%`;
  console.log(`\nself time by function (of ${busy.toFixed(0)} ms busy):`);
  const rows = [...self.entries()].filter(([n]) => !/^\((idle|program|garbage collector)\)$/.test(n)).sort((a, b) => b[1] - a[1]);
  for (const [name, ms] of rows.slice(0, Number(values.top))) {
    console.log(`  ${share(ms)}  ${demangle(name).slice(0, 140)}`);
  }
  // The crate a Rust function belongs to: its first path segment after demangling.
  const crates = new Map();
  for (const [name, ms] of rows) {
    const crate = /^[<]*([a-z_][a-z0-9_]*)::/.exec(demangle(name))?.[1] ?? '(js and runtime)';
    crates.set(crate, (crates.get(crate) ?? 0) + ms);
  }
  console.log('\nself time by crate:');
  for (const [crate, ms] of [...crates.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    console.log(`  ${share(ms)}  ${crate}`);
  }
} finally {
  await chromium.close();
  server.close();
}

/** A Rust legacy-mangled name (`_ZN4core3ptr…E`) as a path; other names as they are. */
function demangle(name) {
  const match = /^\$?_ZN(.*)E$/.exec(name);
  if (!match) return name;
  const parts = [];
  let rest = match[1];
  while (rest.length) {
    const length = /^\d+/.exec(rest);
    if (!length) break;
    const n = Number(length[0]);
    parts.push(rest.slice(length[0].length, length[0].length + n));
    rest = rest.slice(length[0].length + n);
  }
  return parts
    .filter((p) => !/^h[0-9a-f]{16}$/.test(p))
    .join('::')
    .replace(/\$LT\$/g, '<')
    .replace(/\$GT\$/g, '>')
    .replace(/\$u20\$/g, ' ')
    .replace(/\$C\$/g, ',')
    .replace(/\.\./g, '::');
}
