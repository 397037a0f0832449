// Debian's headless Chromium, launched with the browser tests' flags
// (tests/browser/chromium-flags.mjs), through bench's own playwright-core. No browser is ever
// downloaded.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { chromiumArgs } from '../../tests/browser/chromium-flags.mjs';

export { chromiumArgs };

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

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
