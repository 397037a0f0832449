//! What the browser API hands back to JavaScript: predictions, timings, backend choice.

use serde::Serialize;
use serde_json::{Map, Value};
use wasm_bindgen::{JsError, JsValue};

use super::backend::{Backend, Request};
use onesheet::explain::NamedMaps;
use onesheet::index::Similar;
use onesheet::prediction::{Decisions, Prediction};
use onesheet::year::Year;

/// Where one poster's time went, in milliseconds.
#[allow(
    clippy::struct_field_names,
    reason = "the unit is part of the names JavaScript reads (decodeMs, …)"
)]
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Timing {
    /// Decoding, resizing and normalising the image.
    pub decode_ms: f64,
    /// Running the model and reading its outputs back.
    pub infer_ms: f64,
    /// Searching the catalogue index, when one is loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_ms: Option<f64>,
    /// Both.
    pub total_ms: f64,
}

/// Warm-up runs on one backend.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Trial {
    /// The first run (allocation, shader compilation).
    pub first_ms: f64,
    /// A later run, when there was one: what a poster costs.
    pub warm_ms: Option<f64>,
}

/// How the backend was chosen.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Selection {
    requested: &'static str,
    backend: &'static str,
    reason: String,
    /// Loading and warming up, everything `create` did.
    pub load_ms: f64,
    /// Of which warming up the image decoders.
    pub decoders_ms: f64,
    trials: Map<String, Value>,
}

impl Selection {
    pub(super) fn new(requested: Request, backend: Backend, reason: String) -> Self {
        Self {
            requested: requested.name(),
            backend: backend.name(),
            reason,
            load_ms: 0.0,
            decoders_ms: 0.0,
            trials: Map::new(),
        }
    }

    pub(super) fn with_trial(mut self, backend: Backend, trial: Trial) -> Self {
        let value = serde_json::to_value(trial).unwrap_or(Value::Null);
        self.trials.insert(backend.name().to_string(), value);
        self
    }
}

/// What a deferred warm-up (`warmUp()`) took.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WarmUp {
    /// The model's run on a blank poster.
    pub first_ms: f64,
    /// Decoding the small JPEG, PNG and WebP.
    pub decoders_ms: f64,
}

/// A loaded catalogue index, as `loadIndex` describes it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Catalogue {
    /// Posters in it.
    pub posters: usize,
    /// Where their pictures are (`{file}` for the name), if the index says.
    pub thumbnails: Option<String>,
}

/// One poster's result, as the page sees it: the shared [`Prediction`] serialisation with the
/// backend, the per-genre decisions, the predicted genres' maps, the similar posters and the
/// timing.
#[derive(Serialize)]
struct JsPrediction<'a> {
    backend: &'static str,
    #[serde(flatten)]
    prediction: &'a Prediction,
    /// `{ "Action": true, … }`: over its threshold (or the top genre).
    decisions: Decisions<'a>,
    /// `{ width, height, maps: { Horror: [[…]], … } }` for the predicted genres.
    explain: &'a NamedMaps,
    /// The catalogue's posters most like this one, when an index is loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    similar: Option<&'a [Similar]>,
    /// The release year the scores were refined with, when one was given and the model knows
    /// years.
    #[serde(skip_serializing_if = "Option::is_none")]
    year: Option<Year>,
    timing: &'a Timing,
}

pub(super) fn prediction_to_js(
    prediction: &Prediction,
    explain: &NamedMaps,
    similar: Option<&[Similar]>,
    year: Option<Year>,
    backend: Backend,
    timing: Timing,
) -> Result<JsValue, JsError> {
    to_js(&JsPrediction {
        backend: backend.name(),
        prediction,
        decisions: Decisions(prediction),
        explain,
        similar,
        year,
        timing: &timing,
    })
}

pub(super) fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}
