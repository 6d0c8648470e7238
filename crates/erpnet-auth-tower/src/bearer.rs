//! Reading the bearer token from a request's `Authorization` header
//! (RFC 6750 §2.1).

use erpnet_auth_oidc::is_b64token;
use http::HeaderMap;
use http::header::AUTHORIZATION;

/// Why the `Authorization` header makes the request malformed (400
/// `invalid_request`). The texts go into `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// More than one `Authorization` header.
    Repeated,
    /// The token is not ASCII.
    NotAscii,
    /// `Bearer` with no token, or a token with characters outside `b64token`.
    BadToken,
    /// `Bearer` followed by a tab instead of a space: no scheme another
    /// reader would see, so never a request without a token.
    Separator,
}

impl Malformed {
    pub(crate) fn description(self) -> &'static str {
        match self {
            Malformed::Repeated => "more than one Authorization header",
            Malformed::NotAscii => "the bearer token is not ASCII",
            Malformed::BadToken => "the bearer token is empty or malformed",
            Malformed::Separator => "the scheme and the bearer token must be separated by a space",
        }
    }
}

/// The bearer token of a request, not yet checked against RFC 6750's
/// `b64token` syntax: `Ok(None)` when there is none (no `Authorization`
/// header, or one with another scheme, such as `Basic`).
///
/// Exactly one `Authorization` header is allowed; the scheme is matched
/// without regard to case and ends at the first space or tab. RFC 9110 puts
/// one or more spaces between scheme and token: `Bearer<TAB><token>` is
/// malformed, not "another scheme" (which an optional layer would let through
/// as anonymous).
///
/// The syntax check ([`is_b64token`]) is left to the caller for when the
/// validator refuses the token: a token the validator accepts is a JWS in
/// compact form, whose characters all belong to `b64token`, so the accepted
/// path never pays for a second pass over the token.
pub(crate) fn token(headers: &HeaderMap) -> Result<Option<&str>, Malformed> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Malformed::Repeated);
    }
    let value = value.as_bytes().trim_ascii();
    let scheme_end = value
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let token = match rest.split_first() {
        None => rest,
        Some((b' ', token)) => token,
        Some(_) => return Err(Malformed::Separator),
    };
    std::str::from_utf8(token.trim_ascii())
        .map(Some)
        .map_err(|_| Malformed::NotAscii)
}

/// Why a token the validator refused is a malformed request rather than an
/// invalid token, if it is.
pub(crate) fn malformed(token: &str) -> Option<Malformed> {
    if is_b64token(token) {
        None
    } else if token.is_ascii() {
        Some(Malformed::BadToken)
    } else {
        Some(Malformed::NotAscii)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                AUTHORIZATION,
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        headers
    }

    #[test]
    fn reads_one_bearer_token_in_any_case() {
        for value in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER  abc.def.ghi",
        ] {
            assert_eq!(
                token(&headers(&[value])),
                Ok(Some("abc.def.ghi")),
                "{value}"
            );
        }
        assert_eq!(token(&headers(&["Bearer a+b/c=="])), Ok(Some("a+b/c==")));
        assert_eq!(malformed("a+b/c=="), None);
        assert_eq!(malformed("A-Za-z0-9._~+/="), None);
    }

    #[test]
    fn no_header_or_another_scheme_is_no_token() {
        assert_eq!(token(&headers(&[])), Ok(None));
        assert_eq!(token(&headers(&["Basic dXNlcjpwYXNz"])), Ok(None));
        assert_eq!(token(&headers(&["Bearerabc"])), Ok(None));
        assert_eq!(token(&headers(&["Basic\tdXNlcjpwYXNz"])), Ok(None));
    }

    #[test]
    fn a_tab_after_the_scheme_is_malformed_not_another_scheme() {
        for value in ["Bearer\tabc.def.ghi", "bearer\t abc", "Bearer\t\tabc"] {
            assert_eq!(
                token(&headers(&[value])),
                Err(Malformed::Separator),
                "{value:?}"
            );
        }
        assert_eq!(token(&headers(&["Bearer \tabc"])), Ok(Some("abc")));
        // A trailing tab is trimmed like a trailing space: no token at all.
        let map = headers(&["Bearer\t"]);
        let empty = token(&map).expect("one header").expect("bearer");
        assert_eq!(malformed(empty), Some(Malformed::BadToken));
    }

    #[test]
    fn malformed_headers_are_invalid_requests() {
        assert_eq!(
            token(&headers(&["Bearer a", "Bearer b"])),
            Err(Malformed::Repeated)
        );
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            "Bearer ==",
            "Bearer a=b",
        ] {
            let map = headers(&[value]);
            let token = token(&map).expect("one header").expect("bearer");
            assert_eq!(malformed(token), Some(Malformed::BadToken), "{value}");
        }
        let mut map = HeaderMap::new();
        map.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff").expect("opaque header value"),
        );
        assert_eq!(token(&map), Err(Malformed::NotAscii));
        map.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes("Bearer é".as_bytes()).expect("opaque header value"),
        );
        let token = token(&map).expect("utf-8").expect("bearer");
        assert_eq!(malformed(token), Some(Malformed::NotAscii));
    }
}
