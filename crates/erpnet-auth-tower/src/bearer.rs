//! Reading the bearer token from a request's `Authorization` header
//! (RFC 6750 §2.1).

use http::HeaderMap;
use http::header::AUTHORIZATION;

/// Why the `Authorization` header makes the request malformed (400
/// `invalid_request`). The texts go into `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// More than one `Authorization` header.
    Repeated,
    /// The value is not visible ASCII.
    NotAscii,
    /// `Bearer` with no token, or a token with characters outside `b64token`.
    BadToken,
}

impl Malformed {
    pub(crate) fn description(self) -> &'static str {
        match self {
            Malformed::Repeated => "more than one Authorization header",
            Malformed::NotAscii => "the Authorization header is not visible ASCII",
            Malformed::BadToken => "the bearer token is empty or malformed",
        }
    }
}

/// The bearer token of a request: `Ok(None)` when there is none (no
/// `Authorization` header, or one with another scheme, such as `Basic`).
///
/// Exactly one `Authorization` header is allowed; the scheme is matched
/// without regard to case; the token must match RFC 6750's `b64token`.
pub(crate) fn token(headers: &HeaderMap) -> Result<Option<&str>, Malformed> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Malformed::Repeated);
    }
    let value = value.to_str().map_err(|_| Malformed::NotAscii)?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim_matches(' ');
    if is_b64token(token) {
        Ok(Some(token))
    } else {
        Err(Malformed::BadToken)
    }
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
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
    }

    #[test]
    fn no_header_or_another_scheme_is_no_token() {
        assert_eq!(token(&headers(&[])), Ok(None));
        assert_eq!(token(&headers(&["Basic dXNlcjpwYXNz"])), Ok(None));
        assert_eq!(token(&headers(&["Bearerabc"])), Ok(None));
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
            assert_eq!(
                token(&headers(&[value])),
                Err(Malformed::BadToken),
                "{value}"
            );
        }
        let mut map = HeaderMap::new();
        map.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff").expect("opaque header value"),
        );
        assert_eq!(token(&map), Err(Malformed::NotAscii));
    }
}
