//! Measures `onesheet-serve` (a release build, already running) while one client abuses it:
//! how long a normal visitor waits for the wasm and for a small file, and how much memory the
//! server holds. `bench/server-abuse.sh` builds both, starts the server and runs this.
//!
//! The abuser connects from loopback addresses of its own (127.0.0.2 and up: Linux routes all
//! of 127/8 to the loopback device), as a second machine would; the visitor from 127.0.0.1.
//! Each abuse runs for `--seconds` while the visitor repeats its two downloads; the table has
//! the visitor's slowest and median times and the server's largest resident memory (VmRSS,
//! sampled every 50 ms from /proc), then its peak (VmHWM) over the whole run.
//!
//!   cargo run --release -p onesheet-server --example abuse -- \
//!       --address 127.0.0.1:8080 --pid PID --wasm /pkg/onesheet_bg.wasm \
//!       --model /models/onesheet.safetensors --small /lib/simd.js

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

#[derive(Parser)]
struct Args {
    /// The server's address.
    #[arg(long)]
    address: SocketAddr,
    /// The server's process id, whose memory is read from /proc.
    #[arg(long)]
    pid: u32,
    /// The wasm build's URL path (the big download).
    #[arg(long)]
    wasm: String,
    /// The model's URL path.
    #[arg(long)]
    model: String,
    /// A small file's URL path.
    #[arg(long)]
    small: String,
    /// Seconds each abuse runs.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Only the abuses whose name holds this text (and the baseline).
    #[arg(long)]
    only: Option<String>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    let args = Arc::new(args);
    println!(
        "| abuse | wasm (gzip) slowest / median | small file slowest / median | visitor failures | server RSS max |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for abuse in Abuse::ALL {
        if let Some(only) = &args.only
            && !matches!(abuse, Abuse::None)
            && !abuse.name().contains(only.as_str())
        {
            continue;
        }
        let row = run(&args, abuse).await?;
        println!(
            "| {} | {:.0} / {:.0} ms | {:.1} / {:.1} ms | {} | {:.0} MiB |",
            abuse.name(),
            row.wasm.0,
            row.wasm.1,
            row.small.0,
            row.small.1,
            row.failures,
            row.rss_mib
        );
    }
    let peak = memory(args.pid, "VmHWM:")?;
    println!("\nserver peak resident memory over the whole run (VmHWM): {peak:.0} MiB");
    Ok(())
}

#[derive(Clone, Copy)]
enum Abuse {
    None,
    Encodings,
    Bursts,
    SlowReaders,
    HalfSentRequests,
    Trickle,
}

impl Abuse {
    const ALL: [Self; 6] = [
        Self::None,
        Self::Encodings,
        Self::Bursts,
        Self::SlowReaders,
        Self::HalfSentRequests,
        Self::Trickle,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::None => "none (baseline)",
            Self::Encodings => "64 percent-encodings of the model and wasm, 32 at once",
            Self::Bursts => "bursts of 6 identical requests for every big file",
            Self::SlowReaders => "48 slow readers of the wasm (3 addresses, 2 kB/s each)",
            Self::HalfSentRequests => "300 half-sent requests, reopened as they close",
            Self::Trickle => "300 connections moving a byte every 2 s, reopened",
        }
    }
}

struct Row {
    wasm: (f64, f64),
    small: (f64, f64),
    failures: usize,
    rss_mib: f64,
}

async fn run(args: &Arc<Args>, abuse: Abuse) -> Result<Row> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut abusers = Vec::new();
    let attackers = match abuse {
        Abuse::None => 0,
        Abuse::Encodings => 32,
        Abuse::Bursts => 6,
        Abuse::SlowReaders => 48,
        // More than the server's --max-connections (256), as finding 4 needs.
        Abuse::HalfSentRequests | Abuse::Trickle => 300,
    };
    for i in 0..attackers {
        let (args, stop) = (Arc::clone(args), Arc::clone(&stop));
        abusers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Each abuser keeps at it; the server closing it is the point.
                if abuse_once(&args, abuse, i).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    // Let the abuse take hold before the visitor comes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_max = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, rss_max, pid) = (Arc::clone(&stop), Arc::clone(&rss_max), args.pid);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(rss) = memory(pid, "VmRSS:") {
                    rss_max.fetch_max(rss as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let (mut wasm, mut small, mut failures) = (Vec::new(), Vec::new(), 0);
    while Instant::now() < deadline {
        for (path, times) in [(&args.wasm, &mut wasm), (&args.small, &mut small)] {
            let started = Instant::now();
            match visit(args.address, path).await {
                Ok(()) => times.push(started.elapsed().as_secs_f64() * 1000.0),
                Err(_) => failures += 1,
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for abuser in abusers {
        abuser.abort();
    }
    sampler.abort();
    // Connections the abuse left behind close before the next one starts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(Row {
        wasm: spread(&mut wasm),
        small: spread(&mut small),
        failures,
        rss_mib: rss_max.load(Ordering::Relaxed) as f64,
    })
}

/// (slowest, median) in ms.
fn spread(times: &mut [f64]) -> (f64, f64) {
    if times.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() - 1], times[times.len() / 2])
}

/// A visitor's download, as a browser asks for it (gzip), to the last byte.
async fn visit(address: SocketAddr, path: &str) -> Result<()> {
    let reply = tokio::time::timeout(
        Duration::from_secs(30),
        download(address, [127, 0, 0, 1], path),
    )
    .await
    .context("timed out")??;
    if !reply.starts_with(b"HTTP/1.1 200") {
        bail!("{}", String::from_utf8_lossy(&reply[..reply.len().min(40)]));
    }
    Ok(())
}

/// `path` downloaded whole (gzip) from `from`: the reply, head and body.
async fn download(address: SocketAddr, from: [u8; 4], path: &str) -> Result<Vec<u8>> {
    let mut stream = connect(address, from).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await?;
    Ok(reply)
}

async fn connect(address: SocketAddr, from: [u8; 4]) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    Ok(socket.connect(address).await?)
}

/// One round of `abuse` by abuser `i`.
async fn abuse_once(args: &Args, abuse: Abuse, i: usize) -> Result<()> {
    let host = args.address;
    match abuse {
        Abuse::None => Ok(()),
        Abuse::Encodings => {
            let file = if i.is_multiple_of(2) {
                &args.model
            } else {
                &args.wasm
            };
            download(host, [127, 0, 0, 2], &spelling(file, i))
                .await
                .map(drop)
        }
        Abuse::Bursts => {
            for path in [&args.wasm, &args.model] {
                download(host, [127, 0, 0, 2], path).await?;
            }
            Ok(())
        }
        Abuse::SlowReaders => {
            let from = [127, 0, 0, 2 + u8::try_from(i % 3)?];
            let socket = TcpSocket::new_v4()?;
            // A small window, so the server's writes wait on this reader.
            socket.set_recv_buffer_size(4096)?;
            socket.bind(SocketAddr::from((from, 0)))?;
            let mut stream = socket.connect(host).await?;
            let request = format!(
                "GET {} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: gzip\r\n\r\n",
                args.wasm
            );
            stream.write_all(request.as_bytes()).await?;
            let mut buffer = [0u8; 1024];
            loop {
                let read = stream.read(&mut buffer).await?;
                if read == 0 {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        Abuse::HalfSentRequests => {
            let mut stream = connect(host, [127, 0, 0, 2]).await?;
            let request = format!("GET {} HTTP/1.1\r\nHost: {host}\r\n", args.small);
            stream.write_all(request.as_bytes()).await?;
            let mut sink = Vec::new();
            stream.read_to_end(&mut sink).await?;
            Ok(())
        }
        Abuse::Trickle => {
            let mut stream = connect(host, [127, 0, 0, 2]).await?;
            let request = format!(
                "GET {} HTTP/1.1\r\nHost: {host}\r\nX-Pad: {}\r\n\r\n",
                args.small,
                "a".repeat(1000)
            );
            for byte in request.bytes() {
                stream.write_all(&[byte]).await?;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Ok(())
        }
    }
}

/// The `i`th spelling of `path`: one letter percent-encoded, or two once every single letter
/// has had its turn, so each abuser asks for the same file under a name of its own.
fn spelling(path: &str, i: usize) -> String {
    let letters = path
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .count()
        .max(1);
    let (first, second) = (i % letters, (i / letters + i + 1) % letters);
    let mut letter = 0;
    let mut out = String::new();
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            if letter == first || (i >= letters && letter == second) {
                let _ = write!(out, "%{:02X}", u32::from(c));
            } else {
                out.push(c);
            }
            letter += 1;
        } else {
            out.push(c);
        }
    }
    out
}

/// A `/proc/PID/status` figure (`VmRSS:`, `VmHWM:`) in MiB.
fn memory(pid: u32, key: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .context("no such line")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib / 1024.0)
}
