//! `onesheet classify`: genres for every poster in a catalogue, batched, as a table, CSV, JSON
//! or JSON lines. A bad file is reported in its own row and the rest go on.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use onesheet::bundle::Bundle;
use onesheet::inference::Classifier;
use onesheet::model::ModelInput;
use onesheet::prediction::{Outcome, PosterResult};
use onesheet::{Backend, GENRES};
use rayon::prelude::*;

use crate::progress;

/// A classification run's settings.
#[derive(Debug, Clone)]
pub struct ClassifyConfig {
    /// Poster images, or folders to search for them.
    pub inputs: Vec<PathBuf>,
    /// Model bundle.
    pub model: PathBuf,
    /// Output format.
    pub format: Format,
    /// Where the model runs.
    pub backend: Backend,
    /// Posters run through the model together (at least 1).
    pub batch: usize,
    /// Print nothing per poster; report posters per second on stderr.
    pub bench: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns: file, genres, top scores.
    Table,
    /// One row per poster: file, genres, error, a score column per genre.
    Csv,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Jsonl,
}

/// Extensions searched for inside folders (files named on the command line are always tried).
const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"];

/// How a run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Files tried.
    pub files: usize,
    /// Files that could not be classified.
    pub failed: usize,
}

/// Classifies every input, writing each poster's result to stdout as it comes; a bad file
/// gets its own row and the rest go on.
pub fn classify(args: &ClassifyConfig) -> Result<Tally> {
    let files = collect(&args.inputs)?;
    let device = args.backend.device()?;
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let bundle = Bundle::from_bytes(&bytes, &device)
        .with_context(|| format!("loading the model {}", args.model.display()))?;
    let classifier = Classifier::new(bundle, device);

    let started = Instant::now();
    let bar = progress::bar(files.len() as u64, "classifying");
    let mut writer = Writer::new(args.format, args.bench);
    let mut failed = 0usize;
    for chunk in files.chunks(args.batch.max(1)) {
        // Decoding runs on every core while the model waits for a full batch.
        let prepared: Vec<Result<ModelInput, String>> = chunk
            .par_iter()
            .map(|file| {
                let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
                classifier.prepare(&bytes).map_err(|e| e.to_string())
            })
            .collect();
        // The good inputs go to the model as one batch; each file keeps its place (or error).
        let mut inputs = Vec::with_capacity(prepared.len());
        let places: Vec<Result<(), String>> = prepared
            .into_iter()
            .map(|p| p.map(|input| inputs.push(input)))
            .collect();
        let mut predictions = if inputs.is_empty() {
            Vec::new()
        } else {
            classifier.classify(&inputs)?
        }
        .into_iter();
        for (file, place) in chunk.iter().zip(places) {
            let outcome = match place {
                Ok(()) => Outcome::Classified(
                    predictions
                        .next()
                        .context("the model returned too few rows")?,
                ),
                Err(error) => Outcome::Failed { error },
            };
            failed += usize::from(matches!(outcome, Outcome::Failed { .. }));
            writer.write(&PosterResult {
                file: file.to_string_lossy().into_owned(),
                outcome,
            })?;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    writer.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    if args.bench {
        eprintln!(
            "{} posters in {seconds:.2} s: {:.2} posters/s (batch {}, {} failed)",
            files.len(),
            files.len() as f64 / seconds,
            args.batch,
            failed
        );
    }
    if failed > 0 {
        eprintln!("{failed} of {} files could not be classified", files.len());
    }
    Ok(Tally {
        files: files.len(),
        failed,
    })
}

/// Files named directly, and image files found under folders (sorted, so output is stable).
fn collect(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            for entry in walkdir::WalkDir::new(input).follow_links(true) {
                // A symlink loop or an unreadable folder costs its own entries, not the run.
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(error) => {
                        eprintln!(
                            "warning: skipped while walking {}: {error}",
                            input.display()
                        );
                        continue;
                    }
                };
                if entry.file_type().is_file() && is_image_name(entry.path()) {
                    found.push(entry.into_path());
                }
            }
            found.sort();
            files.extend(found);
        } else {
            // A missing file is reported in its row, like any other unreadable file.
            files.push(input.clone());
        }
    }
    if files.is_empty() {
        bail!("no images found in the given folders");
    }
    Ok(files)
}

fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Streams results in the chosen format.
struct Writer {
    format: Format,
    quiet: bool,
    out: std::io::StdoutLock<'static>,
    first: bool,
    csv: Option<csv::Writer<std::io::Stdout>>,
}

impl Writer {
    fn new(format: Format, quiet: bool) -> Self {
        Self {
            format,
            quiet,
            out: std::io::stdout().lock(),
            first: true,
            csv: None,
        }
    }

    fn write(&mut self, result: &PosterResult) -> Result<()> {
        if self.quiet {
            return Ok(());
        }
        match self.format {
            Format::Jsonl => writeln!(self.out, "{}", serde_json::to_string(result)?)?,
            Format::Json => {
                let sep = if self.first { "[\n  " } else { ",\n  " };
                write!(self.out, "{sep}{}", serde_json::to_string(result)?)?;
            }
            Format::Table => {
                let file = printable(&result.file);
                match &result.outcome {
                    Outcome::Classified(p) => {
                        let top: Vec<String> = p
                            .genres
                            .iter()
                            .map(|&g| format!("{} {:.2}", GENRES[g].name, p.scores[g]))
                            .collect();
                        writeln!(self.out, "{file}\t{}", top.join(", "))?;
                    }
                    Outcome::Failed { error } => {
                        writeln!(self.out, "{file}\terror: {}", printable(error))?;
                    }
                }
            }
            Format::Csv => {
                if self.csv.is_none() {
                    let mut w = csv::Writer::from_writer(std::io::stdout());
                    let mut header = vec!["file", "genres", "error"];
                    header.extend(GENRES.iter().map(|g| g.name));
                    w.write_record(&header)?;
                    self.csv = Some(w);
                }
                let mut row = vec![defused(&result.file)];
                match &result.outcome {
                    Outcome::Classified(p) => {
                        row.push(p.genre_names().join("|"));
                        row.push(String::new());
                        row.extend(p.scores.iter().map(|s| format!("{s:.6}")));
                    }
                    Outcome::Failed { error } => {
                        row.push(String::new());
                        row.push(defused(error));
                        row.extend(GENRES.iter().map(|_| String::new()));
                    }
                }
                if let Some(w) = self.csv.as_mut() {
                    w.write_record(&row)?;
                }
            }
        }
        self.first = false;
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        if !self.quiet && self.format == Format::Json {
            writeln!(self.out, "{}", if self.first { "[]" } else { "\n]" })?;
        }
        if let Some(mut w) = self.csv.take() {
            w.flush()?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// A file name or message for a terminal: control characters (escape sequences, newlines,
/// tabs) escaped, so a hostile name cannot move the cursor or forge rows.
pub fn printable(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// A CSV cell that a spreadsheet will not run as a formula: cells starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return get a leading apostrophe, unless they are a plain
/// number (the drop page's rule, so both downloads agree).
pub fn defused(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err() {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused() {
        for cell in [
            "=HYPERLINK(\"x\")",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert!(defused(cell).starts_with('\''), "{cell}");
        }
        assert_eq!(defused("poster.jpg"), "poster.jpg");
        assert_eq!(defused("-2"), "-2");
    }

    #[test]
    fn control_characters_are_escaped_for_terminals() {
        let hostile = "a\u{1b}[2Jb\nc\td";
        let shown = printable(hostile);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(
            shown.contains("\\u{1b}[2J") && shown.contains("\\n"),
            "{shown:?}"
        );
        assert_eq!(printable("Alien (1979) – ß.jpg"), "Alien (1979) – ß.jpg");
    }
}
