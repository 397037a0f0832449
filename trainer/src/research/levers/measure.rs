//! Training and measuring each lever on the validation posters.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::evaluation::validation::validation_figures;
use crate::features::VIEWS;
use crate::split::Part;
use crate::training::Prepared;
use crate::training::head_inputs::Inputs;
use crate::training::probe::{self, Rows};
use crate::training::year_prior::{self, Scored};

use super::standard::{DECADE_SLOTS, decade_slot};
use super::table::{load, save};
use super::{Lever, LeverResult, MapPools, Pooling, YearUse};

/// What a lever's head reads for `part`: one row per poster as is (and mirrored when
/// `all_views`), each once without the year and, for a [`YearUse::DecadeInput`] lever with
/// `with_year`, the training rows again with it (so the head learns to do without).
fn lever_rows(
    prepared: &Prepared,
    maps: Option<&MapPools>,
    lever: &Lever,
    part: Part,
    all_views: bool,
    year: YearRows,
) -> Result<Rows> {
    let cached = Inputs {
        pooled: lever.inputs.pooled && lever.pooling == Pooling::Mean,
        ..lever.inputs
    };
    let pooled = lever.inputs.pooled && lever.pooling != Pooling::Mean;
    let decades = lever.year == YearUse::DecadeInput;
    let maps = match (pooled, maps) {
        (true, None) => bail!("lever {} needs the feature maps", lever.name),
        (_, maps) => maps,
    };
    let base = cached.rows(prepared, part, all_views);
    let dim =
        base.dim + usize::from(pooled) * lever.pooling.dim() + usize::from(decades) * DECADE_SLOTS;
    let mut rows = Rows::new(dim);
    let views = if all_views { VIEWS } else { 1 };
    let mut row = Vec::with_capacity(dim);
    for (k, (i, labels)) in prepared.rows(part, None).into_iter().enumerate() {
        for view in 0..views {
            let passes: &[bool] = match (decades, year) {
                (false, _) | (true, YearRows::Without) => &[false],
                (true, YearRows::With) => &[true],
                (true, YearRows::Both) => &[false, true],
            };
            for &with_year in passes {
                row.clear();
                row.extend_from_slice(base.row(k * views + view));
                if let (true, Some(maps)) = (pooled, maps) {
                    maps.extend(&mut row, i, view, lever.pooling);
                }
                if decades {
                    let mut slots = [0f32; DECADE_SLOTS];
                    if with_year {
                        slots[decade_slot(prepared.dataset.posters[i].year)] = 1.0;
                    }
                    row.extend_from_slice(&slots);
                }
                rows.push(&row, labels);
            }
        }
    }
    Ok(rows)
}

/// What `lever`'s head reads, in words.
fn describe_inputs(lever: &Lever) -> String {
    let mut text = lever.inputs.describe();
    if lever.pooling != Pooling::Mean {
        text = text.replacen("1280-d embedding", lever.pooling.describe(), 1);
    }
    if lever.year == YearUse::DecadeInput {
        let _ = write!(text, " + decade one-hot ({DECADE_SLOTS})");
    }
    text
}

/// Which rows a year-reading lever gets.
#[derive(Debug, Clone, Copy)]
enum YearRows {
    Without,
    With,
    Both,
}

/// Runs `levers` and writes their results to `out`, in place of earlier results of the same
/// names (others already there are kept, so a few levers can be run again alone).
pub fn run(prepared: &Prepared, levers: &[Lever], out: &Path) -> Result<Vec<LeverResult>> {
    let mut results = load(out);
    let maps = if levers
        .iter()
        .any(|l| l.inputs.pooled && l.pooling != Pooling::Mean)
    {
        Some(MapPools::compute(prepared)?)
    } else {
        None
    };
    for lever in levers {
        eprintln!("lever: {} …", lever.name);
        let rows = |part, all_views, year| {
            lever_rows(prepared, maps.as_ref(), lever, part, all_views, year)
        };
        let train = rows(Part::Train, lever.mirrored, YearRows::Both)?;
        let valid = rows(Part::Validation, false, YearRows::Without)?;
        let (mut result, probe) = evaluate_rows(prepared, lever, &train, &valid)?;
        if lever.year != YearUse::Ignored {
            let (posters, vintage) = with_year(
                prepared,
                &probe,
                &rows(Part::Train, false, YearRows::With)?,
                &rows(Part::Validation, false, YearRows::With)?,
            );
            result.posters_macro_auc_with_year = Some(posters);
            result.vintage_macro_auc_with_year = Some(vintage);
        }
        eprintln!(
            "  1980–2015 macro ROC-AUC {:.4}, micro F1 {:.4}; pre-1980 {:.4}, {:.4}; {:.0} s",
            result.posters_macro_auc,
            result.posters_micro_f1,
            result.vintage_macro_auc,
            result.vintage_micro_f1,
            result.seconds
        );
        results = save(out, result)?;
    }
    Ok(results)
}

/// A year lever's validation macro ROC-AUC (1980–2015, pre-1980) given each poster's year:
/// the prior fitted on its head's scores for the training posters as they are (`train_once`),
/// then applied to the validation posters' scores.
fn with_year(
    prepared: &Prepared,
    probe: &probe::Probe,
    train_once: &Rows,
    valid: &Rows,
) -> (f64, f64) {
    let years = |part| -> Vec<onesheet::Year> {
        prepared
            .rows(part, None)
            .iter()
            .map(|(i, _)| prepared.dataset.posters[*i].year)
            .collect()
    };
    let (train_years, valid_years) = (years(Part::Train), years(Part::Validation));
    let (train_scores, valid_scores) = (probe.scores(train_once), probe.scores(valid));
    let valid_part = Scored {
        scores: &valid_scores,
        labels: &valid.labels,
        years: &valid_years,
    };
    let scores = match year_prior::fit(
        &Scored {
            scores: &train_scores,
            labels: &train_once.labels,
            years: &train_years,
        },
        &valid_part,
    ) {
        Some((prior, _)) => year_prior::applied(&prior, &valid_part),
        None => valid_scores.clone(),
    };
    let figures = validation_figures(prepared, &scores, &valid.labels);
    (figures.posters_macro_auc, figures.vintage_macro_auc)
}

/// Trains `lever`'s probe on `train` and measures it on `valid` (the validation posters in
/// [`Prepared::rows`] order, one row each).
fn evaluate_rows(
    prepared: &Prepared,
    lever: &Lever,
    train: &Rows,
    valid: &Rows,
) -> Result<(LeverResult, probe::Probe)> {
    let (probe, log) = probe::fit(train, valid, &lever.config)
        .with_context(|| format!("training lever {}", lever.name))?;
    let scores = probe.scores(valid);
    let result = measure_scores(
        prepared,
        lever,
        &scores,
        valid,
        log.seconds,
        log.best_epochs,
    );
    Ok((result, probe))
}

fn measure_scores(
    prepared: &Prepared,
    lever: &Lever,
    scores: &[Vec<f32>],
    valid: &Rows,
    seconds: f64,
    best_epochs: Vec<usize>,
) -> LeverResult {
    let mut result = validation_figures(prepared, scores, &valid.labels);
    result.name = lever.name.to_string();
    result.inputs = describe_inputs(lever);
    result.settings = format!(
        "{}{}",
        lever.config.summary(),
        if lever.mirrored {
            ""
        } else {
            ", no mirrored copies"
        }
    );
    result.seconds = seconds;
    result.best_epochs = best_epochs;
    result
}
