//! Raw bytes from a client, through hyper's HTTP/1.1 parser into `onesheet serve`'s handler
//! (the router the server runs), as an attacker on the machine sends them: every input gets a
//! response or a closed connection within the time limit, never a crash.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::LazyLock;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use libfuzzer_sys::fuzz_target;
use onesheet_server::{AllowedHosts, Roots, Site, router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The address the fuzzed requests' Host header must name to get past the host check
/// (the seed corpus in `fuzz/seeds/http/` uses it).
const BOUND: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});

/// A page, a wasm file, a bundle, a hidden file and a symlink pointing out of the roots.
static SITE: LazyLock<(tempfile::TempDir, axum::Router)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let www = dir.path().join("www");
    let models = dir.path().join("models");
    std::fs::create_dir_all(www.join("pkg")).expect("www/pkg");
    std::fs::create_dir_all(&models).expect("models");
    std::fs::write(www.join("index.html"), "<!doctype html><title>x</title>").expect("page");
    std::fs::write(www.join("pkg/onesheet_bg.wasm"), b"\0asm\x01\0\0\0").expect("wasm");
    std::fs::write(models.join("onesheet.safetensors"), vec![7u8; 70_000]).expect("bundle");
    std::fs::write(models.join(".secret.json"), "{}").expect("hidden");
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc", models.join("etc")).expect("symlink");
    let samples = dir.path().join("samples");
    std::fs::create_dir_all(&samples).expect("samples");
    std::fs::write(samples.join("poster.jpg"), b"\xff\xd8\xff").expect("sample");
    let roots = Roots::new(&www, &models).expect("roots");
    let site = Site::new(roots, Some(&samples), AllowedHosts::new(BOUND)).expect("site");
    let app = router(site);
    (dir, app)
});

fuzz_target!(|bytes: &[u8]| {
    let app = SITE.1.clone();
    RUNTIME.block_on(async move {
        let (mut client, server) = tokio::io::duplex(64 << 10);
        let connection = http1::Builder::new()
            .max_buf_size(128 << 10)
            .serve_connection(TokioIo::new(server), TowerToHyperService::new(app));
        let talk = async {
            // The server may close early (a refused request): later writes failing is fine.
            let _ = client.write_all(bytes).await;
            let _ = client.shutdown().await;
            let mut answer = Vec::new();
            let _ = client.read_to_end(&mut answer).await;
            answer
        };
        let outcome = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(connection, talk)
        })
        .await;
        assert!(outcome.is_ok(), "a connection stalled for 10 s");
    });
});
