//! One poster's result, and the one way every face writes it.
//!
//! The CLI's JSON, the browser API's objects, the widget's events and the trainer's decisions
//! all come from [`Prediction`]: scores in the model's genre order, the predicted genres best
//! first, decided by one rule.

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::genres::GENRES;

/// One poster's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Per-genre probability, in [`GENRES`] order.
    pub scores: Vec<f32>,
    /// Indices of the predicted genres, best first; never empty.
    pub genres: Vec<usize>,
}

impl Prediction {
    /// Applies per-genre thresholds; a poster always gets at least its top-scoring genre, so a
    /// shop never files a poster under no genre at all.
    pub fn decide(scores: Vec<f32>, thresholds: &[f32]) -> Self {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let genres = order
            .iter()
            .enumerate()
            .filter(|&(rank, &g)| rank == 0 || thresholds.get(g).is_some_and(|&t| scores[g] >= t))
            .map(|(_, &g)| g)
            .collect();
        Self { scores, genres }
    }

    /// The predicted genres' names, best first.
    pub fn genre_names(&self) -> Vec<&'static str> {
        self.genres.iter().map(|&g| GENRES[g].name).collect()
    }

    /// Per genre, in [`GENRES`] order: predicted or not.
    pub fn decisions(&self) -> Vec<bool> {
        let mut decisions = vec![false; self.scores.len()];
        for &g in &self.genres {
            decisions[g] = true;
        }
        decisions
    }
}

/// `{"scores": {"Action": 0.91, … every genre, model order}, "genres": ["Action", …]}`.
impl Serialize for Prediction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Prediction", 2)?;
        out.serialize_field("scores", &Scores(&self.scores))?;
        out.serialize_field("genres", &self.genre_names())?;
        out.end()
    }
}

/// Scores as a map from genre name, in [`GENRES`] order.
struct Scores<'a>(&'a [f32]);

impl Serialize for Scores<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (genre, score) in GENRES.iter().zip(self.0) {
            map.serialize_entry(genre.name, score)?;
        }
        map.end()
    }
}

/// Per-genre decisions as `{"Action": true, …}`, in [`GENRES`] order.
pub struct Decisions<'a>(pub &'a Prediction);

impl Serialize for Decisions<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let decisions = self.0.decisions();
        let mut map = serializer.serialize_map(Some(decisions.len()))?;
        for (genre, decided) in GENRES.iter().zip(decisions) {
            map.serialize_entry(genre.name, &decided)?;
        }
        map.end()
    }
}

/// A named poster's outcome as every listing writes it: `{"file", "scores", "genres"}` or
/// `{"file", "error"}`. The file is whatever names the poster to its reader (a path shown
/// lossily, a name in an index), already as text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PosterResult {
    /// The poster's name.
    pub file: String,
    /// Its prediction, or why there is none.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A prediction or an error message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    /// Classified.
    Classified(Prediction),
    /// Not: why.
    Failed {
        /// What went wrong, for people.
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decide_keeps_genres_over_threshold_best_first() {
        let p = Prediction::decide(vec![0.2, 0.9, 0.6], &[0.1, 0.5, 0.7]);
        assert_eq!(p.genres, vec![1, 0]);
        assert_eq!(p.decisions(), vec![true, true, false]);
    }

    #[test]
    fn decide_always_keeps_the_top_genre() {
        let p = Prediction::decide(vec![0.2, 0.3, 0.1], &[0.5, 0.5, 0.5]);
        assert_eq!(p.genres, vec![1]);
    }

    #[test]
    fn serialises_every_genre_in_model_order_and_the_genres_best_first() {
        let mut scores = vec![0.0; GENRES.len()];
        scores[3] = 0.9;
        scores[0] = 0.6;
        let p = Prediction::decide(scores, &vec![0.5; GENRES.len()]);
        let json = serde_json::to_value(PosterResult {
            file: "a.jpg".into(),
            outcome: Outcome::Classified(p),
        })
        .expect("serialisable");
        let keys: Vec<&String> = json["scores"].as_object().expect("map").keys().collect();
        let names: Vec<&str> = GENRES.iter().map(|g| g.name).collect();
        assert_eq!(keys, names);
        assert_eq!(json["file"], "a.jpg");
        assert_eq!(
            json["genres"],
            serde_json::json!([GENRES[3].name, GENRES[0].name])
        );
        let failed = serde_json::to_string(&PosterResult {
            file: "b.jpg".into(),
            outcome: Outcome::Failed {
                error: "bad".into(),
            },
        })
        .expect("serialisable");
        assert_eq!(failed, r#"{"file":"b.jpg","error":"bad"}"#);
    }
}
