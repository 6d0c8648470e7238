//! Where the token goes in a request: [`TokenHeader`].

use erpnet_auth_core::AccessToken;
use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

/// ERP.net's alternative to `Authorization` for reference tokens.
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// The header that carries the token.
///
/// Set it for every request with [`BearerAuthBuilder::token_header`](crate::BearerAuthBuilder::token_header),
/// or for one request as an extension, which takes precedence:
///
/// ```
/// # fn demo(client: &reqwest_middleware::ClientWithMiddleware) {
/// use erpnet_auth_reqwest::TokenHeader;
///
/// let request = client
///     .get("https://myinstance.my.erp.net/api/domain/odata/General_Contacts_Persons")
///     .with_extension(TokenHeader::XApiKey);
/// # let _ = request; }
/// ```
///
/// ERP.net accepts one method per request, so a request that already carries
/// either header is sent as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenHeader {
    /// `Authorization: Bearer <token>` (RFC 6750), the default.
    #[default]
    Authorization,
    /// `X-Api-Key: <token>`, which ERP.net accepts for its reference tokens
    /// (personal and system access tokens, `enrt_…`). reqwest's default policy
    /// would forward this header on a redirect to another origin; the client
    /// that [`BearerAuth::client_builder`](crate::BearerAuth::client_builder)
    /// builds follows no redirect that leaves the origin.
    XApiKey,
}

impl TokenHeader {
    /// The header's name, lower-case: `authorization` or `x-api-key`.
    pub fn name(self) -> &'static str {
        match self {
            TokenHeader::Authorization => "authorization",
            TokenHeader::XApiKey => "x-api-key",
        }
    }

    /// Puts `token` into `headers`, replacing an earlier value, marked sensitive
    /// so that HTTP libraries leave it out of their logs.
    pub(crate) fn insert(self, headers: &mut HeaderMap, token: &AccessToken) -> Result<(), ()> {
        match self {
            TokenHeader::Authorization => {
                let value = token.authorization_header().map_err(drop)?;
                headers.insert(AUTHORIZATION, value);
            }
            TokenHeader::XApiKey => {
                let mut value = HeaderValue::from_str(token.expose_secret()).map_err(drop)?;
                value.set_sensitive(true);
                headers.insert(X_API_KEY, value);
            }
        }
        Ok(())
    }
}

/// Whether a request already carries credentials of its own.
pub(crate) fn has_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(AUTHORIZATION) || headers.contains_key(X_API_KEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_sensitive_headers_in_either_place() {
        let token = AccessToken::new("enrt_abc");
        let mut headers = HeaderMap::new();
        assert!(!has_credentials(&headers));

        TokenHeader::XApiKey
            .insert(&mut headers, &token)
            .expect("valid token");
        assert_eq!(headers[X_API_KEY], "enrt_abc");
        assert!(headers[X_API_KEY].is_sensitive());
        assert!(has_credentials(&headers));
        assert!(!headers.contains_key(AUTHORIZATION));

        let mut headers = HeaderMap::new();
        TokenHeader::Authorization
            .insert(&mut headers, &token)
            .expect("valid token");
        assert_eq!(headers[AUTHORIZATION], "Bearer enrt_abc");
        assert!(headers[AUTHORIZATION].is_sensitive());
        assert!(has_credentials(&headers));

        let bad = AccessToken::new("line\nbreak");
        assert!(TokenHeader::XApiKey.insert(&mut headers, &bad).is_err());
        assert!(
            TokenHeader::Authorization
                .insert(&mut headers, &bad)
                .is_err()
        );
        assert_eq!(TokenHeader::XApiKey.name(), X_API_KEY.as_str());
    }
}
