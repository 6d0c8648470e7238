//! The origins a token may be sent to: scheme, host and port. The rule itself
//! is [`erpnet_auth_core::origin::Origin`], shared with the tower adapter; this
//! is its use with reqwest's `Url` and this crate's error.

use std::fmt;

use erpnet_auth_core::origin::{self, OriginError};
use reqwest::Url;

use crate::error::Error;

/// An origin allowed to receive tokens (RFC 6454: scheme, host, port), with the
/// default port made explicit so that `https://host` and `https://host:443` are
/// one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin(origin::Origin);

impl Origin {
    /// Parses `scheme://host[:port]` (a trailing `/` is tolerated). Anything
    /// more is refused rather than ignored: a path would suggest that only
    /// requests below it get the token, which is not the case.
    pub(crate) fn parse(value: &str) -> Result<Origin, Error> {
        origin::Origin::parse(value)
            .map(Origin)
            .map_err(|error| match error {
                OriginError::Insecure { origin } => Error::InsecureOrigin { origin },
                OriginError::Invalid { origin, reason } => Error::InvalidOrigin {
                    origin,
                    reason: reason.to_owned(),
                },
                other => Error::InvalidOrigin {
                    origin: other.origin().to_owned(),
                    reason: other.to_string(),
                },
            })
    }

    /// Whether `url` belongs to this origin. No allocation.
    pub(crate) fn matches(&self, url: &Url) -> bool {
        url.host_str().is_some_and(|host| {
            self.0
                .matches(url.scheme(), host, url.port_or_known_default())
        })
    }
}

/// `scheme://host[:port]`, the port shown only when it is not the default.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
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
            assert!(matches!(error, Error::InsecureOrigin { .. }), "{error}");
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
                matches!(error, Error::InvalidOrigin { .. }),
                "{invalid}: {error}"
            );
            assert!(!format!("{error} {error:?}").contains("pw"), "{error}");
        }
    }
}
