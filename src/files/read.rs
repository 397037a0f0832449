//! Reading a file a user named (a poster, a model bundle, a catalogue index), the one way every
//! command reads one. A name on the command line can be anything: `/dev/zero` never ends, a
//! FIFO blocks, a sparse file claims terabytes. Only regular files are read, and never more than
//! the limit for what they hold plus one byte, to tell "exactly at the limit" from "over it": a
//! poster within [`DecodeLimits::max_bytes`] (the most decoding may allocate: an encoded image
//! over it could not be decoded anyway), a bundle within [`MAX_BUNDLE_BYTES`], an index within
//! [`MAX_INDEX_BYTES`].

use std::io::Read;
use std::path::Path;

use crate::DecodeLimits;
use thiserror::Error;

/// A model bundle larger than this is not one: the largest head the format allows (4096
/// hidden units) in f32 beside an f32 backbone is under 64 MB.
pub const MAX_BUNDLE_BYTES: u64 = 1 << 30;
/// A catalogue index of ten million posters (1280 bytes and a name each) fits.
pub const MAX_INDEX_BYTES: u64 = 16 << 30;

/// Why a file was not read.
#[derive(Debug, Error)]
pub enum ReadError {
    /// A device, FIFO, socket or folder.
    #[error("{path} is not a regular file; it was not read")]
    NotAFile {
        /// The file, as given.
        path: String,
    },
    /// Larger than an image may be.
    #[error("{path} is over the {limit}-byte limit for {what}; it was not read")]
    TooBig {
        /// The file, as given.
        path: String,
        /// What the file was read as.
        what: &'static str,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The system refused.
    #[error("reading {path}: {source}")]
    Io {
        /// The file, as given.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// The bytes of the image file at `path`, refused when it is not a regular file or holds more
/// than `limits.max_bytes`.
pub fn image(path: &Path, limits: &DecodeLimits) -> Result<Vec<u8>, ReadError> {
    read_within(path, limits.max_bytes, "an image")
}

/// The bytes of the model bundle at `path` (a regular file of at most [`MAX_BUNDLE_BYTES`]).
pub fn bundle(path: &Path) -> Result<Vec<u8>, ReadError> {
    read_within(path, MAX_BUNDLE_BYTES, "a model bundle")
}

/// The bytes of the catalogue index at `path` (a regular file of at most [`MAX_INDEX_BYTES`]).
pub fn index(path: &Path) -> Result<Vec<u8>, ReadError> {
    read_within(path, MAX_INDEX_BYTES, "a catalogue index")
}

fn read_within(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let name = || path.display().to_string();
    let io = |source| ReadError::Io {
        path: name(),
        source,
    };
    // Looked at before opening: opening a FIFO would block until something writes to it.
    let metadata = std::fs::metadata(path).map_err(io)?;
    if !metadata.is_file() {
        return Err(ReadError::NotAFile { path: name() });
    }
    let too_big = || ReadError::TooBig {
        path: name(),
        what,
        limit,
    };
    if metadata.len() > limit {
        return Err(too_big());
    }
    // The file may have grown since: the reading itself is bounded too.
    let file = std::fs::File::open(path).map_err(io)?;
    read_at_most(file, limit).map_err(io)?.ok_or_else(too_big)
}

/// Everything `reader` holds if that is at most `limit` bytes (`None` past it), reading at
/// most one byte more.
fn read_at_most(reader: impl Read, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_reader_is_read_one_byte_past_the_limit() {
        let bytes = read_at_most(std::io::repeat(7), 1000).expect("reads");
        assert_eq!(bytes, None);
        let exact = read_at_most(std::io::repeat(7).take(1000), 1000).expect("reads");
        assert_eq!(exact.map(|b| b.len()), Some(1000));
    }

    #[test]
    fn a_huge_sparse_file_is_refused_by_its_size_without_being_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("huge.jpg");
        let file = std::fs::File::create(&path).expect("create");
        // 1 TiB of holes: reading it would never finish in a test.
        file.set_len(1 << 40).expect("sparse");
        let error = image(&path, &DecodeLimits::default()).expect_err("refused");
        assert!(matches!(error, ReadError::TooBig { .. }), "{error}");
        assert!(error.to_string().contains("huge.jpg"), "{error}");
    }

    #[test]
    fn a_file_at_the_limit_is_read_and_one_past_it_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.png");
        std::fs::write(&path, [1u8; 64]).expect("write");
        assert_eq!(
            read_within(&path, 64, "an image")
                .expect("at the limit")
                .len(),
            64
        );
        assert!(matches!(
            read_within(&path, 63, "an image"),
            Err(ReadError::TooBig { limit: 63, .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_folders_are_refused_by_name() {
        let error = image(Path::new("/dev/zero"), &DecodeLimits::default()).expect_err("refused");
        assert!(matches!(error, ReadError::NotAFile { .. }), "{error}");
        assert!(error.to_string().contains("/dev/zero"), "{error}");
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            image(dir.path(), &DecodeLimits::default()),
            Err(ReadError::NotAFile { .. })
        ));
        let missing =
            image(&dir.path().join("gone.jpg"), &DecodeLimits::default()).expect_err("missing");
        assert!(missing.to_string().contains("gone.jpg"), "{missing}");
    }
}
