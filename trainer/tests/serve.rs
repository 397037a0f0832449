//! `onesheet serve`, the real binary on a free port: the page at `/`, MIME types, `/models/`,
//! conditional requests, no way out of its directories, parallel requests, clear start-up errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `onesheet serve`, killed when dropped.
struct Server {
    child: Child,
    /// `127.0.0.1:port`
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A site: www/ with index.html, a script, a wasm build and a secret beside it; models/.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("www/pkg")).expect("mkdir");
    std::fs::create_dir_all(root.join("models")).expect("mkdir");
    std::fs::write(
        root.join("www/index.html"),
        "<!doctype html><title>drop</title>",
    )
    .expect("w");
    std::fs::write(root.join("www/app.js"), "export {};").expect("w");
    std::fs::write(root.join("www/style.css"), "body{}").expect("w");
    std::fs::write(root.join("www/pkg/onesheet_bg.wasm"), b"\0asm\x01\0\0\0").expect("w");
    std::fs::write(root.join("www/pkg/.gitignore"), "*").expect("w");
    std::fs::write(root.join("www/a b.txt"), "spaced").expect("w");
    std::fs::write(root.join("models/onesheet.safetensors"), b"model bytes").expect("w");
    std::fs::write(root.join("secret.txt"), "TOP SECRET").expect("w");
    dir
}

fn serve(root: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_onesheet"))
        .args(["serve", "--port", "0", "--www"])
        .arg(root.join("www"))
        .arg("--models")
        .arg(root.join("models"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("reads the URL line");
    let address = first
        .trim()
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("first line is the URL, got {first:?}"))
        .to_string();
    Server { child, address }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on its own connection; the raw path goes out exactly as given.
fn request(address: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(address).expect("connects");
    // Not a timing assertion: a hung server should fail the test, not hang it.
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("sends");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("reads the reply");
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn get(address: &str, path: &str) -> Reply {
    request(address, "GET", path, &[])
}

#[test]
fn serves_the_page_with_the_right_types() {
    let dir = site();
    let server = serve(dir.path(), &[]);
    let a = &server.address;
    assert!(a.starts_with("127.0.0.1:"), "loopback by default: {a}");

    let index = get(a, "/");
    assert_eq!(index.status, 200);
    assert_eq!(index.body, b"<!doctype html><title>drop</title>");
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(get(a, "/index.html?model=x").body, index.body);

    for (path, mime) in [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/pkg/onesheet_bg.wasm", "application/wasm"),
        ("/models/onesheet.safetensors", "application/octet-stream"),
    ] {
        let reply = get(a, path);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some(mime), "{path}");
    }
    assert_eq!(get(a, "/models/onesheet.safetensors").body, b"model bytes");
    assert_eq!(get(a, "/a%20b.txt").body, b"spaced");
    assert_eq!(get(a, "/missing.js").status, 404);
    assert_eq!(get(a, "/models/").status, 404);

    let head = request(a, "HEAD", "/models/onesheet.safetensors", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("11"));
    assert!(head.body.is_empty());

    assert_eq!(request(a, "POST", "/", &[]).status, 405);
}

#[test]
fn conditional_requests_get_not_modified() {
    let dir = site();
    let server = serve(dir.path(), &[]);
    let a = &server.address;
    let first = get(a, "/models/onesheet.safetensors");
    let etag = first.header("etag").expect("an ETag").to_string();
    let again = request(
        a,
        "GET",
        "/models/onesheet.safetensors",
        &[("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let stale = request(
        a,
        "GET",
        "/models/onesheet.safetensors",
        &[("If-None-Match", "\"something-else\"")],
    );
    assert_eq!(stale.status, 200);
}

#[test]
fn nothing_outside_its_directories() {
    let dir = site();
    let server = serve(dir.path(), &[]);
    let a = &server.address;
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/pkg/..%2f..%2fsecret.txt",
        "/models/../../secret.txt",
        "/models/%2e%2e/%2e%2e/secret.txt",
        "/models/..%5c..%5csecret.txt",
        "/..%5csecret.txt",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/pkg/.gitignore",
        "/%00",
        "/%zz",
        "/%ff",
    ] {
        let reply = get(a, path);
        assert!(reply.status >= 400, "{path}: {}", reply.status);
        let body = String::from_utf8_lossy(&reply.body);
        assert!(!body.contains("TOP SECRET"), "{path}");
        assert!(!body.contains("root:"), "{path}");
    }
}

#[test]
fn a_slow_download_does_not_hold_up_other_requests() {
    let dir = site();
    // Far more than the socket buffers hold, so its handler stays busy while nobody reads.
    let big = std::fs::File::create(dir.path().join("models/big.safetensors")).expect("create");
    big.set_len(256 << 20).expect("sparse file");
    let server = serve(dir.path(), &[]);
    let a = &server.address;

    let mut stalled = TcpStream::connect(a).expect("connects");
    stalled
        .write_all(format!("GET /models/big.safetensors HTTP/1.1\r\nHost: {a}\r\n\r\n").as_bytes())
        .expect("sends");
    let mut first = [0u8; 12];
    stalled.read_exact(&mut first).expect("the download starts");
    assert_eq!(&first, b"HTTP/1.1 200");

    let others: Vec<_> = ["/", "/app.js", "/pkg/onesheet_bg.wasm", "/style.css"]
        .into_iter()
        .map(|path| {
            let a = a.clone();
            std::thread::spawn(move || get(&a, path).status)
        })
        .collect();
    for other in others {
        assert_eq!(other.join().expect("thread"), 200);
    }
    drop(stalled);
}

#[test]
fn a_busy_port_is_reported_clearly() {
    let dir = site();
    let taken = TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = taken.local_addr().expect("addr").port().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_onesheet"))
        .args(["serve", "--port", &port, "--www"])
        .arg(dir.path().join("www"))
        .arg("--models")
        .arg(dir.path().join("models"))
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already in use"), "{stderr}");
    assert!(stderr.contains(&port), "{stderr}");
}

#[test]
fn an_unbuilt_page_is_reported_clearly() {
    let dir = site();
    std::fs::remove_file(dir.path().join("www/pkg/onesheet_bg.wasm")).expect("rm");
    let output = Command::new(env!("CARGO_BIN_EXE_onesheet"))
        .args(["serve", "--port", "0", "--www"])
        .arg(dir.path().join("www"))
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("scripts/build-wasm.sh"), "{stderr}");
    assert!(output.stdout.is_empty());
}
