//! Where a credential may travel: `https`, or plain `http` to a loopback
//! address only.
//!
//! Shared by every part of erpnet-auth that sends a secret (the HTTP policy of
//! provider calls, the reqwest and tower adapters), so that they agree on one
//! rule. Works on the scheme and host strings any URL type gives.

use std::net::IpAddr;

/// Whether a credential may be sent to `scheme://host`: `https` to any host, or
/// `http` to a loopback address (`127.0.0.0/8`, `[::1]`, `localhost` and
/// `*.localhost`).
///
/// ```
/// use erpnet_auth_core::origin::is_secure_origin;
///
/// assert!(is_secure_origin("https", "myinstance.my.erp.net"));
/// assert!(is_secure_origin("http", "127.0.0.1"));
/// assert!(is_secure_origin("http", "[::1]"));
/// assert!(!is_secure_origin("http", "myinstance.my.erp.net"));
/// assert!(!is_secure_origin("ftp", "127.0.0.1"));
/// ```
pub fn is_secure_origin(scheme: &str, host: &str) -> bool {
    if host.is_empty() {
        return false;
    }
    if scheme.eq_ignore_ascii_case("https") {
        return true;
    }
    scheme.eq_ignore_ascii_case("http") && is_loopback_host(host)
}

/// Whether `host` (as a URL gives it: a domain, an IPv4 address, or an IPv6
/// address with or without brackets) is a loopback address or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let domain = bare.strip_suffix('.').unwrap_or(bare);
    domain.eq_ignore_ascii_case("localhost")
        || domain
            .len()
            .checked_sub(".localhost".len())
            .and_then(|at| domain.get(at..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(".localhost"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1",
            "127.8.9.10",
            "[::1]",
            "::1",
            "localhost",
            "LOCALHOST",
            "a.localhost",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "localhost.evil.example",
            "example.com",
            "",
            "[::2]",
            "notlocalhost",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn secure_origins() {
        assert!(is_secure_origin("https", "demo.my.erp.net"));
        assert!(is_secure_origin("http", "127.0.0.1"));
        assert!(!is_secure_origin("http", "demo.my.erp.net"));
        assert!(!is_secure_origin("https", ""));
        assert!(!is_secure_origin("ws", "127.0.0.1"));
    }
}
