//! onesheet's server. `onesheet serve` (and the light `onesheet-serve`, which is all serving
//! needs): the three faces (`www/`: the drop page at `/`, the widget at `/widget/`, the kiosk
//! at `/kiosk/`) and the models (`models/`) as static files; `onesheet-kiosk`: the kiosk
//! alone, at `/`, from inside the binary. No model runs here: the pages run it in the browser.
//!
//! Loopback by default: the page needs nothing but static files, and a visitor's posters never
//! leave their browser. The first line on stdout is the page's URL, so scripts and tests that
//! ask for `--port 0` can read where it landed.
//!
//! Built to survive hostile clients, since any page the visitor opens can reach a loopback
//! server too: hyper parses HTTP within fixed limits (`server`), requests that do not name
//! this server are refused (`hosts`, against DNS rebinding), and only regular files really
//! inside the roots, of the types each root needs, are served (`paths`, `handler`).

mod catalogue;
pub mod cli;
mod compress;
mod handler;
mod hosts;
mod paths;
mod server;
mod site;

use std::io::{ErrorKind, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::net::TcpListener;

pub use handler::{CONTENT_SECURITY_POLICY, handle, router};
pub use hosts::{AllowedHosts, valid_name};
pub use paths::{Root, Target, content_type, percent_decode, resolve};
pub use server::Limits;
pub use site::{Roots, Sample, SampleList, Site, shared_cross_origin};

/// A two-thread runtime for the tests that serve over real sockets or race requests.
#[cfg(test)]
fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// What to serve.
#[derive(Debug, Clone)]
pub enum Content {
    /// `onesheet serve`: the front end and the models from directories.
    Directories {
        /// The front end: index.html and the wasm build in pkg/.
        www: PathBuf,
        /// Served under /models/: the shipped model bundle.
        models: PathBuf,
    },
    /// `onesheet-kiosk`: the kiosk, its wasm and the shipped model, from inside the binary.
    #[cfg(feature = "kiosk")]
    Kiosk,
}

/// Where and what to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// TCP port; 0 picks a free one (the URL is printed on the first line of stdout).
    pub port: u16,
    /// Address to listen on.
    pub host: IpAddr,
    /// The files.
    pub content: Content,
    /// The kiosk's sample posters (JPEG, PNG, WebP files), listed beside its page.
    pub samples: Option<PathBuf>,
    /// The shop's catalogue: a folder of posters with the `catalogue.index` made from it,
    /// served at `/catalogue/` for "posters like this".
    pub catalogue: Option<PathBuf>,
    /// DNS names requests may use besides the bound address (checked by [`valid_name`]).
    pub allowed_names: Vec<String>,
    /// Threads running the server (each serves many connections).
    pub threads: u16,
    /// Connections served at once; later ones wait their turn.
    pub max_connections: usize,
    /// Connections one client may hold at once.
    pub max_per_client: usize,
    /// Seconds a client gets to send a request head, and the longest a connection may sit
    /// without moving a byte.
    pub timeout: Duration,
}

/// The wasm build the page cannot start without.
const WASM: &str = "pkg/onesheet_bg.wasm";
/// The index the faces load from `/catalogue/`.
pub const CATALOGUE_INDEX: &str = "catalogue.index";
/// The model the page loads unless told otherwise.
const SHIPPED_MODEL: &str = "onesheet.safetensors";
/// The slowest pace a connection may keep over each `--timeout`, in bytes a second: a browser
/// on the slowest mobile network moves 50 times as much while it downloads, and a connection
/// that is merely kept open between requests is better closed (the browser opens another).
const MIN_RATE: u64 = 1024;
/// How long a connection takes new requests, and then how long it gets to finish: a download
/// of the whole page (about 21 MB) needs 40 kB/s to fit.
const CONNECTION_LIFETIME: Duration = Duration::from_mins(10);

/// Serves until interrupted.
pub fn run(config: ServeConfig) -> Result<()> {
    let ServeConfig {
        port,
        host,
        content,
        samples,
        catalogue,
        allowed_names,
        threads,
        max_connections,
        max_per_client,
        timeout,
    } = config;
    if let Some(samples) = &samples
        && !samples.is_dir()
    {
        bail!("{} is not a folder of sample posters", samples.display());
    }
    if let Some(catalogue) = &catalogue
        && !catalogue.join(CATALOGUE_INDEX).is_file()
    {
        bail!(
            "{} has no {CATALOGUE_INDEX}: make it with `onesheet index {} --out {}`",
            catalogue.display(),
            catalogue.display(),
            catalogue.join(CATALOGUE_INDEX).display()
        );
    }
    if let Some(name) = allowed_names.iter().find(|name| !valid_name(name)) {
        bail!("--allow-host {name:?} is not a DNS name (no address, port or wildcard)");
    }
    let (make_site, serving): (Box<dyn FnOnce(AllowedHosts) -> Result<Site>>, String) =
        match content {
            Content::Directories { www, models } => {
                check_directories(&www, &models)?;
                let roots = Roots::new(&www, &models)?;
                let serving = format!("{} and {} (as /models/)", www.display(), models.display());
                let (samples, catalogue) = (samples.clone(), catalogue.clone());
                (
                    Box::new(move |hosts| {
                        Site::new(roots, samples.as_deref(), hosts)?
                            .with_catalogue(catalogue.as_deref())
                    }),
                    serving,
                )
            }
            #[cfg(feature = "kiosk")]
            Content::Kiosk => {
                if !site::kiosk_complete() {
                    bail!(
                        "this onesheet binary was built without the kiosk's files (www/pkg \
                         was not built): run scripts/build-wasm.sh, then build again"
                    );
                }
                let (samples, catalogue) = (samples.clone(), catalogue.clone());
                (
                    Box::new(move |hosts| {
                        Site::kiosk(samples.as_deref(), hosts)?.with_catalogue(catalogue.as_deref())
                    }),
                    "the kiosk built into this binary".to_string(),
                )
            }
        };
    let limits = Limits {
        max_connections: max_connections.max(1),
        max_per_client: max_per_client.max(1),
        min_rate: MIN_RATE,
        timeout: timeout.max(Duration::from_millis(100)),
        lifetime: CONNECTION_LIFETIME,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(threads.max(1)))
        // File reads run here; a cap keeps a flood of downloads from spawning hundreds.
        .max_blocking_threads(16)
        .thread_name("onesheet-serve")
        .enable_io()
        .enable_time()
        .build()
        .context("starting the server's threads")?;
    runtime.block_on(async {
        let address = SocketAddr::new(host, port);
        let listener = listen(address).map_err(|error| bind_error(address, &error))?;
        let bound = listener
            .local_addr()
            .context("the server is not listening on an IP address")?;
        if !bound.ip().is_loopback() {
            warn_reachable(bound);
        }
        let site = make_site(AllowedHosts::new(bound).with_names(&allowed_names))?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "http://{bound}/").context("writing the URL to stdout")?;
        stdout.flush().context("writing the URL to stdout")?;
        drop(stdout);
        let samples = samples.map_or(String::new(), |dir| {
            format!(", sample posters from {}", dir.display())
        });
        eprintln!("serving {serving}{samples} on http://{bound}/ — Ctrl-C stops");
        let site = Arc::new(site);
        let reporting = Arc::clone(&site);
        tokio::task::spawn_blocking(move || reporting.report_unservable());
        let host = bound.to_string();
        let precompressing = Arc::clone(&site);
        tokio::spawn(async move { handler::precompress(precompressing, &host).await });
        server::accept_loop(listener, handler::shared_router(site), limits).await;
        Ok(())
    })
}

/// Connections the kernel holds for the accept loop: the most Linux allows by default
/// (`net.core.somaxconn`), so that a burst of connections from one client, each closed as it is
/// accepted, does not overflow the queue and drop another visitor's (who would wait a second
/// for the retry).
const BACKLOG: u32 = 4096;

/// A listening socket on `address` with [`BACKLOG`] (std's and tokio's `bind` ask for 128 and
/// 1024).
fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's bind does: a restarted server can take its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

/// The front end must be there; a missing model is only worth a warning (`?model=` may name
/// another).
fn check_directories(www: &Path, models: &Path) -> Result<()> {
    if !www.join("index.html").is_file() {
        bail!(
            "{} has no index.html: run from the repository root or pass --www",
            www.display()
        );
    }
    if !www.join(WASM).is_file() {
        bail!(
            "{} is missing: the wasm build is not there; run scripts/build-wasm.sh \
             (scripts/serve.sh builds and serves in one go)",
            www.join(WASM).display()
        );
    }
    if !models.join(SHIPPED_MODEL).is_file() {
        eprintln!(
            "warning: {} not found: the page will fail to load its model unless given \
             ?model=URL",
            models.join(SHIPPED_MODEL).display()
        );
    }
    Ok(())
}

/// Said on every start that leaves loopback, so it cannot go unnoticed.
fn warn_reachable(bound: SocketAddr) {
    let line = "*".repeat(78);
    eprintln!(
        "{line}\n\
         WARNING: listening on {bound}, which is not a loopback address: the drop page and \
         every bundle\nunder /models/ can be downloaded by OTHER MACHINES on the network, with \
         no password and no\nencryption. Pass --host 127.0.0.1 (the default) to keep them on \
         this machine.\n{line}"
    );
}

fn bind_error(address: SocketAddr, error: &std::io::Error) -> anyhow::Error {
    match error.kind() {
        ErrorKind::AddrInUse => anyhow::anyhow!(
            "port {} on {} is already in use: stop what is using it or pick another with \
             --port (0 picks a free one)",
            address.port(),
            address.ip()
        ),
        ErrorKind::AddrNotAvailable => anyhow::anyhow!(
            "{} is not an address of this machine: pass --host with one that is",
            address.ip()
        ),
        ErrorKind::PermissionDenied => anyhow::anyhow!(
            "not allowed to listen on port {}: ports below 1024 need privileges; pick \
             another with --port",
            address.port()
        ),
        _ => anyhow::anyhow!("cannot listen on {address}: {error}"),
    }
}
