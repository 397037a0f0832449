//! onesheet's browser API (wasm-bindgen), shared by the drop page, the kiosk and the shop widget:
//! the `onesheet` crate's model, bundle, preprocessing and catalogue search, wrapped for
//! JavaScript. scripts/build-wasm.sh builds it into www/pkg (CPU only) and www/pkg-webgpu.
//!
//! One [`Onesheet`] holds a loaded bundle on one backend (`"cpu"`: burn's flex with SIMD128;
//! `"webgpu"`: burn's wgpu; `"auto"`: whichever is faster here on the warm-up). Everything that
//! reads tensors is async: WebGPU cannot read back synchronously. Errors reject with a `JsError`
//! whose message says what went wrong; a Rust panic aborts the instance (the build uses
//! `panic = "abort"`), so the caller — `www/lib/worker.js` — must start a fresh one after it.
// Natively there is nothing to bind to: the workspace's native builds and lints see an empty
// crate, and its tests (the warm-up images) need only the core.
#![cfg(target_family = "wasm")]

mod backend;
mod options;
mod result;
#[cfg(feature = "wgpu")]
mod webgpu;

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Reflect;
use wasm_bindgen::prelude::*;

use backend::{Backend, Request};
use onesheet::bundle::Bundle;
use onesheet::index::{Index, Similar};
use onesheet::inference::{Classifier, read_rows};
use onesheet::model::FEATURES;
use onesheet::model::{ModelInput, batch};
use onesheet::preprocess;
use onesheet::year::Year;
use result::{Catalogue, Selection, Timing, Trial, WarmUp, prediction_to_js, to_js};

#[wasm_bindgen]
extern "C" {
    // A global in windows and workers alike.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn now() -> f64;

    // A global in windows and workers alike.
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn warn(message: &str);
}

/// Where the panic hook leaves the last panic's message: after `panic = "abort"` the instance
/// is dead and cannot be asked, but the worker can still read a global.
const LAST_PANIC: &str = "onesheetLastPanic";

// The module's static constructors (`inventory` registrations in cubecl and pliron), which
// wasm-ld gathers into `__wasm_call_ctors`.
#[allow(
    unsafe_code,
    reason = "the only way to name the linker's constructor function; see `start`"
)]
unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// Runs the static constructors once, then installs a panic hook that logs Rust panics to the
/// console and leaves the message in `globalThis.onesheetLastPanic` for the worker's crash
/// report.
///
/// Calling the constructors here matters for speed: a module that never calls them is linked
/// as a "command", and wasm-ld then runs every constructor at the start of *every* exported
/// function. Each call from JavaScript into the module (and a result becomes JS objects through
/// dozens of them) cost about 1.5 ms that way: 30 ms to read `manifest`, 60 ms after each
/// `classify` (measured in Chromium with a CPU profile over the DevTools protocol).
#[wasm_bindgen(start)]
pub fn start() {
    // SAFETY: wasm-bindgen calls the start function once, right after instantiation and before
    // any other export runs Rust code; the constructors only register items in `inventory`.
    #[allow(unsafe_code, reason = "see the SAFETY comment")]
    unsafe {
        __wasm_call_ctors();
    }
    std::panic::set_hook(Box::new(|info| {
        let _ = Reflect::set(
            &js_sys::global(),
            &JsValue::from_str(LAST_PANIC),
            &JsValue::from_str(&info.to_string()),
        );
        console_error_panic_hook::hook(info);
    }));
}

/// Panics on purpose, inside an async call like `classify`'s. Only in builds with the `testing`
/// feature, for the browser tests: they prove a page survives a Rust panic (the worker reports
/// it and the client starts a fresh instance).
#[cfg(feature = "testing")]
#[allow(
    clippy::unused_async,
    reason = "the panic must happen inside an async call, where classify's would"
)]
#[wasm_bindgen(js_name = panicForTesting)]
pub async fn panic_for_testing() {
    panic!("deliberate panic from panicForTesting()");
}

fn error(message: impl std::fmt::Display) -> JsError {
    JsError::new(&message.to_string())
}

/// 48×72 gradients as Chromium encodes them (lossy WebP, RGBA PNG, baseline JPEG).
const WARM_UP_IMAGES: [&[u8]; 3] = [
    include_bytes!("../warmup/blank.jpg"),
    include_bytes!("../warmup/blank.png"),
    include_bytes!("../warmup/blank.webp"),
];

/// A classifier on one backend.
struct Engine {
    classifier: Classifier,
    backend: Backend,
    /// The bundle's checksum: which catalogue indexes hold this model's embeddings.
    model_id: String,
}

impl Engine {
    async fn load(bundle: &[u8], backend: Backend) -> Result<Self, String> {
        let device = backend::device(backend).await?;
        let model_id = Bundle::read_checksum(bundle)
            .map_err(|e| format!("the model bundle could not be loaded: {e}"))?;
        let bundle = Bundle::from_bytes(bundle, &device)
            .map_err(|e| format!("the model bundle could not be loaded: {e}"))?;
        Ok(Self {
            classifier: Classifier::new(bundle, device),
            backend,
            model_id,
        })
    }

    /// Decodes a small JPEG, PNG and WebP once: the browser compiles wasm functions on their
    /// first call, and the decoders are big enough that a visitor's first poster would feel it.
    fn warm_decoders(&self) -> f64 {
        let started = now();
        for image in WARM_UP_IMAGES {
            // Only a warm-up: whatever happens here, real images get their own errors later.
            let _ = self.classifier.prepare(image);
        }
        now() - started
    }

    /// Runs the model `runs` times on a blank poster: the first run pays for allocation (and
    /// on WebGPU, shader compilation), so no visitor's first poster does.
    async fn warm_up(&self, runs: usize) -> Result<Trial, String> {
        let spec = &self.classifier.bundle.manifest.input;
        let (width, height) = (spec.width as usize, spec.height as usize);
        let blank = ModelInput {
            width,
            height,
            data: vec![0.0; 3 * width * height],
            year: None,
        };
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = now();
            self.classifier
                .classify_async(std::slice::from_ref(&blank))
                .await
                .map_err(|e| format!("the {} warm-up run failed: {e}", self.backend.name()))?;
            times.push(now() - started);
        }
        Ok(Trial {
            first_ms: times.first().copied().unwrap_or_default(),
            warm_ms: times.get(1..).and_then(<[f64]>::last).copied(),
        })
    }
}

/// A loaded model on one backend, and the catalogue it finds similar posters in.
#[wasm_bindgen]
pub struct Onesheet {
    engine: Engine,
    selection: Selection,
    /// Shared, so a search holds it without a borrow that spans an `await`.
    catalogue: RefCell<Option<Rc<LoadedIndex>>>,
}

/// A catalogue index and how many similar posters each result lists.
struct LoadedIndex {
    index: Index,
    count: usize,
}

#[wasm_bindgen]
impl Onesheet {
    /// Loads a bundle (its bytes, fetched by the page) on `"auto"`, `"cpu"` or `"webgpu"`, and
    /// warms it up. `"auto"` tries both and keeps WebGPU only if an adapter exists and it ran
    /// the warm-up faster than the CPU; `selection` says what was chosen and why.
    ///
    /// `options` may be `{ warmUp: false }`: one backend asked for is then only loaded, and
    /// the page calls [`Onesheet::warm_up`] when it has nothing else to do (a poster handed in
    /// at once is then not kept waiting behind a blank one). `"auto"` always runs its trials.
    pub async fn create(
        bundle: Vec<u8>,
        backend: &str,
        options: JsValue,
    ) -> Result<Onesheet, JsError> {
        let request = Request::parse(backend)?;
        let warm = options::warm_up(&options).map_err(error)?;
        let started = now();
        let (engine, mut selection) = match request {
            Request::Only(backend) => {
                let engine = Engine::load(&bundle, backend).await.map_err(error)?;
                let mut selection = Selection::new(request, backend, "asked for".into());
                if warm {
                    let trial = engine.warm_up(1).await.map_err(error)?;
                    selection = selection.with_trial(backend, trial);
                }
                (engine, selection)
            }
            Request::Auto => choose(&bundle).await.map_err(error)?,
        };
        if warm || request == Request::Auto {
            selection.decoders_ms = engine.warm_decoders();
        }
        selection.load_ms = now() - started;
        Ok(Onesheet {
            engine,
            selection,
            catalogue: RefCell::new(None),
        })
    }

    /// Loads a catalogue index (made by `onesheet index` with this model): from now on each
    /// result lists the `count` posters most like it, best first, as `similar: [{ file, score,
    /// thumbnail? }]`. Replaces any index loaded before. Returns `{ posters, thumbnails }`.
    ///
    /// An index that is damaged, forged (anything a search reads that does not fit together,
    /// or is not as wide as this model's embeddings) or made with another model is refused
    /// here, so the model goes on without a catalogue rather than failing every `classify`.
    #[wasm_bindgen(js_name = loadIndex)]
    pub fn load_index(&self, bytes: &[u8], count: usize) -> Result<JsValue, JsError> {
        let index = Index::from_bytes(bytes).map_err(error)?;
        index
            .check_model(&self.engine.model_id, FEATURES)
            .map_err(error)?;
        let summary = Catalogue {
            posters: index.len(),
            thumbnails: index.thumbnails().map(str::to_string),
        };
        *self.catalogue.borrow_mut() = Some(Rc::new(LoadedIndex { index, count }));
        to_js(&summary)
    }

    /// Warms up a model created with `{ warmUp: false }`: decodes a small JPEG, PNG and WebP
    /// and runs the model once on a blank poster, so the browser has compiled what a poster
    /// needs. Returns `{ firstMs, decodersMs }`.
    #[wasm_bindgen(js_name = warmUp)]
    pub async fn warm_up(&self) -> Result<JsValue, JsError> {
        let decoders_ms = self.engine.warm_decoders();
        let trial = self.engine.warm_up(1).await.map_err(error)?;
        to_js(&WarmUp {
            first_ms: trial.first_ms,
            decoders_ms,
        })
    }

    /// The backend in use: `"cpu"` or `"webgpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.engine.backend.name().to_string()
    }

    /// How the backend was chosen: `{ requested, backend, reason, loadMs, decodersMs, trials:
    /// { cpu?, webgpu? } }`, each trial `{ firstMs, warmMs }` (`warmMs` only when `"auto"` compared;
    /// no trial when `create` was told `{ warmUp: false }`).
    #[wasm_bindgen(getter)]
    pub fn selection(&self) -> Result<JsValue, JsError> {
        to_js(&self.selection)
    }

    /// The bundle's manifest (genres, thresholds, input size, provenance).
    #[wasm_bindgen(getter)]
    pub fn manifest(&self) -> Result<JsValue, JsError> {
        to_js(&self.engine.classifier.bundle.manifest)
    }

    /// Classifies one image (JPEG, PNG, WebP, GIF, BMP or TIFF bytes): `{ backend, scores: { Action: 0.91,
    /// … }, genres: [names, best first], decisions: { Action: true, … }, year?, timing: { decodeMs,
    /// inferMs, totalMs } }`. `options` may give the film's release year, `{ year: 1958 }` (a
    /// number or a numeric string; empty, `null` or absent means unknown): the result then
    /// echoes `year`, when the model knows years.
    pub async fn classify(&self, image: Vec<u8>, options: JsValue) -> Result<JsValue, JsError> {
        let started = now();
        let year = options::year(&options).map_err(error)?;
        let input = self.engine.classifier.prepare(&image).map_err(error)?;
        self.run(input, year, started).await
    }

    /// Classifies raw RGBA pixels (a canvas's `ImageData.data`, `width`×`height`), as
    /// [`Onesheet::classify`] does image bytes, with the same `options`; alpha is ignored.
    #[wasm_bindgen(js_name = classifyRgba)]
    pub async fn classify_rgba(
        &self,
        rgba: Vec<u8>,
        width: u32,
        height: u32,
        options: JsValue,
    ) -> Result<JsValue, JsError> {
        let started = now();
        let year = options::year(&options).map_err(error)?;
        let classifier = &self.engine.classifier;
        let rgb = preprocess::from_rgba(rgba, width, height, &classifier.limits).map_err(error)?;
        let input = preprocess::prepare(&rgb, &classifier.bundle.manifest.input).map_err(error)?;
        self.run(input, year, started).await
    }

    /// The 1280-d embedding of an already preprocessed `3×height×width` input (CHW).
    #[wasm_bindgen(js_name = embedPixels)]
    pub async fn embed_pixels(
        &self,
        chw: Vec<f32>,
        width: usize,
        height: usize,
    ) -> Result<Vec<f32>, JsError> {
        if chw.len() != 3 * width * height {
            return Err(error(format!(
                "expected 3×{height}×{width} = {} values, got {}",
                3 * width * height,
                chw.len()
            )));
        }
        let input = ModelInput {
            width,
            height,
            data: chw,
            year: None,
        };
        let classifier = &self.engine.classifier;
        let embedding = classifier
            .bundle
            .model
            .embed(batch(&[input], &classifier.device));
        let mut rows = read_rows(embedding).await.map_err(error)?;
        Ok(rows.remove(0))
    }
}

impl Onesheet {
    /// The catalogue's posters most like an embedding, if a catalogue is loaded. The catalogue
    /// is an extra: a search that fails (which a loaded index should never let happen) costs
    /// the result its similar posters, never the result. It is said once, on the console, and
    /// that index is unloaded so no later result fails the same way.
    fn similar_to(&self, embedding: &[f32]) -> Option<Vec<Similar>> {
        let loaded = self.catalogue.borrow().clone()?;
        match loaded.index.search(embedding, loaded.count) {
            Ok(found) => Some(
                found
                    .into_iter()
                    .map(|n| with_thumbnail(&loaded.index, n.position, n.score))
                    .collect(),
            ),
            Err(e) => {
                warn(&format!(
                    "onesheet: the catalogue index was unloaded, its search failed: {e}"
                ));
                let mut current = self.catalogue.borrow_mut();
                // Only this index: another may have been loaded since.
                if current.as_ref().is_some_and(|c| Rc::ptr_eq(c, &loaded)) {
                    *current = None;
                }
                None
            }
        }
    }

    /// Runs one prepared poster with its year; the result echoes the year when it was used.
    async fn run(
        &self,
        mut input: ModelInput,
        year: Option<Year>,
        started: f64,
    ) -> Result<JsValue, JsError> {
        let prepared = now();
        input.year = year;
        let year = year.filter(|_| self.engine.classifier.bundle.manifest.year.is_some());
        let analysis = self
            .engine
            .classifier
            .analyse_async(&[input])
            .await
            .map_err(error)?
            .remove(0);
        let inferred = now();
        let similar = self.similar_to(&analysis.embedding);
        let done = now();
        let timing = Timing {
            decode_ms: prepared - started,
            infer_ms: inferred - prepared,
            search_ms: similar.as_ref().map(|_| done - inferred),
            total_ms: done - started,
        };
        let maps = analysis.maps.named(&analysis.prediction.genres);
        prediction_to_js(
            &analysis.prediction,
            &maps,
            similar.as_deref(),
            year,
            self.engine.backend,
            timing,
        )
    }
}

/// An index entry as a result lists it, with its picture's URL when the index says where
/// pictures are (`{file}` replaced by the name, each folder of it URL-encoded).
fn with_thumbnail(index: &Index, position: usize, score: f32) -> Similar {
    let mut similar = index.similar(position, score);
    similar.thumbnail = index.thumbnail(position);
    similar
}

/// `"auto"`: the CPU always works; WebGPU must exist, load, and beat it on a warm run.
async fn choose(bundle: &[u8]) -> Result<(Engine, Selection), String> {
    let cpu = Engine::load(bundle, Backend::Cpu).await?;
    let cpu_trial = cpu.warm_up(2).await?;
    let cpu_ms = cpu_trial.warm_ms.unwrap_or(cpu_trial.first_ms);
    let gpu = match Engine::load(bundle, Backend::WebGpu).await {
        Ok(gpu) => gpu.warm_up(2).await.map(|trial| (gpu, trial)),
        Err(e) => Err(e),
    };
    let (engine, backend, reason, gpu_trial) = match gpu {
        Ok((gpu, trial)) => {
            let gpu_ms = trial.warm_ms.unwrap_or(trial.first_ms);
            if gpu_ms < cpu_ms {
                let reason = format!(
                    "WebGPU ran the warm-up faster ({gpu_ms:.0} ms against {cpu_ms:.0} ms on \
                     the CPU)"
                );
                (gpu, Backend::WebGpu, reason, Some(trial))
            } else {
                let reason = format!(
                    "the CPU ran the warm-up faster ({cpu_ms:.0} ms against {gpu_ms:.0} ms on \
                     WebGPU)"
                );
                (cpu, Backend::Cpu, reason, Some(trial))
            }
        }
        Err(e) => (cpu, Backend::Cpu, format!("no WebGPU: {e}"), None),
    };
    let mut selection =
        Selection::new(Request::Auto, backend, reason).with_trial(Backend::Cpu, cpu_trial);
    if let Some(trial) = gpu_trial {
        selection = selection.with_trial(Backend::WebGpu, trial);
    }
    Ok((engine, selection))
}
