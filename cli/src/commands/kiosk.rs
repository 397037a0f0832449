//! `onesheet kiosk`: runs the `onesheet-kiosk` binary beside this one, which has the kiosk, its
//! wasm build and the shipped model inside (so this binary need not carry them).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

/// `onesheet kiosk` options: those of `onesheet-kiosk` (see `onesheet kiosk --help`).
#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// Passed to onesheet-kiosk as they are (--port N, --samples DIR, --catalogue DIR, --host …).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

/// Becomes `onesheet-kiosk` with the same arguments (elsewhere than Unix: runs it and returns
/// its exit status).
pub fn run(args: &Args) -> Result<ExitCode> {
    let kiosk = sibling("onesheet-kiosk")?;
    if !kiosk.is_file() {
        bail!(
            "{} is missing: build the kiosk with `cargo build -p onesheet-server --features \
             kiosk` after scripts/build-wasm.sh (scripts/serve.sh does both)",
            kiosk.display()
        );
    }
    let mut command = std::process::Command::new(&kiosk);
    command.args(&args.args);
    // Replaced by the kiosk, so a signal meant for `onesheet kiosk` (Ctrl-C, a service
    // manager's stop) reaches the server itself.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = command.exec();
        Err(error).with_context(|| format!("running {}", kiosk.display()))
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .with_context(|| format!("running {}", kiosk.display()))?;
        Ok(status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .map_or(ExitCode::FAILURE, ExitCode::from))
    }
}

/// `name` in the folder of the running binary.
fn sibling(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe().context("finding this binary's folder")?;
    let dir = me.parent().context("this binary has no folder")?;
    Ok(dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}
