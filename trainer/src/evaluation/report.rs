//! The evaluation report: Markdown tables and PNG plots, written beside the model.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use onesheet::Manifest;

use super::metrics::Summary;
use super::plots;
use super::{Baseline, BaselineFigures};
use crate::dataset::Collection;
use crate::training::RunLog;
use crate::training::fit::EpochLoss;

/// One collection's test split, evaluated.
pub struct SplitReport {
    /// Which collection.
    pub collection: Collection,
    /// The bundle's figures.
    pub model: Summary,
    /// The bundle's figures with test-time mirroring (mean of both views' scores).
    pub with_mirror: Summary,
    /// The bundle's figures given each poster's release year, when it knows years.
    pub with_year: Option<Summary>,
    /// The bundle's figures per decade.
    pub decades: BTreeMap<u16, Summary>,
    /// The same with the year (empty when the bundle does not know years).
    pub decades_with_year: BTreeMap<u16, Summary>,
    /// Each baseline's figures.
    pub baselines: Vec<BaselineFigures>,
    /// Seconds the bundle took on these posters (decode included).
    pub seconds: f64,
}

impl SplitReport {
    /// One baseline's figures, when it ran.
    pub fn baseline(&self, baseline: Baseline) -> Option<&Summary> {
        self.baselines
            .iter()
            .find(|b| b.baseline == baseline)
            .map(|b| &b.summary)
    }
}

/// Everything the report shows.
pub struct Evaluated {
    /// The bundle's manifest.
    pub manifest: Manifest,
    /// Its path.
    pub model_file: PathBuf,
    /// Its size.
    pub model_bytes: usize,
    /// Per collection.
    pub splits: Vec<SplitReport>,
    /// The training run's log, when `work/run.json` exists.
    pub run: Option<RunLog>,
    /// Duplicate images dropped before splitting.
    pub duplicates: usize,
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.3}"))
}

/// Writes `path` (Markdown) and its plots in `report/` beside it.
pub fn write(evaluated: &Evaluated, path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let plot_dir = dir.join("report");
    std::fs::create_dir_all(&plot_dir)
        .with_context(|| format!("creating {}", plot_dir.display()))?;
    let mut md = String::new();
    let m = &evaluated.manifest;
    writeln!(md, "# onesheet: evaluation report\n")?;
    writeln!(
        md,
        "Model: `{}` ({} bytes, weights {:?}, input {}×{}). Written by `onesheet evaluate`; \
         every figure below comes from running the bundle itself on each collection's test \
         posters (never used for training, early stopping or thresholds).\n",
        evaluated.model_file.display(),
        evaluated.model_bytes,
        m.weights_dtype,
        m.input.width,
        m.input.height
    )?;
    writeln!(md, "Recipe: {}\n", m.provenance.recipe)?;
    writeln!(
        md,
        "Decisions: a genre is predicted when its score reaches its threshold (tuned for F1 on \
         validation), and every poster gets at least its top genre. Unknown labels (History and \
         TV Movie on pre-1980 films) count neither way. {} byte-identical duplicate posters were \
         dropped before splitting.\n",
        evaluated.duplicates
    )?;

    writeln!(md, "## Summary\n")?;
    writeln!(
        md,
        "| test split | posters | macro ROC-AUC | micro ROC-AUC | mAP | micro F1 | macro F1 | weighted F1 | Jaccard | subset acc. | Hamming loss |"
    )?;
    writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for split in &evaluated.splits {
        summary_row(
            &mut md,
            &format!("**{}** onesheet", split.collection),
            &split.model,
        )?;
        summary_row(
            &mut md,
            &format!(
                "{} — onesheet + test-time mirroring (not shipped)",
                split.collection
            ),
            &split.with_mirror,
        )?;
        if let Some(with) = &split.with_year {
            summary_row(
                &mut md,
                &format!(
                    "{} — onesheet given the release year (optional input)",
                    split.collection
                ),
                with,
            )?;
        }
        for b in &split.baselines {
            summary_row(
                &mut md,
                &format!("{} — {}", split.collection, b.label),
                &b.summary,
            )?;
        }
    }
    writeln!(md)?;

    for split in &evaluated.splits {
        writeln!(md, "## {} test split: per genre\n", split.collection)?;
        writeln!(
            md,
            "{} posters; {:.1} images/s end to end while evaluating (decode + model on the flex \
             CPU backend, each poster as is and mirrored).\n",
            split.model.posters,
            2.0 * split.model.posters as f64 / split.seconds.max(1e-9)
        )?;
        writeln!(
            md,
            "| genre | threshold | precision | recall | F1 | ROC-AUC | AP | support | ROC-AUC, logistic baseline |"
        )?;
        writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        let logistic = split.baseline(Baseline::Logistic);
        for (g, figures) in split.model.genres.iter().enumerate() {
            writeln!(
                md,
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} | {} |",
                figures.genre,
                m.genres[g].threshold,
                figures.precision,
                figures.recall,
                figures.f1,
                opt(figures.auc),
                opt(figures.average_precision),
                figures.support,
                opt(logistic.and_then(|s| s.genres[g].auc)),
            )?;
        }
        let file = format!("auc-{}.png", split.collection.dir_name());
        let categories: Vec<String> = split.model.genres.iter().map(|g| g.genre.clone()).collect();
        let mut series = vec![(
            "onesheet",
            split.model.genres.iter().map(|g| g.auc).collect::<Vec<_>>(),
        )];
        if let Some(l) = logistic {
            series.push((
                "logistic regression",
                l.genres.iter().map(|g| g.auc).collect(),
            ));
        }
        plots::grouped_bars(
            &plot_dir.join(&file),
            &format!("ROC-AUC per genre, {} test split", split.collection),
            &categories,
            &series,
            (0.4, 1.0),
        )?;
        writeln!(md, "\n![ROC-AUC per genre](report/{file})\n")?;

        writeln!(md, "### Per decade\n")?;
        writeln!(md, "{SUMMARY_HEADER}")?;
        for (decade, s) in &split.decades {
            summary_row(&mut md, &format!("{decade}s"), s)?;
        }
        writeln!(md)?;
        if !split.decades_with_year.is_empty() {
            writeln!(
                md,
                "Given the release year (the bundle's per-decade prior and its thresholds):\n"
            )?;
            writeln!(
                md,
                "| decade | posters | macro ROC-AUC | with the year | micro F1 | with the year | macro F1 | with the year |\n|---|---:|---:|---:|---:|---:|---:|---:|"
            )?;
            for (decade, without) in &split.decades {
                if let Some(with) = split.decades_with_year.get(decade) {
                    writeln!(
                        md,
                        "| {decade}s | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                        without.posters,
                        opt(without.macro_auc),
                        opt(with.macro_auc),
                        without.micro_f1,
                        with.micro_f1,
                        without.macro_f1,
                        with.macro_f1
                    )?;
                }
            }
            writeln!(md)?;
        }
    }

    // Per decade across both test splits, with the year where the bundle knows years.
    let decades: Vec<(u16, &Summary, Option<&Summary>)> = evaluated
        .splits
        .iter()
        .flat_map(|s| {
            s.decades
                .iter()
                .map(|(d, without)| (*d, without, s.decades_with_year.get(d)))
        })
        .collect();
    if !decades.is_empty() {
        let knows_years = decades.iter().any(|(_, _, with)| with.is_some());
        let mut series = vec![(
            "macro ROC-AUC",
            decades
                .iter()
                .map(|(_, s, _)| s.macro_auc)
                .collect::<Vec<_>>(),
        )];
        if knows_years {
            series.push((
                "macro ROC-AUC, given the year",
                decades
                    .iter()
                    .map(|(_, _, w)| w.and_then(|w| w.macro_auc))
                    .collect(),
            ));
        }
        series.push((
            "micro F1",
            decades.iter().map(|(_, s, _)| Some(s.micro_f1)).collect(),
        ));
        if knows_years {
            series.push((
                "micro F1, given the year",
                decades
                    .iter()
                    .map(|(_, _, w)| w.map(|w| w.micro_f1))
                    .collect(),
            ));
        }
        plots::grouped_bars(
            &plot_dir.join("decades.png"),
            "By decade (both test splits)",
            &decades
                .iter()
                .map(|(d, _, _)| format!("{d}s"))
                .collect::<Vec<_>>(),
            &series,
            (0.0, 1.0),
        )?;
        writeln!(md, "![By decade](report/decades.png)\n")?;
    }

    if let Some(run) = &evaluated.run {
        writeln!(md, "## Training\n")?;
        writeln!(md, "| part | collection | posters |\n|---|---|---:|")?;
        for (part, collection, n) in &run.counts {
            writeln!(md, "| {part} | {collection} | {n} |")?;
        }
        writeln!(
            md,
            "\n| stage | settings | epochs run | best epoch | minutes |\n|---|---|---:|---:|---:|"
        )?;
        for stage in &run.stages {
            writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                stage.name,
                stage.settings,
                stage.curves.len(),
                stage.best_epoch,
                stage
                    .seconds
                    .map_or("–".into(), |s| format!("{:.1}", s / 60.0))
            )?;
        }
        writeln!(
            md,
            "\nFeatures computed in the last run: {:.1} minutes (0 when all were cached).\n",
            run.cache_seconds / 60.0
        )?;
        let curves: Vec<(&str, &[EpochLoss])> = run
            .stages
            .iter()
            .map(|s| (s.name.as_str(), s.curves.as_slice()))
            .collect();
        plots::losses(&plot_dir.join("loss.png"), &curves)?;
        writeln!(md, "![Loss curves](report/loss.png)\n")?;
        writeln!(
            md,
            "Validation (both collections, thresholds tuned on it, so optimistic): macro ROC-AUC \
             {}, micro F1 {:.3}, macro F1 {:.3}.\n",
            opt(run.validation.macro_auc),
            run.validation.micro_f1,
            run.validation.macro_f1
        )?;
    }
    std::fs::write(path, md).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The columns of [`summary_row`].
const SUMMARY_HEADER: &str = "| posters of | posters | macro ROC-AUC | micro ROC-AUC | mAP | \
    micro F1 | macro F1 | weighted F1 | Jaccard | subset acc. | Hamming loss |\n\
    |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

fn summary_row(md: &mut String, name: &str, s: &Summary) -> Result<()> {
    writeln!(
        md,
        "| {name} | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.4} |",
        s.posters,
        opt(s.macro_auc),
        opt(s.micro_auc),
        opt(s.mean_average_precision),
        s.micro_f1,
        s.macro_f1,
        s.weighted_f1,
        s.jaccard,
        s.subset_accuracy,
        s.hamming_loss
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use onesheet::GENRES;

    /// Figures whose macro ROC-AUC is 1 (scores rank every poster right) or 0 (all wrong).
    fn figures(right: bool) -> Summary {
        let labels = [[Some(true); GENRES.len()], [Some(false); GENRES.len()]];
        let (high, low) = if right { (0.9, 0.1) } else { (0.1, 0.9) };
        let scores = vec![vec![high; GENRES.len()], vec![low; GENRES.len()]];
        let decisions = vec![vec![right; GENRES.len()], vec![!right; GENRES.len()]];
        Summary::new(&scores, &decisions, &labels)
    }

    #[test]
    fn baselines_are_found_by_kind_not_position() {
        let report = SplitReport {
            collection: Collection::Posters,
            model: figures(true),
            with_mirror: figures(true),
            with_year: None,
            decades: BTreeMap::new(),
            decades_with_year: BTreeMap::new(),
            // The logistic baseline first: picking "the last one" would read the random flags.
            baselines: vec![
                BaselineFigures {
                    baseline: Baseline::Logistic,
                    label: "logistic".into(),
                    summary: figures(true),
                },
                BaselineFigures {
                    baseline: Baseline::RandomFlags,
                    label: "random".into(),
                    summary: figures(false),
                },
            ],
            seconds: 1.0,
        };
        let logistic = report.baseline(Baseline::Logistic).expect("logistic ran");
        assert_eq!(logistic.macro_auc, Some(1.0));
        assert!(report.baseline(Baseline::LabelPrior).is_none());
    }
}
