//! The origins a token may be sent to: scheme, host and port.

use std::fmt;

use erpnet_auth_core::ConfigError;
use erpnet_auth_core::origin::is_secure_origin;
use reqwest::Url;

/// An origin allowed to receive tokens (RFC 6454: scheme, host, port), with the
/// default port made explicit so that `https://host` and `https://host:443` are
/// one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    /// As `Url::host_str` gives it: domains lower-cased (and punycode), IPv6
    /// addresses in brackets.
    host: String,
    port: u16,
}

impl Origin {
    /// Parses `scheme://host[:port]` (a trailing `/` is tolerated). Anything
    /// more is refused rather than ignored: a path would suggest that only
    /// requests below it get the token, which is not the case.
    pub(crate) fn parse(value: &str) -> Result<Origin, ConfigError> {
        let parsed = Url::parse(value.trim());
        let invalid = |reason: String| {
            ConfigError::invalid(format!(
                "BearerAuth: `{}` is not an origin: {reason}",
                shown(value, parsed.as_ref().ok())
            ))
        };
        let url = match &parsed {
            Ok(url) => url,
            Err(error) => return Err(invalid(format!("not a URL ({error})"))),
        };
        if !matches!(url.scheme(), "https" | "http") {
            return Err(invalid(
                "the scheme must be https (or http to a loopback address)".to_owned(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("it must not contain user information".to_owned()));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "give scheme://host[:port] only; a path, query or fragment would not limit \
                 where the token goes (for a Url: `url.origin().ascii_serialization()`)"
                    .to_owned(),
            ));
        }
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(invalid("it has no host".to_owned()));
        };
        let origin = Origin {
            scheme: url.scheme().to_owned(),
            host: host.to_owned(),
            port,
        };
        if !is_secure_origin(url.scheme(), host) {
            return Err(ConfigError::InsecureUrl {
                url: origin.to_string(),
                reason: "BearerAuth would send tokens unencrypted: plain http is allowed only \
                         to loopback addresses; use https"
                    .to_owned(),
            });
        }
        Ok(origin)
    }

    /// Whether `url` belongs to this origin. No allocation.
    pub(crate) fn matches(&self, url: &Url) -> bool {
        url.port_or_known_default() == Some(self.port)
            && url.scheme() == self.scheme
            && url.host_str() == Some(self.host.as_str())
    }
}

/// The value as errors show it: without a password it may hold.
fn shown(value: &str, url: Option<&Url>) -> String {
    match url {
        Some(url) if url.password().is_some() || !url.username().is_empty() => {
            let mut url = url.clone();
            let _ = url.set_password(None);
            let _ = url.set_username("");
            url.to_string()
        }
        _ => value.to_owned(),
    }
}

/// `scheme://host[:port]`, the port shown only when it is not the default.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default_port = match self.scheme.as_str() {
            "https" => 443,
            _ => 80,
        };
        write!(f, "{}://{}", self.scheme, self.host)?;
        if self.port != default_port {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    fn origin(s: &str) -> Origin {
        Origin::parse(s).expect("valid origin")
    }

    #[test]
    fn default_ports_and_case_are_normalised() {
        let erp = origin("https://MyInstance.my.erp.net");
        assert_eq!(erp, origin("https://myinstance.my.erp.net:443/"));
        assert_eq!(erp.to_string(), "https://myinstance.my.erp.net");
        assert!(erp.matches(&url(
            "https://myinstance.my.erp.net/api/domain/odata/x?$top=1"
        )));
        assert!(erp.matches(&url("https://myinstance.my.erp.net:443/api")));
        assert!(!erp.matches(&url("https://myinstance.my.erp.net:8443/api")));
        assert!(!erp.matches(&url("http://myinstance.my.erp.net/api")));
        assert!(!erp.matches(&url("https://other.my.erp.net/api")));
        assert!(!erp.matches(&url("https://myinstance.my.erp.net.evil.example/api")));
    }

    #[test]
    fn loopback_origins_may_use_http() {
        let local = origin("http://127.0.0.1:8080");
        assert_eq!(local.to_string(), "http://127.0.0.1:8080");
        assert!(local.matches(&url("http://127.0.0.1:8080/x")));
        assert!(!local.matches(&url("http://127.0.0.1:8081/x")));
        assert!(!local.matches(&url("http://localhost:8080/x")));
        assert!(origin("http://[::1]:9").matches(&url("http://[::1]:9/")));
        assert!(origin("http://localhost").matches(&url("http://localhost:80/")));
    }

    #[test]
    fn refuses_what_is_not_a_secure_origin() {
        for insecure in ["http://demo.my.erp.net", "http://10.0.0.1:8080"] {
            let error = Origin::parse(insecure).expect_err(insecure);
            assert!(matches!(error, ConfigError::InsecureUrl { .. }), "{error}");
            assert!(error.to_string().contains("loopback"), "{error}");
        }
        for invalid in [
            "demo.my.erp.net",
            "not a url",
            "ftp://127.0.0.1",
            "https://demo.my.erp.net/api",
            "https://demo.my.erp.net/?x=1",
            "https://user:pw@demo.my.erp.net",
            "",
        ] {
            let error = Origin::parse(invalid).expect_err(invalid);
            assert!(
                matches!(error, ConfigError::Invalid(_)),
                "{invalid}: {error}"
            );
            assert!(!format!("{error} {error:?}").contains("pw"), "{error}");
        }
    }
}
