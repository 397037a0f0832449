//! Which `Host` a request may name: the defence against DNS rebinding, where a page on
//! `evil.example` re-points its own name at 127.0.0.1 and reads this server as same-origin.
//! Such a request still says `Host: evil.example:PORT`, so only the names of the bound address
//! itself pass: IP literals that reach it and `localhost`, with the bound port, and the names
//! the operator lists (`--allow-host`, for a server reached by a DNS name or behind a proxy).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The `Host` values that name the address a server is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    bound: SocketAddr,
    /// Names the operator vouches for, lowercase; any port (a proxy in front has its own).
    names: Arc<[String]>,
}

impl AllowedHosts {
    /// The hosts that name `bound`, the address the listener really got (not port 0).
    pub fn new(bound: SocketAddr) -> Self {
        Self {
            bound,
            names: Arc::new([]),
        }
    }

    /// These too: DNS names this server is reached by (checked by [`valid_name`]), with any
    /// port.
    pub fn with_names(mut self, names: &[String]) -> Self {
        self.names = names.iter().map(|name| name.to_ascii_lowercase()).collect();
        self
    }

    /// Whether `authority` (a `Host` header value, or the authority of an absolute-form
    /// request target) names the bound address.
    ///
    /// Loopback binds accept `127.0.0.1`, `[::1]` (any loopback literal) and `localhost`; an
    /// unspecified bind (`0.0.0.0`, `::`) accepts any IP literal and `localhost`, since every
    /// address of the machine reaches it; any other bind accepts only its own address. The
    /// port must be the bound one; it may be left out only when that is 80, as browsers do.
    pub fn allows(&self, authority: &str) -> bool {
        let Some((host, port)) = split_authority(authority) else {
            return false;
        };
        if let Host::Name(name) = host
            && self
                .names
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(name))
        {
            return true;
        }
        let port_matches = match port {
            Some(port) => port.parse::<u16>().ok() == Some(self.bound.port()),
            None => self.bound.port() == 80,
        };
        if !port_matches {
            return false;
        }
        let bound = self.bound.ip();
        match host {
            Host::Name(name) => {
                name.eq_ignore_ascii_case("localhost")
                    && (bound.is_loopback() || bound.is_unspecified())
            }
            Host::Ip(ip) => {
                if bound.is_unspecified() {
                    true
                } else if bound.is_loopback() {
                    ip.is_loopback()
                } else {
                    same_address(ip, bound)
                }
            }
        }
    }
}

enum Host<'a> {
    Name(&'a str),
    Ip(IpAddr),
}

/// Whether `name` can be an `--allow-host`: a DNS name (letters, digits, `-`, dots between
/// labels of at most 63 characters), not an address, no port, no wildcard.
pub fn valid_name(name: &str) -> bool {
    name.len() <= 253
        && name.parse::<IpAddr>().is_err()
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `host[:port]` or `[v6][:port]`; the port's digits unchecked.
fn split_authority(authority: &str) -> Option<(Host<'_>, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (literal, after) = rest.split_once(']')?;
        let ip = literal.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        return Some((Host::Ip(IpAddr::V6(ip)), port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    match host.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => Some((Host::Ip(IpAddr::V4(ip)), port)),
        Err(_) if !host.is_empty() => Some((Host::Name(host), port)),
        Err(_) => None,
    }
}

/// Equal addresses, counting an IPv4 address and its IPv4-mapped IPv6 form as one.
fn same_address(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(bound: &str) -> AllowedHosts {
        AllowedHosts::new(bound.parse().expect("a socket address"))
    }

    #[test]
    fn loopback_accepts_its_own_names_only() {
        let allowed = hosts("127.0.0.1:8080");
        for good in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LocalHost:8080",
            "[::1]:8080",
        ] {
            assert!(allowed.allows(good), "{good}");
        }
        for bad in [
            "evil.example:8080",
            "evil.example",
            "localhost.:8080",
            "localhost.evil.example:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "localhost",
            "10.0.0.1:8080",
            "127.0.0.1:8080:8080",
            "127.0.0.1:+8080",
            "127.0.0.1:",
            ":8080",
            "",
            "[::1]8080",
            "[::1",
            "[evil]:8080",
            "127.0.0.1:8080@evil.example",
        ] {
            assert!(!allowed.allows(bad), "{bad}");
        }
    }

    #[test]
    fn the_default_port_may_be_left_out() {
        let allowed = hosts("127.0.0.1:80");
        assert!(allowed.allows("127.0.0.1"));
        assert!(allowed.allows("localhost"));
        assert!(allowed.allows("127.0.0.1:80"));
        assert!(!allowed.allows("evil.example"));
    }

    #[test]
    fn a_network_address_accepts_itself() {
        let allowed = hosts("192.168.1.5:8080");
        assert!(allowed.allows("192.168.1.5:8080"));
        assert!(!allowed.allows("127.0.0.1:8080"));
        assert!(!allowed.allows("localhost:8080"));
        assert!(!allowed.allows("192.168.1.6:8080"));
        assert!(!allowed.allows("nas.local:8080"));
    }

    #[test]
    fn listed_names_pass_with_any_port_and_nothing_else_does() {
        let allowed = hosts("0.0.0.0:8080").with_names(&["Posters.Example".to_string()]);
        assert!(allowed.allows("posters.example"));
        assert!(allowed.allows("POSTERS.example:443"));
        assert!(allowed.allows("posters.example:8080"));
        assert!(!allowed.allows("evil.example:8080"));
        assert!(!allowed.allows("posters.example.evil.example"));
        assert!(!allowed.allows("posters.example:x"));
        assert!(valid_name("posters.example"));
        assert!(valid_name("kiosk-1"));
        for bad in [
            "",
            "127.0.0.1",
            "::1",
            "*.example",
            "a..b",
            "-a.example",
            "a:80",
            "a b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn all_interfaces_accept_any_literal_but_no_other_name() {
        let allowed = hosts("0.0.0.0:8080");
        assert!(allowed.allows("192.168.1.5:8080"));
        assert!(allowed.allows("127.0.0.1:8080"));
        assert!(allowed.allows("localhost:8080"));
        assert!(allowed.allows("[fe80::1]:8080"));
        assert!(!allowed.allows("evil.example:8080"));
        assert!(!allowed.allows("192.168.1.5:9090"));
    }
}
