//! The levers' table, `work/levers.json`: one row per lever, rewritten in place by name.

use std::path::Path;

use anyhow::Result;
use onesheet::files::write;

use super::LeverResult;

/// Writes `result` into the results at `out`, in place of one of the same name.
pub fn save(out: &Path, result: LeverResult) -> Result<Vec<LeverResult>> {
    let mut results = load(out);
    match results.iter_mut().find(|r| r.name == result.name) {
        Some(slot) => *slot = result,
        None => results.push(result),
    }
    write::atomic(out, &serde_json::to_vec_pretty(&results)?)?;
    Ok(results)
}

/// The results at `out`; none when it is missing or unreadable (a new table starts).
pub(super) fn load(out: &Path) -> Vec<LeverResult> {
    std::fs::read(out)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}
