//! `onesheet evaluate`: arguments for [`onesheet_trainer::evaluation::evaluate`].

use std::path::PathBuf;

use super::defaults;
use anyhow::Result;
use onesheet_trainer::evaluation::{self, EvaluateConfig};

use super::sources::SourcesArgs;

/// Arguments of `onesheet evaluate`.
#[derive(clap::Args)]
pub struct Args {
    /// The bundle to evaluate.
    #[arg(long, env = "ONESHEET_MODEL", default_value = defaults::MODEL)]
    model: PathBuf,
    /// The training run's data, weights and working directory (split, cache, run.json).
    #[command(flatten)]
    sources: SourcesArgs,
    /// Where to write the report; plots go in a `report/` folder beside it.
    #[arg(long, default_value = "models/REPORT.md")]
    report: PathBuf,
    /// Leave out the seed projects' systems (SVMs, MLP, PCA + k-NN/logistic/forest, small
    /// CNN), which take minutes to fit.
    #[arg(long)]
    no_seed_systems: bool,
}

/// Runs `onesheet evaluate`.
pub fn run(args: Args) -> Result<()> {
    evaluation::evaluate(&EvaluateConfig {
        model: args.model,
        sources: args.sources.into(),
        report: args.report,
        seed_systems: !args.no_seed_systems,
    })
    .map(drop)
}
