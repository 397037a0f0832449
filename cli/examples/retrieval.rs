//! How well `onesheet similar` finds posters, measured on the test split with the shipped
//! model:
//!
//! - a copy of a poster resized to half, cropped by 5% (2.5% off each side) and re-encoded
//!   (JPEG quality 70): is the original the first of all the test posters found for it?
//! - a poster's 10 nearest neighbours: how often they share a labelled genre with it, against
//!   random pairs of the same posters;
//! - the search itself over 20,000 posters (the test posters' embeddings repeated), per query.
//!
//! `cargo run --release -p onesheet-cli --example retrieval [-- QUERIES]` (default 300
//! queries; about 5 minutes on 2 cores). With `ONESHEET_WRITE_INDEX=DIR` it also writes the
//! 20,000-poster index to `DIR/catalogue.index`, for timing the search in the browser.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use image::{DynamicImage, imageops};
use onesheet::index::Index;
use onesheet::inference::Analysis;
use onesheet::model::FEATURES;
use onesheet::progress;
use onesheet::{Backend, NUM_GENRES};
use onesheet_cli::{ModelSource, posters};
use onesheet_trainer::dataset::{self, Labels};
use onesheet_trainer::split::{Part, Split};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

fn main() -> Result<()> {
    let queries: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()
        .context("QUERIES is a number")?
        .unwrap_or(300);
    let data = dataset::load(Path::new("../shared/data"))?;
    let split = Split::new(&data, 42);
    let test: Vec<&dataset::Poster> = data
        .posters
        .iter()
        .filter(|p| split.part(&p.id) == Some(Part::Test))
        .collect();
    let model = posters::load(&ModelSource::Shipped, Backend::Cpu)?;

    // Every test poster, indexed.
    let started = Instant::now();
    let bar = progress::bar(test.len() as u64, "indexing the test split");
    let mut analyses: Vec<Analysis> = Vec::with_capacity(test.len());
    posters::analyse_each(
        &model.classifier,
        test.iter().map(|p| p.image.as_path()),
        16,
        &bar,
        |file, analysis| {
            analyses.push(analysis.map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?);
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    let index_seconds = started.elapsed().as_secs_f64();
    let index = build(&model.id, &analyses, 1)?;

    // Distorted copies find their original?
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut order: Vec<usize> = (0..test.len()).collect();
    order.shuffle(&mut rng);
    let chosen = &order[..queries.min(order.len())];
    let bar = progress::bar(chosen.len() as u64, "distorted copies");
    let (mut first, mut top5) = (0usize, 0usize);
    for &i in chosen {
        let input = model.classifier.prepare(&distort(&test[i].image)?)?;
        let analysis = model.classifier.analyse(&[input])?.remove(0);
        let found = index.search(&analysis.embedding, 5)?;
        first += usize::from(found.first().is_some_and(|n| n.position == i));
        top5 += usize::from(found.iter().any(|n| n.position == i));
        bar.inc(1);
    }
    bar.finish_and_clear();

    // Neighbours share a genre more often than random pairs?
    let shares =
        |a: &Labels, b: &Labels| (0..NUM_GENRES).any(|g| a[g] == Some(true) && b[g] == Some(true));
    let (mut near_shared, mut near_pairs) = (0usize, 0usize);
    for (i, poster) in test.iter().enumerate() {
        for n in index.neighbours_of(i, 10) {
            near_shared += usize::from(shares(&poster.labels, &test[n.position].labels));
            near_pairs += 1;
        }
    }
    // Per genre: of the neighbours of a poster labelled with it, the share also labelled with
    // it, against the genre's share of all test posters (what random neighbours would give).
    let mut per_genre = Vec::new();
    for g in 0..NUM_GENRES {
        let with: Vec<usize> = (0..test.len())
            .filter(|&i| test[i].labels[g] == Some(true))
            .collect();
        let known = test.iter().filter(|p| p.labels[g].is_some()).count();
        if with.len() < 10 {
            continue;
        }
        let (mut hits, mut seen) = (0usize, 0usize);
        for &i in &with {
            for n in index.neighbours_of(i, 10) {
                if let Some(label) = test[n.position].labels[g] {
                    hits += usize::from(label);
                    seen += 1;
                }
            }
        }
        let base = with.len() as f64 / known.max(1) as f64;
        per_genre.push((g, hits as f64 / seen.max(1) as f64, base));
    }
    let (mut random_shared, random_pairs) = (0usize, 100_000usize);
    for _ in 0..random_pairs {
        let (a, b) = (
            rng.random_range(0..test.len()),
            rng.random_range(0..test.len()),
        );
        if a == b {
            continue;
        }
        random_shared += usize::from(shares(&test[a].labels, &test[b].labels));
    }

    // Search time over 20,000 posters.
    let big = build(&model.id, &analyses, 20_000usize.div_ceil(analyses.len()))?;
    let started = Instant::now();
    let searches = 200u32;
    for i in 0..searches {
        std::hint::black_box(big.search(&analyses[i as usize % analyses.len()].embedding, 10)?);
    }
    let search_ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(searches);
    let bytes = big.to_bytes()?;
    if let Some(dir) = std::env::var_os("ONESHEET_WRITE_INDEX") {
        let path = Path::new(&dir).join("catalogue.index");
        onesheet::files::write::atomic(&path, &bytes)?;
        eprintln!("wrote {}", path.display());
    }

    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!(
        "test posters indexed: {} in {index_seconds:.0} s",
        test.len()
    );
    println!(
        "distorted copy (half size, 5% cropped, JPEG q70) finds its original: first {:.1}% ({first}/{}), top 5 {:.1}%",
        pct(first, chosen.len()),
        chosen.len(),
        pct(top5, chosen.len())
    );
    println!(
        "a shared labelled genre: 10 nearest neighbours {:.1}%, random pairs {:.1}%",
        pct(near_shared, near_pairs),
        pct(random_shared, random_pairs)
    );
    let lifts: Vec<f64> = per_genre
        .iter()
        .map(|(_, near, base)| near / base)
        .collect();
    println!(
        "per genre (macro over {} genres): neighbours of a poster of the genre are of it {:.1}% of the time, against {:.1}% of all posters: {:.2}x",
        per_genre.len(),
        100.0 * per_genre.iter().map(|p| p.1).sum::<f64>() / per_genre.len().max(1) as f64,
        100.0 * per_genre.iter().map(|p| p.2).sum::<f64>() / per_genre.len().max(1) as f64,
        lifts.iter().sum::<f64>() / lifts.len().max(1) as f64
    );
    for (g, near, base) in &per_genre {
        println!(
            "  {:<16} {:5.1}% vs {:5.1}%",
            onesheet::GENRES[*g].name,
            100.0 * near,
            100.0 * base
        );
    }
    println!(
        "search over {} posters: {search_ms:.2} ms per query (native, 1 thread); index {:.1} MB",
        big.len(),
        bytes.len() as f64 / 1e6
    );
    Ok(())
}

/// The test posters' embeddings in an index, `copies` times over (for timing at scale).
fn build(model: &str, analyses: &[Analysis], copies: usize) -> Result<Index> {
    let mut index = Index::new(model.to_string(), FEATURES, vec![0.5; NUM_GENRES]);
    index.extend((0..copies).flat_map(|copy| {
        analyses.iter().enumerate().map(move |(i, a)| {
            (
                format!("{copy}/{i}"),
                a.embedding.as_slice(),
                a.prediction.scores.as_slice(),
            )
        })
    }))?;
    Ok(index)
}

/// The poster at `path`, resized to half, cropped by 5% (2.5% off each side), as JPEG
/// quality 70.
fn distort(path: &Path) -> Result<Vec<u8>> {
    let image = image::open(path).with_context(|| format!("decoding {}", path.display()))?;
    let (w, h) = (image.width() / 2, image.height() / 2);
    let half = image.resize_exact(w.max(1), h.max(1), imageops::FilterType::Triangle);
    let (dx, dy) = (w / 40, h / 40);
    let cropped = half.crop_imm(dx, dy, w - 2 * dx, h - 2 * dy);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 70)
        .encode_image(&DynamicImage::ImageRgb8(cropped.to_rgb8()))?;
    Ok(jpeg)
}
