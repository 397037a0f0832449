//! Connections: how many at once, how long each may take, and an accept loop that outlives
//! every error. Each limit answers one way a single client could otherwise take the whole
//! server down or hold it hostage.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How much of the server one connection may hold, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more wait in the listen backlog until one ends.
    pub max_connections: usize,
    /// Time a client gets to send a request head, and the longest a connection may go without
    /// moving a byte either way (a client that stopped reading a download, or an idle
    /// keep-alive) before it is closed.
    pub timeout: Duration,
    /// How long a connection takes new requests. After that it finishes the response under
    /// way and closes, and if that takes as long again it is cut, however slowly it trickles.
    pub lifetime: Duration,
}

/// A request head larger than this (cookies included) is refused with 431; hyper then stops
/// reading, so a client cannot make the server buffer more than this.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Browsers send a dozen or two.
const MAX_HEADERS: usize = 64;

/// Accepts connections forever, serving each with `router` within `limits`.
pub async fn accept_loop(listener: TcpListener, router: Router, limits: Limits) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut last_report: Option<Instant> = None;
    loop {
        // Waiting for a permit before accepting leaves the excess in the kernel's backlog
        // instead of holding sockets (and file descriptors) for them here.
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return; // the semaphore is never closed
        };
        match listener.accept().await {
            Ok((stream, _peer)) => {
                tokio::spawn(serve_connection(stream, router.clone(), limits, permit));
            }
            Err(error) => {
                // Out of file descriptors (EMFILE/ENFILE) or memory, or a connection reset
                // before it was accepted: all pass. Pausing lets finishing connections free
                // what ran out instead of spinning on the same error.
                if last_report.is_none_or(|at| at.elapsed() >= Duration::from_secs(5)) {
                    eprintln!("warning: accepting a connection failed (retrying): {error}");
                    last_report = Some(Instant::now());
                }
                drop(permit);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    _permit: OwnedSemaphorePermit,
) {
    // Small responses (304s, HEAD) should leave at once rather than wait for Nagle.
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .max_buf_size(2 * MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    let connection = builder.serve_connection(io, TowerToHyperService::new(router));
    tokio::pin!(connection);
    let lifetime = tokio::time::sleep(limits.lifetime);
    tokio::pin!(lifetime);
    let mut winding_down = false;
    let mut check = tokio::time::interval((limits.timeout / 4).max(Duration::from_millis(50)));
    loop {
        tokio::select! {
            // A client that hangs up, or sends garbage, is its own business.
            _ = &mut connection => return,
            () = &mut lifetime => {
                if winding_down {
                    return;
                }
                winding_down = true;
                connection.as_mut().graceful_shutdown();
                let deadline = tokio::time::Instant::now() + limits.lifetime;
                lifetime.as_mut().reset(deadline);
            }
            _ = check.tick() => {
                if activity.idle() >= limits.timeout {
                    return;
                }
            }
        }
    }
}

/// When a connection last moved a byte.
struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last byte moved.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// A stream that notes in [`Activity`] every read or write that moved bytes.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::{AllowedHosts, Roots, Site, router};

    /// Serves a one-page site on a free loopback port within `limits`; returns its address.
    fn start(runtime: &tokio::runtime::Runtime, dir: &std::path::Path, limits: Limits) -> String {
        std::fs::create_dir_all(dir.join("www")).expect("mkdir");
        std::fs::write(dir.join("www/index.html"), "page").expect("write");
        let roots = Roots::new(&dir.join("www"), &dir.join("models")).expect("roots");
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
            let bound = listener.local_addr().expect("address");
            let site = Site::new(roots, None, AllowedHosts::new(bound)).expect("site");
            tokio::spawn(accept_loop(listener, router(site), limits));
            bound.to_string()
        })
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// Sends a keep-alive `GET /` and reads its reply (a 4-byte body).
    fn get(stream: &mut std::net::TcpStream, address: &str) -> String {
        write!(stream, "GET / HTTP/1.1\r\nHost: {address}\r\n\r\n").expect("sends");
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while !reply.ends_with(b"\r\n\r\npage") {
            stream.read_exact(&mut byte).expect("a reply");
            reply.push(byte[0]);
        }
        String::from_utf8_lossy(&reply).into_owned()
    }

    #[test]
    fn a_connection_closes_when_its_lifetime_is_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = runtime();
        let limits = Limits {
            max_connections: 4,
            timeout: Duration::from_secs(30),
            lifetime: Duration::from_millis(300),
        };
        let address = start(&runtime, dir.path(), limits);
        let mut stream = std::net::TcpStream::connect(&address).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        assert!(get(&mut stream, &address).starts_with("HTTP/1.1 200"));
        let started = Instant::now();
        let mut rest = Vec::new();
        stream
            .read_to_end(&mut rest)
            .expect("closed, not timed out");
        assert!(rest.is_empty());
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn connections_over_the_cap_wait_their_turn() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = runtime();
        let limits = Limits {
            max_connections: 2,
            timeout: Duration::from_secs(30),
            lifetime: Duration::from_mins(10),
        };
        let address = start(&runtime, dir.path(), limits);
        let connect = || {
            let stream = std::net::TcpStream::connect(&address).expect("connects");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            stream
        };
        let mut first = connect();
        let mut second = connect();
        assert!(get(&mut first, &address).starts_with("HTTP/1.1 200"));
        assert!(get(&mut second, &address).starts_with("HTTP/1.1 200"));
        // Accepted by the kernel but not served while both slots are held.
        let mut third = connect();
        third
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        write!(third, "GET / HTTP/1.1\r\nHost: {address}\r\n\r\n").expect("sends");
        let mut byte = [0u8; 1];
        let waiting = third.read(&mut byte).expect_err("no reply yet");
        assert!(
            matches!(
                waiting.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{waiting}"
        );
        drop(first);
        third
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut status = [0u8; 12];
        third
            .read_exact(&mut status)
            .expect("served once a slot frees");
        assert_eq!(&status, b"HTTP/1.1 200");
    }
}
