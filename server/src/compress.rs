//! gzip for the responses that shrink: the wasm build (16 MB → 4 MB), scripts, pages, JSON and
//! the models. Each file is compressed once per version and kept in memory, within a budget,
//! so a busy page costs one compression, not one per visitor.
//!
//! A copy is keyed by the file it was made from (the directory it was found in and its decoded
//! names, so every spelling of a URL shares it) and remembers the version (ETag) it was made
//! from: a newer version replaces it, never sits beside it. Requests that miss at the same time
//! wait for the one compression under way instead of each making their own. Responses stream
//! from the shared copy (a reference-counted [`Bytes`]), so slow readers hold no copies of
//! their own, and the memory the copies take is bounded by the budget plus the copies evicted
//! while a response was still sending them (at most one per cached file).
//!
//! A compressed response is another representation of the file: it gets its own ETag (the
//! file's with `-gzip`), `Vary: Accept-Encoding`, and `X-Decoded-Content-Length`, the length the
//! client ends up with (fetch hands out decoded bytes; the worker sizes its buffer and its
//! progress by it).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header;
use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::sync::OnceCell;

/// Bytes of compressed copies kept at once; past it, the least recently used are dropped.
const BUDGET: usize = 256 << 20;
/// Larger files are sent as they are (the models and the wasm are well below).
pub const MAX_SOURCE: u64 = 128 << 20;
/// Smaller files are not worth a compressed copy.
const MIN_SOURCE: u64 = 1024;

/// The compressed copies, by file.
#[derive(Debug)]
pub struct Compressed {
    copies: Mutex<Copies>,
    budget: usize,
}

impl Default for Compressed {
    fn default() -> Self {
        Self::with_budget(BUDGET)
    }
}

#[derive(Debug, Default)]
struct Copies {
    by_file: HashMap<String, Copy>,
    /// Bytes of the finished copies in `by_file`.
    bytes: usize,
    /// Ticks on every use, for least-recently-used eviction.
    clock: u64,
}

#[derive(Debug)]
struct Copy {
    version: String,
    /// Filled once by whichever request got there first; the others wait on it.
    cell: Arc<OnceCell<Bytes>>,
    /// The copy's length once it is made and counted in [`Copies::bytes`].
    counted: Option<usize>,
    used: u64,
}

impl Compressed {
    /// Copies within `budget` bytes.
    pub fn with_budget(budget: usize) -> Self {
        Self {
            copies: Mutex::default(),
            budget,
        }
    }

    /// The gzip copy of `file` at `version`, made from `source` (on a blocking thread) by the
    /// first request that needs it; concurrent requests for it wait for that one. A failed
    /// compression is not kept: the next request tries again.
    pub async fn get_or_make(
        &self,
        file: &str,
        version: &str,
        source: impl FnOnce() -> std::io::Result<Vec<u8>> + Send + 'static,
    ) -> std::io::Result<Bytes> {
        let cell = self.cell(file, version);
        let copy = cell
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || gzip(&source()?).map(Bytes::from))
                    .await
                    .map_err(std::io::Error::other)?
            })
            .await?
            .clone();
        self.count(file, &cell, copy.len());
        Ok(copy)
    }

    /// The length of the copy of `file` at `version`, if one is made: what a HEAD request
    /// announces without compressing anything.
    pub fn made_length(&self, file: &str, version: &str) -> Option<usize> {
        let copies = self.lock();
        let copy = copies.by_file.get(file)?;
        (copy.version == version)
            .then(|| copy.cell.get().map(Bytes::len))
            .flatten()
    }

    /// The cell for `file` at `version`: the one there, or a new one in place of an older
    /// version's.
    fn cell(&self, file: &str, version: &str) -> Arc<OnceCell<Bytes>> {
        let mut copies = self.lock();
        copies.clock += 1;
        let used = copies.clock;
        if let Some(copy) = copies.by_file.get_mut(file)
            && copy.version == version
        {
            copy.used = used;
            return Arc::clone(&copy.cell);
        }
        let cell = Arc::new(OnceCell::new());
        let replaced = copies.by_file.insert(
            file.to_string(),
            Copy {
                version: version.to_string(),
                cell: Arc::clone(&cell),
                counted: None,
                used,
            },
        );
        if let Some(counted) = replaced.and_then(|old| old.counted) {
            copies.bytes -= counted;
        }
        cell
    }

    /// Counts a finished copy once (if it is still the one kept for `file`), then drops the
    /// least recently used others until the copies fit the budget.
    fn count(&self, file: &str, cell: &Arc<OnceCell<Bytes>>, length: usize) {
        let mut copies = self.lock();
        let Some(copy) = copies.by_file.get_mut(file) else {
            return;
        };
        if !Arc::ptr_eq(&copy.cell, cell) || copy.counted.is_some() {
            return;
        }
        copy.counted = Some(length);
        copies.bytes += length;
        while copies.bytes > self.budget {
            let oldest = copies
                .by_file
                .iter()
                .filter(|(name, copy)| copy.counted.is_some() && name.as_str() != file)
                .min_by_key(|(_, copy)| copy.used)
                .map(|(name, _)| name.clone());
            let Some(oldest) = oldest else { break };
            if let Some(counted) = copies.by_file.remove(&oldest).and_then(|c| c.counted) {
                copies.bytes -= counted;
            }
        }
    }

    /// How many compressed copies are kept (made or being made).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().by_file.len()
    }

    /// Whether no copy is kept.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the copies kept.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Copies> {
        // Every change under the lock is whole, so a panic elsewhere leaves it consistent.
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
    use crate::test_runtime as runtime;
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
        let source = data.clone();
        let (first, again) = runtime().block_on(async {
            let first = compressed
                .get_or_make("a", "\"1\"", move || Ok(source))
                .await
                .expect("gzip");
            let again = compressed
                .get_or_make("a", "\"1\"", || Err(std::io::Error::other("not again")))
                .await
                .expect("kept");
            (first, again)
        });
        assert_eq!(first, again);
        assert_eq!(compressed.made_length("a", "\"1\""), Some(first.len()));
        assert_eq!(compressed.made_length("a", "\"2\""), None);
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

    #[test]
    fn simultaneous_misses_compress_once() {
        let compressed = Arc::new(Compressed::default());
        let made = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let copies = runtime().block_on(async {
            let requests = (0..32).map(|_| {
                let (compressed, made) = (Arc::clone(&compressed), Arc::clone(&made));
                tokio::spawn(async move {
                    compressed
                        .get_or_make("wasm", "\"1\"", move || {
                            made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            // Slow enough that every request arrives while it runs.
                            std::thread::sleep(std::time::Duration::from_millis(200));
                            Ok(vec![42; 1 << 20])
                        })
                        .await
                        .expect("gzip")
                })
            });
            let mut copies = Vec::new();
            for request in requests.collect::<Vec<_>>() {
                copies.push(request.await.expect("a task"));
            }
            copies
        });
        assert_eq!(made.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(compressed.len(), 1);
        assert_eq!(compressed.bytes(), copies[0].len());
        // One allocation shared by every response, not a copy each.
        assert!(
            copies
                .iter()
                .all(|copy| copy.as_ptr() == copies[0].as_ptr())
        );
    }

    #[test]
    fn a_new_version_replaces_the_old_and_the_budget_holds() {
        let compressed = Compressed::with_budget(3000);
        // Incompressible bytes, so each copy is about 1 kB.
        let noise = |seed: u8| {
            let mut state = u64::from(seed) | 1;
            (0..1000)
                .map(|_| {
                    // xorshift64: bytes gzip cannot shrink.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 32) as u8
                })
                .collect::<Vec<u8>>()
        };
        runtime().block_on(async {
            for version in ["\"1\"", "\"2\"", "\"3\""] {
                let data = noise(version.as_bytes()[1]);
                compressed
                    .get_or_make("model", version, move || Ok(data))
                    .await
                    .expect("gzip");
            }
            assert_eq!(compressed.len(), 1, "one copy per file, the newest");
            assert!(compressed.made_length("model", "\"3\"").is_some());
            for file in ["a", "b", "c", "d", "e"] {
                let data = noise(file.as_bytes()[0]);
                compressed
                    .get_or_make(file, "\"1\"", move || Ok(data))
                    .await
                    .expect("gzip");
                assert!(compressed.bytes() <= 3000, "{}", compressed.bytes());
                assert!(compressed.made_length(file, "\"1\"").is_some());
            }
        });
        // The budget keeps the two most recent (of about 1 kB each, plus gzip's framing).
        assert_eq!(compressed.len(), 2);
        assert!(compressed.made_length("model", "\"3\"").is_none());
    }

    #[test]
    fn a_failed_compression_is_tried_again() {
        let compressed = Compressed::default();
        runtime().block_on(async {
            let failed = compressed
                .get_or_make("a", "\"1\"", || Err(std::io::Error::other("disk")))
                .await;
            assert!(failed.is_err());
            let made = compressed
                .get_or_make("a", "\"1\"", || Ok(vec![1; 4096]))
                .await;
            assert!(made.is_ok());
        });
    }
}
