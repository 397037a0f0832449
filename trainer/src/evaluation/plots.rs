//! The report's figures, drawn with plotters into RGB buffers and saved as PNG.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::training::fit::EpochLoss;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const SIZE: (u32, u32) = (960, 540);

/// Registers the report font once (plotters draws text only with a registered font).
fn font() -> Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = std::fs::read(FONT)
                .map_err(|e| format!("{FONT}: {e} (install fonts-dejavu-core)"))?;
            // plotters keeps fonts for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| format!("{FONT} is not a usable font"))
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

fn save(buffer: Vec<u8>, path: &Path) -> Result<()> {
    let image = image::RgbImage::from_raw(SIZE.0, SIZE.1, buffer)
        .context("plot buffer has the wrong size")?;
    image
        .save(path)
        .with_context(|| format!("writing {}", path.display()))
}

fn draw<F>(path: &Path, paint: F) -> Result<()>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
{
    font()?;
    let mut buffer = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        paint(&root)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    save(buffer, path)
}

/// Training and validation loss per epoch, one panel per stage: each panel's range fitted to
/// its curves, whole-epoch ticks, and the series named in the caption rather than in a legend
/// box over the lines.
pub fn losses(path: &Path, stages: &[(&str, &[EpochLoss])]) -> Result<()> {
    draw(path, |root| {
        let panels = root.split_evenly((1, stages.len().max(1)));
        for (area, (name, curve)) in panels.iter().zip(stages) {
            let last = curve.iter().map(|e| e.epoch).max().unwrap_or(1).max(2);
            let values = curve.iter().flat_map(|e| [e.train, e.valid]);
            let (low, high) =
                values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let pad = ((high - low) * 0.08).max(1e-3);
            let (low, high) = if low <= high {
                (low - pad, high + pad)
            } else {
                (0.0, 1.0)
            };
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("{name}: loss per epoch (blue train, red validation)"),
                    ("sans-serif", 20),
                )
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(60)
                .build_cartesian_2d(1usize..last, low..high)
                .map_err(|e| anyhow!("{e}"))?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc("loss")
                .x_labels(last.min(20))
                .x_label_formatter(&|e| e.to_string())
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            for (color, pick) in [
                (BLUE, (|e: &EpochLoss| e.train) as fn(&EpochLoss) -> f64),
                (RED, |e: &EpochLoss| e.valid),
            ] {
                chart
                    .draw_series(LineSeries::new(
                        curve.iter().map(|e| (e.epoch, pick(e))),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| anyhow!("{e}"))?;
                chart
                    .draw_series(
                        curve
                            .iter()
                            .map(|e| Circle::new((e.epoch, pick(e)), 3, color.filled())),
                    )
                    .map_err(|e| anyhow!("{e}"))?;
            }
        }
        Ok(())
    })
}

/// Small multiples of curves, one panel per named curve (ROC or precision–recall curves per
/// genre), both axes 0–1; `diagonal` draws the chance line of a ROC panel.
pub fn curve_grid(
    path: &Path,
    title: &str,
    panels: &[(String, Vec<(f64, f64)>)],
    diagonal: bool,
) -> Result<()> {
    draw(path, |root| {
        let root = root
            .titled(title, ("sans-serif", 22))
            .map_err(|e| anyhow!("{e}"))?;
        let columns = 5;
        let rows = panels.len().div_ceil(columns).max(1);
        let areas = root.split_evenly((rows, columns));
        for (area, (name, points)) in areas.iter().zip(panels) {
            let mut chart = ChartBuilder::on(area)
                .caption(name, ("sans-serif", 13))
                .margin(4)
                .x_label_area_size(14)
                .y_label_area_size(22)
                .build_cartesian_2d(0.0..1.0, 0.0..1.0)
                .map_err(|e| anyhow!("{e}"))?;
            chart
                .configure_mesh()
                .x_labels(3)
                .y_labels(3)
                .label_style(("sans-serif", 9))
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            if diagonal {
                chart
                    .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
                    .map_err(|e| anyhow!("{e}"))?;
            }
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    BLUE.stroke_width(2),
                ))
                .map_err(|e| anyhow!("{e}"))?;
        }
        Ok(())
    })
}

/// One row per group (genre or decade): its largest colour bins as blocks as wide as their
/// share of its coloured pixels.
pub fn palettes(path: &Path, title: &str, rows: &[(String, Vec<(RGBColor, f64)>)]) -> Result<()> {
    draw(path, |root| {
        // Names sit left of 0 inside the plot, each on its own row.
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(30)
            .build_cartesian_2d(-0.3..1.0, 0.0..rows.len().max(1) as f64)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .disable_y_axis()
            .x_desc("share of the coloured pixels")
            .x_label_formatter(&|x| {
                if *x < 0.0 {
                    String::new()
                } else {
                    format!("{x:.1}")
                }
            })
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        let size = (18.0 * 20.0 / rows.len().max(20) as f64).max(9.0) as u32;
        for (i, (name, _)) in rows.iter().enumerate() {
            let y = (rows.len() - i) as f64 - 0.2;
            chart
                .draw_series([Text::new(name.clone(), (-0.29, y), ("sans-serif", size))])
                .map_err(|e| anyhow!("{e}"))?;
        }
        for (i, (_, blocks)) in rows.iter().enumerate() {
            let y = (rows.len() - 1 - i) as f64;
            let mut x = 0.0;
            for (color, share) in blocks {
                chart
                    .draw_series([Rectangle::new(
                        [(x, y + 0.1), (x + share, y + 0.9)],
                        color.filled(),
                    )])
                    .map_err(|e| anyhow!("{e}"))?;
                x += share;
            }
        }
        Ok(())
    })
}

/// One value per category for several series, as grouped bars (e.g. ROC-AUC per genre).
pub fn grouped_bars(
    path: &Path,
    title: &str,
    categories: &[String],
    series: &[(&str, Vec<Option<f64>>)],
    y_range: (f64, f64),
) -> Result<()> {
    const COLORS: [RGBColor; 4] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
    ];
    draw(path, |root| {
        let n = categories.len();
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(70)
            .y_label_area_size(52)
            // Category i is centred on x = i, so integer ticks carry its name.
            .build_cartesian_2d(-0.5..n as f64 - 0.5, y_range.0..y_range.1)
            .map_err(|e| anyhow!("{e}"))?;
        let labels = categories.to_vec();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&|x| {
                let nearest = x.round();
                if (x - nearest).abs() < 1e-6 && nearest >= 0.0 {
                    labels
                        .get(nearest as usize)
                        .map(|l| short(l))
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        let width = 0.8 / series.len().max(1) as f64;
        for (s, (name, values)) in series.iter().enumerate() {
            let color = COLORS[s % COLORS.len()];
            chart
                .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                    let v = (*v)?;
                    let x0 = i as f64 - 0.4 + s as f64 * width;
                    Some(Rectangle::new(
                        [(x0, y_range.0), (x0 + width, v)],
                        color.filled(),
                    ))
                }))
                .map_err(|e| anyhow!("{e}"))?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        Ok(())
    })
}

/// A genre or decade name short enough for an axis tick.
fn short(label: &str) -> String {
    match label {
        "Science Fiction" => "Sci-Fi".into(),
        "Documentary" => "Docu.".into(),
        "Animation" => "Anim.".into(),
        "Adventure" => "Advent.".into(),
        other => other.chars().take(8).collect(),
    }
}
