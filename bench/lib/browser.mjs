// Debian's headless Chromium, launched as tests/browser/harness.mjs launches it (the same
// flags), through bench's own playwright-core. No browser is ever downloaded.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** The flags every run uses; `liftoff: false` adds --js-flags=--no-liftoff (see README). */
export function chromiumArgs({ webgpu, liftoff }) {
  const args = [
    '--headless=new',
    '--no-sandbox',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
  ];
  // Chromium tiers wasm up lazily: without this, about one page load in five runs a model at
  // the baseline (Liftoff) tier's speed for the whole page.
  if (!liftoff) args.push('--js-flags=--no-liftoff');
  // Headless Chromium has WebGPU here only through SwiftShader (software Vulkan).
  if (webgpu) args.push('--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=swiftshader');
  return args;
}

/** A fresh browser with a fresh profile: { browser, close }. */
export async function launch({ webgpu = false, liftoff = false } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'onesheet-bench-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    ignoreDefaultArgs: true,
    args: [...chromiumArgs({ webgpu, liftoff }), `--user-data-dir=${profile}`, '--remote-debugging-pipe'],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** "Chromium 156.0.8078.114" (the wrapper script's own stderr noise dropped). */
export function chromiumVersion() {
  try {
    return execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(' built')[0];
  } catch {
    return 'unknown';
  }
}
