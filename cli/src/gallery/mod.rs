//! `onesheet gallery`: the catalogue as a static site browsable by genre — plain HTML and CSS
//! with relative links, so it works from `file://` or any static host. For each genre, its
//! top posters by score; for each poster, its genres and scores, where the model saw each
//! genre, and the posters most like it; and the catalogue's dominant colours by genre.
//!
//! Every name from a file is HTML-escaped, and nothing from a file name reaches a path in the
//! site: pages and pictures are numbered. A run into the folder of an earlier one replaces it
//! (see [`site`]); the site's own folders are never read as posters, even when `--out` lies
//! inside an input folder.

mod site;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use image::{RgbImage, RgbaImage, imageops};
use onesheet::index::Index;
use onesheet::inference::Analysis;
use onesheet::model::FEATURES;
use onesheet::{Backend, GENRES, NUM_GENRES, preprocess};

use crate::ModelSource;
use crate::why_maps::map_image;
use onesheet::colour::{BINS, bin_colour, colour_shares};
use onesheet::files::read as input_file;
use onesheet::progress;

use crate::posters;
use site::Site;

/// Posters on a genre's page (seed 003's "top 100 per genre").
const TOP_PER_GENRE: usize = 100;
/// Similar posters on a poster's page.
const SIMILAR: usize = 8;
/// Width of the pictures in the site.
const THUMB_WIDTH: u32 = 240;
/// Colours shown per genre.
const SWATCHES: usize = 10;

/// A gallery run's settings.
#[derive(Debug, Clone)]
pub struct GalleryConfig {
    /// Folders of posters (or poster files).
    pub inputs: Vec<PathBuf>,
    /// The site's folder (created; an earlier run's pages in it are replaced or removed).
    pub out: PathBuf,
    /// Model bundle.
    pub model: ModelSource,
    /// Where the model runs.
    pub backend: Backend,
    /// Posters run through the model together.
    pub batch: usize,
}

/// What a gallery run made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GallerySummary {
    /// Posters in the site.
    pub posters: usize,
    /// Files that could not be read (reported, left out).
    pub failed: usize,
    /// Wall time, in seconds.
    pub seconds: f64,
}

/// One poster as the site shows it.
struct Shown {
    name: String,
    analysis: Analysis,
    /// Share of its coloured (non-gray) pixels per colour bin.
    colours: Vec<f32>,
}

/// Builds the site.
pub fn gallery(config: &GalleryConfig) -> Result<GallerySummary> {
    let started = Instant::now();
    let model = posters::load(&config.model, config.backend)?;
    // Before the site's folders are made: what exists now is what an earlier run wrote.
    let found = posters::collect_skipping(&config.inputs, &Site::own_folders(&config.out))?;
    let mut site = Site::prepare(&config.out)?;

    let bar = progress::bar(found.len() as u64, "gallery");
    let mut shown: Vec<Shown> = Vec::with_capacity(found.len());
    let mut failed = 0;
    posters::analyse_each(
        &model.classifier,
        &found,
        config.batch,
        &bar,
        |poster, analysis| {
            let picture = analysis.and_then(|analysis| {
                let bytes = input_file::image(&poster.path, &model.classifier.limits)
                    .map_err(|e| e.to_string())?;
                let image = preprocess::decode(&bytes, &model.classifier.limits)
                    .map_err(|e| e.to_string())?;
                Ok((analysis, thumbnail(&image)))
            });
            match picture {
                Ok((analysis, thumb)) => {
                    let n = shown.len();
                    site.write(&format!("pictures/{n}.jpg"), &jpeg(&thumb)?)?;
                    for &g in &analysis.prediction.genres {
                        let map = map_image(&analysis.maps, g);
                        site.write(&format!("pictures/{n}-{}.png", slug(g)), &png(&map)?)?;
                    }
                    shown.push(Shown {
                        name: poster.name.clone(),
                        colours: colour_shares(thumb.pixels().map(|p| p.0)),
                        analysis,
                    });
                }
                Err(error) => {
                    failed += 1;
                    posters::report_skipped(&bar, &poster.path, &error);
                }
            }
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    if shown.is_empty() {
        bail!("none of the {} files could be read", found.len());
    }

    let index = similarity_index(&shown, &model.id)?;
    write_site(&mut site, &shown, &index)?;
    site.remove_stale()?;
    Ok(GallerySummary {
        posters: shown.len(),
        failed,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn thumbnail(image: &RgbImage) -> RgbImage {
    let (w, h) = image.dimensions();
    let height = ((u64::from(h) * u64::from(THUMB_WIDTH)) / u64::from(w.max(1))).clamp(1, 1200);
    imageops::resize(
        image,
        THUMB_WIDTH,
        height as u32,
        imageops::FilterType::Triangle,
    )
}

fn jpeg(image: &RgbImage) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 80)
        .encode_image(image)
        .context("encoding a picture")?;
    Ok(bytes)
}

fn png(image: &RgbaImage) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .context("encoding a map")?;
    Ok(bytes)
}

/// The site's similarity search: every poster's embedding, centred on the catalogue's mean.
fn similarity_index(shown: &[Shown], model: &str) -> Result<Index> {
    let mut index = Index::new(model.to_string(), FEATURES, vec![0.5; NUM_GENRES]);
    // Numbered, so that two files of one name in different folders stay two posters.
    index.extend(shown.iter().enumerate().map(|(n, s)| {
        (
            n.to_string(),
            s.analysis.embedding.as_slice(),
            s.analysis.prediction.scores.as_slice(),
        )
    }))?;
    Ok(index)
}

// ---- pages --------------------------------------------------------------------------------

fn write_site(site: &mut Site, shown: &[Shown], index: &Index) -> Result<()> {
    site.write("style.css", STYLE.as_bytes())?;
    let mut page = |path: &str, title: &str, depth: usize, body: &str| -> Result<()> {
        site.write(path, html(title, depth, body).as_bytes())
    };

    // Per genre: its posters, best score first.
    let mut by_genre: Vec<Vec<usize>> = vec![Vec::new(); NUM_GENRES];
    for (n, s) in shown.iter().enumerate() {
        for &g in &s.analysis.prediction.genres {
            by_genre[g].push(n);
        }
    }
    for (g, posters) in by_genre.iter_mut().enumerate() {
        posters.sort_by(|&a, &b| {
            shown[b].analysis.prediction.scores[g]
                .total_cmp(&shown[a].analysis.prediction.scores[g])
        });
    }

    let mut home = String::from("<h1>The catalogue by genre</h1>\n<ul class=\"genres\">\n");
    for (g, posters) in by_genre.iter().enumerate() {
        let _ = writeln!(
            home,
            "<li><a href=\"genres/{}.html\">{}</a> <span class=\"count\">{}</span></li>",
            slug(g),
            GENRES[g].name,
            posters.len()
        );
    }
    let _ = write!(
        home,
        "</ul>\n<p>{} posters. <a href=\"colours.html\">Dominant colours by genre</a>.</p>\n",
        shown.len()
    );
    page("index.html", "Catalogue", 0, &home)?;

    for (g, posters) in by_genre.iter().enumerate() {
        let mut body = format!(
            "<p><a href=\"../index.html\">All genres</a></p>\n<h1>{}</h1>\n<p>{} posters; the top {} by score.</p>\n<ol class=\"grid\">\n",
            GENRES[g].name,
            posters.len(),
            posters.len().min(TOP_PER_GENRE)
        );
        for &n in posters.iter().take(TOP_PER_GENRE) {
            body.push_str(&card(
                n,
                &shown[n].name,
                shown[n].analysis.prediction.scores[g],
                1,
            ));
        }
        body.push_str("</ol>\n");
        page(
            &format!("genres/{}.html", slug(g)),
            GENRES[g].name,
            1,
            &body,
        )?;
    }

    for (n, s) in shown.iter().enumerate() {
        page(
            &format!("posters/{n}.html"),
            &s.name,
            1,
            &poster_page(n, s, shown, index),
        )?;
    }

    page(
        "colours.html",
        "Colours by genre",
        0,
        &colours_page(shown, &by_genre),
    )?;
    Ok(())
}

fn poster_page(n: usize, s: &Shown, shown: &[Shown], index: &Index) -> String {
    let name = escape(&s.name);
    let prediction = &s.analysis.prediction;
    let mut body = format!(
        "<p><a href=\"../index.html\">All genres</a></p>\n<h1>{name}</h1>\n<div class=\"poster\">\n<img src=\"../pictures/{n}.jpg\" alt=\"{name}\">\n<div>\n<h2>Genres</h2>\n<ul class=\"scores\">\n"
    );
    let mut order: Vec<usize> = (0..NUM_GENRES).collect();
    order.sort_by(|&a, &b| prediction.scores[b].total_cmp(&prediction.scores[a]));
    for g in order {
        let predicted = prediction.genres.contains(&g);
        let _ = writeln!(
            body,
            "<li{}><a href=\"../genres/{}.html\">{}</a> <meter min=\"0\" max=\"1\" value=\"{:.3}\"></meter> {:.1}%</li>",
            if predicted { " class=\"yes\"" } else { "" },
            slug(g),
            GENRES[g].name,
            prediction.scores[g],
            prediction.scores[g] * 100.0
        );
    }
    body.push_str("</ul>\n</div>\n</div>\n<h2>Why these genres</h2>\n<p class=\"note\">Warm where the poster argues for the genre, blue where it argues against.</p>\n<ul class=\"grid\">\n");
    for &g in &prediction.genres {
        let _ = writeln!(
            body,
            "<li><figure><div class=\"why\"><img src=\"../pictures/{n}.jpg\" alt=\"\"><img class=\"map\" src=\"../pictures/{n}-{}.png\" alt=\"Where the model saw {}\"></div><figcaption>{}</figcaption></figure></li>",
            slug(g),
            GENRES[g].name,
            GENRES[g].name
        );
    }
    body.push_str("</ul>\n<h2>Posters like this</h2>\n<ol class=\"grid\">\n");
    for neighbour in index.neighbours_of(n, SIMILAR) {
        let m = neighbour.position;
        body.push_str(&card(m, &shown[m].name, neighbour.score, 1));
    }
    body.push_str("</ol>\n");
    body
}

fn colours_page(shown: &[Shown], by_genre: &[Vec<usize>]) -> String {
    let mut body = String::from(
        "<p><a href=\"index.html\">All genres</a></p>\n<h1>Dominant colours by genre</h1>\n<p class=\"note\">The share of each colour among the coloured pixels of a genre's posters (grays, near-black and near-white left out), averaged over the posters predicted in the genre.</p>\n<table class=\"colours\">\n",
    );
    for (g, posters) in by_genre.iter().enumerate() {
        if posters.is_empty() {
            continue;
        }
        let mut shares = vec![0.0f32; BINS];
        for &n in posters {
            for (share, c) in shares.iter_mut().zip(&shown[n].colours) {
                *share += c / posters.len() as f32;
            }
        }
        let mut bins: Vec<usize> = (0..BINS).collect();
        bins.sort_by(|&a, &b| shares[b].total_cmp(&shares[a]));
        let _ = write!(body, "<tr><th>{}</th><td>", GENRES[g].name);
        for bin in bins.into_iter().take(SWATCHES).filter(|&b| shares[b] > 0.0) {
            let colour = bin_colour(bin);
            let _ = write!(
                body,
                "<span class=\"swatch\" style=\"background:{colour}\" title=\"{colour} {:.0}%\">{:.0}%</span>",
                shares[bin] * 100.0,
                shares[bin] * 100.0
            );
        }
        body.push_str("</td></tr>\n");
    }
    body.push_str("</table>\n");
    body
}

/// A poster's tile: picture, name, a score; linking to its page.
fn card(n: usize, name: &str, score: f32, depth: usize) -> String {
    let up = "../".repeat(depth);
    let name = escape(name);
    format!(
        "<li><a href=\"{up}posters/{n}.html\"><img src=\"{up}pictures/{n}.jpg\" alt=\"\" loading=\"lazy\"><span class=\"name\">{name}</span></a><span class=\"score\">{:.1}%</span></li>\n",
        score.max(0.0) * 100.0
    )
}

fn html(title: &str, depth: usize, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} · onesheet gallery</title>\n<link rel=\"stylesheet\" href=\"{}style.css\">\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(title),
        "../".repeat(depth)
    )
}

/// Text for HTML (body or a quoted attribute).
fn escape(text: &str) -> String {
    html_escape::encode_double_quoted_attribute(text).into_owned()
}

/// A genre's page name: its TMDb name, lowercase, words joined by `-`.
pub fn slug(genre: usize) -> String {
    GENRES[genre]
        .name
        .to_ascii_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
}

const STYLE: &str = "body { margin: 0; font: 16px/1.45 system-ui, sans-serif; color: #1d1d1f; background: #faf8f5; }
main { max-width: 70rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
a { color: #8a2be2; }
.genres { columns: 3 12rem; padding-left: 1.2rem; }
.count, .score, .note { color: #6b6b70; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(10rem, 1fr)); gap: 1rem; list-style: none; padding: 0; }
.grid img { width: 100%; height: auto; border-radius: 6px; box-shadow: 0 1px 4px #0003; }
.grid a { display: grid; gap: .25rem; text-decoration: none; color: inherit; }
.name { overflow-wrap: anywhere; font-size: .9em; }
.poster { display: flex; gap: 2rem; flex-wrap: wrap; align-items: flex-start; }
.poster img { width: 240px; border-radius: 8px; box-shadow: 0 2px 8px #0003; }
.scores { list-style: none; padding: 0; display: grid; gap: .2rem; }
.scores li.yes a { font-weight: 700; }
meter { width: 10rem; }
figure { margin: 0; }
.why { position: relative; }
.why .map { position: absolute; inset: 0; width: 100%; height: 100%; box-shadow: none; image-rendering: auto; }
.colours th { text-align: left; padding-right: 1rem; font-weight: 600; }
.swatch { display: inline-block; min-width: 3rem; padding: .3rem .4rem; margin: .1rem; border-radius: 4px; color: #fff; text-shadow: 0 0 3px #000; font-size: .8em; text-align: center; }
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_slugs_plain() {
        assert_eq!(
            escape("<script>alert(\"x\")</script> & 'y'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 'y'"
        );
        let slugs: Vec<String> = (0..NUM_GENRES).map(slug).collect();
        assert!(slugs.contains(&"science-fiction".to_string()));
        assert!(slugs.contains(&"tv-movie".to_string()));
        assert!(
            slugs
                .iter()
                .all(|s| s.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        );
    }

    #[test]
    fn grays_are_left_out_of_the_colours() {
        let gray = RgbImage::from_pixel(4, 4, image::Rgb([120, 120, 120]));
        assert!(
            colour_shares(gray.pixels().map(|p| p.0))
                .iter()
                .all(|&s| s == 0.0)
        );
        let red = RgbImage::from_pixel(4, 4, image::Rgb([220, 20, 20]));
        let shares = colour_shares(red.pixels().map(|p| p.0));
        let top = (0..BINS)
            .max_by(|&a, &b| shares[a].total_cmp(&shares[b]))
            .unwrap_or(0);
        assert_eq!(shares[top], 1.0);
        assert_eq!(bin_colour(top), "#e02020");
    }
}
