// TensorFlow.js 4.x with its wasm backend (XNNPACK, SIMD; the threaded SIMD build when asked
// for two threads), running a MobileNetV2 built here from tf ops and the same pretrained
// weights: the f32 safetensors prepare.py trimmed from ../shared (torchvision layout, NCHW
// filters), transposed to TF.js's NHWC layout once at load.
//
// Padding: tf ops' 'same' is TensorFlow's "SAME" (extra row/column bottom/right), which is
// exactly what these weights were trained with. Batch norms are identities folded into the
// convolutions: each norm's bias becomes its convolution's bias (refused if not an identity).
import { readSafetensors } from './safetensors.js';

const DIST = '/peers/@tensorflow/';
const WEIGHTS = '/build/mobilenet_v2_features.safetensors';
// torchvision's features.N blocks that downsample (the stem, features.0, does too).
const STRIDE_2_BLOCKS = new Set([2, 4, 7, 14]);
const LAST_BLOCK = 17;

function script(src) {
  return new Promise((done, fail) => {
    const tag = document.createElement('script');
    tag.src = src;
    tag.onload = done;
    tag.onerror = () => fail(new Error(`could not load ${src}`));
    document.head.append(tag);
  });
}

/** A convolution's filter in TF.js layout and the bias of its identity batch norm. */
function folded(tf, weights, conv, norm, depthwise) {
  const get = (name) => {
    if (!weights[name]) throw new Error(`missing ${name}`);
    return weights[name];
  };
  const gamma = get(`${norm}.weight`).data;
  const mean = get(`${norm}.running_mean`).data;
  const variance = get(`${norm}.running_var`).data;
  for (let i = 0; i < gamma.length; i++) {
    if (gamma[i] !== 1 || mean[i] !== 0 || Math.abs(variance[i] + 1e-5 - 1) > 1e-6) {
      throw new Error(`${norm} is not an identity batch norm`);
    }
  }
  const w = get(`${conv}.weight`);
  // OIHW → HWIO (conv2d), or [C, 1, kh, kw] → [kh, kw, C, 1] (depthwiseConv2d).
  // (tfjs-core alone has no chained ops: tf.transpose, not tensor.transpose.)
  const filter = tf.tidy(() => tf.transpose(tf.tensor4d(w.data, w.shape), depthwise ? [2, 3, 0, 1] : [2, 3, 1, 0]));
  return { filter, bias: tf.tensor1d(get(`${norm}.bias`).data) };
}

/** The layers, in order, from the weights (mirrors prepare.py's ONNX graph). */
function layers(tf, weights) {
  const conv = (conv, norm, stride, relu6 = true) => ({ kind: 'conv', stride, relu6, ...folded(tf, weights, conv, norm, false) });
  const depthwise = (conv, norm, stride) => ({ kind: 'depthwise', stride, relu6: true, ...folded(tf, weights, conv, norm, true) });
  const stem = conv('features.0.0', 'features.0.1', 2);
  const blocks = [];
  let channels = weights['features.0.0.weight'].shape[0];
  for (let i = 1; i <= LAST_BLOCK; i++) {
    const p = `features.${i}.conv`;
    const stride = STRIDE_2_BLOCKS.has(i) ? 2 : 1;
    const expands = weights[`${p}.0.0.weight`].shape[1] !== 1;
    const ops = expands
      ? [conv(`${p}.0.0`, `${p}.0.1`, 1), depthwise(`${p}.1.0`, `${p}.1.1`, stride), conv(`${p}.2`, `${p}.3`, 1, false)]
      : [depthwise(`${p}.0.0`, `${p}.0.1`, stride), conv(`${p}.1`, `${p}.2`, 1, false)];
    const out = weights[expands ? `${p}.2.weight` : `${p}.1.weight`].shape[0];
    blocks.push({ ops, residual: stride === 1 && out === channels });
    channels = out;
  }
  const last = conv('features.18.0', 'features.18.1', 1);
  return { stem, blocks, last };
}

function apply(tf, op, x) {
  const activation = op.relu6 ? 'relu6' : 'linear';
  const args = { x, filter: op.filter, strides: op.stride, pad: 'same', bias: op.bias, activation };
  return op.kind === 'conv' ? tf.fused.conv2d(args) : tf.fused.depthwiseConv2d(args);
}

export async function load({ threads, width, height }) {
  const weightsBytes = fetch(WEIGHTS).then(async (r) => {
    if (!r.ok) throw new Error(`${WEIGHTS}: HTTP ${r.status} (run prepare.py)`);
    return r.arrayBuffer();
  });
  await script(`${DIST}tfjs-core/dist/tf-core.es2017.min.js`);
  await script(`${DIST}tfjs-backend-wasm/dist/tf-backend-wasm.es2017.min.js`);
  const tf = globalThis.tf;
  tf.wasm.setWasmPaths(`${DIST}tfjs-backend-wasm/dist/`);
  if (threads > 1) {
    // TF.js's threaded build caps XNNPACK's pool at half of navigator.hardwareConcurrency
    // (one thread on these 2 cores, whatever setThreadsCount asks), so the page claims twice
    // the threads asked for; the count actually used is checked below.
    Object.defineProperty(navigator, 'hardwareConcurrency', { value: 2 * threads, configurable: true });
    tf.wasm.setThreadsCount(threads);
  } else {
    // One thread: the plain SIMD build, not the threaded one with a single worker.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('TF.js wasm backend did not start');
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const multithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  if (!simd) throw new Error('TF.js wasm runs without SIMD here');
  if (threads > 1 && !multithread) throw new Error('TF.js wasm cannot use threads (not cross-origin isolated?)');
  const used = threads > 1 ? tf.wasm.getThreadsCount() : 1;
  if (used !== threads) throw new Error(`TF.js wasm runs ${used} threads, not ${threads}`);
  const net = layers(tf, readSafetensors(await weightsBytes));
  const forward = (input) =>
    tf.tidy(() => {
      let x = apply(tf, net.stem, input);
      for (const block of net.blocks) {
        const start = x;
        for (const op of block.ops) x = apply(tf, op, x);
        if (block.residual) x = tf.add(x, start);
      }
      return tf.mean(apply(tf, net.last, x), [1, 2]);
    });
  return {
    info: { version: tf.version_core, simd, threads: used },
    // TF.js computes in NHWC: the CHW input is transposed once, outside the timed runs.
    prepare: (chw) => {
      const plane = width * height;
      const nhwc = new Float32Array(chw.length);
      for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) nhwc[i * 3 + c] = chw[c * plane + i];
      return nhwc;
    },
    run: async (nhwc) => {
      const input = tf.tensor4d(nhwc, [1, height, width, 3]);
      const output = forward(input);
      const data = await output.data();
      input.dispose();
      output.dispose();
      return data;
    },
  };
}
