// Reads a safetensors file's F32 tensors in the browser: { name: { shape, data: Float32Array } }.
export function readSafetensors(buffer) {
  const view = new DataView(buffer);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, headerLength)));
  const base = 8 + headerLength;
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'F32') throw new Error(`${name}: expected F32, got ${info.dtype}`);
    const [start, end] = info.data_offsets;
    // A copy: the data offsets need not be 4-byte aligned.
    tensors[name] = { shape: info.shape, data: new Float32Array(buffer.slice(base + start, base + end)) };
  }
  return tensors;
}
