// Which compilation of the CPU build a browser runs. The CPU build comes in two under one
// JavaScript glue: `onesheet_bg.wasm` (SIMD128) and, beside it, `onesheet_relaxed_bg.wasm`
// (SIMD128 and relaxed SIMD, whose fused multiply-adds make the model about a fifth faster).
// The worker and the benchmark page pick with the same two answers.

/**
 * Whether this browser runs WebAssembly's relaxed SIMD (Chromium since 114): a module
 * returning `i8x16.relaxed_swizzle` of two splats validates.
 */
export const RELAXED_SIMD = WebAssembly.validate(
  new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2, 253,
    15, 253, 128, 2, 11,
  ]),
);

/**
 * The relaxed-SIMD compilation beside the CPU build at `url`, or null when `url` is not named as built.
 * @param {string} url
 */
export function relaxedSibling(url) {
  const sibling = new URL(url);
  if (!sibling.pathname.endsWith('/onesheet_bg.wasm')) return null;
  sibling.pathname = sibling.pathname.replace(/onesheet_bg\.wasm$/, 'onesheet_relaxed_bg.wasm');
  return sibling.href;
}
