// The flags every headless Chromium of this project starts with: the browser tests' harness
// and the benchmark (bench/lib/browser.mjs) launch it alike. No imports: bench/ has its own
// node_modules and loads this file from here.

/**
 * Flags for Debian's headless Chromium. Without `liftoff`, `--js-flags=--no-liftoff`: Chromium
 * tiers wasm up lazily, and about one page load in five otherwise runs a model at the
 * baseline tier's speed for the whole page. With `webgpu`, SwiftShader (software Vulkan)
 * gives it a real WebGPU adapter, the only one headless Chromium has here.
 */
export function chromiumArgs({ webgpu = false, liftoff = false } = {}) {
  const args = [
    '--headless=new',
    '--no-sandbox',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
  ];
  if (!liftoff) args.push('--js-flags=--no-liftoff');
  if (webgpu) {
    args.push('--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=swiftshader');
  }
  return args;
}
