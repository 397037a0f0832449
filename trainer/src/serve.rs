//! `onesheet serve`: the drop page (`www/`) and the shipped model (`models/`) as static files.
//!
//! Loopback by default: the page needs nothing but static files, and a visitor's posters never
//! leave their browser. The first line on stdout is the page's URL, so scripts and tests that
//! ask for `--port 0` can read where it landed.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, bail};
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

/// `onesheet serve` options.
#[derive(clap::Args)]
pub struct Args {
    /// TCP port; 0 picks a free one (the URL is printed on the first line of stdout).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on. The default keeps the page on this machine.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// The front end: index.html and the wasm build in pkg/.
    #[arg(long, default_value = "www")]
    pub www: PathBuf,
    /// Served under /models/: the shipped model bundle.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Requests handled at once (the page fetches its script, wasm and model in parallel).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
}

/// The wasm build the page cannot start without.
const WASM: &str = "pkg/onesheet_bg.wasm";
/// The model the page loads unless told otherwise.
const SHIPPED_MODEL: &str = "onesheet.safetensors";

/// Serves until interrupted.
pub fn run(args: Args) -> Result<()> {
    if !args.www.join("index.html").is_file() {
        bail!(
            "{} has no index.html: run from the repository root or pass --www",
            args.www.display()
        );
    }
    if !args.www.join(WASM).is_file() {
        bail!(
            "{} is missing: the wasm build is not there; run scripts/build-wasm.sh \
             (scripts/serve.sh builds and serves in one go)",
            args.www.join(WASM).display()
        );
    }
    if !args.models.join(SHIPPED_MODEL).is_file() {
        eprintln!(
            "warning: {} not found: the page will fail to load its model unless given \
             ?model=URL",
            args.models.join(SHIPPED_MODEL).display()
        );
    }

    let address = SocketAddr::new(args.host, args.port);
    let server = Server::http(address).map_err(|error| bind_error(address, error))?;
    let bound = server
        .server_addr()
        .to_ip()
        .context("the server is not listening on an IP address")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "http://{bound}/").context("writing the URL to stdout")?;
    stdout.flush().context("writing the URL to stdout")?;
    drop(stdout);
    eprintln!(
        "serving {} and {} (as /models/) on http://{bound}/ — Ctrl-C stops",
        args.www.display(),
        args.models.display()
    );

    let server = Arc::new(server);
    let roots = Arc::new(Roots {
        www: args.www,
        models: args.models,
    });
    let workers: Vec<_> = (0..args.threads)
        .map(|_| {
            let server = Arc::clone(&server);
            let roots = Arc::clone(&roots);
            std::thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    // A client that hangs up mid-response is its own business.
                    let _ = handle(&roots, request);
                }
            })
        })
        .collect();
    for worker in workers {
        if worker.join().is_err() {
            bail!("a server thread panicked");
        }
    }
    Ok(())
}

fn bind_error(
    address: SocketAddr,
    error: Box<dyn std::error::Error + Send + Sync>,
) -> anyhow::Error {
    match error
        .downcast_ref::<std::io::Error>()
        .map(std::io::Error::kind)
    {
        Some(ErrorKind::AddrInUse) => anyhow::anyhow!(
            "port {} on {} is already in use: stop what is using it or pick another with \
             --port (0 picks a free one)",
            address.port(),
            address.ip()
        ),
        Some(ErrorKind::AddrNotAvailable) => anyhow::anyhow!(
            "{} is not an address of this machine: pass --host with one that is",
            address.ip()
        ),
        Some(ErrorKind::PermissionDenied) => anyhow::anyhow!(
            "not allowed to listen on port {}: ports below 1024 need privileges; pick \
             another with --port",
            address.port()
        ),
        _ => anyhow::anyhow!("cannot listen on {address}: {error}"),
    }
}

/// The two directories served.
struct Roots {
    www: PathBuf,
    models: PathBuf,
}

impl Roots {
    /// The file a URL path names, or `None` when it names nothing servable.
    fn resolve(&self, url_path: &str) -> Option<PathBuf> {
        let path = percent_decode(url_path)?;
        let relative = path.strip_prefix('/')?;
        let (root, rest) = match relative.strip_prefix("models/") {
            Some(rest) => (&self.models, rest),
            None => (&self.www, relative),
        };
        let rest = if rest.is_empty() || rest.ends_with('/') {
            format!("{rest}index.html")
        } else {
            rest.to_string()
        };
        let relative = safe_relative(&rest)?;
        let file = root.join(relative);
        file.is_file().then_some(file)
    }
}

/// `rest` as a path that cannot leave its root: plain names only — no `..`, no root or drive,
/// no backslashes (a separator on Windows), no hidden files.
fn safe_relative(rest: &str) -> Option<&Path> {
    if rest.contains('\\') || rest.contains('\0') {
        return None;
    }
    let path = Path::new(rest);
    let plain = path.components().all(|c| match c {
        Component::Normal(name) => !name.to_string_lossy().starts_with('.'),
        _ => false,
    });
    plain.then_some(path)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The Content-Type for a file, by extension; what the page needs is pinned, the rest guessed.
fn content_type(path: &Path) -> String {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("wasm") => "application/wasm".into(),
        Some("safetensors") => "application/octet-stream".into(),
        Some("js" | "mjs") => "text/javascript; charset=utf-8".into(),
        Some("html") => "text/html; charset=utf-8".into(),
        Some("css") => "text/css; charset=utf-8".into(),
        Some("json" | "webmanifest") => "application/json".into(),
        Some("md" | "txt") => "text/plain; charset=utf-8".into(),
        _ => mime_guess::from_path(path)
            .first_or_octet_stream()
            .essence_str()
            .to_string(),
    }
}

/// What every response carries: no MIME sniffing, and revalidate on every use (the files change
/// with each build, and the page keeps its own copy of the big ones in the Cache API).
fn common_headers() -> Vec<Header> {
    [
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-cache"),
        ("Referrer-Policy", "no-referrer"),
    ]
    .iter()
    .filter_map(|(name, value)| Header::from_bytes(*name, *value).ok())
    .collect()
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name, value).ok()
}

fn handle(roots: &Roots, request: Request) -> std::io::Result<()> {
    if !matches!(request.method(), Method::Get | Method::Head) {
        let mut response =
            Response::from_data(b"only GET and HEAD\n".to_vec()).with_status_code(405);
        let allowed = [
            header("Allow", "GET, HEAD"),
            header("Content-Type", "text/plain; charset=utf-8"),
        ];
        for h in allowed.into_iter().flatten() {
            response.add_header(h);
        }
        return request.respond(response);
    }
    let url_path = request.url().split(['?', '#']).next().unwrap_or("/");
    let Some(path) = roots.resolve(url_path) else {
        return request.respond(not_found());
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(_) => return request.respond(not_found()),
    };
    let etag = file.metadata().ok().map(|m| {
        let modified = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        format!("\"{:x}-{:x}\"", m.len(), modified)
    });

    let mut headers = common_headers();
    headers.extend(header("Content-Type", &content_type(&path)));
    if let Some(etag) = &etag {
        headers.extend(header("ETag", etag));
    }
    let unchanged = etag.as_ref().is_some_and(|etag| {
        request
            .headers()
            .iter()
            .filter(|h| h.field.equiv("If-None-Match"))
            .any(|h| h.value.as_str().split(',').any(|t| t.trim() == etag))
    });
    if unchanged {
        let mut response = Response::empty(StatusCode(304));
        for h in headers {
            response.add_header(h);
        }
        return request.respond(response);
    }
    let mut response = Response::from_file(file);
    for h in headers {
        response.add_header(h);
    }
    request.respond(response)
}

fn not_found() -> Response<std::io::Cursor<Vec<u8>>> {
    let mut response = Response::from_data(b"not found\n".to_vec()).with_status_code(404);
    let mut headers = common_headers();
    headers.extend(header("Content-Type", "text/plain; charset=utf-8"));
    for h in headers {
        response.add_header(h);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relative_paths_only() {
        assert!(safe_relative("pkg/onesheet.js").is_some());
        for bad in [
            "../secret",
            "pkg/../../secret",
            "/etc/passwd",
            "pkg\\..\\secret",
            ".git/config",
            "pkg/.hidden",
        ] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/a%20b").as_deref(), Some("/a b"));
        assert_eq!(percent_decode("/%2e%2e/x").as_deref(), Some("/../x"));
        assert_eq!(percent_decode("/bad%2"), None);
        assert_eq!(percent_decode("/bad%zz"), None);
        assert_eq!(percent_decode("/%ff"), None);
    }

    #[test]
    fn pinned_content_types() {
        assert_eq!(content_type(Path::new("a.wasm")), "application/wasm");
        assert_eq!(
            content_type(Path::new("a.safetensors")),
            "application/octet-stream"
        );
        assert_eq!(
            content_type(Path::new("a.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.png")), "image/png");
    }
}
