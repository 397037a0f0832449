//! Seed 001's dominant colours by genre and by period: the mean share of each colour bin
//! among the coloured pixels (grays, near-black and near-white left out) of the labelled
//! posters' thumbnails, over every poster of a genre or of a decade.

use std::collections::BTreeMap;

use onesheet::GENRES;

use crate::training::Prepared;
use onesheet::colour::{BINS, colour_shares, thumb_pixels};

/// A group's name, its posters and its mean colour shares.
#[derive(Debug, Clone)]
pub struct Palette {
    /// Genre or decade.
    pub name: String,
    /// Posters averaged.
    pub posters: usize,
    /// Mean share of each colour bin.
    pub shares: Vec<f32>,
}

impl Palette {
    /// The `n` largest bins, largest first.
    pub fn top(&self, n: usize) -> Vec<(usize, f32)> {
        let mut bins: Vec<(usize, f32)> = self.shares.iter().copied().enumerate().collect();
        bins.sort_by(|a, b| b.1.total_cmp(&a.1));
        bins.truncate(n);
        bins
    }
}

/// Palettes by genre and by decade.
#[derive(Debug, Clone, Default)]
pub struct Colours {
    /// One per genre with posters.
    pub by_genre: Vec<Palette>,
    /// One per decade with posters.
    pub by_decade: Vec<Palette>,
}

impl Colours {
    /// Over every labelled poster.
    pub fn of(prepared: &Prepared) -> Self {
        let features = &prepared.features;
        let mut genres = vec![(0usize, vec![0f64; BINS]); GENRES.len()];
        let mut decades: BTreeMap<u16, (usize, Vec<f64>)> = BTreeMap::new();
        for (row, poster) in prepared.dataset.posters.iter().enumerate() {
            let shares = colour_shares(thumb_pixels(features.thumb(row), features.thumb_shape));
            let add = |(count, sums): &mut (usize, Vec<f64>)| {
                *count += 1;
                for (sum, share) in sums.iter_mut().zip(&shares) {
                    *sum += f64::from(*share);
                }
            };
            for (g, flag) in poster.labels.iter().enumerate() {
                if *flag == Some(true) {
                    add(&mut genres[g]);
                }
            }
            add(decades
                .entry(poster.year.decade())
                .or_insert_with(|| (0, vec![0f64; BINS])));
        }
        let palette = |name: String, (count, sums): (usize, Vec<f64>)| Palette {
            name,
            posters: count,
            shares: sums
                .into_iter()
                .map(|s| (s / count.max(1) as f64) as f32)
                .collect(),
        };
        Self {
            by_genre: GENRES
                .iter()
                .zip(genres)
                .filter(|(_, (count, _))| *count > 0)
                .map(|(g, group)| palette(g.name.to_string(), group))
                .collect(),
            by_decade: decades
                .into_iter()
                // A decade of a handful of posters says nothing about its period.
                .filter(|(_, (count, _))| *count >= 20)
                .map(|(d, group)| palette(format!("{d}s"), group))
                .collect(),
        }
    }
}
