//! The client [`BearerAuth`](crate::BearerAuth) runs in, and its redirect
//! policy: a credential never leaves its origin.

use std::fmt;

use erpnet_auth_core::ConfigError;
use reqwest::Url;
use reqwest::redirect::Policy;

/// A reqwest client whose redirects never leave the origin of the request:
/// the only client [`BearerAuth`](crate::BearerAuth) runs in.
///
/// [`BearerAuth::client_builder`](crate::BearerAuth::client_builder) builds
/// one for each middleware. Build one yourself to share its connection pool
/// among many `BearerAuth`, such as one per signed-in user, with
/// [`BearerAuth::client_builder_sharing`](crate::BearerAuth::client_builder_sharing):
///
/// ```
/// use erpnet_auth_core::StaticToken;
/// use erpnet_auth_reqwest::{BearerAuth, SameOriginClient, TokenHeader};
///
/// let shared = SameOriginClient::new(reqwest::Client::builder())?; // once, at start-up
/// // … then for each user or token:
/// let pat = StaticToken::new(std::env::var("ERPNET_PAT").unwrap_or_default());
/// let client = BearerAuth::builder(pat)
///     .allow_origin("https://myinstance.my.erp.net")
///     .token_header(TokenHeader::XApiKey)
///     .build()?
///     .client_builder_sharing(&shared)
///     .build();
/// # let _ = client;
/// # Ok::<(), erpnet_auth_reqwest::ConfigError>(())
/// ```
///
/// Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct SameOriginClient(reqwest::Client);

impl SameOriginClient {
    /// Builds the client from `http`, with every setting but its redirect
    /// policy, which is replaced: redirects within the origin are followed (up
    /// to 10), and the first one to another origin is handed back as it is.
    ///
    /// Fails with [`ConfigError::HttpClient`] when reqwest cannot build the
    /// client (for example no TLS backend could be initialised).
    pub fn new(http: reqwest::ClientBuilder) -> Result<SameOriginClient, ConfigError> {
        http.redirect(same_origin_redirects())
            .build()
            .map(SameOriginClient)
            .map_err(|error| ConfigError::HttpClient(error.to_string()))
    }

    pub(crate) fn reqwest(&self) -> &reqwest::Client {
        &self.0
    }
}

impl fmt::Debug for SameOriginClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SameOriginClient").field(&self.0).finish()
    }
}

/// The most redirects followed, as reqwest's default policy.
const MAX_REDIRECTS: usize = 10;

/// Follows redirects within the origin of the previous hop (so, by induction,
/// of the first request), up to [`MAX_REDIRECTS`], and stops at the first one to
/// another origin, whose 3xx answer the caller then gets as it is.
///
/// Why not reqwest's default: it forwards every header but `Authorization`,
/// `Cookie` and `Proxy-Authorization` to wherever a redirect points, so an
/// `X-Api-Key` (ERP.net's long-lived `enrt_` tokens) would reach any origin,
/// plain `http` included; and which headers it strips is its choice, which a
/// later version, or a custom policy set on the builder, may change. A policy
/// that never leaves the origin keeps every credential header where it belongs
/// whatever reqwest strips. A middleware cannot do this per hop: the client
/// follows redirects inside one call, out of its sight.
fn same_origin_redirects() -> Policy {
    Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error("too many redirects");
        }
        let stays = attempt
            .previous()
            .last()
            .is_some_and(|previous| same_origin(previous, attempt.url()));
        if stays {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// RFC 6454: scheme, host and port, the default port made explicit.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        let erp = url("https://demo.my.erp.net/api");
        assert!(same_origin(
            &erp,
            &url("https://demo.my.erp.net:443/other?x=1")
        ));
        for other in [
            "http://demo.my.erp.net/api",
            "https://demo.my.erp.net:8443/api",
            "https://other.my.erp.net/api",
            "https://demo.my.erp.net.evil.example/api",
        ] {
            assert!(!same_origin(&erp, &url(other)), "{other}");
        }
    }
}
