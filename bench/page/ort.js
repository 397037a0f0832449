// ONNX Runtime Web, wasm execution provider (SIMD; threads when the page is cross-origin
// isolated), running the graph prepare.py wrote from the same pretrained weights (NCHW).
const DIST = '/peers/onnxruntime-web/dist/';
const MODEL = '/build/mobilenet_v2_features.onnx';

export async function load({ threads, width, height }) {
  const model = fetch(MODEL).then(async (r) => {
    if (!r.ok) throw new Error(`${MODEL}: HTTP ${r.status} (run prepare.py)`);
    return new Uint8Array(await r.arrayBuffer());
  });
  const ort = await import(`${DIST}ort.wasm.min.mjs`);
  ort.env.wasm.wasmPaths = DIST;
  ort.env.wasm.numThreads = threads;
  // Inference on the page's own thread, like the other runtimes here.
  ort.env.wasm.proxy = false;
  const session = await ort.InferenceSession.create(await model, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const shape = [1, 3, height, width];
  return {
    info: { version: ort.env.versions?.web ?? ort.env.versions?.common, numThreads: ort.env.wasm.numThreads },
    prepare: (chw) => chw,
    run: async (chw) => {
      const outputs = await session.run({ input: new ort.Tensor('float32', chw, shape) });
      return outputs.features.data;
    },
  };
}
