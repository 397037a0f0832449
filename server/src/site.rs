//! What a request's path reaches: files in directories (`onesheet serve`), the kiosk built into
//! the binary (`onesheet kiosk`), and the kiosk's sample posters, listed on the fly. Which
//! responses other origins may read (the widget's files, the wasm, the models) is decided here.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use serde::Serialize;

use super::compress::Compressed;
use super::hosts::AllowedHosts;
use super::paths::{Root, Target};

/// The two directories `onesheet serve` serves, resolved once so that what a request reaches
/// can be checked against where they really are.
#[derive(Debug, Clone)]
pub struct Roots {
    www: PathBuf,
    /// `None` when the directory does not exist: `/models/` then serves nothing.
    models: Option<PathBuf>,
}

impl Roots {
    /// The roots at `www` (which must exist) and `models`, with their symlinks resolved.
    pub fn new(www: &Path, models: &Path) -> Result<Self> {
        let www = www
            .canonicalize()
            .with_context(|| format!("cannot open {}", www.display()))?;
        Ok(Self {
            www,
            models: existing_dir(models)?,
        })
    }
}

/// Where the files come from.
#[derive(Debug, Clone)]
enum Layout {
    /// www/ at `/`, models/ at `/models/`; the kiosk at `/kiosk/`.
    Directories(Roots),
    /// The kiosk at `/`, beside the shared `lib/` and `pkg/`, and the shipped model at
    /// `/models/`: all inside the binary.
    #[cfg(feature = "kiosk")]
    Kiosk,
}

/// Everything a request is answered from.
#[derive(Debug, Clone)]
pub struct Site {
    layout: Layout,
    /// The kiosk's sample posters, if any: listed at `samples/index.json` beside the kiosk's
    /// page and served from `samples/`.
    samples: Option<PathBuf>,
    /// The shop's catalogue (its index and pictures), if any: served at `/catalogue/`.
    catalogue: Option<PathBuf>,
    pub(super) hosts: AllowedHosts,
    /// gzip copies of the files sent compressed.
    pub(super) compressed: Arc<Compressed>,
    /// The files already reported as left out, so a listing asked for again says nothing new.
    reported: Arc<Mutex<HashSet<String>>>,
}

impl Site {
    /// `onesheet serve`: `roots` (and the kiosk's `samples`) to requests that name `hosts`.
    pub fn new(roots: Roots, samples: Option<&Path>, hosts: AllowedHosts) -> Result<Self> {
        Ok(Self {
            layout: Layout::Directories(roots),
            samples: samples.map(existing_dir).transpose()?.flatten(),
            catalogue: None,
            hosts,
            compressed: Arc::default(),
            reported: Arc::default(),
        })
    }

    /// `onesheet kiosk`: the kiosk built into this binary at `/`.
    #[cfg(feature = "kiosk")]
    pub fn kiosk(samples: Option<&Path>, hosts: AllowedHosts) -> Result<Self> {
        Ok(Self {
            layout: Layout::Kiosk,
            samples: samples.map(existing_dir).transpose()?.flatten(),
            catalogue: None,
            hosts,
            compressed: Arc::default(),
            reported: Arc::default(),
        })
    }

    /// Serves the catalogue in `dir` (its `catalogue.index` and its posters) at
    /// `/catalogue/`, to every face, whatever the layout.
    pub fn with_catalogue(mut self, dir: Option<&Path>) -> Result<Self> {
        self.catalogue = dir.map(existing_dir).transpose()?.flatten();
        Ok(self)
    }

    /// Says in the log, once per file, that `what` named `name` is not served and why.
    pub(super) fn report_skipped(&self, what: &str, name: &str, reason: &str) {
        // A folder of millions must not grow the set (or the log) without end.
        const MAX_REPORTED: usize = 10_000;
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if reported.len() < MAX_REPORTED && reported.insert(format!("{what}\0{name}")) {
            eprintln!("warning: {what} {name:?} is not served: {reason}");
        }
    }

    /// Reports every sample poster and catalogue poster that will not be served (as the
    /// server starts: an operator reads the log then).
    pub fn report_unservable(&self) {
        if let Some(dir) = &self.samples {
            let mut skip =
                |name: String, reason| self.report_skipped("sample poster", &name, reason);
            if let Err(error) = list_samples(Some(dir), &mut skip) {
                eprintln!(
                    "warning: cannot list the sample posters in {}: {error}",
                    dir.display()
                );
            }
        }
        if let Some(dir) = &self.catalogue {
            match super::catalogue::unservable(dir, crate::CATALOGUE_INDEX) {
                Ok(skipped) => {
                    for skipped in skipped {
                        self.report_skipped("catalogue poster", &skipped.name, skipped.reason);
                    }
                }
                Err(error) => eprintln!("warning: {error:#}"),
            }
        }
    }

    /// The URL directories the kiosk's page is in.
    fn kiosk_at(&self) -> &'static [&'static str] {
        match self.layout {
            Layout::Directories(_) => &["kiosk"],
            #[cfg(feature = "kiosk")]
            Layout::Kiosk => &[],
        }
    }

    /// What `target` names here, if anything.
    pub(super) fn find(&self, target: &Target) -> Option<Found> {
        let kiosk = self.kiosk_at();
        if target.root == Root::Www
            && target.names.len() == kiosk.len() + 2
            && target
                .names
                .iter()
                .zip(kiosk)
                .all(|(name, dir)| name == dir)
            && target.names[kiosk.len()] == "samples"
        {
            let file = target.names[kiosk.len() + 1].clone();
            if file == SAMPLES_INDEX {
                return Some(Found::SamplesIndex(self.samples.clone()));
            }
            return SAMPLE_TYPES
                .contains(&target.content_type)
                .then_some(())
                .and(self.samples.clone())
                .map(|dir| Found::File {
                    dir,
                    names: vec![file],
                });
        }
        if target.root == Root::Catalogue {
            return self.catalogue.clone().map(|dir| Found::File {
                dir,
                names: target.names.clone(),
            });
        }
        match &self.layout {
            Layout::Directories(roots) => {
                let dir = match target.root {
                    Root::Www => Some(roots.www.clone()),
                    Root::Models => roots.models.clone(),
                    Root::Catalogue => None,
                }?;
                Some(Found::File {
                    dir,
                    names: target.names.clone(),
                })
            }
            #[cfg(feature = "kiosk")]
            Layout::Kiosk => embedded::find(target),
        }
    }
}

/// What a path reaches.
pub(super) enum Found {
    /// `dir/names…`, to be opened (and checked) on a blocking thread.
    File { dir: PathBuf, names: Vec<String> },
    /// Bytes in the binary, with their ETag.
    #[cfg_attr(not(feature = "kiosk"), allow(dead_code))]
    Bytes {
        data: Cow<'static, [u8]>,
        etag: String,
    },
    /// The listing of the sample posters in this directory (none without one).
    SamplesIndex(Option<PathBuf>),
}

/// The listing's file name, in the kiosk's `samples/`.
const SAMPLES_INDEX: &str = "index.json";
/// What a sample may be: images the browser and the model both read. No SVG: it could script.
const SAMPLE_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];
/// A kiosk shows a handful; a huge folder must not make a huge listing.
const MAX_SAMPLES: usize = 48;

/// The kiosk's `samples/index.json`.
#[derive(Debug, Serialize)]
pub struct SampleList {
    /// Sorted by name.
    pub samples: Vec<Sample>,
}

/// One sample poster.
#[derive(Debug, Serialize)]
pub struct Sample {
    /// The file's name.
    pub name: String,
    /// Its URL, relative to the listing (the file name, percent-encoded).
    pub url: String,
}

/// The sample posters in `dir`: regular files (no symlinks) with a plain name and an image
/// type, at most [`MAX_SAMPLES`], sorted by name. Each file left out is passed to `skip` with
/// the reason, for the server's log.
pub(super) fn list_samples(
    dir: Option<&Path>,
    skip: &mut dyn FnMut(String, &'static str),
) -> std::io::Result<SampleList> {
    let mut names = Vec::new();
    if let Some(dir) = dir {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = match entry.file_name().into_string() {
                Ok(name) => name,
                Err(name) => {
                    skip(name.to_string_lossy().into_owned(), "its name is not UTF-8");
                    continue;
                }
            };
            if !entry.file_type()?.is_file() {
                skip(name, "not a regular file (symlinks are never followed)");
                continue;
            }
            let url = format!(
                "/{}",
                percent_encoding::utf8_percent_encode(&name, URL_NAME)
            );
            match super::paths::resolve(&url) {
                Some(target) if SAMPLE_TYPES.contains(&target.content_type) => names.push(name),
                Some(_) => skip(name, "not a JPEG, PNG or WebP picture"),
                None if name.starts_with('.') => skip(name, "a hidden file"),
                None => skip(
                    name,
                    "not a JPEG, PNG or WebP picture, or its name holds a control character",
                ),
            }
        }
    }
    names.sort();
    for name in names.drain(MAX_SAMPLES.min(names.len())..) {
        skip(name, "past the first 48 samples (sorted by name)");
    }
    let samples = names
        .into_iter()
        .map(|name| Sample {
            url: percent_encoding::utf8_percent_encode(&name, URL_NAME).to_string(),
            name,
        })
        .collect();
    Ok(SampleList { samples })
}

/// Everything but unreserved characters is escaped in a URL path segment (a sample's, a
/// catalogue poster's folder or file name).
pub(super) const URL_NAME: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Whether other origins may read `target`: the widget's own files, the shared library it
/// imports, the wasm builds (CPU and WebGPU), the models and the catalogue, so that a shop's page on another
/// origin can run the widget from this server. Nothing else (the drop page, the kiosk) is
/// shared.
pub fn shared_cross_origin(target: &Target) -> bool {
    match target.root {
        Root::Models | Root::Catalogue => true,
        Root::Www => {
            target.names.len() > 1
                && matches!(
                    target.names[0].as_str(),
                    "widget" | "lib" | "pkg" | "pkg-webgpu"
                )
        }
    }
}

/// `dir` with its symlinks resolved, or `None` when it does not exist.
fn existing_dir(dir: &Path) -> Result<Option<PathBuf>> {
    match dir.canonicalize() {
        Ok(dir) => Ok(Some(dir)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot open {}", dir.display())),
    }
}

/// The kiosk inside the binary.
#[cfg(feature = "kiosk")]
mod embedded {
    use rust_embed::Embed;

    use super::{Found, Root, Target};

    /// The kiosk's page and the shared library and wasm build it loads (www/pkg must be built
    /// before this crate is compiled with the `kiosk` feature).
    #[derive(Embed)]
    #[folder = "../www/"]
    #[include = "kiosk/**"]
    #[include = "lib/**"]
    #[include = "pkg/onesheet.js"]
    #[include = "pkg/onesheet_bg.wasm"]
    #[include = "pkg/onesheet_relaxed_bg.wasm"]
    struct KioskSite;

    /// The shipped model.
    #[derive(Embed)]
    #[folder = "../models/"]
    #[include = "onesheet.safetensors"]
    struct ShippedModel;

    /// The embedded file `target` names: `/lib/…` and `/pkg/…` as they are, every other path
    /// in the kiosk's own directory, `/models/onesheet.safetensors` the shipped model.
    pub(super) fn find(target: &Target) -> Option<Found> {
        let path = target.names.join("/");
        let file = match target.root {
            Root::Models => ShippedModel::get(&path),
            Root::Catalogue => None,
            Root::Www if matches!(target.names[0].as_str(), "lib" | "pkg") => KioskSite::get(&path),
            Root::Www => KioskSite::get(&format!("kiosk/{path}")),
        }?;
        let hash = file.metadata.sha256_hash();
        let mut prefix = [0; 16];
        prefix.copy_from_slice(&hash[..16]);
        Some(Found::Bytes {
            data: file.data,
            etag: format!("\"{:032x}\"", u128::from_be_bytes(prefix)),
        })
    }

    /// Whether the kiosk's page, its wasm build and the model are all inside the binary.
    pub fn complete() -> bool {
        [
            "kiosk/index.html",
            "kiosk/sw.js",
            "lib/worker.js",
            "pkg/onesheet_bg.wasm",
            "pkg/onesheet_relaxed_bg.wasm",
        ]
        .into_iter()
        .all(|path| KioskSite::get(path).is_some())
            && ShippedModel::get("onesheet.safetensors").is_some()
    }
}

#[cfg(feature = "kiosk")]
pub use embedded::complete as kiosk_complete;

#[cfg(test)]
mod tests {
    use super::shared_cross_origin;
    use crate::paths::resolve;

    fn shared(url_path: &str) -> bool {
        shared_cross_origin(&resolve(url_path).expect("a valid path"))
    }

    #[test]
    fn other_origins_read_the_widget_and_what_it_loads_only() {
        for path in [
            "/widget/onesheet-classifier.js",
            "/lib/worker.js",
            "/pkg/onesheet_bg.wasm",
            "/pkg/onesheet_relaxed_bg.wasm",
            "/pkg-webgpu/onesheet_bg.wasm",
            "/models/onesheet.safetensors",
        ] {
            assert!(shared(path), "{path}");
        }
        for path in [
            "/",
            "/app.js",
            "/kiosk/kiosk.js",
            "/pkg.js",
            "/shop-demo.html",
        ] {
            assert!(!shared(path), "{path}");
        }
    }
}
