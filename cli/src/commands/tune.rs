//! `onesheet tune`: arguments for [`onesheet_trainer::research::tune::run`].

use anyhow::Result;
use onesheet_trainer::research::tune;

use super::sources::CachedArgs;

/// Arguments of `onesheet tune`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    cached: CachedArgs,
    /// Settings drawn.
    #[arg(long, default_value_t = 12)]
    trials: usize,
    /// Cross-validation folds of the training posters.
    #[arg(long, default_value_t = 3)]
    folds: usize,
}

/// Runs `onesheet tune`.
pub fn run(args: Args) -> Result<()> {
    let (sources, prepared) = args.cached.prepare()?;
    let out = sources.work.join("tune.json");
    let search = tune::run(&prepared, args.trials, args.folds, sources.seed, &out)?;
    if let Some(best) = search.trials.get(search.best) {
        eprintln!(
            "best of {} (trial {}): CV macro ROC-AUC {:.4} — {}",
            search.trials.len(),
            search.best + 1,
            best.mean_auc,
            best.config.summary()
        );
    }
    eprintln!("wrote {}", out.display());
    Ok(())
}
