//! Where a credential may travel: `https`, or plain `http` to a loopback
//! address only, and only to the origins it was configured for.
//!
//! Shared by every part of erpnet-auth that sends a secret (the HTTP policy of
//! provider calls, the reqwest and tower adapters), so that they agree on one
//! rule. Works on the scheme and host strings any URL type gives, and on
//! [`http::Uri`].

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::ConfigError;

/// An origin allowed to receive credentials (RFC 6454: scheme, host and
/// port), with the default port made explicit, so that `https://host` and
/// `https://host:443` are one origin.
///
/// Parsed from `scheme://host[:port]` (a trailing `/` is tolerated):
///
/// - the scheme is `https`, or `http` to a loopback address (`127.0.0.0/8`,
///   `[::1]`, `localhost`), since anything else would carry the credential
///   unencrypted ([`OriginError::Insecure`]);
/// - the host is an ASCII domain (internationalised names in their punycode
///   form, `xn--…`), an IPv4 address in dotted decimal, or an IPv6 address in
///   brackets; domains are lower-cased and IPv6 addresses written as URLs write
///   them (`[::1]`), so that the origin compares equal to what a URL parser
///   makes of a request's URL;
/// - anything more (user information, a path, a query, a fragment) is refused
///   rather than ignored: a path would suggest that only requests below it get
///   the credential, which is not the case.
///
/// ```
/// use erpnet_auth_core::origin::Origin;
///
/// let api: Origin = "https://MyInstance.my.erp.net".parse()?;
/// assert_eq!(api.to_string(), "https://myinstance.my.erp.net");
/// assert_eq!(api.port(), 443);
/// assert!(api.matches("https", "myinstance.my.erp.net", None));
/// assert!(api.matches_uri(&"https://myinstance.my.erp.net:443/api/domain/odata/x".parse()?));
/// assert!(!api.matches_uri(&"http://myinstance.my.erp.net/api".parse()?));
///
/// assert!(Origin::parse("http://127.0.0.1:8080").is_ok());
/// assert!(Origin::parse("http://myinstance.my.erp.net").is_err(), "plain http");
/// assert!(Origin::parse("https://myinstance.my.erp.net/api").is_err(), "a path");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    https: bool,
    /// Lower-case ASCII; IPv6 addresses in brackets.
    host: Box<str>,
    port: u16,
}

/// Why a value is not an [`Origin`]. Never shows user information (a
/// password) the value may hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// Not `scheme://host[:port]` with an `http(s)` scheme and a valid host.
    #[error("`{origin}` is not an origin: {reason}")]
    Invalid {
        /// The value as given, without user information.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Plain `http` to a host that is not a loopback address: a credential
    /// would travel unencrypted.
    #[error(
        "refusing to send credentials to `{origin}`: plain http is allowed only to loopback \
         addresses; use https"
    )]
    Insecure {
        /// The origin.
        origin: String,
    },
}

impl OriginError {
    /// The value refused, as shown in the message (without user information).
    pub fn origin(&self) -> &str {
        match self {
            OriginError::Invalid { origin, .. } | OriginError::Insecure { origin } => origin,
        }
    }
}

impl From<OriginError> for ConfigError {
    fn from(error: OriginError) -> Self {
        match error {
            OriginError::Insecure { origin } => ConfigError::InsecureUrl {
                url: origin,
                reason: "plain http is allowed only to loopback addresses; use https".to_owned(),
            },
            invalid @ OriginError::Invalid { .. } => ConfigError::Invalid(invalid.to_string()),
        }
    }
}

impl Origin {
    /// Parses `scheme://host[:port]`; see [`Origin`] for what is accepted.
    pub fn parse(value: &str) -> Result<Origin, OriginError> {
        let value = value.trim();
        let invalid = |reason| OriginError::Invalid {
            origin: without_user_information(value),
            reason,
        };
        let (scheme, rest) = value
            .split_once("://")
            .ok_or_else(|| invalid("not a URL: give scheme://host[:port]"))?;
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err(invalid(
                "the scheme must be https (or http to a loopback address)",
            ));
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(invalid("it must not contain user information"));
        }
        if !tail.is_empty() && tail != "/" {
            return Err(invalid(
                "give scheme://host[:port] only; a path, query or fragment would not limit where \
                 the credential goes (for a Url: `url.origin().ascii_serialization()`)",
            ));
        }
        let (host, port) =
            split_port(authority).ok_or_else(|| invalid("the port is not a number"))?;
        let host = canonical_host(host).ok_or_else(|| {
            invalid(
                "the host must be an ASCII domain (punycode for international names), an IPv4 \
             address or an IPv6 address in brackets",
            )
        })?;
        let origin = Origin {
            https,
            port: port.unwrap_or(if https { 443 } else { 80 }),
            host: host.into(),
        };
        if !is_secure_origin(origin.scheme(), &origin.host) {
            return Err(OriginError::Insecure {
                origin: origin.to_string(),
            });
        }
        Ok(origin)
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// The host: a lower-case domain, an IPv4 address, or an IPv6 address in
    /// brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, the scheme's default when none was given.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether a URL with this scheme, host and port (`None`: the scheme's
    /// default) belongs to this origin. Scheme and host compare without regard
    /// to case; a host written differently from the canonical form (an IPv6
    /// address not in its shortest form, a trailing dot) does not match, so
    /// that nothing is sent where in doubt. No allocation.
    pub fn matches(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        scheme.eq_ignore_ascii_case(self.scheme())
            && port.unwrap_or(if self.https { 443 } else { 80 }) == self.port
            && host.eq_ignore_ascii_case(&self.host)
    }

    /// Whether `uri` (an absolute one, with scheme and host) belongs to this
    /// origin. A URI with no scheme or host (`/path`, as tonic's clients send
    /// over a channel) belongs to no origin.
    pub fn matches_uri(&self, uri: &http::Uri) -> bool {
        match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self.matches(scheme, host, uri.port_u16()),
            _ => false,
        }
    }
}

impl FromStr for Origin {
    type Err = OriginError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Origin::parse(value)
    }
}

/// `scheme://host[:port]`, the port shown only when it is not the default.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme(), self.host)?;
        if self.port != if self.https { 443 } else { 80 } {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// `host[:port]` split into the host and the port, if any (`None` when the
/// port is not a number from 0 to 65535). An empty port is no port, as URL
/// parsers have it.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    // After an IPv6 address's closing bracket, or anywhere in other hosts.
    let colon = match authority.rfind(']') {
        Some(bracket) => authority
            .get(bracket..)
            .and_then(|after| after.find(':'))
            .map(|at| at.saturating_add(bracket)),
        None => authority.find(':'),
    };
    let Some(colon) = colon else {
        return Some((authority, None));
    };
    let (host, port) = authority.split_at(colon);
    let port = port.get(1..).unwrap_or_default();
    if port.is_empty() {
        return Some((host, None));
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().map(|port| (host, Some(port)))
}

/// The host as URL parsers write it, if it is one this module accepts.
fn canonical_host(host: &str) -> Option<String> {
    if let Some(inner) = host.strip_prefix('[') {
        let ip: Ipv6Addr = inner.strip_suffix(']')?.parse().ok()?;
        return Some(format!("[{}]", ipv6_text(ip)));
    }
    let domain = host.strip_suffix('.').unwrap_or(host);
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if domain.is_empty()
        || !domain
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(allowed))
    {
        return None;
    }
    // A host whose last label is a number is an IPv4 address to a URL parser,
    // which also reads forms like `127.1` or `0x7f.0.0.1`; only the dotted
    // decimal form, which every parser reads alike, is accepted.
    let last = domain.rsplit('.').next().unwrap_or(domain);
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    if numeric {
        return host.parse::<Ipv4Addr>().ok().map(|ip| ip.to_string());
    }
    Some(host.to_ascii_lowercase())
}

/// An IPv6 address as the WHATWG URL standard (and so the `url` crate) writes
/// it: lower-case hexadecimal pieces, the first longest run of two or more
/// zero pieces as `::`, never an embedded IPv4 address.
fn ipv6_text(ip: Ipv6Addr) -> String {
    let pieces = ip.segments();
    let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
    for (index, piece) in pieces.iter().enumerate() {
        if *piece == 0 {
            if run_len == 0 {
                run = index;
            }
            run_len += 1;
            if run_len > best_len {
                (best, best_len) = (run, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    let mut text = String::with_capacity(39);
    let mut index = 0;
    while index < pieces.len() {
        if best_len >= 2 && index == best {
            text.push_str(if index == 0 { "::" } else { ":" });
            index += best_len;
            continue;
        }
        let _ = write!(text, "{:x}", pieces[index]);
        if index + 1 < pieces.len() {
            text.push(':');
        }
        index += 1;
    }
    text
}

/// The value with anything between `://` and an `@` in its authority
/// removed, so that an error never shows a password.
fn without_user_information(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest.get(..authority_end).and_then(|a| a.rfind('@')) {
        Some(at) => format!("{scheme}://{}", rest.get(at + 1..).unwrap_or_default()),
        None => value.to_owned(),
    }
}

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

    fn origin(value: &str) -> Origin {
        Origin::parse(value).expect("valid origin")
    }

    #[test]
    fn default_ports_and_case_are_normalised() {
        let erp = origin("https://MyInstance.my.erp.net");
        assert_eq!(erp, origin("HTTPS://myinstance.my.erp.net:443/"));
        assert_eq!(erp.to_string(), "https://myinstance.my.erp.net");
        assert_eq!(
            (erp.scheme(), erp.host(), erp.port()),
            ("https", "myinstance.my.erp.net", 443)
        );
        let uri = |s: &str| s.parse::<http::Uri>().expect("uri");
        assert!(erp.matches_uri(&uri(
            "https://myinstance.my.erp.net/api/domain/odata/x?$top=1"
        )));
        assert!(erp.matches_uri(&uri("https://MYINSTANCE.my.erp.net:443/api")));
        assert!(!erp.matches_uri(&uri("https://myinstance.my.erp.net:8443/api")));
        assert!(!erp.matches_uri(&uri("http://myinstance.my.erp.net/api")));
        assert!(!erp.matches_uri(&uri("https://other.my.erp.net/api")));
        assert!(!erp.matches_uri(&uri("https://myinstance.my.erp.net.evil.example/api")));
        assert!(
            !erp.matches_uri(&uri("/api/domain/odata/x")),
            "no origin at all"
        );
        assert_eq!(
            origin("https://a.example:8443").to_string(),
            "https://a.example:8443"
        );
        assert_eq!(
            origin("https://a.example:").port(),
            443,
            "an empty port is none"
        );
    }

    #[test]
    fn loopback_origins_may_use_http() {
        let local = origin("http://127.0.0.1:8080");
        assert_eq!(local.to_string(), "http://127.0.0.1:8080");
        assert!(local.matches("http", "127.0.0.1", Some(8080)));
        assert!(!local.matches("http", "127.0.0.1", Some(8081)));
        assert!(!local.matches("http", "localhost", Some(8080)));
        assert!(origin("http://[::1]:9").matches("http", "[::1]", Some(9)));
        assert!(origin("http://localhost").matches("http", "localhost", Some(80)));
    }

    #[test]
    fn hosts_are_written_as_url_parsers_write_them() {
        assert_eq!(origin("https://[0:0:0:0:0:0:0:1]").host(), "[::1]");
        assert_eq!(
            origin("https://[2001:DB8:0:0:1:0:0:1]").host(),
            "[2001:db8::1:0:0:1]"
        );
        assert_eq!(origin("https://[::ffff:7f00:1]").host(), "[::ffff:7f00:1]");
        assert_eq!(
            origin("https://[::ffff:127.0.0.1]").host(),
            "[::ffff:7f00:1]"
        );
        assert_eq!(
            origin("https://[1:0:1:0:1:0:1:0]").host(),
            "[1:0:1:0:1:0:1:0]"
        );
        assert_eq!(
            origin("https://xn--bcher-kva.example").host(),
            "xn--bcher-kva.example"
        );
        assert_eq!(origin("https://10.1.2.3").host(), "10.1.2.3");
        for numeric in [
            "https://127.1",
            "https://0x7f.0.0.1",
            "https://1.2.3.256",
            "https://010.0.0.1",
        ] {
            assert!(Origin::parse(numeric).is_err(), "{numeric}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_secure_origin() {
        for insecure in ["http://demo.my.erp.net", "http://10.0.0.1:8080"] {
            let error = Origin::parse(insecure).expect_err(insecure);
            assert!(matches!(error, OriginError::Insecure { .. }), "{error}");
            assert!(error.to_string().contains("loopback"), "{error}");
            let config = ConfigError::from(error);
            assert!(
                matches!(config, ConfigError::InsecureUrl { .. }),
                "{config}"
            );
        }
        for invalid in [
            "demo.my.erp.net",
            "not a url",
            "ftp://127.0.0.1",
            "https://demo.my.erp.net/api",
            "https://demo.my.erp.net/?x=1",
            "https://demo.my.erp.net#top",
            "https://demo.my.erp.net//",
            "https://user:pw@demo.my.erp.net",
            "https://user:pw@demo.my.erp.net/path@x",
            "https://",
            "https://:443",
            "https://demo..example",
            "https://démo.example",
            "https://demo.example:99999",
            "https://demo.example:8o",
            "https://[::1",
            "https://[nonsense]",
            "https://a b.example",
            "",
        ] {
            let error = Origin::parse(invalid).expect_err(invalid);
            assert!(
                matches!(error, OriginError::Invalid { .. }),
                "{invalid}: {error}"
            );
            assert!(!format!("{error} {error:?}").contains("pw"), "{error}");
            let config = ConfigError::from(error);
            assert!(matches!(config, ConfigError::Invalid(_)), "{config}");
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
