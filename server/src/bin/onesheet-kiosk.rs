//! `onesheet-kiosk`: the offline gallery kiosk, its wasm build and the shipped model inside one
//! binary: copy it to the kiosk PC and run it.

use clap::Parser;
use onesheet_server::cli::{self, KioskArgs};

/// Serve the offline gallery kiosk, built into this binary with the shipped model, at /.
#[derive(Parser)]
#[command(name = "onesheet-kiosk", version)]
struct Cli {
    #[command(flatten)]
    args: KioskArgs,
}

fn main() -> anyhow::Result<()> {
    cli::kiosk(Cli::parse().args)
}
