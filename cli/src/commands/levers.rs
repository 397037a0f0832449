//! `onesheet levers`: arguments for [`onesheet_trainer::research::levers::run`].

use std::path::PathBuf;

use anyhow::Result;
use onesheet_trainer::research::levers;

use super::sources::CachedArgs;

/// Arguments of `onesheet levers`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    cached: CachedArgs,
    /// Run only the levers whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Where the results go (default: `levers.json` in the working directory).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `onesheet levers`.
pub fn run(args: Args) -> Result<()> {
    let (sources, prepared) = args.cached.prepare()?;
    let chosen: Vec<_> = levers::standard()
        .into_iter()
        .filter(|l| {
            args.only
                .as_ref()
                .is_none_or(|o| l.name.contains(o.as_str()))
        })
        .collect();
    let out = args.out.unwrap_or_else(|| sources.work.join("levers.json"));
    levers::run(&prepared, &chosen, &out)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
