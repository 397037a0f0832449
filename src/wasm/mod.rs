//! The browser API (wasm-bindgen), shared by the drop page, the kiosk and the shop widget.
//!
//! One [`Onesheet`] holds a loaded bundle on one backend. Everything that reads tensors is
//! async: WebGPU cannot read back synchronously.

use std::cell::RefCell;

use burn::tensor::Device;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::bundle::Bundle;
use crate::genres::GENRES;
use crate::inference::{Classifier, read_rows};
use crate::model::{ModelInput, batch};

thread_local! {
    // burn's wgpu runtime initialises once per page; every instance shares its device.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// Installs a panic hook that logs Rust panics to the console with their message.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The compute backends a page can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackendChoice {
    Cpu,
    WebGpu,
}

impl BackendChoice {
    fn parse(name: &str) -> Result<Self, JsError> {
        match name {
            "cpu" => Ok(Self::Cpu),
            "webgpu" => Ok(Self::WebGpu),
            other => Err(JsError::new(&format!(
                "unknown backend `{other}`: expected \"cpu\" or \"webgpu\""
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::WebGpu => "webgpu",
        }
    }

    async fn device(self) -> Result<Device, JsError> {
        match self {
            Self::Cpu => Ok(Device::flex()),
            Self::WebGpu => {
                if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
                    return Ok(device);
                }
                let device = Device::wgpu_options()
                    .init_async()
                    .await
                    .map_err(|e| JsError::new(&format!("WebGPU is not available: {e}")))?;
                WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
                Ok(device)
            }
        }
    }
}

/// One poster's result, as the page sees it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsPrediction {
    /// `{ "Action": 0.91, … }`, every genre.
    scores: serde_json::Map<String, serde_json::Value>,
    /// Predicted genre names, best first.
    genres: Vec<&'static str>,
}

/// A loaded model on one backend.
#[wasm_bindgen]
pub struct Onesheet {
    classifier: Classifier,
    backend: BackendChoice,
}

#[wasm_bindgen]
impl Onesheet {
    /// Loads a bundle (its bytes, fetched by the page) on `"cpu"` or `"webgpu"`.
    pub async fn create(bundle: Vec<u8>, backend: &str) -> Result<Onesheet, JsError> {
        let backend = BackendChoice::parse(backend)?;
        let device = backend.device().await?;
        let bundle =
            Bundle::from_bytes(&bundle, &device).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Onesheet {
            classifier: Classifier::new(bundle, device),
            backend,
        })
    }

    /// The backend in use: `"cpu"` or `"webgpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.name().to_string()
    }

    /// The bundle's manifest (genres, thresholds, input size, provenance).
    #[wasm_bindgen(getter)]
    pub fn manifest(&self) -> Result<JsValue, JsError> {
        to_js(&self.classifier.bundle.manifest)
    }

    /// Classifies one image (JPEG, PNG, WebP or GIF bytes): `{ scores, genres }`.
    pub async fn classify(&self, image: Vec<u8>) -> Result<JsValue, JsError> {
        let input = self
            .classifier
            .prepare(&image)
            .map_err(|e| JsError::new(&e.to_string()))?;
        let prediction = self
            .classifier
            .classify_async(&[input])
            .await
            .map_err(|e| JsError::new(&e.to_string()))?
            .remove(0);
        let scores = GENRES
            .iter()
            .zip(&prediction.scores)
            .map(|(g, &s)| (g.name.to_string(), serde_json::Value::from(s)))
            .collect();
        to_js(&JsPrediction {
            scores,
            genres: prediction.genre_names(),
        })
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
            return Err(JsError::new(&format!(
                "expected 3×{height}×{width} = {} values, got {}",
                3 * width * height,
                chw.len()
            )));
        }
        let input = ModelInput {
            width,
            height,
            data: chw,
        };
        let model = &self.classifier.bundle.model;
        let embedding = model.embed(batch(&[input], &self.classifier.device));
        let mut rows = read_rows(embedding)
            .await
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(rows.remove(0))
    }
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}
