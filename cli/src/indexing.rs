//! `onesheet index`: a catalogue's embeddings, names and scores in one file, for `similar`,
//! `gallery` and the browser faces. Incremental: posters already in the index are not run
//! again, and the file is rewritten (atomically) after every chunk, so a killed run keeps
//! what it had done. The index re-centres itself on every chunk (see [`onesheet::index`]),
//! so an index grown a few posters at a time searches as one made at once.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use onesheet::Backend;
use onesheet::index::Index;
use onesheet::inference::Analysis;
use onesheet::model::FEATURES;

use crate::ModelSource;
use crate::posters::{self, Poster};
use onesheet::files::write;
use onesheet::progress;

/// Posters analysed between two saves.
const CHUNK: usize = 512;

/// An indexing run's settings.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    /// Poster images, or folders of them.
    pub inputs: Vec<PathBuf>,
    /// The index file, created or brought up to date.
    pub out: PathBuf,
    /// Model bundle.
    pub model: ModelSource,
    /// Where the model runs.
    pub backend: Backend,
    /// Posters run through the model together.
    pub batch: usize,
    /// Where pictures of the posters are for the browser faces: a URL with `{file}` for the
    /// poster's name (kept from the existing index when not given).
    pub thumbnails: Option<String>,
}

/// What an indexing run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSummary {
    /// Posters in the index now.
    pub posters: usize,
    /// Of which added by this run.
    pub added: usize,
    /// Files that could not be read (reported on stderr, left out).
    pub failed: usize,
}

/// Creates or updates the index at `config.out`.
pub fn index(config: &IndexConfig) -> Result<IndexSummary> {
    let model = posters::load(&config.model, config.backend)?;
    let mut index = read(&config.out)?;
    if let Some(existing) = &index {
        existing.check_model(&model.id, FEATURES).with_context(|| {
            format!(
                "{} is not an index of {}; delete it (or pick another --out) to index with it",
                config.out.display(),
                &config.model
            )
        })?;
        if !existing.recentres() {
            eprintln!(
                "note: {} was written by an older onesheet: posters added to it are measured \
                 around its old centre; delete it and index again to centre it on the whole \
                 catalogue",
                config.out.display()
            );
        }
    }
    let found = posters::collect(&config.inputs)?;
    let new: Vec<&Poster> = found
        .iter()
        .filter(|p| index.as_ref().is_none_or(|i| !i.contains(&p.name)))
        .collect();
    let known = found.len() - new.len();
    if known > 0 {
        eprintln!("{known} posters are already in the index");
    }

    let bar = progress::bar(new.len() as u64, "indexing");
    let (mut added, mut failed) = (0, 0);
    for chunk in new.chunks(CHUNK) {
        let mut analysed: Vec<(String, Analysis)> = Vec::with_capacity(chunk.len());
        posters::analyse_each(
            &model.classifier,
            chunk.iter().copied(),
            config.batch,
            &bar,
            |poster, analysis| {
                match analysis {
                    Ok(analysis) => analysed.push((poster.name.clone(), analysis)),
                    Err(error) => {
                        failed += 1;
                        posters::report_skipped(&bar, &poster.path, &error);
                    }
                }
                Ok(())
            },
        )?;
        if analysed.is_empty() && index.is_none() {
            // No file yet for a run that has read nothing.
            continue;
        }
        let index = index.get_or_insert_with(|| {
            let thresholds = model.classifier.bundle.manifest.thresholds();
            Index::new(model.id.clone(), FEATURES, thresholds)
        });
        index.extend(analysed.iter().map(|(name, analysis)| {
            (
                name.clone(),
                analysis.embedding.as_slice(),
                analysis.prediction.scores.as_slice(),
            )
        }))?;
        added += analysed.len();
        if config.thumbnails.is_some() {
            index.set_thumbnails(config.thumbnails.clone());
        }
        write::atomic(&config.out, &index.to_bytes()?)?;
    }
    bar.finish_and_clear();
    let Some(mut index) = index else {
        bail!("none of the {} files could be read", found.len());
    };
    if new.is_empty() && config.thumbnails.is_some() {
        index.set_thumbnails(config.thumbnails.clone());
        write::atomic(&config.out, &index.to_bytes()?)?;
    }
    Ok(IndexSummary {
        posters: index.len(),
        added,
        failed,
    })
}

/// The index at `path`, if there is one.
pub fn read(path: &Path) -> Result<Option<Index>> {
    match onesheet::files::read::index(path) {
        Ok(bytes) => Index::from_bytes(&bytes)
            .map(Some)
            .with_context(|| format!("reading the index {}", path.display())),
        Err(onesheet::files::read::ReadError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
