//! Train / validation / test by film, with iterative stratification (Sechidis, Tsoumakas and
//! Vlahavas, 2011) so rare genres land in every split in proportion. Each collection is split on
//! its own, so each has its own test split to report on. The split is written to disk and
//! reused: every run compares like with like.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::dataset::{Collection, Dataset, Labels};
use onesheet::files::write;

/// Which part of the data a film belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// Fits the weights.
    Train,
    /// Early stopping and thresholds.
    Validation,
    /// Reported once, never tuned on.
    Test,
}

impl Part {
    /// All parts, in order.
    pub const ALL: [Part; 3] = [Part::Train, Part::Validation, Part::Test];

    /// Name in the split file and reports.
    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Validation => "validation",
            Part::Test => "test",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Fractions of each collection given to train, validation and test.
pub const FRACTIONS: [f64; 3] = [0.70, 0.15, 0.15];

/// The part of every poster in a dataset, by id.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    parts: HashMap<String, Part>,
    seed: u64,
}

impl Split {
    /// Stratifies each collection of `dataset` with `seed`.
    pub fn new(dataset: &Dataset, seed: u64) -> Self {
        let mut parts = HashMap::new();
        for collection in Collection::ALL {
            let posters: Vec<_> = dataset
                .posters
                .iter()
                .filter(|p| p.collection == collection)
                .collect();
            let labels: Vec<Labels> = posters.iter().map(|p| p.labels).collect();
            let folds = stratify(&labels, &FRACTIONS, seed);
            for (poster, fold) in posters.iter().zip(folds) {
                parts.insert(poster.id.clone(), Part::ALL[fold]);
            }
        }
        Self { parts, seed }
    }

    /// The seed the split was drawn with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The part of a film, if the split knows it.
    pub fn part(&self, id: &str) -> Option<Part> {
        self.parts.get(id).copied()
    }

    /// Reads a split file written by [`Split::write`].
    pub fn read(path: &Path) -> Result<Self> {
        let mut reader =
            csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
        let mut parts = HashMap::new();
        let mut seed = None;
        for (line, record) in reader.records().enumerate() {
            let row = line + 2;
            let record = record.with_context(|| format!("{}: row {row}", path.display()))?;
            let (Some(id), Some(part), Some(row_seed)) = (
                record.get(0),
                record.get(2).and_then(Part::parse),
                record.get(3).and_then(|s| s.parse::<u64>().ok()),
            ) else {
                bail!(
                    "{}: row {row} is not `imdb_id,collection,part,seed`; delete the file to \
                     split anew",
                    path.display()
                );
            };
            if seed.is_some_and(|s| s != row_seed) {
                bail!(
                    "{}: row {row} has another seed than the rows before it",
                    path.display()
                );
            }
            seed = Some(row_seed);
            parts.insert(id.to_string(), part);
        }
        let seed = seed.with_context(|| format!("{} holds no posters", path.display()))?;
        Ok(Self { parts, seed })
    }

    /// Writes `imdb_id,collection,part,seed` rows in the dataset's order, atomically.
    pub fn write(&self, dataset: &Dataset, path: &Path) -> Result<()> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["imdb_id", "collection", "part", "seed"])?;
        let seed = self.seed.to_string();
        for poster in &dataset.posters {
            if let Some(part) = self.part(&poster.id) {
                writer.write_record([
                    poster.id.as_str(),
                    poster.collection.dir_name(),
                    part.name(),
                    &seed,
                ])?;
            }
        }
        let bytes = writer.into_inner().context("writing the split")?;
        Ok(write::atomic(path, &bytes)?)
    }

    /// The split saved at `path`, or a new one drawn with `seed` and saved there. A saved split
    /// that does not cover the dataset, or was drawn with another seed, is an error: silently
    /// re-splitting would mix old test films into training, and silently keeping it would
    /// ignore the seed asked for.
    pub fn load_or_create(dataset: &Dataset, path: &Path, seed: u64) -> Result<Self> {
        if path.exists() {
            let split = Self::read(path)?;
            if split.seed != seed {
                bail!(
                    "{} was drawn with seed {}, not {seed}: delete it (or use another --work) \
                     to split anew with seed {seed}",
                    path.display(),
                    split.seed
                );
            }
            let missing = dataset
                .posters
                .iter()
                .filter(|p| split.part(&p.id).is_none())
                .count();
            if missing > 0 {
                bail!(
                    "{} does not cover {missing} posters of the dataset; delete it to split anew",
                    path.display()
                );
            }
            return Ok(split);
        }
        let split = Self::new(dataset, seed);
        split.write(dataset, path)?;
        Ok(split)
    }
}

/// Iterative stratification: assigns each example to a fold so that every label's positives
/// are spread over the folds in the given fractions, rarest labels first. Unknown labels count
/// as absent here. Returns each example's fold index.
pub fn stratify(labels: &[Labels], fractions: &[f64], seed: u64) -> Vec<usize> {
    let genres = labels.first().map_or(0, |l| l.len());
    let positive = |i: usize, g: usize| labels[i][g] == Some(true);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut fold_of = vec![usize::MAX; labels.len()];
    let mut wanted: Vec<f64> = fractions.iter().map(|f| f * labels.len() as f64).collect();
    let mut wanted_per_genre: Vec<Vec<f64>> = fractions
        .iter()
        .map(|f| {
            (0..genres)
                .map(|g| f * (0..labels.len()).filter(|&i| positive(i, g)).count() as f64)
                .collect()
        })
        .collect();
    let mut remaining: Vec<usize> = (0..labels.len()).collect();
    remaining.shuffle(&mut rng);

    let mut assign = |i: usize, fold: usize, wanted: &mut Vec<f64>, per: &mut Vec<Vec<f64>>| {
        fold_of[i] = fold;
        wanted[fold] -= 1.0;
        for (g, want) in per[fold].iter_mut().enumerate() {
            if positive(i, g) {
                *want -= 1.0;
            }
        }
    };

    while !remaining.is_empty() {
        // The genre with the fewest unassigned positives decides this round.
        let rarest = (0..genres)
            .map(|g| (remaining.iter().filter(|&&i| positive(i, g)).count(), g))
            .filter(|&(count, _)| count > 0)
            .min();
        let Some((_, genre)) = rarest else {
            // Only examples without any genre are left: fill the folds by size.
            for &i in &remaining {
                let fold = argmax(&wanted, &wanted);
                assign(i, fold, &mut wanted, &mut wanted_per_genre);
            }
            break;
        };
        let (now, later): (Vec<usize>, Vec<usize>) =
            remaining.iter().partition(|&&i| positive(i, genre));
        for i in now {
            let per_genre: Vec<f64> = wanted_per_genre.iter().map(|w| w[genre]).collect();
            let fold = argmax(&per_genre, &wanted);
            assign(i, fold, &mut wanted, &mut wanted_per_genre);
        }
        remaining = later;
    }
    fold_of
}

/// The index of the largest `primary`, ties broken by the largest `secondary`, then the first.
fn argmax(primary: &[f64], secondary: &[f64]) -> usize {
    (0..primary.len())
        .max_by(|&a, &b| {
            primary[a]
                .total_cmp(&primary[b])
                .then(secondary[a].total_cmp(&secondary[b]))
                .then(b.cmp(&a))
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use onesheet::NUM_GENRES;

    fn labels_with(genres: &[usize]) -> Labels {
        let mut l = [Some(false); NUM_GENRES];
        for &g in genres {
            l[g] = Some(true);
        }
        l
    }

    #[test]
    fn a_rare_genre_reaches_every_fold_in_proportion() {
        // 100 examples: 20 carry genre 5 (rare), 60 genre 0, the rest none.
        let labels: Vec<Labels> = (0..100)
            .map(|i| match i {
                0..20 => labels_with(&[5, 0]),
                20..60 => labels_with(&[0]),
                _ => labels_with(&[]),
            })
            .collect();
        let folds = stratify(&labels, &FRACTIONS, 7);
        let count = |fold: usize, g: Option<usize>| {
            (0..100)
                .filter(|&i| folds[i] == fold)
                .filter(|&i| g.is_none_or(|g| labels[i][g] == Some(true)))
                .count()
        };
        assert_eq!(
            [count(0, Some(5)), count(1, Some(5)), count(2, Some(5))],
            [14, 3, 3]
        );
        assert_eq!(
            [count(0, None), count(1, None), count(2, None)],
            [70, 15, 15]
        );
        assert_eq!(
            [count(0, Some(0)), count(1, Some(0)), count(2, Some(0))],
            [42, 9, 9]
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_split() {
        let labels: Vec<Labels> = (0..50).map(|i| labels_with(&[i % 4, i % 7])).collect();
        assert_eq!(
            stratify(&labels, &FRACTIONS, 1),
            stratify(&labels, &FRACTIONS, 1)
        );
        assert_ne!(
            stratify(&labels, &FRACTIONS, 1),
            stratify(&labels, &FRACTIONS, 2)
        );
    }
}
