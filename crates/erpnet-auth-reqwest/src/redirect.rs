//! A redirect policy that never lets a token header leave its origin.

use reqwest::Url;
use reqwest::redirect::Policy;

/// The most redirects followed, as reqwest's default policy.
const MAX_REDIRECTS: usize = 10;

/// A redirect policy for a client that sends tokens in `X-Api-Key`: follows
/// redirects within the same origin (up to 10) and stops at the first one to
/// another origin, whose 3xx answer the caller then gets as it is.
///
/// reqwest removes `Authorization` (and cookies) when a redirect leaves the
/// origin, but it does not know that `X-Api-Key` holds a credential and would
/// forward it. The middleware cannot step in between redirects, because the
/// client follows them inside one call; so the client has to be built with this
/// policy, or with `reqwest::redirect::Policy::none()`:
///
/// ```
/// use erpnet_auth_core::StaticToken;
/// use erpnet_auth_reqwest::{BearerAuth, TokenHeader, same_origin_redirects};
///
/// let http = reqwest::Client::builder()
///     .redirect(same_origin_redirects())
///     .build()
///     .expect("client");
/// let pat = StaticToken::new(std::env::var("ERPNET_PAT").unwrap_or_default());
/// let auth = BearerAuth::builder(pat)
///     .allow_origin("https://myinstance.my.erp.net")
///     .token_header(TokenHeader::XApiKey)
///     .build()?;
/// let client = reqwest_middleware::ClientBuilder::new(http).with(auth).build();
/// # let _ = client;
/// # Ok::<(), erpnet_auth_reqwest::ConfigError>(())
/// ```
///
/// With the default `Authorization` header it is not needed, though it does no
/// harm: a redirect to another origin then arrives without the token, where it
/// would be answered 401 anyway.
pub fn same_origin_redirects() -> Policy {
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

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}
