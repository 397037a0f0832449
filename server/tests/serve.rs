//! `onesheet-serve` (what `onesheet serve` runs), the real binary on a free loopback port: the page at `/`, MIME types,
//! `/models/`, conditional requests, no way out of its directories, clear start-up errors; and
//! the attacks it must outlive: huge or missing bodies, slow or endless heads, clients that stop
//! reading, running out of file descriptors, symlinks out, foreign `Host`s.
//!
//! Every connection here goes to 127.0.0.1, and every read has a timeout: a server that hangs
//! fails its test rather than hanging it.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `onesheet-serve`, killed when dropped.
struct Server {
    child: Child,
    /// `127.0.0.1:port`
    address: String,
}

impl Server {
    fn assert_alive(&mut self) {
        let exited = self.child.try_wait().expect("waits");
        assert!(exited.is_none(), "the server died: {exited:?}");
    }
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

/// `onesheet-serve --port 0` on the site at `root`, with more arguments.
fn command(root: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onesheet-serve"));
    command
        .args(["--port", "0", "--www"])
        .arg(root.join("www"))
        .arg("--models")
        .arg(root.join("models"))
        .args(extra);
    command
}

fn serve(root: &Path, extra: &[&str]) -> Server {
    start(command(root, extra))
}

/// Starts `command` and reads the URL from its first line of stdout.
fn start(mut command: Command) -> Server {
    let mut child = command
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

/// A connection whose reads give up after `timeout`.
fn connect(address: &str, timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connects");
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream
}

/// One HTTP/1.1 request on its own connection; the raw path goes out exactly as given.
fn request(address: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        for part in [name, ": ", value, "\r\n"] {
            head.push_str(part);
        }
    }
    head.push_str("\r\n");
    exchange(address, head.as_bytes(), Duration::from_secs(30))
}

/// Sends `raw` on a fresh connection and parses everything that comes back until the server
/// closes it. Panics if it has not within `timeout`.
fn exchange(address: &str, raw: &[u8], timeout: Duration) -> Reply {
    let mut stream = connect(address, timeout);
    stream.write_all(raw).expect("sends");
    parse(&read_until_closed(&mut stream))
}

fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        // A reset after the reply (the server closed with our bytes unread) still leaves the
        // reply readable.
        Err(error) if error.kind() == ErrorKind::ConnectionReset && !raw.is_empty() => {}
        Err(error) => panic!("no complete reply: {error} after {} bytes", raw.len()),
    }
    raw
}

fn parse(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("a header block in {:?}", String::from_utf8_lossy(raw)));
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

/// `GET /` answers, and soon: the server is alive and not held up.
fn assert_still_serving(server: &mut Server) {
    let started = Instant::now();
    let reply = exchange(
        &server.address,
        format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.address
        )
        .as_bytes(),
        Duration::from_secs(10),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"<!doctype html><title>drop</title>");
    // Generous for a loaded machine; a stuck server never answers at all.
    assert!(started.elapsed() < Duration::from_secs(10));
    server.assert_alive();
}

#[test]
fn serves_the_page_with_the_right_types() {
    let dir = site();
    std::fs::write(dir.path().join("models/genres.json"), "{}").expect("w");
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
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    assert_eq!(get(a, "/index.html?model=x").body, index.body);

    for (path, mime) in [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/pkg/onesheet_bg.wasm", "application/wasm"),
        ("/a%20b.txt", "text/plain; charset=utf-8"),
        ("/models/onesheet.safetensors", "application/octet-stream"),
        ("/models/genres.json", "application/json"),
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
    let head = request(a, "HEAD", "/", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("34"));
    assert!(head.body.is_empty());
}

#[test]
fn only_get_and_head() {
    let dir = site();
    let server = serve(dir.path(), &[]);
    let a = &server.address;
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
        let reply = request(a, method, "/", &[]);
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"), "{method}");
    }
}

#[test]
fn every_response_carries_the_security_headers() {
    let dir = site();
    let server = serve(dir.path(), &[]);
    let a = &server.address;
    for reply in [get(a, "/"), get(a, "/app.js"), get(a, "/missing.js")] {
        let policy = reply.header("content-security-policy").expect("a CSP");
        for directive in [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "connect-src 'self'",
            "img-src 'self' blob: data:",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{directive} in {policy}");
        }
        assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(
            reply.header("cross-origin-opener-policy"),
            Some("same-origin")
        );
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    }
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
    let head = request(
        a,
        "HEAD",
        "/models/onesheet.safetensors",
        &[("If-None-Match", &etag)],
    );
    assert_eq!(head.status, 304);
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
        "/a%00.txt",
        "/%zz",
        "/%ff",
    ] {
        let reply = get(a, path);
        assert!(
            matches!(reply.status, 400 | 404),
            "{path}: {}",
            reply.status
        );
        let body = String::from_utf8_lossy(&reply.body);
        assert!(!body.contains("TOP SECRET"), "{path}");
        assert!(!body.contains("root:"), "{path}");
    }
}

#[test]
fn symlinks_lead_nowhere() {
    let dir = site();
    let root = dir.path();
    std::fs::create_dir_all(root.join("outside")).expect("mkdir");
    std::fs::write(root.join("outside/stolen.json"), "{\"secret\":1}").expect("w");
    std::fs::write(root.join("outside/stolen.js"), "secret()").expect("w");
    std::os::unix::fs::symlink("/etc", root.join("models/link")).expect("symlink");
    std::os::unix::fs::symlink(root.join("outside"), root.join("models/out")).expect("symlink");
    std::os::unix::fs::symlink(root.join("outside"), root.join("www/out")).expect("symlink");
    std::os::unix::fs::symlink(
        root.join("outside/stolen.json"),
        root.join("models/stolen.json"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink("../outside/stolen.js", root.join("www/stolen.js"))
        .expect("symlink");
    let server = serve(root, &[]);
    let a = &server.address;
    for path in [
        "/models/link/passwd",
        "/models/link/hostname",
        "/models/out/stolen.json",
        "/models/stolen.json",
        "/out/stolen.js",
        "/out/stolen.json",
        "/stolen.js",
    ] {
        let reply = get(a, path);
        assert_eq!(reply.status, 404, "{path}");
        assert!(!String::from_utf8_lossy(&reply.body).contains("secret"));
    }
    assert_eq!(get(a, "/models/onesheet.safetensors").status, 200);
}

#[test]
fn models_serve_data_only() {
    let dir = site();
    for name in ["evil.html", "evil.htm", "evil.svg", "evil.js", "evil.wasm"] {
        std::fs::write(dir.path().join("models").join(name), "<script>x()</script>").expect("w");
    }
    std::fs::write(dir.path().join("www/secret.pem"), "KEY").expect("w");
    let server = serve(dir.path(), &[]);
    let a = &server.address;
    for path in [
        "/models/evil.html",
        "/models/evil.htm",
        "/models/evil.svg",
        "/models/evil.js",
        "/models/evil.wasm",
        "/secret.pem",
    ] {
        assert_eq!(get(a, path).status, 404, "{path}");
    }
}

#[test]
fn other_hosts_are_refused() {
    let dir = site();
    let server = serve(dir.path(), &[]);
    let a = &server.address;
    let port = a.rsplit(':').next().expect("a port");
    let quick = Duration::from_secs(10);
    let with_host = |host: &str| {
        let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        exchange(a, raw.as_bytes(), quick).status
    };
    // DNS rebinding: a page on evil.example re-points its name at 127.0.0.1.
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!(
            "127.0.0.1:{}",
            u32::from(port.parse::<u16>().expect("port")) + 1
        ),
        format!("localhost.evil.example:{port}"),
    ] {
        assert!(matches!(with_host(&host), 421 | 400), "{host}");
    }
    assert_eq!(with_host(&format!("localhost:{port}")), 200);
    assert_eq!(with_host(&format!("LOCALHOST:{port}")), 200);
    assert_eq!(with_host(a), 200);

    let absolute = format!(
        "GET http://evil.example:{port}/ HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n"
    );
    assert!(matches!(
        exchange(a, absolute.as_bytes(), quick).status,
        421 | 400
    ));
    let no_host = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(a, no_host, quick).status, 400);
    let two_hosts =
        format!("GET / HTTP/1.1\r\nHost: {a}\r\nHost: {a}\r\nConnection: close\r\n\r\n");
    assert_eq!(exchange(a, two_hosts.as_bytes(), quick).status, 400);
    // HTTP/1.0 has no Host to check, and no browser speaks it.
    assert_eq!(exchange(a, b"GET / HTTP/1.0\r\n\r\n", quick).status, 200);
}

#[test]
fn huge_content_lengths_are_refused_unread() {
    let dir = site();
    let mut server = serve(dir.path(), &[]);
    let a = server.address.clone();
    for length in [
        "100000000000",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999",
        "-1",
    ] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {a}\r\nContent-Length: {length}\r\n\r\n");
        let reply = exchange(&a, raw.as_bytes(), Duration::from_secs(10));
        // hyper refuses lengths past its own limit as it parses the head (400 or 431).
        assert!(
            matches!(reply.status, 400 | 413 | 431),
            "{length}: {}",
            reply.status
        );
        server.assert_alive();
    }
    let chunked = format!("GET / HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n");
    let reply = exchange(&a, chunked.as_bytes(), Duration::from_secs(10));
    assert!(matches!(reply.status, 400 | 413), "{}", reply.status);
    assert_still_serving(&mut server);
}

#[test]
fn bodies_announced_and_never_sent_hold_nothing() {
    let dir = site();
    let mut server = serve(dir.path(), &[]);
    let a = server.address.clone();
    let silent: Vec<TcpStream> = (0..16)
        .map(|i| {
            let mut stream = connect(&a, Duration::from_secs(10));
            let method = if i % 2 == 0 { "GET" } else { "POST" };
            let raw = format!("{method} / HTTP/1.1\r\nHost: {a}\r\nContent-Length: 1000\r\n\r\n");
            stream.write_all(raw.as_bytes()).expect("sends");
            stream
        })
        .collect();
    assert_still_serving(&mut server);
    for mut stream in silent {
        let reply = parse(&read_until_closed(&mut stream));
        assert!(matches!(reply.status, 405 | 413), "{}", reply.status);
    }
}

#[test]
fn slow_heads_hold_nothing() {
    let dir = site();
    let mut server = serve(dir.path(), &[]);
    let a = server.address.clone();
    // Slowloris: half a request head each, then silence.
    let stalled: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut stream = connect(&a, Duration::from_secs(10));
            stream
                .write_all(format!("GET / HTTP/1.1\r\nHost: {a}\r\nX-Wait: ").as_bytes())
                .expect("sends");
            stream
        })
        .collect();
    assert_still_serving(&mut server);
    drop(stalled);
}

#[test]
fn slow_and_silent_connections_are_closed() {
    let dir = site();
    let mut server = serve(dir.path(), &["--timeout", "1"]);
    let a = server.address.clone();
    let mut half = connect(&a, Duration::from_secs(15));
    half.write_all(b"GET / HTTP/1.1\r\nHost: ").expect("sends");
    let mut silent = connect(&a, Duration::from_secs(15));
    let mut trickle = connect(&a, Duration::from_secs(15));
    let started = Instant::now();
    // A head sent a byte at a time still has to be complete within the timeout.
    let trickler = std::thread::spawn(move || {
        for byte in b"GET / HTTP/1.1\r\nX-Slow: ".iter().cycle().take(40) {
            if trickle.write_all(&[*byte]).is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let mut rest = Vec::new();
        trickle.read_to_end(&mut rest).is_ok() || !rest.is_empty()
    });
    for stream in [&mut half, &mut silent] {
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(error) => assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(trickler.join().expect("thread"), "the trickle was cut off");
    assert_still_serving(&mut server);
}

#[test]
fn a_megabyte_header_is_refused() {
    let dir = site();
    let mut server = serve(dir.path(), &[]);
    let a = server.address.clone();
    let mut stream = connect(&a, Duration::from_secs(15));
    let mut writer = stream.try_clone().expect("clone");
    let head = format!("GET / HTTP/1.1\r\nHost: {a}\r\nX-Big: ");
    // The server may stop reading (and hang up) long before the megabyte is through.
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        for _ in 0..1024 {
            if writer.write_all(&[b'a'; 1024]).is_err() {
                return;
            }
        }
        let _ = writer.write_all(b"\r\n\r\n");
    });
    let reply = parse(&read_until_closed(&mut stream));
    assert!(matches!(reply.status, 431 | 400), "{}", reply.status);
    sender.join().expect("thread");
    assert_still_serving(&mut server);
}

/// Starts a download of a file far larger than the socket buffers and stops reading it.
fn stall_download(address: &str) -> TcpStream {
    let mut stalled = connect(address, Duration::from_secs(30));
    stalled
        .write_all(
            format!("GET /models/big.safetensors HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes(),
        )
        .expect("sends");
    let mut first = [0u8; 12];
    stalled.read_exact(&mut first).expect("the download starts");
    assert_eq!(&first, b"HTTP/1.1 200");
    stalled
}

fn big_model(dir: &Path) {
    let big = std::fs::File::create(dir.join("models/big.safetensors")).expect("create");
    big.set_len(256 << 20).expect("sparse file");
}

#[test]
fn a_slow_download_does_not_hold_up_other_requests() {
    let dir = site();
    big_model(dir.path());
    let mut server = serve(dir.path(), &[]);
    let a = server.address.clone();
    let stalled: Vec<TcpStream> = (0..16).map(|_| stall_download(&a)).collect();

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
    assert_still_serving(&mut server);
    drop(stalled);
}

#[test]
fn a_reader_that_stops_is_cut_off() {
    let dir = site();
    big_model(dir.path());
    // One connection at a time: the next request is served only once the stalled one is gone.
    let mut server = serve(dir.path(), &["--max-connections", "1", "--timeout", "1"]);
    let a = server.address.clone();
    let stalled = stall_download(&a);
    assert_still_serving(&mut server);
    drop(stalled);
}

#[test]
fn accepting_survives_running_out_of_file_descriptors() {
    let dir = site();
    let mut limited = Command::new("sh");
    limited
        .arg("-c")
        .arg("ulimit -n 40 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_onesheet-serve"))
        .args(command(dir.path(), &[]).get_args());
    let mut server = start(limited);
    let a = server.address.clone();
    // Far more connections than the server has descriptors for: accept() fails with EMFILE
    // until some close.
    let hogs: Vec<TcpStream> = (0..80)
        .map(|_| connect(&a, Duration::from_secs(10)))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    server.assert_alive();
    drop(hogs);
    assert_still_serving(&mut server);
    assert_still_serving(&mut server);
}

#[test]
fn a_public_address_is_announced_loudly() {
    let dir = site();
    // Reads stderr up to the "serving" line; never connects.
    let stderr_until_serving = |host: &str| {
        let mut child = command(dir.path(), &["--host", host])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        let stderr = child.stderr.take().expect("stderr");
        let (send, receive) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let done = line.starts_with("serving ");
                text.push_str(&line);
                text.push('\n');
                if done {
                    break;
                }
            }
            let _ = send.send(text);
        });
        let text = receive.recv_timeout(Duration::from_secs(30));
        let _ = child.kill();
        let _ = child.wait();
        text.expect("the server starts")
    };
    let public = stderr_until_serving("0.0.0.0");
    assert!(public.contains("WARNING"), "{public}");
    assert!(public.contains("OTHER MACHINES"), "{public}");
    let private = stderr_until_serving("127.0.0.1");
    assert!(private.contains("serving "), "{private}");
    assert!(!private.contains("WARNING"), "{private}");
}

#[test]
fn a_busy_port_is_reported_clearly() {
    let dir = site();
    let taken = TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = taken.local_addr().expect("addr").port().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_onesheet-serve"))
        .args(["--port", &port, "--www"])
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
    let output = Command::new(env!("CARGO_BIN_EXE_onesheet-serve"))
        .args(["--port", "0", "--www"])
        .arg(dir.path().join("www"))
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("scripts/build-wasm.sh"), "{stderr}");
    assert!(output.stdout.is_empty());
}
