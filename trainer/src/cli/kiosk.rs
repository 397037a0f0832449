//! `onesheet kiosk`: arguments for [`onesheet_trainer::serve`] with the kiosk built in.

use std::path::PathBuf;

use anyhow::Result;
#[cfg(feature = "kiosk")]
use onesheet_trainer::serve::{self, Content};

use super::serve::ServerArgs;

/// `onesheet kiosk` options.
#[derive(clap::Args)]
pub struct Args {
    /// TCP port; 0 picks a free one (the URL is printed on the first line of stdout).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Sample posters (JPEG, PNG, WebP) a visitor can tap instead of using the camera.
    #[arg(long, value_name = "DIR")]
    pub samples: Option<PathBuf>,
    /// The shop's catalogue, served at /catalogue/ for "posters like this": a folder of
    /// posters holding the index made from it (`onesheet index DIR --out DIR/catalogue.index`).
    #[arg(long, value_name = "DIR")]
    pub catalogue: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Serves the kiosk until interrupted.
#[cfg(feature = "kiosk")]
pub fn run(args: Args) -> Result<()> {
    serve::run(
        args.server
            .config(args.port, Content::Kiosk, args.samples, args.catalogue),
    )
}

/// Without the `kiosk` feature there is nothing to serve: say how to get it.
#[cfg(not(feature = "kiosk"))]
pub fn run(args: Args) -> Result<()> {
    drop(args);
    anyhow::bail!(
        "this onesheet binary was built without the kiosk: build it with \
         `cargo build --release -p onesheet-trainer --features kiosk` after \
         scripts/build-wasm.sh (scripts/serve.sh does both)"
    )
}
