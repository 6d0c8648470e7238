//! How results are shown: colour only on a terminal and never with NO_COLOR,
//! times as dates and as "expires in 41 min".

use std::io::IsTerminal;

use chrono::{DateTime, Utc};

/// Whether standard output gets colour.
pub(crate) fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// `text` in green (pass) or red (fail) when colour is on.
pub(crate) fn mark(pass: Option<bool>) -> String {
    let (symbol, code) = match pass {
        Some(true) => ("pass", "32"),
        Some(false) => ("FAIL", "31"),
        None => ("----", "2"),
    };
    if colour() {
        format!("\x1b[{code}m{symbol}\x1b[0m")
    } else {
        symbol.to_owned()
    }
}

/// A Unix time as an RFC 3339 date in UTC.
pub(crate) fn date(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{seconds} (out of range)"))
}

/// A Unix time as RFC 3339, for JSON output.
pub(crate) fn rfc3339(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}

/// The current Unix time.
pub(crate) fn now() -> i64 {
    Utc::now().timestamp()
}

/// A span of seconds for a person: "41 min", "3 h", "2 d".
pub(crate) fn span(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    match s {
        0..60 => format!("{s} s"),
        60..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// "expires in 41 min" / "expired 3 h ago".
pub(crate) fn expiry(exp: i64) -> String {
    let left = exp - now();
    if left > 0 {
        format!("expires in {}", span(left))
    } else {
        format!("expired {} ago", span(left))
    }
}

/// "in 5 min" / "3 h ago".
pub(crate) fn relative(at: i64) -> String {
    let delta = at - now();
    if delta > 0 {
        format!("in {}", span(delta))
    } else {
        format!("{} ago", span(delta))
    }
}

/// The items of a JSON string (split on whitespace, as `scope` is) or array
/// (as `aud` may be), as text.
pub(crate) fn strings(value: Option<&serde_json::Value>) -> Vec<String> {
    use serde_json::Value;
    match value {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// An access token as JSON for scripts: stable field names, the expiry as an
/// RFC 3339 timestamp, and any extra fields.
pub(crate) fn token_json(
    token: &erpnet_auth_oidc::AccessToken,
    extra: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let expires_in = token.expires_in().map(|d| d.as_secs() as i64);
    let mut document = serde_json::json!({
        "access_token": token.expose_secret(),
        "token_type": token.token_type(),
        "expires_in": expires_in,
        "expires_at": expires_in.map(|s| rfc3339(now() + s)),
        "scope": token.scopes().join(" "),
    });
    if let Some(fields) = document.as_object_mut() {
        fields.extend(extra);
    }
    document
}

/// Pretty JSON, never failing.
pub(crate) fn json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_like_a_person_wrote_them() {
        assert_eq!(span(59), "59 s");
        assert_eq!(span(41 * 60 + 5), "41 min");
        assert_eq!(span(-3 * 3600 - 10), "3 h");
        assert_eq!(span(3 * 86_400), "3 d");
        assert_eq!(date(0), "1970-01-01 00:00:00 UTC");
        assert!(expiry(now() + 2460).starts_with("expires in 4"));
        assert!(expiry(now() - 3 * 3600).starts_with("expired 3 h"));
    }
}
