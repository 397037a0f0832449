//! The 19 TMDb movie genres onesheet predicts, in TMDb's published order.

/// One TMDb genre.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Genre {
    /// TMDb's numeric genre id.
    pub id: u32,
    /// TMDb's English genre name, as it appears in labels and outputs.
    pub name: &'static str,
}

/// How many genres the model scores.
pub const NUM_GENRES: usize = 19;

/// The genres, in the order of the model's outputs.
pub const GENRES: [Genre; NUM_GENRES] = [
    Genre {
        id: 28,
        name: "Action",
    },
    Genre {
        id: 12,
        name: "Adventure",
    },
    Genre {
        id: 16,
        name: "Animation",
    },
    Genre {
        id: 35,
        name: "Comedy",
    },
    Genre {
        id: 80,
        name: "Crime",
    },
    Genre {
        id: 99,
        name: "Documentary",
    },
    Genre {
        id: 18,
        name: "Drama",
    },
    Genre {
        id: 10751,
        name: "Family",
    },
    Genre {
        id: 14,
        name: "Fantasy",
    },
    Genre {
        id: 36,
        name: "History",
    },
    Genre {
        id: 27,
        name: "Horror",
    },
    Genre {
        id: 10402,
        name: "Music",
    },
    Genre {
        id: 9648,
        name: "Mystery",
    },
    Genre {
        id: 10749,
        name: "Romance",
    },
    Genre {
        id: 878,
        name: "Science Fiction",
    },
    Genre {
        id: 10770,
        name: "TV Movie",
    },
    Genre {
        id: 53,
        name: "Thriller",
    },
    Genre {
        id: 10752,
        name: "War",
    },
    Genre {
        id: 37,
        name: "Western",
    },
];

/// The output index of a genre, by its TMDb name (exact, case-sensitive).
pub fn index_of(name: &str) -> Option<usize> {
    GENRES.iter().position(|genre| genre.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique() {
        for (i, a) in GENRES.iter().enumerate() {
            for b in &GENRES[i + 1..] {
                assert_ne!(a.id, b.id);
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn looks_up_by_name() {
        assert_eq!(index_of("Action"), Some(0));
        assert_eq!(index_of("Western"), Some(18));
        assert_eq!(index_of("Sci-Fi"), None);
    }
}
