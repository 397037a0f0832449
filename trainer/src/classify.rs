//! `onesheet classify`: genres for every poster in a catalogue, batched, as a table, CSV, JSON
//! or JSON lines. A bad file is reported in its own row and the rest go on.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use onesheet::GENRES;
use onesheet::bundle::Bundle;
use onesheet::inference::{Classifier, Prediction};
use onesheet::model::ModelInput;
use rayon::prelude::*;
use serde_json::{Map, Value, json};

use crate::backend::Backend;
use crate::defaults;
use crate::progress;

/// Arguments of `onesheet classify`.
#[derive(clap::Args)]
pub struct Args {
    /// Poster images, or folders to search for them (JPEG, PNG, WebP, GIF).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Model bundle.
    #[arg(long, env = "ONESHEET_MODEL", default_value = defaults::MODEL)]
    model: PathBuf,
    /// Output format (default: a table for people).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Posters run through the model together.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    batch: u16,
    /// Print nothing per poster; report posters per second on stderr.
    #[arg(long)]
    bench: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
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
const IMAGE_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "webp", "gif"];

/// One poster's outcome.
struct Outcome {
    file: PathBuf,
    result: Result<Prediction, String>,
}

/// Classifies every input; exit code 1 when any file failed.
pub fn run(args: Args) -> Result<ExitCode> {
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
    for chunk in files.chunks(usize::from(args.batch)) {
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
            let result = match place {
                Ok(()) => Ok(predictions
                    .next()
                    .context("the model returned too few rows")?),
                Err(error) => Err(error),
            };
            failed += usize::from(result.is_err());
            writer.write(&Outcome {
                file: file.clone(),
                result,
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
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Files named directly, and image files found under folders (sorted, so output is stable).
fn collect(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            for entry in walkdir::WalkDir::new(input).follow_links(true) {
                let entry = entry.with_context(|| format!("walking {}", input.display()))?;
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

/// Streams outcomes in the chosen format.
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

    fn write(&mut self, outcome: &Outcome) -> Result<()> {
        if self.quiet {
            return Ok(());
        }
        let file = outcome.file.display().to_string();
        match self.format {
            Format::Jsonl => writeln!(self.out, "{}", to_json(outcome))?,
            Format::Json => {
                let sep = if self.first { "[\n  " } else { ",\n  " };
                write!(self.out, "{sep}{}", to_json(outcome))?;
            }
            Format::Table => match &outcome.result {
                Ok(p) => {
                    let top: Vec<String> = p
                        .genres
                        .iter()
                        .map(|&g| format!("{} {:.2}", GENRES[g].name, p.scores[g]))
                        .collect();
                    writeln!(self.out, "{file}\t{}", top.join(", "))?;
                }
                Err(e) => writeln!(self.out, "{file}\terror: {e}")?,
            },
            Format::Csv => {
                if self.csv.is_none() {
                    let mut w = csv::Writer::from_writer(std::io::stdout());
                    let mut header = vec!["file", "genres", "error"];
                    header.extend(GENRES.iter().map(|g| g.name));
                    w.write_record(&header)?;
                    self.csv = Some(w);
                }
                let mut row = vec![file];
                match &outcome.result {
                    Ok(p) => {
                        row.push(p.genre_names().join("|"));
                        row.push(String::new());
                        row.extend(p.scores.iter().map(|s| format!("{s:.6}")));
                    }
                    Err(e) => {
                        row.push(String::new());
                        row.push(e.clone());
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

/// `{"file", "scores": {all 19}, "genres": [...]}` or `{"file", "error"}`.
fn to_json(outcome: &Outcome) -> Value {
    match &outcome.result {
        Ok(p) => {
            let scores: Map<String, Value> = GENRES
                .iter()
                .zip(&p.scores)
                .map(|(g, &s)| (g.name.to_string(), json!(s)))
                .collect();
            json!({ "file": outcome.file, "scores": scores, "genres": p.genre_names() })
        }
        Err(e) => json!({ "file": outcome.file, "error": e }),
    }
}
