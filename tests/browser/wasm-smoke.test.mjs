// The wasm build loads a bundle from bytes in real headless Chromium and reproduces the
// reference features on the CPU backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { BUNDLE, ROOT, SHARED, browserFixture, launch, readSafetensors, relativeError } from './harness.mjs';

const REFERENCE = resolve(SHARED, 'reference/mobilenet_v2/reference.safetensors');

/** The test bundle, as `onesheet serve --models <its folder>` serves it. */
const BUNDLE_URL = `/models/${basename(BUNDLE)}`;

// The pages here are only a place on the server's origin: the tests drive the wasm API itself.
const fixture = browserFixture({ name: 'wasm-smoke' });

// Both compilations of the CPU build: SIMD128, and SIMD128 with relaxed SIMD (FMA), which
// Chromium runs by default.
for (const wasmFile of ['onesheet_bg.wasm', 'onesheet_relaxed_bg.wasm']) {
  test(`CPU backend (${wasmFile}) reproduces the reference features from a fetched bundle`, async () => {
    const reference = readSafetensors(REFERENCE);
    const page = await fixture.chromium.browser.newPage();
    page.on('console', (m) => console.log(`[page] ${m.text()}`));
    // Any page of the origin will do: the test drives the wasm API itself.
    await page.goto(`${fixture.server.url}/`);
    const names = ['empire', 'tt0111161'];
    const inputs = names.map((n) => Array.from(reference[`input.${n}`].data));
    const result = await page.evaluate(async ({ inputs, bundleUrl, wasmFile }) => {
      const wasm = await import('/pkg/onesheet.js');
      await wasm.default({ module_or_path: `/pkg/${wasmFile}` });
      const bytes = new Uint8Array(await (await fetch(bundleUrl)).arrayBuffer());
      const model = await wasm.Onesheet.create(bytes, 'cpu');
      const features = [];
      for (const input of inputs) {
        features.push(Array.from(await model.embedPixels(new Float32Array(input), 224, 224)));
      }
      return { backend: model.backend, genres: model.manifest.genres.length, features };
    }, { inputs, bundleUrl: BUNDLE_URL, wasmFile });
    assert.equal(result.backend, 'cpu');
    assert.equal(result.genres, 19);
    names.forEach((name, i) => {
      const error = relativeError(result.features[i], reference[`features.${name}`].data);
      console.log(`wasm cpu ${wasmFile} ${name}: features relative error ${error.toExponential(2)}`);
      // The test bundle stores f32 weights (export --f32), so the reference tolerance holds.
      assert.ok(error <= 1e-4, `${name}: ${error}`);
    });
    await page.close();
  });
}

test('a damaged bundle is refused with a clear error', async () => {
  const page = await fixture.chromium.browser.newPage();
  // Any page of the origin will do: the test drives the wasm API itself.
  await page.goto(`${fixture.server.url}/`);
  const message = await page.evaluate(async (bundleUrl) => {
    const wasm = await import('/pkg/onesheet.js');
    await wasm.default();
    const bytes = new Uint8Array(await (await fetch(bundleUrl)).arrayBuffer());
    try {
      await wasm.Onesheet.create(bytes.subarray(0, bytes.length - 4096), 'cpu');
      return 'accepted';
    } catch (error) {
      return String(error.message ?? error);
    }
  }, BUNDLE_URL);
  assert.match(message, /truncated|damaged/);
  await page.close();
});

test('WebGPU backend (SwiftShader) reproduces the reference features', async () => {
  const reference = readSafetensors(REFERENCE);
  const gpu = await launch({ webgpu: true });
  try {
    const page = await gpu.browser.newPage();
    // Any page of the origin will do: the test drives the wasm API itself.
    await page.goto(`${fixture.server.url}/`);
    const input = Array.from(reference['input.empire'].data);
    const result = await page.evaluate(async ({ input, bundleUrl }) => {
      if (!navigator.gpu || !(await navigator.gpu.requestAdapter())) return { adapter: false };
      const wasm = await import('/pkg-webgpu/onesheet.js');
      await wasm.default();
      const bytes = new Uint8Array(await (await fetch(bundleUrl)).arrayBuffer());
      const model = await wasm.Onesheet.create(bytes, 'webgpu');
      const features = Array.from(await model.embedPixels(new Float32Array(input), 224, 224));
      return { adapter: true, backend: model.backend, features };
    }, { input, bundleUrl: BUNDLE_URL });
    assert.ok(result.adapter, 'headless Chromium offers a WebGPU adapter (SwiftShader)');
    assert.equal(result.backend, 'webgpu');
    const error = relativeError(result.features, reference['features.empire'].data);
    console.log(`wasm webgpu empire: features relative error ${error.toExponential(2)}`);
    assert.ok(error <= 1e-4, `webgpu: ${error}`);
  } finally {
    await gpu.close();
  }
});

test('the module runs its static constructors once, not at the top of every export', () => {
  // A module that never calls `__wasm_call_ctors` itself is linked "command-style": wasm-ld
  // wraps every export in a `<name>.command_export` that runs all constructors first (about
  // 1.5 ms per call from JavaScript with cubecl's registrations). The start function calls
  // them once (wasm/src/lib.rs), so no wrapper may appear. The tests' build keeps the names
  // section that shows them.
  for (const build of ['pkg/onesheet_bg.wasm', 'pkg/onesheet_relaxed_bg.wasm', 'pkg-webgpu/onesheet_bg.wasm']) {
    const wasm = readFileSync(resolve(ROOT, 'www', build));
    assert.ok(wasm.includes('__wasm_call_ctors'), `${build}: no names section to check (an optimised build?)`);
    assert.equal(wasm.includes('.command_export'), false, `${build}: exports are wrapped to run the constructors`);
  }
});

test('the default build is CPU-only and a fraction of the WebGPU build', () => {
  // Every visitor downloads www/pkg; only WebGPU users the other (worker.js picks).
  const cpu = readFileSync(resolve(ROOT, 'www/pkg/onesheet_bg.wasm'));
  const webgpu = readFileSync(resolve(ROOT, 'www/pkg-webgpu/onesheet_bg.wasm'));
  console.log(`wasm: pkg ${cpu.length} bytes, pkg-webgpu ${webgpu.length} bytes`);
  assert.ok(cpu.length < webgpu.length / 2, `${cpu.length} vs ${webgpu.length}`);
  // cubecl-wgpu (burn's WebGPU runtime) leaves its crate name in panic locations.
  assert.equal(cpu.includes('cubecl-wgpu'), false, 'the CPU build carries the WebGPU stack');
  assert.equal(webgpu.includes('cubecl-wgpu'), true);
});
