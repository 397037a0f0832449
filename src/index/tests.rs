use half::f16;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::*;
use crate::checksum::Checksum;

fn unit(dims: usize, hot: &[(usize, f32)]) -> Vec<f32> {
    let mut v = vec![0.0; dims];
    for &(i, x) in hot {
        v[i] = x;
    }
    v
}

fn cosine(a: &[f32], b: &[f32], centre: &[f32]) -> f32 {
    let a: Vec<f32> = a.iter().zip(centre).map(|(x, c)| x - c).collect();
    let b: Vec<f32> = b.iter().zip(centre).map(|(x, c)| x - c).collect();
    let dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(&a) * norm(&b))
}

fn posters() -> Vec<Vec<f32>> {
    vec![
        unit(8, &[(0, 1.0)]),
        unit(8, &[(0, 0.9), (1, 0.3)]),
        unit(8, &[(5, 1.0)]),
        unit(8, &[(6, 1.0), (2, 0.2)]),
    ]
}

fn sample() -> Index {
    let mut index = Index::new("model".into(), 8, vec![0.5; NUM_GENRES]);
    let mut scores = vec![0.1; NUM_GENRES];
    scores[3] = 0.9;
    let posters = posters();
    let names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"];
    index
        .extend(
            names
                .iter()
                .zip(&posters)
                .map(|(n, p)| ((*n).to_string(), p.as_slice(), scores.as_slice())),
        )
        .expect("extend");
    index
}

#[test]
fn finds_the_nearest_best_first_with_cosine_scores() {
    let index = sample();
    let posters = posters();
    let centre = mean(posters.iter().map(Vec::as_slice));
    let found = index.search(&posters[0], 2).expect("search");
    assert_eq!(found.iter().map(|n| n.position).collect::<Vec<_>>(), [0, 1]);
    assert!((found[0].score - 1.0).abs() < 0.01, "{found:?}");
    let expected = cosine(&posters[0], &posters[1], &centre);
    assert!((found[1].score - expected).abs() < 0.01, "{found:?}");
    assert_eq!(index.neighbours_of(0, 5)[0].position, 1);
    assert_eq!(index.neighbours_of(0, 5).len(), 3);
}

#[test]
fn round_trips_and_refuses_damage() {
    let mut index = sample();
    index.set_thumbnails(Some("/posters/{file}".into()));
    let bytes = index.to_bytes().expect("write");
    let back = Index::from_bytes(&bytes).expect("read");
    assert_eq!(back.len(), 4);
    assert!(back.recentres());
    assert_eq!(back.thumbnails(), Some("/posters/{file}"));
    assert_eq!(back.entry(2).map(|e| e.file), Some("c.jpg".to_string()));
    let entry = back.entry(0).expect("entry");
    assert_eq!(back.prediction(&entry).genres, vec![3]);
    assert_eq!(
        back.search(&posters()[2], 1).expect("search")[0].position,
        2
    );

    let mut damaged = bytes.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    assert!(matches!(
        Index::from_bytes(&damaged),
        Err(IndexError::Checksum { .. })
    ));
    assert!(Index::from_bytes(&bytes[..bytes.len() / 2]).is_err());
    assert!(matches!(
        Index::from_bytes(b"not an index"),
        Err(IndexError::Format(_))
    ));
}

#[test]
fn inserting_a_known_name_replaces_it() {
    let mut index = sample();
    index
        .insert("a.jpg".into(), &unit(8, &[(5, 1.0)]), &[0.2; NUM_GENRES])
        .expect("replace");
    assert_eq!(index.len(), 4);
    assert_eq!(index.neighbours_of(2, 1)[0].position, 0);
    assert!(matches!(
        index.search(&[1.0; 3], 1),
        Err(IndexError::Dimensions {
            expected: 8,
            found: 3
        })
    ));
    // The replaced embedding has left the mean.
    let mut now = posters();
    now[0] = unit(8, &[(5, 1.0)]);
    let expected = mean(now.iter().map(Vec::as_slice));
    let gap = index
        .centre()
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        gap < 1e-3,
        "centre {:?} against {expected:?}",
        index.centre()
    );
}

#[test]
fn the_mean_is_taken_per_value() {
    let (a, b) = ([1.0, 2.0], [3.0, 6.0]);
    assert_eq!(mean([a.as_slice(), b.as_slice()]), vec![2.0, 4.0]);
    assert!(mean(std::iter::empty::<&[f32]>()).is_empty());
}

#[test]
fn the_centre_is_taken_out() {
    // Posters close to the catalogue's mean differ only in their small offsets.
    let mut index = Index::new("m".into(), 4, vec![0.5; NUM_GENRES]);
    let x = unit(4, &[(0, 1.0), (1, 0.1)]);
    let y = unit(4, &[(0, 1.0), (2, 0.1)]);
    let z = unit(4, &[(0, 1.0), (1, -0.1), (2, -0.1)]);
    let none = [0.0; NUM_GENRES];
    index
        .extend([
            ("x".to_string(), x.as_slice(), none.as_slice()),
            ("y".to_string(), y.as_slice(), none.as_slice()),
            ("z".to_string(), z.as_slice(), none.as_slice()),
        ])
        .expect("extend");
    assert!((index.centre()[0] - 1.0).abs() < 1e-6);
    let found = index
        .search(&unit(4, &[(0, 1.0), (2, 0.05)]), 3)
        .expect("search");
    assert_eq!(found[0].position, 1);
    assert!(found[0].score > 0.8, "{found:?}");
}

/// Embeddings as a model makes them: all on one side (ReLU6 and a mean), differing a little.
fn catalogue(n: usize, dims: usize) -> Vec<Vec<f32>> {
    let mut state = 0x9e37_79b9_u32;
    let mut next = move || {
        // xorshift: deterministic, no dependency.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as f32 / u32::MAX as f32
    };
    (0..n)
        .map(|_| {
            (0..dims)
                .map(|d| 1.0 + (d % 7) as f32 * 0.1 + next())
                .collect()
        })
        .collect()
}

#[test]
fn an_index_grown_one_poster_at_a_time_searches_as_one_made_at_once() {
    let (n, dims) = (40, 64);
    let posters = catalogue(n, dims);
    let scores = [0.0; NUM_GENRES];
    let mut at_once = Index::new("m".into(), dims, vec![0.5; NUM_GENRES]);
    at_once
        .extend(
            posters
                .iter()
                .enumerate()
                .map(|(i, p)| (i.to_string(), p.as_slice(), scores.as_slice())),
        )
        .expect("at once");
    // As `onesheet index` grows one: a poster per run, written and read back each time.
    let mut grown = Index::new("m".into(), dims, vec![0.5; NUM_GENRES]);
    for (i, poster) in posters.iter().enumerate() {
        grown
            .insert(i.to_string(), poster, &scores)
            .expect("insert");
        grown = Index::from_bytes(&grown.to_bytes().expect("write")).expect("read");
    }

    let centre = mean(posters.iter().map(Vec::as_slice));
    for index in [&at_once, &grown] {
        let gap = index
            .centre()
            .iter()
            .zip(&centre)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(gap < 1e-3, "the centre is the catalogue's mean ({gap})");
    }
    for (q, query) in posters.iter().enumerate().step_by(3) {
        let expected = at_once.neighbours_of(q, 5);
        let found = grown.neighbours_of(q, 5);
        for (e, f) in expected.iter().zip(&found) {
            let truth = cosine(query, &posters[f.position], &centre);
            assert!(
                (f.score - truth).abs() < 0.03,
                "query {q}: {f:?} against the true cosine {truth}"
            );
            assert!((e.score - f.score).abs() < 0.03, "query {q}: {e:?} / {f:?}");
        }
        assert_eq!(expected[0].position, found[0].position, "query {q}");
        let overlap = expected
            .iter()
            .filter(|e| found.iter().any(|f| f.position == e.position))
            .count();
        assert!(overlap >= 4, "query {q}: {expected:?} / {found:?}");
    }
}

// ---- forged files: a matching checksum proves nothing, validation must hold ---------------

/// An index file written by hand, with a checksum that matches whatever it holds.
fn forge(
    description: &serde_json::Value,
    tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)],
) -> Vec<u8> {
    let description = description.to_string();
    let mut views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            (
                *name,
                TensorView::new(*dtype, shape.clone(), data).expect("view"),
            )
        })
        .collect();
    views.sort_by(|a, b| a.0.cmp(b.0));
    let mut checksum = Checksum::new(&description);
    for (name, view) in &views {
        checksum.add(name, view.dtype(), view.shape(), view.data());
    }
    let metadata = HashMap::from([
        ("onesheet.index_version".to_string(), "1".to_string()),
        ("onesheet.index".to_string(), description),
        ("onesheet.checksum".to_string(), checksum.finish()),
    ]);
    safetensors::serialize(views, Some(metadata)).expect("serialise")
}

struct Forgery {
    posters: usize,
    thresholds: Vec<f32>,
    centre: Vec<f32>,
    scales: Vec<f32>,
    vectors: usize,
    scores: Vec<f32>,
    norms: Option<Vec<f32>>,
}

impl Forgery {
    /// A file that is valid as it stands.
    fn honest(posters: usize, dims: usize) -> Self {
        Self {
            posters,
            thresholds: vec![0.5; NUM_GENRES],
            centre: vec![0.1; dims],
            scales: vec![0.01; posters],
            vectors: posters * dims,
            scores: vec![0.2; posters * NUM_GENRES],
            norms: Some(vec![1.0; posters]),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let files: Vec<String> = (0..self.posters).map(|i| format!("{i}.jpg")).collect();
        let description = serde_json::json!({
            "model": "m", "thumbnails": null, "thresholds": self.thresholds, "files": files,
        });
        let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let scores: Vec<u8> = self
            .scores
            .iter()
            .flat_map(|&s| f16::from_f32(s).to_le_bytes())
            .collect();
        let mut tensors = vec![
            (
                "centre",
                Dtype::F32,
                vec![self.centre.len()],
                f32s(&self.centre),
            ),
            (
                "scales",
                Dtype::F32,
                vec![self.scales.len()],
                f32s(&self.scales),
            ),
            ("scores", Dtype::F16, vec![self.scores.len()], scores),
            (
                "vectors",
                Dtype::I8,
                vec![self.vectors],
                vec![1; self.vectors],
            ),
        ];
        if let Some(norms) = &self.norms {
            tensors.push(("norms", Dtype::F32, vec![norms.len()], f32s(norms)));
        }
        forge(&description, &tensors)
    }
}

#[test]
fn an_honest_forgery_loads_and_is_held_to_its_model() {
    let index = Index::from_bytes(&Forgery::honest(3, 16).bytes()).expect("valid");
    assert!(index.check_model("m", 16).is_ok());
    assert!(matches!(
        index.check_model("other", 16),
        Err(IndexError::OtherModel)
    ));
    // One value wide: a search with the model's 1280 would fail, so the model refuses it.
    let narrow = Index::from_bytes(&Forgery::honest(3, 1).bytes()).expect("valid");
    assert!(matches!(
        narrow.check_model("m", crate::model::FEATURES),
        Err(IndexError::Width {
            index: 1,
            model: 1280
        })
    ));
    // Written before entries kept their norms: loads, searches, keeps its centre.
    let old = Forgery {
        norms: None,
        ..Forgery::honest(3, 16)
    };
    let old = Index::from_bytes(&old.bytes()).expect("an old file");
    assert!(!old.recentres());
    assert_eq!(old.search(&[0.5; 16], 2).expect("search").len(), 2);
}

#[test]
fn forged_lengths_and_values_are_refused() {
    let refused = |forgery: Forgery, what: &str| {
        let result = Index::from_bytes(&forgery.bytes());
        assert!(
            matches!(result, Err(IndexError::Invalid(_))),
            "{what}: {result:?}"
        );
    };
    let honest = || Forgery::honest(3, 16);
    refused(
        Forgery {
            centre: Vec::new(),
            vectors: 0,
            ..Forgery::honest(3, 0)
        },
        "no width",
    );
    refused(
        Forgery {
            vectors: 3 * 16 - 1,
            ..honest()
        },
        "vectors short",
    );
    refused(
        Forgery {
            scales: vec![0.01; 2],
            ..honest()
        },
        "scales short",
    );
    refused(
        Forgery {
            norms: Some(vec![1.0; 4]),
            ..honest()
        },
        "norms long",
    );
    refused(
        Forgery {
            scores: vec![0.2; 3 * NUM_GENRES - 1],
            ..honest()
        },
        "scores short",
    );
    refused(
        Forgery {
            thresholds: vec![0.5; NUM_GENRES - 1],
            ..honest()
        },
        "thresholds short",
    );
    let mut centre = vec![0.1; 16];
    centre[3] = f32::NAN;
    refused(Forgery { centre, ..honest() }, "NaN in the centre");
    refused(
        Forgery {
            scales: vec![0.01, f32::INFINITY, 0.01],
            ..honest()
        },
        "an infinite scale",
    );
    refused(
        Forgery {
            scales: vec![0.01, -0.01, 0.01],
            ..honest()
        },
        "a negative scale",
    );
    refused(
        Forgery {
            norms: Some(vec![1.0, f32::NAN, 1.0]),
            ..honest()
        },
        "NaN in the norms",
    );
    let mut thresholds = vec![0.5; NUM_GENRES];
    thresholds[0] = f32::NAN;
    refused(
        Forgery {
            thresholds,
            ..honest()
        },
        "NaN in the thresholds",
    );
    let mut scores = vec![0.2; 3 * NUM_GENRES];
    scores[5] = f32::INFINITY;
    refused(Forgery { scores, ..honest() }, "an infinite score");
}

#[test]
fn a_forged_file_that_loads_never_fails_a_search() {
    // Whatever validation lets through, a search of the right width returns neighbours.
    let index = Index::from_bytes(&Forgery::honest(5, 8).bytes()).expect("valid");
    let found = index.search(&[f32::NAN; 8], 3).expect("a NaN query");
    assert!(found.iter().all(|n| n.score.is_finite()), "{found:?}");
    let found = index.search(&[1e30; 8], 3).expect("a huge query");
    assert!(found.iter().all(|n| n.score.is_finite()), "{found:?}");
}

#[test]
fn a_file_written_here_has_what_a_search_reads() {
    let bytes = sample().to_bytes().expect("write");
    let tensors = SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut names = tensors.names();
    names.sort_unstable();
    assert_eq!(names, ["centre", "norms", "scales", "scores", "vectors"]);
}
