//! Reading a 401's `WWW-Authenticate` challenge: is a new token worth a retry?
//!
//! ERP.net does not document the challenge its APIs send, so this follows
//! RFC 6750 §3: `invalid_token` (expired, revoked, malformed) is what a new token
//! cures; `invalid_request` and `insufficient_scope` a new token with the same
//! settings does not. A 401 with no error code, or with no challenge at all, is
//! taken as a rejected token.

use http::HeaderMap;
use http::header::WWW_AUTHENTICATE;

/// Whether a 401 with these headers may be cured by a new token.
pub(crate) fn new_token_may_help(headers: &HeaderMap) -> bool {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(bearer_error)
        .all(|error| error.eq_ignore_ascii_case("invalid_token"))
}

/// The `error` parameter of a Bearer challenge in one header value, if any.
pub(crate) fn bearer_error(value: &str) -> Option<&str> {
    let mut in_bearer = false;
    for item in split_unquoted_commas(value) {
        let item = item.trim();
        // An item is either `Scheme [param]` (a new challenge) or `param`.
        let param = match item.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((scheme, rest)) if !scheme.contains('=') => {
                in_bearer = scheme.eq_ignore_ascii_case("bearer");
                rest.trim()
            }
            _ if !item.contains('=') => {
                in_bearer = item.eq_ignore_ascii_case("bearer");
                continue;
            }
            _ => item,
        };
        if !in_bearer {
            continue;
        }
        if let Some((name, value)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("error")
        {
            return Some(value.trim().trim_matches('"'));
        }
    }
    None
}

/// Splits at commas outside quoted strings.
fn split_unquoted_commas(value: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    let mut pieces = Vec::new();
    for (index, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                pieces.push(&value[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    pieces.push(&value[start..]);
    pieces.into_iter()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn with(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                WWW_AUTHENTICATE,
                HeaderValue::from_str(value).expect("value"),
            );
        }
        headers
    }

    #[test]
    fn reads_the_bearer_error_code() {
        assert_eq!(
            bearer_error(
                r#"Bearer realm="erp", error="invalid_token", error_description="expired, really""#
            ),
            Some("invalid_token")
        );
        assert_eq!(
            bearer_error("Bearer error=insufficient_scope"),
            Some("insufficient_scope")
        );
        assert_eq!(
            bearer_error(r#"Basic realm="x", Bearer error="invalid_request""#),
            Some("invalid_request")
        );
        assert_eq!(
            bearer_error(r#"Bearer error="invalid_token", Basic error="nope""#),
            Some("invalid_token")
        );
        assert_eq!(bearer_error(r#"Basic realm="a, error=x""#), None);
        assert_eq!(bearer_error(r#"Basic error="invalid_request""#), None);
        assert_eq!(bearer_error("Bearer"), None);
        assert_eq!(bearer_error(r#"Bearer realm="erp""#), None);
    }

    #[test]
    fn retries_unless_the_challenge_names_another_error() {
        assert!(new_token_may_help(&with(&[])));
        assert!(new_token_may_help(&with(&["Bearer"])));
        assert!(new_token_may_help(&with(&[
            r#"Bearer error="invalid_token""#
        ])));
        assert!(new_token_may_help(&with(&[r#"Basic realm="x""#, "Bearer"])));
        assert!(!new_token_may_help(&with(&[
            r#"Bearer error="insufficient_scope""#
        ])));
        assert!(!new_token_may_help(&with(&[
            r#"Bearer error="invalid_request""#
        ])));
    }
}
