//! `onesheet explain`: where in a poster the model found a genre, drawn over the poster or
//! printed as the map itself (see [`onesheet::explain`]: exact, from the scoring pass).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use image::{Rgb, RgbImage, Rgba, RgbaImage, imageops};
use onesheet::explain::GenreMaps;
use onesheet::inference::Analysis;
use onesheet::preprocess;
use onesheet::{Backend, GENRES, genres};
use serde::Serialize;

use crate::ModelSource;
use crate::posters::{self, Model};
use onesheet::files::read as input_file;
use onesheet::progress;

/// Longest side of a drawn overlay: enough to read the map, never a scan-sized PNG.
const OVERLAY_SIDE: u32 = 640;

/// An explanation run's settings.
#[derive(Debug, Clone)]
pub struct ExplainConfig {
    /// The poster.
    pub poster: PathBuf,
    /// The genre to explain (its TMDb name, any case); the top-scoring genre if none.
    pub genre: Option<String>,
    /// Model bundle.
    pub model: ModelSource,
    /// Where the model runs.
    pub backend: Backend,
}

/// One genre's map for one poster: `{"file", "genre", "map": [[…], …]}`, the map's rows at
/// the feature map's resolution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The poster's path, as given.
    pub file: String,
    /// The genre explained.
    pub genre: &'static str,
    /// Its map, row by row.
    pub map: Vec<Vec<f32>>,
}

/// A poster's analysis and its image, ready to explain any genre.
pub struct Explained {
    /// The model's outputs for it.
    pub analysis: Analysis,
    /// The poster, decoded (at most [`OVERLAY_SIDE`] on its longest side).
    pub image: RgbImage,
}

/// Runs the model on one poster.
pub fn analyse(model: &Model, poster: &Path) -> Result<Explained> {
    let bytes = input_file::image(poster, &model.classifier.limits)?;
    let decoded = preprocess::decode(&bytes, &model.classifier.limits)
        .with_context(|| format!("reading {}", poster.display()))?;
    let input = preprocess::prepare(&decoded, &model.classifier.bundle.manifest.input)?;
    let analysis = model
        .classifier
        .analyse(std::slice::from_ref(&input))?
        .remove(0);
    Ok(Explained {
        analysis,
        image: shrink(&decoded),
    })
}

/// Explains one poster: its analysis and the genre asked for (or its top genre).
pub fn explain(config: &ExplainConfig) -> Result<(Explained, usize)> {
    let wanted = config.genre.as_deref().map(genre_named).transpose()?;
    let model = posters::load(&config.model, config.backend)?;
    let bar = progress::spinner("explaining");
    let explained = analyse(&model, &config.poster)?;
    bar.finish_and_clear();
    let genre = wanted.unwrap_or_else(|| explained.analysis.prediction.genres[0]);
    Ok((explained, genre))
}

impl Explained {
    /// The JSON form of one genre's map.
    pub fn explanation(&self, file: &Path, genre: usize) -> Explanation {
        Explanation {
            file: file.to_string_lossy().into_owned(),
            genre: GENRES[genre].name,
            map: self.analysis.maps.rows(genre),
        }
    }

    /// The poster with one genre's map drawn over it.
    pub fn overlay(&self, genre: usize) -> RgbImage {
        overlay(&self.image, &self.analysis.maps, genre)
    }
}

/// A genre by name, case-insensitively; the error lists the names.
pub fn genre_named(name: &str) -> Result<usize> {
    if let Some(g) = genres::index_of(name) {
        return Ok(g);
    }
    match GENRES
        .iter()
        .position(|g| g.name.eq_ignore_ascii_case(name.trim()))
    {
        Some(g) => Ok(g),
        None => bail!(
            "no genre called `{name}`; the genres are {}",
            GENRES.map(|g| g.name).join(", ")
        ),
    }
}

fn shrink(image: &RgbImage) -> RgbImage {
    let (w, h) = image.dimensions();
    let longest = w.max(h);
    if longest <= OVERLAY_SIDE {
        return image.clone();
    }
    let scale = f64::from(OVERLAY_SIDE) / f64::from(longest);
    let (nw, nh) = (
        ((f64::from(w) * scale).round() as u32).max(1),
        ((f64::from(h) * scale).round() as u32).max(1),
    );
    imageops::resize(image, nw, nh, imageops::FilterType::Triangle)
}

/// Draws a genre's map over the poster: warm where the place argues for the genre, blue where
/// it argues against, clear where it says little. The model saw the whole poster stretched to
/// its input, so the map stretches over the whole image too.
pub fn overlay(image: &RgbImage, maps: &GenreMaps, genre: usize) -> RgbImage {
    let map = maps.genre(genre);
    let largest = map.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut out = image.clone();
    if largest <= 0.0 || map.is_empty() {
        return out;
    }
    let (w, h) = image.dimensions();
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        let (colour, alpha) = heat(sample(map, maps.width, maps.height, x, y, w, h) / largest);
        *pixel = Rgb(std::array::from_fn(|c| {
            (f32::from(pixel[c]) * (1.0 - alpha) + colour[c] * alpha).round() as u8
        }));
    }
    out
}

/// A genre's map alone, one translucent pixel per cell (a few hundred bytes as PNG): a page
/// lays it over the poster and lets the browser smooth it, as the browser faces do.
pub fn map_image(maps: &GenreMaps, genre: usize) -> RgbaImage {
    let map = maps.genre(genre);
    let largest = map
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    RgbaImage::from_fn(maps.width as u32, maps.height as u32, |x, y| {
        let value = map
            .get(y as usize * maps.width + x as usize)
            .copied()
            .unwrap_or(0.0);
        let (colour, alpha) = heat(value / largest);
        Rgba([
            colour[0] as u8,
            colour[1] as u8,
            colour[2] as u8,
            (alpha * 255.0).round() as u8,
        ])
    })
}

/// A map value scaled to [-1, 1] → colour and opacity: yellow to red as the evidence for the
/// genre grows, blue against it (www/lib/explain.js draws the same).
fn heat(value: f32) -> ([f32; 3], f32) {
    if value >= 0.0 {
        let t = value.min(1.0);
        ([255.0, 230.0 * (1.0 - t), 0.0], 0.75 * t.sqrt())
    } else {
        ([30.0, 90.0, 255.0], 0.5 * (-value).min(1.0).sqrt())
    }
}

/// The map at an image pixel, interpolated bilinearly between cell centres.
fn sample(map: &[f32], mw: usize, mh: usize, x: u32, y: u32, w: u32, h: u32) -> f32 {
    let at = |pixel: u32, size: u32, cells: usize| {
        let position = ((pixel as f32 + 0.5) / size as f32) * cells as f32 - 0.5;
        let position = position.clamp(0.0, (cells - 1) as f32);
        let low = position.floor() as usize;
        (low, (low + 1).min(cells - 1), position - low as f32)
    };
    let (x0, x1, fx) = at(x, w, mw);
    let (y0, y1, fy) = at(y, h, mh);
    let cell = |cx: usize, cy: usize| map[cy * mw + cx];
    let top = cell(x0, y0) * (1.0 - fx) + cell(x1, y0) * fx;
    let bottom = cell(x0, y1) * (1.0 - fx) + cell(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genres_are_found_in_any_case_and_unknown_ones_listed() {
        assert_eq!(genre_named("horror").ok(), genres::index_of("Horror"));
        assert_eq!(
            genre_named("Science Fiction").ok(),
            genres::index_of("Science Fiction")
        );
        let error = genre_named("Sci-Fi")
            .map(|_| ())
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("Western")));
    }

    #[test]
    fn the_overlay_marks_where_the_map_is_high() {
        let image = RgbImage::from_pixel(40, 20, Rgb([128, 128, 128]));
        let mut values = vec![0.0; GENRES.len() * 2];
        values[2] = 1.0; // genre 1, left cell
        let maps = GenreMaps {
            width: 2,
            height: 1,
            values,
        };
        let drawn = overlay(&image, &maps, 1);
        assert_ne!(drawn.get_pixel(2, 10), image.get_pixel(2, 10));
        assert_eq!(drawn.get_pixel(37, 10), image.get_pixel(37, 10));
        assert_eq!(overlay(&image, &maps, 0), image);
    }
}
