//! Running a bundle over a catalogue's files: finding the images, loading the model, and
//! analysing them in batches (decoding on every core while the model waits for a full batch).
//! `classify`, `index`, `similar`, `explain` and `gallery` all go through here, so they agree
//! on what a poster scores.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use onesheet::Backend;
use onesheet::Year;
use onesheet::bundle::Bundle;
use onesheet::inference::{Analysis, Classifier};
use onesheet::model::ModelInput;
use rayon::prelude::*;

use crate::ModelSource;
use crate::output::printable;
use onesheet::files::read as input_file;

/// Extensions searched for inside folders (files named on the command line are always tried).
const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"];

/// An image to run, and the name a catalogue knows it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poster {
    /// Where it is.
    pub path: PathBuf,
    /// Its path relative to the folder it was found in (its file name, when named directly),
    /// with `/` between folders: stable across machines, so an index can be rebuilt elsewhere.
    pub name: String,
}

/// Files named directly, and image files found under folders (sorted, so output is stable).
pub fn collect(inputs: &[PathBuf]) -> Result<Vec<Poster>> {
    collect_skipping(inputs, &[])
}

/// [`collect`], never walking into the folders `skip` (canonical paths): a command's own
/// output, say, when it lies inside an input folder. A folder named as an input is read even
/// when skipped: it was asked for.
pub fn collect_skipping(inputs: &[PathBuf], skip: &[PathBuf]) -> Result<Vec<Poster>> {
    let skipped = |entry: &walkdir::DirEntry| {
        entry.depth() > 0
            && entry.file_type().is_dir()
            && !skip.is_empty()
            // Canonical, so a symlink or `..` leading to the folder is caught too.
            && entry
                .path()
                .canonicalize()
                .is_ok_and(|path| skip.contains(&path))
    };
    let mut posters = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            let walk = walkdir::WalkDir::new(input)
                .follow_links(true)
                .into_iter()
                .filter_entry(|entry| !skipped(entry));
            for entry in walk {
                // A symlink loop or an unreadable folder costs its own entries, not the run.
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(error) => {
                        eprintln!(
                            "warning: skipped while walking {}: {error}",
                            input.display()
                        );
                        continue;
                    }
                };
                if entry.file_type().is_file() && is_image_name(entry.path()) {
                    let name = relative_name(entry.path(), input);
                    found.push(Poster {
                        path: entry.into_path(),
                        name,
                    });
                }
            }
            found.sort_by(|a, b| a.path.cmp(&b.path));
            posters.extend(found);
        } else {
            // A missing file is reported in its row, like any other unreadable file.
            let name = input.file_name().map_or_else(
                || input.to_string_lossy().into_owned(),
                |n| n.to_string_lossy().into_owned(),
            );
            posters.push(Poster {
                path: input.clone(),
                name,
            });
        }
    }
    if posters.is_empty() {
        bail!("no images found in the given folders");
    }
    Ok(posters)
}

fn relative_name(path: &Path, root: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// A bundle loaded for a run, and its identity.
pub struct Model {
    /// The classifier on its device.
    pub classifier: Classifier,
    /// The bundle's checksum (what a catalogue index records).
    pub id: String,
}

/// Loads the bundle from `source` on `backend`.
pub fn load(source: &ModelSource, backend: Backend) -> Result<Model> {
    let device = backend.device()?;
    let bytes = source.bytes()?;
    let bundle = Bundle::from_bytes(&bytes, &device)
        .with_context(|| format!("loading the model {source}"))?;
    Ok(Model {
        classifier: Classifier::new(bundle, device),
        id: Bundle::read_checksum(&bytes)?,
    })
}

impl AsRef<Path> for Poster {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Analyses `files` (paths, or anything that names one, such as a [`Poster`]) in batches of
/// `batch`, calling `each` with every file and its analysis, or why there is none, in order;
/// `bar` advances per file. An error from `each` stops the run.
pub fn analyse_each<'a, F: AsRef<Path> + Sync + ?Sized + 'a>(
    classifier: &Classifier,
    files: impl IntoIterator<Item = &'a F>,
    batch: usize,
    bar: &ProgressBar,
    each: impl FnMut(&'a F, Result<Analysis, String>) -> Result<()>,
) -> Result<()> {
    analyse_each_with(classifier, files, |_| None, batch, bar, each)
}

/// [`analyse_each`], with each file's release year from `year_of` (see [`onesheet::year`]).
pub fn analyse_each_with<'a, F: AsRef<Path> + Sync + ?Sized + 'a>(
    classifier: &Classifier,
    files: impl IntoIterator<Item = &'a F>,
    year_of: impl Fn(&F) -> Option<Year> + Sync,
    batch: usize,
    bar: &ProgressBar,
    mut each: impl FnMut(&'a F, Result<Analysis, String>) -> Result<()>,
) -> Result<()> {
    let files: Vec<&F> = files.into_iter().collect();
    for chunk in files.chunks(batch.max(1)) {
        let prepared: Vec<Result<ModelInput, String>> = chunk
            .par_iter()
            .map(|file| {
                let bytes = input_file::image(file.as_ref(), &classifier.limits)
                    .map_err(|e| e.to_string())?;
                let mut input = classifier.prepare(&bytes).map_err(|e| e.to_string())?;
                input.year = year_of(file);
                Ok(input)
            })
            .collect();
        // The good inputs go to the model as one batch; each file keeps its place (or error).
        let mut inputs = Vec::with_capacity(prepared.len());
        let places: Vec<Result<(), String>> = prepared
            .into_iter()
            .map(|p| p.map(|input| inputs.push(input)))
            .collect();
        let mut analyses = analyse_on_every_core(classifier, &inputs)?.into_iter();
        for (&file, place) in chunk.iter().zip(places) {
            let outcome = match place {
                Ok(()) => Ok(analyses.next().context("the model returned too few rows")?),
                Err(error) => Err(error),
            };
            each(file, outcome)?;
            bar.inc(1);
        }
    }
    Ok(())
}

/// The analyses of `inputs`, in order, each poster through the model on its own, side by
/// side on every core. burn's CPU kernels keep one core busy at a time, and run a batch no
/// faster per poster than one poster (slower: 100 posters took 6.0 s as batches of 16 and
/// 4.7 s one at a time, one thread), so a batch is only the unit of decoding ahead.
fn analyse_on_every_core(classifier: &Classifier, inputs: &[ModelInput]) -> Result<Vec<Analysis>> {
    let parts: Vec<Vec<Analysis>> = inputs
        .par_iter()
        .map(|input| classifier.analyse(std::slice::from_ref(input)))
        .collect::<Result<_, _>>()?;
    Ok(parts.into_iter().flatten().collect())
}

/// Says on stderr, above the progress bar, that a file was left out and why.
pub fn report_skipped(bar: &ProgressBar, file: &Path, error: &str) {
    bar.suspend(|| {
        eprintln!(
            "skipped {}: {}",
            printable(&file.to_string_lossy()),
            printable(error)
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_folders_are_not_walked_however_they_are_reached() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("shop");
        for folder in ["site/pictures", "new"] {
            std::fs::create_dir_all(input.join(folder)).expect("mkdir");
        }
        for file in ["a.jpg", "new/b.png", "site/pictures/0.jpg"] {
            std::fs::write(input.join(file), b"x").expect("write");
        }
        let skip = vec![input.join("site").canonicalize().expect("canonical")];
        let names = |found: Vec<Poster>| found.into_iter().map(|p| p.name).collect::<Vec<_>>();
        assert_eq!(
            names(collect_skipping(std::slice::from_ref(&input), &skip).expect("found")),
            ["a.jpg", "new/b.png"]
        );
        // Through `..` in the input, or a symlink to the skipped folder: still skipped.
        let roundabout = input.join("new/..");
        #[cfg(unix)]
        std::os::unix::fs::symlink(input.join("site"), input.join("new/link")).expect("symlink");
        assert_eq!(
            names(collect_skipping(&[roundabout], &skip).expect("found")),
            ["a.jpg", "new/b.png"]
        );
        // Named as the input itself, it is read: it was asked for.
        let site = input.join("site");
        assert_eq!(
            names(collect_skipping(&[site], &skip).expect("found")),
            ["pictures/0.jpg"]
        );
        assert_eq!(
            collect(&[input]).expect("found").len(),
            3 + usize::from(cfg!(unix))
        );
    }
}
