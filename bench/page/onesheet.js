// onesheet in the page, as www/ uses it: the wasm-bindgen package and the shipped bundle,
// handed over as bytes. `Onesheet.create` runs its own warm-up pass, as it does for visitors.
//
// WebGPU: the WebGPU-capable build lives (or will live) in www/pkg-webgpu while www/pkg becomes
// CPU-only, so WebGPU tries /pkg-webgpu/ first and falls back to /pkg/; when neither can
// create a WebGPU model the run is skipped with the reason rather than failed.
const BUNDLE = '/models/onesheet.safetensors';

/** Whether the browser runs relaxed SIMD (the same probe as www/lib/worker.js). */
const RELAXED_SIMD = WebAssembly.validate(
  new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2, 253,
    15, 253, 128, 2, 11,
  ]),
);

export async function load({ runtime, width, height }) {
  const backend = runtime === 'onesheet-webgpu' ? 'webgpu' : 'cpu';
  // The CPU build's compilation a visitor's worker picks: relaxed SIMD where the browser has
  // it, unless the plain one is asked for.
  const cpuWasm = runtime === 'onesheet-cpu' && RELAXED_SIMD ? '/pkg/onesheet_relaxed_bg.wasm' : '/pkg/onesheet_bg.wasm';
  const packages = backend === 'webgpu' ? ['/pkg-webgpu/onesheet.js', '/pkg/onesheet.js'] : ['/pkg/onesheet.js'];
  const bundle = fetch(BUNDLE).then(async (r) => {
    if (!r.ok) throw new Error(`${BUNDLE}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  });
  const failures = [];
  for (const url of packages) {
    let onesheet;
    try {
      onesheet = await import(url);
    } catch (error) {
      failures.push(`${url}: not built (${error.message})`);
      continue;
    }
    await onesheet.default(url === '/pkg/onesheet.js' ? { module_or_path: cpuWasm } : undefined);
    let model;
    try {
      model = await onesheet.Onesheet.create(await bundle, backend);
    } catch (error) {
      if (backend === 'cpu') throw error;
      failures.push(`${url}: ${error.message ?? error}`);
      continue;
    }
    if (model.backend !== backend) throw new Error(`asked for ${backend}, got ${model.backend}`);
    return {
      info: { package: url, wasm: url === '/pkg/onesheet.js' ? cpuWasm : null, backend: model.backend, manifestInput: model.manifest.input, loadMs: model.selection.loadMs },
      // embedPixels takes the normalised CHW input as it is.
      prepare: (chw) => chw,
      run: (chw) => model.embedPixels(chw, width, height),
      // End to end as a page sees it: JPEG bytes in, genres out (decode, resize, model, head).
      classify: (jpeg) => model.classify(jpeg, undefined),
    };
  }
  return { skipped: failures.join('; ') };
}
