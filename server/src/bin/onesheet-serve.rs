//! `onesheet-serve`: `onesheet serve` without the rest of the onesheet CLI (no model code), so
//! serving the pages builds in minutes. Same options.

use clap::Parser;
use onesheet_server::cli::{self, ServeArgs};

/// Serve the drop page, the shop widget and the kiosk (www/) with the models (models/) on
/// 127.0.0.1.
#[derive(Parser)]
#[command(name = "onesheet-serve", version)]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

fn main() -> anyhow::Result<()> {
    cli::serve(Cli::parse().args)
}
