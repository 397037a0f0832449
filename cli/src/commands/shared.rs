//! Flags and parsers shared by the subcommands that run a bundle.

use std::path::PathBuf;

use clap::ValueEnum;
use onesheet::preprocess::InputSpec;
use onesheet_cli::ModelSource;
use onesheet_cli::output::Format;

/// `WIDTHxHEIGHT`, within what the model and memory allow ([`InputSpec::check`]: the limit
/// every bundle is held to on load).
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X', '×'])
        .ok_or_else(|| format!("`{text}` is not WIDTHxHEIGHT"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{s}` is not a number of pixels"))
    };
    let (width, height) = (parse(w)?, parse(h)?);
    InputSpec::mobilenet(width, height)
        .check()
        .map_err(|e| e.to_string())?;
    Ok((width, height))
}

/// A backend in the shared vocabulary: `cpu` or `webgpu` (aliases `flex`, `wgpu`).
pub fn parse_backend(text: &str) -> Result<onesheet::Backend, String> {
    text.parse()
        .map_err(|e: onesheet::backend::UnknownBackend| e.to_string())
}

/// Which bundle runs, and where: shared by every subcommand that runs a bundle.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// Model bundle [default: the shipped model, built into this binary].
    #[arg(long, env = "ONESHEET_MODEL")]
    model: Option<PathBuf>,
    /// Where the model runs: `cpu` or `webgpu` (natively wgpu on Vulkan, Metal or DX12).
    #[arg(long, default_value = "cpu", value_parser = parse_backend)]
    pub backend: onesheet::Backend,
}

impl ModelArgs {
    /// Where the bundle comes from.
    pub fn source(&self) -> ModelSource {
        ModelSource::from(self.model.clone())
    }
}

/// How a listing (`classify`, `similar`) is written.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Aligned columns for people.
    Table,
    /// CSV rows, with a header.
    Csv,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Jsonl,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Table => Self::Table,
            FormatArg::Csv => Self::Csv,
            FormatArg::Json => Self::Json,
            FormatArg::Jsonl => Self::Jsonl,
        }
    }
}
