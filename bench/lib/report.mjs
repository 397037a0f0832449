// Turns a run's result (run.mjs) into the Markdown tables README.md keeps and a small SVG plot.
const LABELS = {
  'onesheet-cpu': 'onesheet cpu (wasm relaxed SIMD)',
  'onesheet-simd128': 'onesheet cpu (wasm SIMD128 only)',
  'onesheet-webgpu': 'onesheet webgpu (SwiftShader)',
  tfjs: 'TF.js wasm',
  ort: 'ORT Web wasm',
};
const ms = (x, digits = 1) => (x == null ? '–' : x.toFixed(digits));
const mb = (x) => (x == null ? '–' : (x / 1e6).toFixed(2));
const ratio = (x) => (x == null || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}×`);
const sci = (x) => (x == null ? '–' : x.toExponential(1));

function label(b) {
  const version = b.info?.version ? ` ${b.info.version}` : '';
  return `${LABELS[b.runtime] ?? b.runtime}${b.runtime.startsWith('onesheet') ? '' : version}`;
}

export function markdown(r) {
  const lines = [];
  const s = r.settings;
  const flags = s.liftoff ? 'default wasm tiering (Liftoff on)' : '`--js-flags=--no-liftoff`';
  const during = Object.entries(r.machine.busyDuring ?? {}).map(([name, n]) => `${name} at ${n} of ${r.machine.measurements} browser measurements`);
  const busy = [...r.machine.loadBefore.busy.map((b) => `${b} at the start`), ...during, ...r.machine.loadAfter.busy.map((b) => `${b} at the end`)];
  lines.push(
    `${s.mode === 'full' ? 'Full' : 'Quick'} run of ${r.started.slice(0, 10)} (\`bench/run.sh${s.mode === 'quick' ? ' --quick' : ''}\`, ${r.seconds} s): ` +
      `${s.rounds} round(s) × (${s.warmup} warm-up + ${s.runs} timed runs) per runtime, fresh browsers for each; ` +
      `${r.chromium.version}, headless; ${r.machine.cores} cores (${r.machine.cpu}); ` +
      `load average ${r.machine.loadBefore.loadavg[0]} before, ${r.machine.loadAfter.loadavg[0]} after; ` +
      `${busy.length ? `**also running: ${busy.join(', ')}**` : 'nothing else building'}. ` +
      `Poster input ${r.posterSize} (the bundle's manifest). onesheet build: ${Object.entries(r.onesheetBuild).map(([k, v]) => `www/${k} ${v.split(' ').slice(0, 2).join(' ')}`).join('; ') || 'unknown'}.`,
    '',
  );

  lines.push('**Headline: onesheet (cpu) ÷ the best peer** (above 1×: onesheet is slower, larger or hungrier)', '');
  lines.push('| metric | input | peers | onesheet | best peer | peer value | ratio |', '| --- | --- | --- | ---: | --- | ---: | ---: |');
  for (const x of r.ratios) {
    const f = x.metric.includes('bytes') ? mb : (v) => ms(v, 0);
    const unit = x.metric.replace(' bytes', ' MB');
    lines.push(`| ${unit} | ${x.size} | ${x.peerThreads === 1 ? '1 thread' : 'any threads'} | ${f(x.onesheet)} | ${x.peer} | ${f(x.peerValue)} | ${ratio(x.ratio)} |`);
  }
  lines.push('');

  lines.push(
    '**In the browser** (MobileNetV2 1.0 to the 1280-d pooled features, batch 1, latency in ms. Warm runs, memory and features come from a browser ' +
      `started with ${flags}; "first result" is navigation start to the first features in a fresh browser with Chromium's default wasm tiering ` +
      '(nothing cached, then a second navigation in the same context, all from the HTTP cache); the no-Liftoff column is the measuring browser\'s own first result. ' +
      'Downloads: everything the runtime fetched (JS, wasm, weights), raw and gzip -9; wasm memory: all WebAssembly.Memory buffers after the runs.)',
    '',
  );
  lines.push(
    '| runtime | threads | input | warm median | p10 | p90 | runs | first result, not cached | first result, cached | first result, not cached, no Liftoff | download MB (gzip) | wasm memory MB | features vs onesheet: max abs (relative) |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  );
  for (const b of r.browser) {
    if (b.na) {
      lines.push(`| ${label(b)} | ${b.threads} | ${b.size} | ${b.na} ||||||||||`);
      continue;
    }
    if (b.skipped) {
      lines.push(`| ${label(b)} | ${b.threads} | ${b.size} | skipped: ${b.skipped} ||||||||||`);
      continue;
    }
    const p = r.parity.find((x) => x.runtime === b.runtime && x.threads === b.threads && x.size === b.size);
    const diff = p ? `${sci(p.maxAbs)} (${sci(p.relative)})` : 'reference';
    lines.push(
      `| ${label(b)} | ${b.threads} | ${b.size} | ${ms(b.warm.median)} | ${ms(b.warm.p10)} | ${ms(b.warm.p90)} | ${b.warm.n} | ${ms(b.coldMs, 0)} | ${ms(b.cachedMs, 0)} | ${ms(b.coldNoLiftoffMs, 0)} | ${mb(b.bytes.raw)} (${mb(b.bytes.gzip)}) | ${mb(b.wasmMemoryBytes)} | ${diff} |`,
    );
  }
  lines.push('');
  const ort = r.parity.filter((x) => x.runtime === 'ort-native');
  if (ort.length) lines.push(`Native ORT (Python) on the same inputs vs onesheet's browser features: ${ort.map((x) => `${x.size} ${sci(x.maxAbs)} (${sci(x.relative)})`).join(', ')}.`, '');

  if (r.endToEnd) {
    const e = r.endToEnd;
    lines.push(
      `**End to end in the browser**: onesheet \`classify(jpeg)\` (decode, resize, model, genre head; timed around the await) ` +
        `median ${ms(e.onesheetClassify.median)} ms (p10 ${ms(e.onesheetClassify.p10)}, p90 ${ms(e.onesheetClassify.p90)}, ${e.onesheetClassify.n} runs) ` +
        `vs TF.js's model alone at ${r.posterSize}, 1 thread, ${ms(e.tfjsModelOnly.median)} ms: ${ratio(e.ratio)}.`,
      '',
    );
  }

  if (r.native) {
    const n = r.native;
    lines.push(
      `**Natively** (${n.posters} posters, the first sorted of ../shared/data/posters/images, at ${n.size}; \`${n.binary}\`, ${n.build}; onnxruntime ${n.onnxruntime}; posters/s, higher is better):`,
      '',
      '| threads | onesheet classify, batch 1 | onesheet classify, default batch | ORT, PIL decode + resize + model | ORT, model only | onesheet (batch 1) ÷ ORT end to end, time per poster |',
      '| ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const [threads, t] of Object.entries(n.threads)) {
      lines.push(
        `| ${threads} | ${t.onesheet_batch1.posters_per_s.toFixed(1)} | ${t.onesheet_default_batch.posters_per_s.toFixed(1)} (batch ${t.onesheet_default_batch.batch}) | ${t.ort.end_to_end_posters_per_s.toFixed(1)} | ${t.ort.model_only_posters_per_s.toFixed(1)} | ${ratio(t.ort.end_to_end_posters_per_s / t.onesheet_batch1.posters_per_s)} |`,
      );
    }
    lines.push('');
  }
  lines.push(
    `Peers run onesheet's own backbone (${r.prepared.weights_precision}), so their features can match onesheet's; ` +
      `the ONNX graph reproduces ../shared's reference features to ${sci(r.prepared.reference_check_max_rel)} with the exact pretrained f32 weights ` +
      `(f16 rounding of those alone moves the features by ${sci(r.prepared.f16_rounding_effect_rel)} relative). ` +
      `The peers' download columns count the served files, f32: the served ONNX file gzips to ${mb(r.prepared.gzip_bytes?.served_onnx)} MB, ` +
      `the exact pretrained one to ${mb(r.prepared.gzip_bytes?.exact_f32_onnx)} MB (those weights were dequantized from uint8, so they compress better than fine-tuned ones). ` +
      'onesheet ships its weights as f16 in its bundle, with its genre head.',
  );
  return `${lines.join('\n')}\n`;
}

/** Warm median latency per browser runtime, p10–p90 whiskers, one group per input size. */
export function svg(r) {
  const rows = r.browser.filter((b) => b.warm && b.runtime !== 'onesheet-webgpu');
  const slow = r.browser.filter((b) => b.warm && b.runtime === 'onesheet-webgpu');
  const max = Math.max(...rows.map((b) => b.warm.p90)) * 1.1;
  const left = 230;
  const width = 720;
  const plot = width - left - 60;
  const rowHeight = 20;
  const top = 44;
  const height = top + rows.length * rowHeight + 40 + slow.length * 16;
  const x = (v) => left + (v / max) * plot;
  const colour = (b) => (b.runtime === 'onesheet-cpu' ? '#c0392b' : b.runtime === 'tfjs' ? '#e67e22' : '#2c7fb8');
  const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-weight="bold">MobileNetV2 warm latency, batch 1 (ms: median, p10–p90)</text>`,
    `<text x="10" y="34" fill="#555">${esc(`${r.chromium.version}, headless, ${r.machine.cores} cores; ${r.settings.mode} run ${r.started.slice(0, 10)}`)}</text>`,
  ];
  rows.forEach((b, i) => {
    const y = top + i * rowHeight;
    out.push(
      `<text x="${left - 6}" y="${y + 14}" text-anchor="end">${esc(`${label(b).replace(' (wasm SIMD128)', '').replace(' wasm', '')}, ${b.threads}t, ${b.size}`)}</text>`,
      `<rect x="${left}" y="${y + 3}" width="${x(b.warm.median) - left}" height="${rowHeight - 6}" fill="${colour(b)}"/>`,
      `<line x1="${x(b.warm.p10)}" x2="${x(b.warm.p90)}" y1="${y + 10}" y2="${y + 10}" stroke="black"/>`,
      `<text x="${x(b.warm.p90) + 4}" y="${y + 14}">${b.warm.median.toFixed(1)}</text>`,
    );
  });
  const axis = top + rows.length * rowHeight + 4;
  out.push(`<line x1="${left}" x2="${left + plot}" y1="${axis}" y2="${axis}" stroke="#888"/>`);
  const step = 10 ** Math.floor(Math.log10(max / 2)) * (max / 10 ** Math.floor(Math.log10(max)) > 5 ? 5 : 2);
  for (let v = 0; v <= max; v += step) out.push(`<text x="${x(v)}" y="${axis + 14}" text-anchor="middle" fill="#555">${v}</text>`);
  slow.forEach((b, i) => {
    out.push(`<text x="10" y="${axis + 32 + i * 16}" fill="#555">${esc(`${label(b)}, ${b.size}: median ${b.warm.median.toFixed(0)} ms (software WebGPU, off this scale)`)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
