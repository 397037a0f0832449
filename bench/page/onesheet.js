// onesheet in the page, as www/ uses it: the wasm-bindgen package and the shipped bundle,
// handed over as bytes. `Onesheet.create` runs its own warm-up pass, as it does for visitors.
//
// WebGPU: the WebGPU-capable build lives (or will live) in www/pkg-webgpu while www/pkg becomes
// CPU-only, so WebGPU tries /pkg-webgpu/ first and falls back to /pkg/; when neither can
// create a WebGPU model the run is skipped with the reason rather than failed.
import { RELAXED_SIMD, relaxedSibling } from '/lib/simd.js';

const BUNDLE = '/models/onesheet.safetensors';
const CPU_WASM = '/pkg/onesheet_bg.wasm';

export async function load({ runtime, width, height }) {
  const backend = runtime === 'onesheet-webgpu' ? 'webgpu' : 'cpu';
  // The CPU build's compilation a visitor's worker picks: relaxed SIMD where the browser has
  // it, unless the plain one is asked for.
  const cpuWasm = runtime === 'onesheet-cpu' && RELAXED_SIMD ? relaxedSibling(new URL(CPU_WASM, location.href)) : CPU_WASM;
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
    const cpu = url === '/pkg/onesheet.js';
    await onesheet.default(cpu ? { module_or_path: cpuWasm } : undefined);
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
      info: { package: url, wasm: cpu ? cpuWasm : null, backend: model.backend, manifestInput: model.manifest.input, loadMs: model.selection.loadMs },
      // embedPixels takes the normalised CHW input as it is.
      prepare: (chw) => chw,
      run: (chw) => model.embedPixels(chw, width, height),
      // End to end as a page sees it: JPEG bytes in, genres out (decode, resize, model, head).
      classify: (jpeg) => model.classify(jpeg, undefined),
    };
  }
  return { skipped: failures.join('; ') };
}
