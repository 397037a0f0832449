//! `onesheet similar`: the catalogue's posters most like each query poster, by the cosine of
//! their embeddings (the vector the genre head reads), from an index made by `onesheet index`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use onesheet::Backend;
use onesheet::index::{Index, Similar};
use onesheet::model::FEATURES;
use serde::Serialize;

use crate::ModelSource;
use crate::output::{Format, defused, printable};
use onesheet::progress;

use crate::{indexing, posters};

/// A search run's settings.
#[derive(Debug, Clone)]
pub struct SimilarConfig {
    /// Query posters, or folders of them.
    pub queries: Vec<PathBuf>,
    /// The catalogue index.
    pub index: PathBuf,
    /// Model bundle (the one the index was made with).
    pub model: ModelSource,
    /// Where the model runs.
    pub backend: Backend,
    /// Posters listed per query.
    pub k: usize,
    /// Output format.
    pub format: Format,
}

/// One query's outcome: `{"file", "similar": [{"file", "score"}, …best first]}` or
/// `{"file", "error"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarResult {
    /// The query's path, as given.
    pub file: String,
    /// What was found, or why not.
    #[serde(flatten)]
    pub outcome: Found,
}

/// Similar posters or an error message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Found {
    /// The nearest posters, best first.
    Similar {
        /// Best first.
        similar: Vec<Similar>,
    },
    /// Why the query could not be searched.
    Failed {
        /// For people.
        error: String,
    },
}

/// Searches the index for every query, writing each result to stdout as it comes; returns how
/// many queries failed.
pub fn similar(config: &SimilarConfig) -> Result<usize> {
    let Some(index) = indexing::read(&config.index)? else {
        bail!(
            "no index at {}: make one with `onesheet index`",
            config.index.display()
        );
    };
    let model = posters::load(&config.model, config.backend)?;
    index.check_model(&model.id, FEATURES).with_context(|| {
        format!(
            "{} is not an index of {}; rebuild it with `onesheet index`",
            config.index.display(),
            &config.model
        )
    })?;
    let queries = posters::collect(&config.queries)?;
    let bar = progress::bar(queries.len() as u64, "searching");
    let mut out = Output::new(config.format);
    let mut failed = 0;
    posters::analyse_each(
        &model.classifier,
        queries.iter().map(|q| q.path.as_path()),
        16,
        &bar,
        |file, analysis| {
            let outcome = match analysis
                .map_err(anyhow::Error::msg)
                .and_then(|a| search(&index, &a.embedding, config.k))
            {
                Ok(similar) => Found::Similar { similar },
                Err(error) => {
                    failed += 1;
                    Found::Failed {
                        error: error.to_string(),
                    }
                }
            };
            bar.suspend(|| {
                out.write(&SimilarResult {
                    file: file.to_string_lossy().into_owned(),
                    outcome,
                })
            })
        },
    )?;
    bar.finish_and_clear();
    out.finish()?;
    Ok(failed)
}

/// The `k` nearest posters to an embedding, as results list them.
pub fn search(index: &Index, embedding: &[f32], k: usize) -> Result<Vec<Similar>> {
    Ok(index
        .search(embedding, k)?
        .into_iter()
        .map(|n| index.similar(n.position, n.score))
        .collect())
}

/// Writes results in the chosen format as they come.
struct Output {
    format: Format,
    out: std::io::StdoutLock<'static>,
    first: bool,
    csv: Option<csv::Writer<std::io::Stdout>>,
}

impl Output {
    fn new(format: Format) -> Self {
        Self {
            format,
            out: std::io::stdout().lock(),
            first: true,
            csv: None,
        }
    }

    fn write(&mut self, result: &SimilarResult) -> Result<()> {
        match self.format {
            Format::Jsonl => writeln!(self.out, "{}", serde_json::to_string(result)?)?,
            Format::Json => {
                let sep = if self.first { "[\n  " } else { ",\n  " };
                write!(self.out, "{sep}{}", serde_json::to_string(result)?)?;
            }
            Format::Table => match &result.outcome {
                Found::Similar { similar } => {
                    writeln!(self.out, "{}", printable(&result.file))?;
                    for (rank, s) in similar.iter().enumerate() {
                        writeln!(
                            self.out,
                            "  {:>3}. {:.3}  {}",
                            rank + 1,
                            s.score,
                            printable(&s.file)
                        )?;
                    }
                }
                Found::Failed { error } => writeln!(
                    self.out,
                    "{}\terror: {}",
                    printable(&result.file),
                    printable(error)
                )?,
            },
            Format::Csv => {
                let w = self
                    .csv
                    .get_or_insert_with(|| csv::Writer::from_writer(std::io::stdout()));
                if self.first {
                    w.write_record(["file", "rank", "similar", "score", "error"])?;
                }
                let file = defused(&result.file);
                match &result.outcome {
                    Found::Similar { similar } => {
                        for (rank, s) in similar.iter().enumerate() {
                            w.write_record([
                                file.clone(),
                                (rank + 1).to_string(),
                                defused(&s.file),
                                format!("{:.6}", s.score),
                                String::new(),
                            ])?;
                        }
                    }
                    Found::Failed { error } => w.write_record([
                        file,
                        String::new(),
                        String::new(),
                        String::new(),
                        defused(error),
                    ])?,
                }
            }
        }
        self.first = false;
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        if self.format == Format::Json {
            writeln!(self.out, "{}", if self.first { "[]" } else { "\n]" })?;
        }
        if let Some(mut w) = self.csv.take() {
            w.flush()?;
        }
        self.out.flush()?;
        Ok(())
    }
}
