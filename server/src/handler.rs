//! One request in, one response out: no socket here, so tests (and fuzzers) can call
//! [`handle`] or the [`router`] with any request they like.

use std::borrow::Cow;
use std::fs::Metadata;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, Version, request};
use axum::response::Response;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::compress;
use super::hosts::AllowedHosts;
use super::paths::{self, Target};
use super::site::{self, Found, Site};

/// The policy of the `<meta http-equiv="Content-Security-Policy">` in `www/index.html`, plus
/// what only a header can say (`frame-ancestors`). Sent with every response, not only the page:
/// the model worker takes its policy from `worker.js`'s own response, and it needs
/// `'wasm-unsafe-eval'` to compile the wasm and `connect-src 'self'` to fetch the model.
/// `worker-src blob:` lets the kiosk start its worker from a `blob:` module of its own, which
/// its service worker controls (offline, that is how the worker's scripts load).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
     script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; connect-src 'self'; \
     img-src 'self' blob: data:; style-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The whole server as an axum [`Router`]: every request goes to [`handle`].
pub fn router(site: Site) -> Router {
    shared_router(Arc::new(site))
}

/// [`router`] for a site shared with other tasks (such as [`precompress`]).
pub fn shared_router(site: Arc<Site>) -> Router {
    Router::new()
        .fallback(
            |State(site): State<Arc<Site>>, request: Request| async move {
                handle(&site, request).await
            },
        )
        .with_state(site)
}

/// The big files a first visit downloads, in that order: the CPU wasm build (its relaxed-SIMD
/// compilation, which Chromium loads, or the plain one), the shipped model and the WebGPU
/// build (only where WebGPU is used; the largest, so last).
const BIG_FILES: [&str; 4] = [
    "/pkg/onesheet_relaxed_bg.wasm",
    "/pkg/onesheet_bg.wasm",
    "/models/onesheet.safetensors",
    "/pkg-webgpu/onesheet_bg.wasm",
];

/// Makes the gzip copies of the big files as the server starts, so that the first visitor
/// does not wait for their compression (the model alone takes about 0.4 s). Each goes through
/// [`handle`] as a browser's request would, to `host` (the server's own address); a file that
/// is missing costs a 404 nobody sees.
pub async fn precompress(site: Arc<Site>, host: &str) {
    for path in BIG_FILES {
        let request = Request::get(path)
            .header(header::HOST, host)
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty());
        if let Ok(request) = request {
            drop(handle(&site, request).await);
        }
    }
}

/// Answers one request. Never reads the request body: a request that has one is refused.
pub async fn handle(site: &Site, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(status) = check_host(&site.hosts, &parts) {
        return refusal(status, "this server answers only to its own address\n");
    }
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        let mut response = refusal(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        if announces_body(&parts.headers, &body) {
            close_after(&mut response);
        }
        return response;
    }
    if announces_body(&parts.headers, &body) {
        // Left unread: hyper drops the connection rather than wait for it.
        let mut response = refusal(StatusCode::PAYLOAD_TOO_LARGE, "requests carry no body\n");
        close_after(&mut response);
        return response;
    }
    let Some(target) = paths::resolve(parts.uri.path()) else {
        return not_found();
    };
    let Some(found) = site.find(&target) else {
        return not_found();
    };
    let gzip = compress::accepts_gzip(&parts.headers);
    match found {
        Found::File { dir, names } => {
            let file = names.iter().fold(dir.clone(), |path, name| path.join(name));
            let opened = tokio::task::spawn_blocking(move || open_inside(&dir, &names)).await;
            match opened {
                Ok(Ok((file_handle, metadata)))
                    if gzip && compress::worth_it(target.content_type, metadata.len()) =>
                {
                    let length = metadata.len();
                    let source = move || {
                        let mut data = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
                        std::io::Read::read_to_end(
                            &mut std::io::Read::take(file_handle, length),
                            &mut data,
                        )?;
                        Ok(data)
                    };
                    let file = file.display().to_string();
                    respond_compressed(
                        site,
                        &parts,
                        &target,
                        &file,
                        &etag(&metadata),
                        length,
                        source,
                    )
                    .await
                }
                Ok(Ok((file, metadata))) => respond_with_file(&parts, &target, file, &metadata),
                Ok(Err(error)) if unreachable_file(&error) => not_found(),
                // Out of file descriptors or memory: worth retrying, unlike a 404.
                Ok(Err(_)) | Err(_) => refusal(StatusCode::SERVICE_UNAVAILABLE, "try again\n"),
            }
        }
        Found::Bytes { data, etag }
            if gzip && compress::worth_it(target.content_type, data.len() as u64) =>
        {
            let length = data.len() as u64;
            let file = format!("embedded:{}", target.names.join("/"));
            let source = move || Ok(data.into_owned());
            respond_compressed(site, &parts, &target, &file, &etag, length, source).await
        }
        Found::Bytes { data, etag } => respond_with_bytes(&parts, &target, data, &etag),
        Found::SamplesIndex(dir) => {
            let mut skipped = Vec::new();
            let listed = tokio::task::spawn_blocking(move || {
                let list = site::list_samples(dir.as_deref(), &mut |name, reason| {
                    skipped.push((name, reason));
                });
                (list, skipped)
            })
            .await
            .ok()
            .and_then(|(list, skipped)| {
                for (name, reason) in skipped {
                    site.report_skipped("sample poster", &name, reason);
                }
                list.ok()
            })
            .and_then(|list| serde_json::to_vec(&list).ok());
            match listed {
                Some(json) => {
                    let etag = format!("\"{:x}\"", Sha256::digest(&json));
                    respond_with_bytes(&parts, &target, Cow::Owned(json), &etag)
                }
                None => refusal(StatusCode::SERVICE_UNAVAILABLE, "try again\n"),
            }
        }
    }
}

/// Answers with the gzip copy of `file` (`decoded` bytes whose own ETag is `identity`), made
/// from `source` the first time. A client whose copy is current (304) and a HEAD request are
/// answered without compressing anything: HEAD gives the length only once a copy is made.
async fn respond_compressed(
    site: &Site,
    parts: &request::Parts,
    target: &Target,
    file: &str,
    identity: &str,
    decoded: u64,
    source: impl FnOnce() -> std::io::Result<Vec<u8>> + Send + 'static,
) -> Response {
    let tag = compress::etag(identity);
    let mut response = if client_has(parts, &tag) || parts.method == Method::HEAD {
        let made = site.compressed.made_length(file, identity);
        let mut response = respond(parts, target, &tag, made.unwrap_or(0) as u64, Body::empty);
        if made.is_none() {
            response.headers_mut().remove(header::CONTENT_LENGTH);
        }
        response
    } else {
        match site.compressed.get_or_make(file, identity, source).await {
            Ok(copy) => respond(parts, target, &tag, copy.len() as u64, || Body::from(copy)),
            Err(_) => return refusal(StatusCode::SERVICE_UNAVAILABLE, "try again\n"),
        }
    };
    if response.status() == StatusCode::OK {
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(
            HeaderName::from_static("x-decoded-content-length"),
            HeaderValue::from(decoded),
        );
    }
    response
}

/// Answers with bytes already in memory.
fn respond_with_bytes(
    parts: &request::Parts,
    target: &Target,
    data: Cow<'static, [u8]>,
    etag: &str,
) -> Response {
    let length = data.len() as u64;
    respond(parts, target, etag, length, || match data {
        Cow::Borrowed(bytes) => Body::from(bytes),
        Cow::Owned(bytes) => Body::from(bytes),
    })
}

fn respond_with_file(
    parts: &request::Parts,
    target: &Target,
    file: std::fs::File,
    metadata: &Metadata,
) -> Response {
    let length = metadata.len();
    respond(parts, target, &etag(metadata), length, move || {
        // Bounded by the length announced, in case the file grows while it is sent.
        let file = tokio::fs::File::from_std(file).take(length);
        Body::from_stream(ReaderStream::with_capacity(file, 64 * 1024))
    })
}

/// A file's response: 304 when the client's copy is current, no body for HEAD, else `body()`
/// (`length` bytes); pinned type, ETag, and the CORS headers where other origins may read it.
fn respond(
    parts: &request::Parts,
    target: &Target,
    etag: &str,
    length: u64,
    body: impl FnOnce() -> Body,
) -> Response {
    let (status, body) = if client_has(parts, etag) {
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else if parts.method == Method::HEAD {
        (StatusCode::OK, Body::empty())
    } else {
        (StatusCode::OK, body())
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    common_headers(headers);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(target.content_type),
    );
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    if status == StatusCode::OK {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    if compress::worth_it(target.content_type, compress::MAX_SOURCE) {
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if site::shared_cross_origin(target) {
        cross_origin_headers(headers);
    }
    response
}

/// For the files a page on another origin may load (the widget, its library, the wasm, the
/// models): readable by any origin, without credentials; the worker reads the ETag and length
/// to keep its cached copy current.
fn cross_origin_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "ETag, Content-Length, Content-Encoding, X-Decoded-Content-Length",
        ),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
}

/// Opens `root/names…` only if it is a regular file reached through real directories: a
/// symlink anywhere below the root could point outside it, so none is followed.
fn open_inside(root: &Path, names: &[String]) -> std::io::Result<(std::fs::File, Metadata)> {
    let mut path = root.to_path_buf();
    let mut seen = None;
    for (i, name) in names.iter().enumerate() {
        path.push(name);
        let metadata = std::fs::symlink_metadata(&path)?;
        let last = i + 1 == names.len();
        let expected = if last {
            metadata.file_type().is_file()
        } else {
            metadata.file_type().is_dir()
        };
        if !expected {
            return Err(ErrorKind::NotFound.into());
        }
        seen = Some(metadata);
    }
    let seen = seen.ok_or(ErrorKind::NotFound)?;
    let file = std::fs::File::open(&path)?;
    let metadata = file.metadata()?;
    // The file opened is the one checked, not something swapped in since.
    if (metadata.dev(), metadata.ino()) != (seen.dev(), seen.ino()) || !metadata.is_file() {
        return Err(ErrorKind::NotFound.into());
    }
    Ok((file, metadata))
}

/// Errors that mean "nothing servable there" rather than "the server is in trouble".
fn unreachable_file(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::NotFound
            | ErrorKind::NotADirectory
            | ErrorKind::IsADirectory
            | ErrorKind::PermissionDenied
            | ErrorKind::InvalidFilename
            | ErrorKind::InvalidInput
    )
}

/// Length and modification time: changes whenever a build rewrites the file.
fn etag(metadata: &Metadata) -> String {
    let modified = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{:x}-{:x}\"", metadata.len(), modified)
}

/// Whether the request's `If-None-Match` names the representation tagged `etag`.
fn client_has(parts: &request::Parts, etag: &str) -> bool {
    parts
        .headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| if_none_match(value, etag))
}

/// RFC 9110 weak comparison: `W/"x"` matches `"x"`, and `*` matches any current file.
fn if_none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// Whether the request says a body follows: a length other than 0, any transfer coding, or a
/// body hyper already knows is not empty.
fn announces_body(headers: &HeaderMap, body: &Body) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .any(|length| length.as_bytes() != b"0")
        || !body.is_end_stream()
}

/// `Ok` when the request names this server: its `Host` (required from HTTP/1.1 on, one only)
/// and any authority in the request target.
fn check_host(hosts: &AllowedHosts, parts: &request::Parts) -> Result<(), StatusCode> {
    let mut values = parts.headers.get_all(header::HOST).iter();
    let host = values.next();
    if values.next().is_some() {
        return Err(StatusCode::BAD_REQUEST);
    }
    match host {
        Some(value) => {
            let value = value.to_str().map_err(|_| StatusCode::BAD_REQUEST)?;
            if !hosts.allows(value) {
                return Err(StatusCode::MISDIRECTED_REQUEST);
            }
        }
        None if parts.version >= Version::HTTP_11 => return Err(StatusCode::BAD_REQUEST),
        None => {}
    }
    if let Some(authority) = parts.uri.authority()
        && !hosts.allows(authority.as_str())
    {
        return Err(StatusCode::MISDIRECTED_REQUEST);
    }
    Ok(())
}

/// What every response carries. No MIME sniffing; revalidate on every use (the files change
/// with each build, and the page keeps its own copy of the big ones in the Cache API); nothing
/// leaks to or is embeddable by another origin.
fn common_headers(headers: &mut HeaderMap) {
    const COMMON: [(HeaderName, &str); 7] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-cache"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in COMMON {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

fn refusal(status: StatusCode, message: &'static str) -> Response {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    common_headers(headers);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn not_found() -> Response {
    refusal(StatusCode::NOT_FOUND, "not found\n")
}

fn close_after(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::body::to_bytes;

    use crate::Roots;

    /// www/ with a page, a script and a secret beside it; models/ with a bundle, an HTML file and
    /// a symlink out.
    fn site(dir: &Path) -> Site {
        let www = dir.join("www");
        let models = dir.join("models");
        std::fs::create_dir_all(www.join("pkg")).expect("mkdir");
        std::fs::create_dir_all(&models).expect("mkdir");
        std::fs::write(www.join("index.html"), "<!doctype html>").expect("write");
        std::fs::write(www.join("pkg/onesheet.js"), "export {};").expect("write");
        std::fs::write(models.join("onesheet.safetensors"), "model").expect("write");
        std::fs::write(models.join("evil.html"), "<script>").expect("write");
        std::fs::write(dir.join("secret.json"), "{}").expect("write");
        std::os::unix::fs::symlink(dir, models.join("up")).expect("symlink");
        std::os::unix::fs::symlink(dir.join("secret.json"), models.join("secret.json"))
            .expect("symlink");
        let samples = dir.join("samples");
        std::fs::create_dir_all(&samples).expect("mkdir");
        std::fs::write(samples.join("b poster.jpg"), "jpeg").expect("write");
        std::fs::write(samples.join("a.png"), "png").expect("write");
        std::fs::write(samples.join("Mission: Impossible.jpg"), "jpeg").expect("write");
        std::fs::write(samples.join("notes.txt"), "text").expect("write");
        std::fs::write(samples.join("drawing.svg"), "<svg/>").expect("write");
        std::os::unix::fs::symlink(dir.join("secret.json"), samples.join("link.jpg"))
            .expect("symlink");
        let roots = Roots::new(&www, &models).expect("roots");
        let bound = "127.0.0.1:8080".parse().expect("address");
        Site::new(roots, Some(&samples), AllowedHosts::new(bound)).expect("site")
    }

    fn call(site: &Site, request: Request) -> (StatusCode, HeaderMap, Vec<u8>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let response = handle(site, request).await;
            let (parts, body) = response.into_parts();
            let body = to_bytes(body, 1 << 20).await.expect("a body");
            (parts.status, parts.headers, body.to_vec())
        })
    }

    fn get(path: &str) -> Request {
        Request::builder()
            .uri(path)
            .header(header::HOST, "127.0.0.1:8080")
            .body(Body::empty())
            .expect("a request")
    }

    #[test]
    fn serves_files_with_their_headers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = site(dir.path());
        let (status, headers, body) = call(&site, get("/"));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, b"<!doctype html>");
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::CONTENT_LENGTH], "15");
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let (status, _, body) = call(&site, get("/models/onesheet.safetensors"));
        assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"model"[..]));
    }

    #[test]
    fn symlinks_and_foreign_types_are_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = site(dir.path());
        for path in [
            "/models/up/secret.json",
            "/models/secret.json",
            "/models/evil.html",
            "/models/up/www/index.html",
            "/pkg",
            "/missing.js",
        ] {
            assert_eq!(call(&site, get(path)).0, StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn compressible_files_are_sent_gzipped_to_those_who_accept_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = site(dir.path());
        let script = "export const a = 1;\n".repeat(200);
        std::fs::write(dir.path().join("www/pkg/big.js"), &script).expect("write");
        let gzip_get = |path: &str| {
            let mut request = get(path);
            request.headers_mut().insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("gzip, deflate, br"),
            );
            request
        };
        let (status, headers, body) = call(&site, gzip_get("/pkg/big.js"));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(headers[header::VARY], "Accept-Encoding");
        assert_eq!(
            headers["x-decoded-content-length"],
            script.len().to_string().as_str()
        );
        assert_eq!(
            headers[header::CONTENT_LENGTH],
            body.len().to_string().as_str()
        );
        let mut decoded = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut decoded)
            .expect("gunzip");
        assert_eq!(decoded, script);
        let gz_tag = headers[header::ETAG].to_str().expect("ascii").to_string();
        assert!(gz_tag.ends_with("-gzip\""), "{gz_tag}");

        // Its own ETag revalidates it; the plain file keeps its own.
        let mut again = gzip_get("/pkg/big.js");
        again.headers_mut().insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&gz_tag).expect("ascii"),
        );
        assert_eq!(call(&site, again).0, StatusCode::NOT_MODIFIED);
        let (_, plain, body) = call(&site, get("/pkg/big.js"));
        assert!(plain.get(header::CONTENT_ENCODING).is_none());
        assert_eq!(body, script.as_bytes());
        assert_ne!(plain[header::ETAG], gz_tag.as_str());
        assert_eq!(plain[header::VARY], "Accept-Encoding");
        // Too small to bother, and a picture, are sent as they are.
        let (_, small, _) = call(&site, gzip_get("/pkg/onesheet.js"));
        assert!(small.get(header::CONTENT_ENCODING).is_none());
    }

    #[test]
    fn the_big_files_are_compressed_as_the_server_starts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = Arc::new(site(dir.path()));
        // The CPU build and the model are there (the model too small to be worth it); the
        // WebGPU build is not.
        let wasm = b"\0asm".repeat(4096);
        std::fs::write(dir.path().join("www/pkg/onesheet_bg.wasm"), &wasm).expect("write");
        std::fs::write(
            dir.path().join("models/onesheet.safetensors"),
            vec![7; 8192],
        )
        .expect("write");
        assert!(site.compressed.is_empty());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(precompress(Arc::clone(&site), "127.0.0.1:8080"));
        assert_eq!(
            site.compressed.len(),
            2,
            "the wasm and the model, nothing else"
        );
        // A visitor's request is answered from the copy made.
        let mut request = get("/pkg/onesheet_bg.wasm");
        request
            .headers_mut()
            .insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let (status, headers, _) = call(&site, request);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(site.compressed.len(), 2);
    }

    #[test]
    fn every_spelling_of_a_file_shares_one_copy_and_head_or_304_compress_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = site(dir.path());
        let script = "export const b = 2;\n".repeat(300);
        std::fs::write(dir.path().join("www/pkg/big.js"), &script).expect("write");
        let gzip = |method: Method, path: &str, tag: Option<&str>| {
            let mut request = get(path);
            *request.method_mut() = method;
            let headers = request.headers_mut();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
            if let Some(tag) = tag {
                headers.insert(
                    header::IF_NONE_MATCH,
                    HeaderValue::from_str(tag).expect("ascii"),
                );
            }
            request
        };
        let (_, plain, _) = call(&site, get("/pkg/big.js"));
        let gz_tag = compress::etag(plain[header::ETAG].to_str().expect("ascii"));

        let (status, headers, body) = call(&site, gzip(Method::HEAD, "/pkg/big.js", None));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(headers[header::ETAG], gz_tag.as_str());
        assert!(body.is_empty());
        assert!(
            !headers.contains_key(header::CONTENT_LENGTH),
            "unknown until made"
        );
        let (status, _, _) = call(&site, gzip(Method::GET, "/pkg/big.js", Some(&gz_tag)));
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(
            site.compressed.is_empty(),
            "HEAD and 304 compressed nothing"
        );

        let mut lengths = Vec::new();
        for path in [
            "/pkg/big.js",
            "/pkg/%62ig.js",
            "/pkg/big.j%73",
            "/%70kg/big.js",
            "/pkg%2Fbig.js",
        ] {
            let (status, headers, body) = call(&site, gzip(Method::GET, path, None));
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[header::CONTENT_ENCODING], "gzip", "{path}");
            lengths.push(body.len());
        }
        assert_eq!(site.compressed.len(), 1, "one copy for every spelling");
        assert!(lengths.windows(2).all(|pair| pair[0] == pair[1]));
        let (_, headers, _) = call(&site, gzip(Method::HEAD, "/pkg/big.js", None));
        assert_eq!(
            headers[header::CONTENT_LENGTH],
            lengths[0].to_string().as_str()
        );
    }

    #[test]
    fn conditional_and_head_requests() {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = site(dir.path());
        let (_, headers, _) = call(&site, get("/pkg/onesheet.js"));
        let etag = headers[header::ETAG].to_str().expect("ascii").to_string();
        for tag in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
            let mut request = get("/pkg/onesheet.js");
            let value = HeaderValue::from_str(&tag).expect("a header value");
            request.headers_mut().insert(header::IF_NONE_MATCH, value);
            let (status, _, body) = call(&site, request);
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{tag}");
            assert!(body.is_empty());
        }
        let mut head = get("/pkg/onesheet.js");
        *head.method_mut() = Method::HEAD;
        let (status, headers, body) = call(&site, head);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_LENGTH], "10");
        assert!(body.is_empty());
    }

    #[test]
    fn refuses_other_hosts_methods_and_bodies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = site(dir.path());
        let mut request = get("/");
        request.headers_mut().insert(
            header::HOST,
            HeaderValue::from_static("rebound.example:8080"),
        );
        assert_eq!(call(&site, request).0, StatusCode::MISDIRECTED_REQUEST);

        let mut request = get("/");
        request.headers_mut().remove(header::HOST);
        assert_eq!(call(&site, request).0, StatusCode::BAD_REQUEST);

        let mut request = get("/");
        *request.version_mut() = Version::HTTP_10;
        request.headers_mut().remove(header::HOST);
        assert_eq!(call(&site, request).0, StatusCode::OK);

        let mut request = get("/");
        request
            .headers_mut()
            .append(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert_eq!(call(&site, request).0, StatusCode::BAD_REQUEST);

        let mut request = get("http://rebound.example:8080/");
        request
            .headers_mut()
            .insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert_eq!(call(&site, request).0, StatusCode::MISDIRECTED_REQUEST);

        let mut request = get("/");
        *request.method_mut() = Method::POST;
        let (status, headers, _) = call(&site, request);
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers[header::ALLOW], "GET, HEAD");

        let mut request = get("/");
        *request.body_mut() = Body::from("surprise");
        assert_eq!(call(&site, request).0, StatusCode::PAYLOAD_TOO_LARGE);

        let mut request = get("/");
        request.headers_mut().insert(
            header::CONTENT_LENGTH,
            HeaderValue::from_static("18446744073709551615"),
        );
        let (status, headers, _) = call(&site, request);
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(headers[header::CONNECTION], "close");
    }

    #[test]
    fn only_the_widgets_files_are_shared_with_other_origins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = site(dir.path());
        let www = dir.path().join("www");
        for sub in ["widget", "lib"] {
            std::fs::create_dir_all(www.join(sub)).expect("mkdir");
            std::fs::write(www.join(sub).join("x.js"), "export {};").expect("write");
        }
        std::fs::write(www.join("app.js"), "export {};").expect("write");
        for path in [
            "/widget/x.js",
            "/lib/x.js",
            "/pkg/onesheet.js",
            "/models/onesheet.safetensors",
        ] {
            let (status, headers, _) = call(&site, get(path));
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*", "{path}");
            assert_eq!(
                headers["cross-origin-resource-policy"], "cross-origin",
                "{path}"
            );
            assert!(
                headers[header::ACCESS_CONTROL_EXPOSE_HEADERS]
                    .to_str()
                    .is_ok_and(|value| value.contains("ETag")),
                "{path}"
            );
        }
        for path in ["/", "/index.html", "/app.js", "/kiosk/samples/a.png"] {
            let (status, headers, _) = call(&site, get(path));
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(
                !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
                "{path}"
            );
            assert_eq!(
                headers["cross-origin-resource-policy"], "same-origin",
                "{path}"
            );
        }
    }

    #[test]
    fn the_kiosks_samples_are_listed_and_served() {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = site(dir.path());
        let (status, headers, body) = call(&site, get("/kiosk/samples/index.json"));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let list: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            list,
            serde_json::json!({"samples": [
                {"name": "Mission: Impossible.jpg", "url": "Mission%3A%20Impossible.jpg"},
                {"name": "a.png", "url": "a.png"},
                {"name": "b poster.jpg", "url": "b%20poster.jpg"},
            ]})
        );
        let (status, _, body) = call(&site, get("/kiosk/samples/Mission%3A%20Impossible.jpg"));
        assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"jpeg"[..]));
        let (status, _, body) = call(&site, get("/kiosk/samples/b%20poster.jpg"));
        assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"jpeg"[..]));
        for path in [
            "/kiosk/samples/notes.txt",
            "/kiosk/samples/drawing.svg",
            "/kiosk/samples/link.jpg",
            "/kiosk/samples/missing.jpg",
            "/samples/a.png",
        ] {
            assert_eq!(call(&site, get(path)).0, StatusCode::NOT_FOUND, "{path}");
        }
        // Without a samples folder the listing is empty, not missing: the kiosk caches it.
        let bare = Site::new(
            Roots::new(&dir.path().join("www"), &dir.path().join("models")).expect("roots"),
            None,
            AllowedHosts::new("127.0.0.1:8080".parse().expect("address")),
        )
        .expect("site");
        let (status, _, body) = call(&bare, get("/kiosk/samples/index.json"));
        assert_eq!(
            (status, body.as_slice()),
            (StatusCode::OK, &br#"{"samples":[]}"#[..])
        );
    }

    #[test]
    fn the_header_policy_covers_the_pages_own() {
        let index = Path::new(env!("CARGO_MANIFEST_DIR")).join("../www/index.html");
        let html = std::fs::read_to_string(index).expect("www/index.html");
        let meta = html
            .split("http-equiv=\"Content-Security-Policy\"")
            .nth(1)
            .and_then(|rest| rest.split("content=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .expect("index.html has a CSP meta tag");
        for directive in meta.split(';').map(str::trim).filter(|d| !d.is_empty()) {
            assert!(
                CONTENT_SECURITY_POLICY
                    .split(';')
                    .any(|ours| ours.trim() == directive),
                "{directive} is in the page's policy but not the header's"
            );
        }
    }
}
