//! Why a genre: where in the poster the model found its evidence.
//!
//! The genre head is linear on the mean of the last feature map, so each genre's logit is the
//! mean over the map's grid of the head's weights applied at each place, plus a bias. That grid
//! is a [`GenreMaps`] (one map per genre, at the feature map's resolution: a 224×320 input
//! gives 7×10). It comes from the same model pass as the scores and is exact, not a saliency
//! estimate: positive where a place argues for the genre, negative where it argues against.

use serde::Serialize;

use crate::genres::GENRES;

/// Every genre's map for one poster.
#[derive(Debug, Clone, PartialEq)]
pub struct GenreMaps {
    /// Columns of each map.
    pub width: usize,
    /// Rows of each map.
    pub height: usize,
    /// `[genres][height][width]`, row-major.
    pub values: Vec<f32>,
}

impl GenreMaps {
    /// One genre's map, row-major.
    pub fn genre(&self, genre: usize) -> &[f32] {
        let size = self.width * self.height;
        self.values
            .get(genre * size..(genre + 1) * size)
            .unwrap_or(&[])
    }

    /// One genre's map as rows (what JSON output carries).
    pub fn rows(&self, genre: usize) -> Vec<Vec<f32>> {
        self.genre(genre)
            .chunks(self.width.max(1))
            .map(<[f32]>::to_vec)
            .collect()
    }

    /// The genres' maps by name, for the given genres (a result's predicted ones).
    pub fn named(&self, genres: &[usize]) -> NamedMaps {
        NamedMaps {
            width: self.width,
            height: self.height,
            maps: genres
                .iter()
                .filter(|&&g| g < GENRES.len())
                .map(|&g| (GENRES[g].name, self.rows(g)))
                .collect(),
        }
    }
}

/// Maps of some genres, as every face serialises them:
/// `{"width": 10, "height": 7, "maps": {"Horror": [[…], …], …}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedMaps {
    /// Columns of each map.
    pub width: usize,
    /// Rows of each map.
    pub height: usize,
    /// Genre name → rows, in the order asked for.
    #[serde(serialize_with = "ordered")]
    pub maps: Vec<(&'static str, Vec<Vec<f32>>)>,
}

fn ordered<S: serde::Serializer>(
    maps: &[(&'static str, Vec<Vec<f32>>)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(maps.iter().map(|(name, rows)| (name, rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_names_follow_the_genre_order() {
        let (width, height) = (3, 2);
        let values: Vec<f32> = (0..GENRES.len() * width * height)
            .map(|v| v as f32)
            .collect();
        let maps = GenreMaps {
            width,
            height,
            values,
        };
        assert_eq!(
            maps.rows(1),
            vec![vec![6.0, 7.0, 8.0], vec![9.0, 10.0, 11.0]]
        );
        let json = serde_json::to_value(maps.named(&[2, 0])).expect("serialisable");
        let keys: Vec<&String> = json["maps"].as_object().expect("map").keys().collect();
        assert_eq!(keys, vec![GENRES[2].name, GENRES[0].name]);
        assert_eq!(json["width"], 3);
        assert!(maps.genre(GENRES.len()).is_empty());
    }
}
