//! Files a kill must not corrupt (bundles, splits, run logs, caches): written beside their
//! destination under a temporary name, synced, then renamed over it, so a reader sees the
//! old file or the new one and never half of one.

use std::io::Write;
use std::path::Path;

use thiserror::Error;

/// Why a file was not written; the old file, if any, is still whole.
#[derive(Debug, Error)]
#[error("{doing} {path}: {source}")]
pub struct WriteError {
    /// What was being done.
    doing: &'static str,
    /// The file or folder concerned.
    path: String,
    /// What the system said.
    #[source]
    source: std::io::Error,
}

impl WriteError {
    fn new(doing: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.display().to_string();
        move |source| Self {
            doing,
            path,
            source,
        }
    }
}

/// Writes `bytes` to `path` atomically, creating its folder if needed.
pub fn atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(WriteError::new("creating", dir))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".onesheet-").suffix(".partial");
    // A temporary file is private (0600); what it becomes is an ordinary file, readable as one
    // written by `std::fs::write` would be (a served bundle, a shared report).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut file = builder
        .tempfile_in(dir)
        .map_err(WriteError::new("creating a temporary file in", dir))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(WriteError::new("writing", path))?;
    file.persist(path)
        .map_err(|e| WriteError::new("renaming into", path)(e.error))?;
    // The rename itself lives in the folder: sync it too, where the platform allows.
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// Now, as ISO 8601 UTC to the second; `SOURCE_DATE_EPOCH` (seconds) overrides it, as for
/// reproducible builds, so two runs of the same training can write identical bundles.
pub fn timestamp() -> String {
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0));
    epoch
        .unwrap_or_else(chrono::Utc::now)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/model.bin");
        atomic(&path, b"first").expect("write");
        atomic(&path, b"second").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o644, "{mode:o}");
        }
        let left: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("model.bin")]);
    }

    #[test]
    fn source_date_epoch_fixes_the_timestamp() {
        assert_eq!(
            chrono::DateTime::from_timestamp(0, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            Some("1970-01-01T00:00:00Z".to_string())
        );
        assert!(timestamp().ends_with('Z'));
    }
}
