//! The command-line options of the servers, shared by `onesheet serve` (the main CLI and the
//! light `onesheet-serve` binary) and `onesheet-kiosk`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::{Content, ServeConfig};

/// `onesheet serve` options.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The front end: index.html and the wasm build in pkg/.
    #[arg(long, default_value = "www")]
    pub www: PathBuf,
    /// Served under /models/: the shipped model bundle.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Where and how it serves.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `onesheet-kiosk` options.
#[derive(clap::Args)]
pub struct KioskArgs {
    /// Where and how it serves.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Where and how the server runs, and the extras it serves beside the pages: shared by
/// `onesheet serve` and `onesheet-kiosk`.
#[derive(clap::Args)]
pub struct ServerArgs {
    /// TCP port; 0 picks a free one (the URL is printed on the first line of stdout).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Sample posters (JPEG, PNG, WebP) the kiosk offers to tap instead of using the camera.
    #[arg(long, value_name = "DIR")]
    pub samples: Option<PathBuf>,
    /// The shop's catalogue, served at /catalogue/ for "posters like this": a folder of
    /// posters holding the index made from it (`onesheet index DIR --out DIR/catalogue.index`).
    #[arg(long, value_name = "DIR")]
    pub catalogue: Option<PathBuf>,
    /// A DNS name this server is reached by (repeatable), e.g. the name a shop's pages load the
    /// widget from, or a reverse proxy's. Requests naming any other host are refused (421), so
    /// a page cannot re-point its own name at this server.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Address to listen on. The default keeps the pages on this machine; any other address
    /// lets other machines download the pages and the models.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Threads running the server; each serves many connections at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    /// Connections served at once; more wait until one ends.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub max_connections: u16,
    /// Connections one client (an IPv4 address, or an IPv6 /64) may hold at once; its next
    /// ones are closed as they arrive. A browser opens 6 per server; raise it behind a reverse
    /// proxy, whose address every visitor then shares.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub max_connections_per_client: u16,
    /// Seconds a client gets to send its request, and the longest a connection may sit without
    /// moving a byte before it is closed; over each such span it must also move at least
    /// 1 kB a second (an idle keep-alive or a trickle is closed).
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

impl ServerArgs {
    /// The configuration for serving `content`.
    pub fn config(self, content: Content) -> ServeConfig {
        ServeConfig {
            port: self.port,
            host: self.host,
            content,
            samples: self.samples,
            catalogue: self.catalogue,
            allowed_names: self.allow_hosts,
            threads: self.threads,
            max_connections: usize::from(self.max_connections),
            max_per_client: usize::from(self.max_connections_per_client),
            timeout: Duration::from_secs(self.timeout),
        }
    }
}

/// `onesheet serve`: serves the directories until interrupted.
pub fn serve(args: ServeArgs) -> Result<()> {
    crate::run(args.server.config(Content::Directories {
        www: args.www,
        models: args.models,
    }))
}

/// `onesheet-kiosk`: serves the kiosk built into this binary until interrupted.
#[cfg(feature = "kiosk")]
pub fn kiosk(args: KioskArgs) -> Result<()> {
    crate::run(args.server.config(Content::Kiosk))
}
