//! The labelled posters: both collections' `labels.csv` and images, deduplicated, with each
//! genre known to be present, known absent, or unknown.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use onesheet::Year;
use onesheet::genres::{self, GENRES, NUM_GENRES};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// One genre flag per genre; `None` where the collection's source vocabulary cannot say.
pub type Labels = [Option<bool>; NUM_GENRES];

/// The two labelled collections, kept apart for reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    /// 1980–2015 IMDb posters, IMDb genres.
    Posters,
    /// Pre-1980 TMDb posters, MovieLens genres.
    Vintage,
}

impl Collection {
    /// Both, in report order.
    pub const ALL: [Collection; 2] = [Collection::Posters, Collection::Vintage];

    /// Folder name under the data root, also used in the split file.
    pub fn dir_name(self) -> &'static str {
        match self {
            Collection::Posters => "posters",
            Collection::Vintage => "vintage",
        }
    }

    /// Genres the collection's labels cannot express: MovieLens has no History or TV Movie, so
    /// a vintage film without them is unknown there, not negative.
    pub fn unknown_genres(self) -> &'static [&'static str] {
        match self {
            Collection::Posters => &[],
            Collection::Vintage => &["History", "TV Movie"],
        }
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Collection::Posters => "1980–2015",
            Collection::Vintage => "pre-1980",
        })
    }
}

/// One labelled poster.
#[derive(Debug, Clone)]
pub struct Poster {
    /// IMDb id: one film, one poster.
    pub id: String,
    /// Which collection it comes from.
    pub collection: Collection,
    /// Release year (checked when the labels are read).
    pub year: Year,
    /// The poster image.
    pub image: PathBuf,
    /// Genre flags.
    pub labels: Labels,
}

/// `(dropped id, kept id)` pairs of byte-identical images.
pub type Duplicates = Vec<(String, String)>;

/// The deduplicated posters of both collections, sorted by collection then id.
#[derive(Debug)]
pub struct Dataset {
    /// Every poster kept.
    pub posters: Vec<Poster>,
    /// Byte-identical images dropped.
    pub duplicates: Duplicates,
}

#[derive(Deserialize)]
struct Row {
    imdb_id: String,
    year: Year,
    genres: String,
}

/// Reads both collections under `root`.
pub fn load(root: &Path) -> Result<Dataset> {
    let mut posters = Vec::new();
    for collection in Collection::ALL {
        posters.extend(load_collection(root, collection).with_context(|| {
            format!("reading the {collection} posters under {}", root.display())
        })?);
    }
    posters.sort_by(|a, b| (a.collection, &a.id).cmp(&(b.collection, &b.id)));
    let (posters, duplicates) = deduplicate(posters)?;
    Ok(Dataset {
        posters,
        duplicates,
    })
}

fn load_collection(root: &Path, collection: Collection) -> Result<Vec<Poster>> {
    let dir = root.join(collection.dir_name());
    let csv_path = dir.join("labels.csv");
    let mut reader = csv::Reader::from_path(&csv_path)
        .with_context(|| format!("opening {}", csv_path.display()))?;
    let mut posters = Vec::new();
    for (line, row) in reader.deserialize::<Row>().enumerate() {
        let row = row.with_context(|| format!("{}: row {}", csv_path.display(), line + 2))?;
        let labels = parse_labels(&row.genres, collection)
            .with_context(|| format!("{}: film {}", csv_path.display(), row.imdb_id))?;
        posters.push(Poster {
            image: dir.join("images").join(format!("{}.jpg", row.imdb_id)),
            id: row.imdb_id,
            collection,
            year: row.year,
            labels,
        });
    }
    if posters.is_empty() {
        bail!("{} lists no posters", csv_path.display());
    }
    Ok(posters)
}

/// `Action|Comedy` → flags, with the collection's unknown genres as `None`.
pub fn parse_labels(genres: &str, collection: Collection) -> Result<Labels> {
    let mut labels: Labels = [Some(false); NUM_GENRES];
    for name in collection.unknown_genres() {
        if let Some(g) = genres::index_of(name) {
            labels[g] = None;
        }
    }
    for name in genres.split('|').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(g) = genres::index_of(name) else {
            bail!(
                "unknown genre `{name}` (expected one of: {})",
                GENRES.map(|g| g.name).join(", ")
            );
        };
        labels[g] = Some(true);
    }
    Ok(labels)
}

/// Drops posters whose image bytes equal an earlier poster's: the same artwork under two ids
/// would otherwise land on both sides of a split.
fn deduplicate(posters: Vec<Poster>) -> Result<(Vec<Poster>, Duplicates)> {
    let mut seen: HashMap<[u8; 32], String> = HashMap::new();
    let mut kept = Vec::with_capacity(posters.len());
    let mut duplicates = Vec::new();
    for poster in posters {
        let bytes = std::fs::read(&poster.image)
            .with_context(|| format!("reading {}", poster.image.display()))?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if let Some(first) = seen.get(&digest) {
            duplicates.push((poster.id, first.clone()));
        } else {
            seen.insert(digest, poster.id.clone());
            kept.push(poster);
        }
    }
    Ok((kept, duplicates))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vintage_history_and_tv_movie_are_unknown_not_negative() -> Result<()> {
        let labels = parse_labels("Drama|War", Collection::Vintage)?;
        let at = |name| labels[genres::index_of(name).expect("a genre")];
        assert_eq!(at("Drama"), Some(true));
        assert_eq!(at("Comedy"), Some(false));
        assert_eq!(at("History"), None);
        assert_eq!(at("TV Movie"), None);
        let modern = parse_labels("History", Collection::Posters)?;
        assert_eq!(
            modern[genres::index_of("History").expect("a genre")],
            Some(true)
        );
        assert_eq!(
            modern[genres::index_of("TV Movie").expect("a genre")],
            Some(false)
        );
        Ok(())
    }

    #[test]
    fn unknown_genre_names_are_refused() {
        assert!(parse_labels("Action|Biography", Collection::Posters).is_err());
        assert!(parse_labels("", Collection::Posters).is_ok());
    }
}
