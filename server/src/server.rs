//! Connections: how many at once, how many per client, how long each may take and how slowly
//! it may move, and an accept loop that outlives every error. Each limit answers one way a
//! single client could otherwise take the whole server down or hold it hostage.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::io::IoSlice;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
    /// Connections one client (an IPv4 address, or an IPv6 /64) may hold at once; its next
    /// one is closed as it arrives, so one address cannot take every slot.
    pub max_per_client: usize,
    /// The slowest a connection may move bytes (either way), in bytes per second averaged
    /// over each `timeout`: below it (a keep-alive connection left idle, a request or a
    /// download trickled a byte at a time) it is closed.
    pub min_rate: u64,
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
    let clients = Arc::new(Clients::default());
    let tarpitted = Arc::new(AtomicUsize::new(0));
    let mut accept_report = Report::default();
    let mut client_report = Report::default();
    loop {
        // Waiting for a permit before accepting leaves the excess in the kernel's backlog
        // instead of holding sockets (and file descriptors) for them here.
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return; // the semaphore is never closed
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Some(slot) = Clients::take(&clients, peer, limits.max_per_client) else {
                    tarpit(stream, &tarpitted);
                    client_report.say(|| {
                        format!(
                            "warning: {} already holds {} connections (--max-connections-per-client); \
                             closing its next ones",
                            peer.ip(),
                            limits.max_per_client
                        )
                    });
                    continue;
                };
                tokio::spawn(serve_connection(
                    stream,
                    router.clone(),
                    limits,
                    (permit, slot),
                ));
            }
            Err(error) => {
                // Out of file descriptors (EMFILE/ENFILE) or memory, or a connection reset
                // before it was accepted: all pass. Pausing lets finishing connections free
                // what ran out instead of spinning on the same error.
                accept_report
                    .say(|| format!("warning: accepting a connection failed (retrying): {error}"));
                drop(permit);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Connections over a client's limit held unanswered at once before being closed; past it
/// they are closed as they come.
const MAX_TARPITTED: usize = 64;
/// How long such a connection is held.
const TARPIT: Duration = Duration::from_secs(1);

/// Closes a connection over its client's limit, after [`TARPIT`] while fewer than
/// [`MAX_TARPITTED`] are held: closed at once, a client reconnecting in a loop would make
/// thousands of connections a second and crowd the kernel's accept queue that other visitors'
/// connections wait in; held a second, it makes a few (a file descriptor each, bounded).
fn tarpit(stream: TcpStream, tarpitted: &Arc<AtomicUsize>) {
    if tarpitted.fetch_add(1, Ordering::Relaxed) >= MAX_TARPITTED {
        tarpitted.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    let tarpitted = Arc::clone(tarpitted);
    tokio::spawn(async move {
        tokio::time::sleep(TARPIT).await;
        drop(stream);
        tarpitted.fetch_sub(1, Ordering::Relaxed);
    });
}

/// A warning said at most once every five seconds, however often its cause repeats.
#[derive(Default)]
struct Report {
    last: Option<Instant>,
}

impl Report {
    fn say(&mut self, line: impl FnOnce() -> String) {
        if self
            .last
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(5))
        {
            eprintln!("{}", line());
            self.last = Some(Instant::now());
        }
    }
}

/// Connections held, by client.
#[derive(Default)]
struct Clients {
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its client until dropped.
struct ClientSlot {
    clients: Arc<Clients>,
    client: IpAddr,
}

impl Clients {
    /// A slot for `peer`'s client, unless it holds `max` already.
    fn take(clients: &Arc<Self>, peer: SocketAddr, max: usize) -> Option<ClientSlot> {
        let client = client_of(peer.ip());
        let mut held = clients.lock();
        let count = held.entry(client).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: Arc::clone(clients),
            client,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Every change under the lock is whole.
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut held = self.clients.lock();
        if let Some(count) = held.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}

/// Who a connection counts against: its IPv4 address (an IPv4-mapped IPv6 address is that
/// address), or the /64 of an IPv6 address, the smallest block one subscriber gets.
fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    _held: (OwnedSemaphorePermit, ClientSlot),
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
    let period = (limits.timeout / RATE_SAMPLES).max(Duration::from_millis(25));
    let mut check = tokio::time::interval(period);
    let mut rate = Rate::new(limits.min_rate, limits.timeout);
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
                if activity.idle() >= limits.timeout || rate.too_slow(activity.moved()) {
                    return;
                }
            }
        }
    }
}

/// Checks of a connection's pace per `timeout`.
const RATE_SAMPLES: u32 = 4;

/// Bytes a connection moved over the last window, from samples taken each check.
struct Rate {
    /// The fewest bytes a whole window must move.
    minimum: u64,
    /// Bytes moved so far at each of the last checks, oldest first; full once the
    /// connection is a window old.
    samples: VecDeque<u64>,
}

impl Rate {
    fn new(min_rate: u64, window: Duration) -> Self {
        let minimum =
            u64::try_from(u128::from(min_rate) * window.as_millis() / 1000).unwrap_or(u64::MAX);
        Self {
            minimum,
            samples: VecDeque::with_capacity(RATE_SAMPLES as usize + 1),
        }
    }

    /// Records `moved` (bytes since the connection opened) and says whether the last window
    /// moved fewer than the minimum. A connection younger than a window is not judged yet.
    fn too_slow(&mut self, moved: u64) -> bool {
        self.samples.push_back(moved);
        if self.samples.len() <= RATE_SAMPLES as usize {
            return false;
        }
        let start = self.samples.pop_front().unwrap_or(0);
        moved.saturating_sub(start) < self.minimum
    }
}

/// When a connection last moved a byte, and how many it moved.
struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last byte moved.
    last: AtomicU64,
    /// Bytes read and written.
    moved: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            moved: AtomicU64::new(0),
        }
    }

    fn touch(&self, bytes: usize) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
        self.moved.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
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
            self.activity.touch(buf.filled().len() - before);
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
        if let Poll::Ready(Ok(n)) = poll
            && n > 0
        {
            self.activity.touch(n);
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll
            && n > 0
        {
            self.activity.touch(n);
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
    use crate::test_runtime as runtime;
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
            max_per_client: 4,
            min_rate: 0,
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
            max_per_client: 2,
            min_rate: 0,
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

    /// A blocking connection to `address` from `local`, a loopback address of its own (Linux
    /// routes all of 127/8 to the loopback device), so one test can play several clients.
    fn connect_from(local: &str, address: &str) -> std::net::TcpStream {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let stream = runtime.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .bind(format!("{local}:0").parse().expect("address"))
                .expect("binds");
            socket
                .connect(address.parse().expect("address"))
                .await
                .expect("connects")
                .into_std()
                .expect("a std stream")
        });
        stream.set_nonblocking(false).expect("blocking");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
    }

    /// Whether the server closed `stream` (end of stream or a reset) within its read timeout.
    fn closed(stream: &mut std::net::TcpStream) -> bool {
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(error) => matches!(
                error.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
        }
    }

    #[test]
    fn one_client_cannot_take_every_slot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = runtime();
        let limits = Limits {
            max_connections: 8,
            max_per_client: 3,
            min_rate: 0,
            timeout: Duration::from_secs(30),
            lifetime: Duration::from_mins(10),
        };
        let address = start(&runtime, dir.path(), limits);
        // The abuser: three half-sent requests from 127.0.0.2 hold its three slots...
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut stream = connect_from("127.0.0.2", &address);
            write!(stream, "GET / HTTP/1.1\r\nHost: {address}\r\n").expect("sends");
            held.push(stream);
        }
        // ...so its fourth is closed unanswered, however many it tries.
        for _ in 0..3 {
            let mut extra = connect_from("127.0.0.2", &address);
            let _ = write!(extra, "GET / HTTP/1.1\r\nHost: {address}\r\n\r\n");
            assert!(
                closed(&mut extra),
                "a connection over the client's limit is closed"
            );
        }
        // Another client is served meanwhile, on as many connections as it likes (within the cap).
        for _ in 0..3 {
            let mut stream = connect_from("127.0.0.3", &address);
            assert!(get(&mut stream, &address).starts_with("HTTP/1.1 200"));
        }
        // Once the abuser lets go, its slots are its own again.
        drop(held);
        std::thread::sleep(Duration::from_millis(200));
        let mut stream = connect_from("127.0.0.2", &address);
        assert!(get(&mut stream, &address).starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn idle_and_trickling_connections_are_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = runtime();
        let limits = Limits {
            max_connections: 8,
            max_per_client: 8,
            min_rate: 1024,
            timeout: Duration::from_millis(800),
            lifetime: Duration::from_mins(10),
        };
        let address = start(&runtime, dir.path(), limits);
        // A keep-alive connection left idle after its request.
        let mut idle = connect_from("127.0.0.1", &address);
        assert!(get(&mut idle, &address).starts_with("HTTP/1.1 200"));
        let started = Instant::now();
        assert!(closed(&mut idle));
        assert!(started.elapsed() < Duration::from_secs(5));

        // A request head trickled a byte at a time, each well within the idle timeout: the
        // old rule (close after `timeout` without a byte) never fired on it.
        let mut trickle = connect_from("127.0.0.1", &address);
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {address}\r\nX-Pad: {}\r\n",
            "a".repeat(400)
        );
        let started = Instant::now();
        let mut cut = false;
        for byte in request.bytes() {
            if trickle.write_all(&[byte]).is_err() {
                cut = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            if started.elapsed() > Duration::from_secs(8) {
                break;
            }
        }
        assert!(cut || closed(&mut trickle), "the trickle was cut");
        assert!(started.elapsed() < Duration::from_secs(8));
    }
}
