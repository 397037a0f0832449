//! gzip for the responses that shrink: the wasm build (16 MB → 4 MB), scripts, pages, JSON and
//! the models. Each file is compressed once per version (its ETag) and kept in memory, within
//! a budget, so a busy page costs one compression, not one per visitor.
//!
//! A compressed response is another representation of the file: it gets its own ETag (the
//! file's with `-gzip`), `Vary: Accept-Encoding`, and `X-Decoded-Content-Length`, the length the
//! client ends up with (fetch hands out decoded bytes; the worker sizes its buffer and its
//! progress by it).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header;
use flate2::Compression;
use flate2::write::GzEncoder;

/// Bytes of compressed copies kept at once; past it, the oldest are dropped.
const BUDGET: usize = 256 << 20;
/// Larger files are sent as they are (the models and the wasm are well below).
pub const MAX_SOURCE: u64 = 128 << 20;
/// Smaller files are not worth a compressed copy.
const MIN_SOURCE: u64 = 1024;

/// The compressed copies, by file and version.
#[derive(Debug, Default)]
pub struct Compressed {
    copies: Mutex<Copies>,
}

#[derive(Debug, Default)]
struct Copies {
    by_key: HashMap<String, Bytes>,
    order: Vec<String>,
    bytes: usize,
}

impl Compressed {
    /// The gzip copy of the file `key` names (its path and ETag), made with `source` the first
    /// time.
    pub fn get_or_make(
        &self,
        key: &str,
        source: impl FnOnce() -> std::io::Result<Vec<u8>>,
    ) -> std::io::Result<Bytes> {
        if let Some(copy) = self.lock().by_key.get(key) {
            return Ok(copy.clone());
        }
        let copy = Bytes::from(gzip(&source()?)?);
        let mut copies = self.lock();
        copies.bytes += copy.len();
        copies.order.push(key.to_string());
        copies.by_key.insert(key.to_string(), copy.clone());
        while copies.bytes > BUDGET && copies.order.len() > 1 {
            let oldest = copies.order.remove(0);
            if let Some(dropped) = copies.by_key.remove(&oldest) {
                copies.bytes -= dropped.len();
            }
        }
        Ok(copy)
    }

    /// How many compressed copies are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether no copy is kept.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Copies> {
        // A panic while holding the lock leaves a consistent map (inserts are whole).
        self.copies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::new(6));
    encoder.write_all(data)?;
    encoder.finish()
}

/// Whether a file of this type and length is worth sending compressed: text, wasm and the
/// models' binary formats; never pictures (already compressed).
pub fn worth_it(content_type: &str, length: u64) -> bool {
    (MIN_SOURCE..=MAX_SOURCE).contains(&length)
        && (content_type.starts_with("text/")
            || matches!(
                content_type,
                "application/wasm"
                    | "application/json"
                    | "application/octet-stream"
                    | "image/svg+xml"
            ))
}

/// Whether the request's `Accept-Encoding` takes gzip (`gzip`, `gzip;q=0.5` or `*`, not
/// `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// The compressed representation's ETag: the file's, marked.
pub fn etag(identity: &str) -> String {
    match identity.strip_suffix('"') {
        Some(open) => format!("{open}-gzip\""),
        None => format!("{identity}-gzip"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::io::Read;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).expect("ascii"),
        );
        headers
    }

    #[test]
    fn reads_accept_encoding() {
        assert!(accepts_gzip(&headers("gzip, deflate, br")));
        assert!(accepts_gzip(&headers("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&headers("*")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("br, identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn compresses_once_and_round_trips() {
        let compressed = Compressed::default();
        let data = b"onesheet ".repeat(1000);
        let first = compressed
            .get_or_make("a\"1\"", || Ok(data.clone()))
            .expect("gzip");
        let again = compressed
            .get_or_make("a\"1\"", || Err(std::io::Error::other("not again")))
            .expect("kept");
        assert_eq!(first, again);
        assert!(first.len() < data.len() / 10);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&first[..])
            .read_to_end(&mut decoded)
            .expect("gunzip");
        assert_eq!(decoded, data);
        assert_eq!(etag("\"abc\""), "\"abc-gzip\"");
        assert!(worth_it("application/wasm", 1 << 20));
        assert!(!worth_it("image/jpeg", 1 << 20));
        assert!(!worth_it("text/html; charset=utf-8", 10));
    }
}
