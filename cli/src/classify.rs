//! `onesheet classify`: genres for every poster in a catalogue, batched, as a table, CSV, JSON
//! or JSON lines. A bad file is reported in its own row and the rest go on.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use onesheet::prediction::{Outcome, PosterResult};
use onesheet::{Backend, GENRES};

use onesheet::progress;

use crate::ModelSource;
use crate::output::{Format, defused, printable};
use crate::posters;
use crate::year_input::Years;

/// A classification run's settings.
#[derive(Debug, Clone)]
pub struct ClassifyConfig {
    /// Poster images, or folders to search for them.
    pub inputs: Vec<PathBuf>,
    /// Model bundle.
    pub model: ModelSource,
    /// Output format.
    pub format: Format,
    /// Where the model runs.
    pub backend: Backend,
    /// Posters run through the model together (at least 1).
    pub batch: usize,
    /// Print nothing per poster; report posters per second on stderr.
    pub bench: bool,
    /// The posters' release years, where known.
    pub years: Years,
}

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
    let posters = posters::collect(&args.inputs)?;
    let model = posters::load(&args.model, args.backend)?;

    let started = Instant::now();
    let bar = progress::bar(posters.len() as u64, "classifying");
    let mut writer = Writer::new(args.format, args.bench);
    let mut failed = 0usize;
    posters::analyse_each_with(
        &model.classifier,
        posters.iter().map(|p| p.path.as_path()),
        |path| args.years.of(path),
        args.batch,
        &bar,
        |file, analysis| {
            let outcome = match analysis {
                Ok(analysis) => Outcome::Classified(analysis.prediction),
                Err(error) => Outcome::Failed { error },
            };
            failed += usize::from(matches!(outcome, Outcome::Failed { .. }));
            writer.write(&PosterResult {
                file: file.to_string_lossy().into_owned(),
                outcome,
            })
        },
    )?;
    bar.finish_and_clear();
    writer.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    if args.bench {
        eprintln!(
            "{} posters in {seconds:.2} s: {:.2} posters/s (batch {}, {} failed)",
            posters.len(),
            posters.len() as f64 / seconds,
            args.batch,
            failed
        );
    }
    if failed > 0 {
        eprintln!(
            "{failed} of {} files could not be classified",
            posters.len()
        );
    }
    Ok(Tally {
        files: posters.len(),
        failed,
    })
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
