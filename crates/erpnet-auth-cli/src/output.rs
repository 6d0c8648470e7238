//! How results are shown: colour only on a terminal and never with NO_COLOR,
//! times as dates and as "expires in 41 min", and text from tokens and
//! providers with its control characters escaped.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::IsTerminal;

use chrono::{DateTime, Utc};

/// Whether standard output gets colour.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// `text` in green (pass) or red (fail) when colour is on.
pub fn mark(pass: Option<bool>) -> String {
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
pub fn date(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{seconds} (out of range)"))
}

/// A Unix time as RFC 3339, for JSON output.
pub fn rfc3339(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}

/// The current Unix time.
pub fn now() -> i64 {
    Utc::now().timestamp()
}

/// A span of seconds for a person: "41 min", "3 h", "2 d".
pub fn span(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    match s {
        0..60 => format!("{s} s"),
        60..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// Seconds from now until `at`, for a date a calendar holds (`None` for the
/// absurd ones a hostile token may carry, such as `i64::MIN`).
fn from_now(at: i64) -> Option<i64> {
    DateTime::<Utc>::from_timestamp(at, 0)?;
    at.checked_sub(now())
}

/// "expires in 41 min" / "expired 3 h ago".
pub fn expiry(exp: i64) -> String {
    match from_now(exp) {
        Some(left) if left > 0 => format!("expires in {}", span(left)),
        Some(left) => format!("expired {} ago", span(left)),
        None => "a date out of range".to_owned(),
    }
}

/// "in 5 min" / "3 h ago".
pub fn relative(at: i64) -> String {
    match from_now(at) {
        Some(delta) if delta > 0 => format!("in {}", span(delta)),
        Some(delta) => format!("{} ago", span(delta)),
        None => "a date out of range".to_owned(),
    }
}

/// A NumericDate claim (RFC 7519: seconds, integer or not), or the value as
/// it came when it is not one.
pub fn numeric_date(value: &serde_json::Value) -> Result<i64, String> {
    match value {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                // Saturates: `as` from a float clamps to the i64 range.
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .ok_or_else(|| safe(&n.to_string()).into_owned()),
        other => Err(safe(&other.to_string()).into_owned()),
    }
}

/// Whether a character must not reach a terminal as it is: control
/// characters (C0, DEL and C1, among them ESC and CSI, which start terminal
/// escape sequences) and the invisible formatting characters that reorder or
/// hide text (bidirectional overrides and isolates, zero-width characters).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Text from a token or a provider, safe to print: [unsafe](is_unsafe)
/// characters written as `\n`, `\t`, `\r` or `\u{1b}`.
pub fn safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len().saturating_add(16));
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            '\r' => escaped.push_str("\\r"),
            c if is_unsafe(c) => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// The items of a JSON string (split on whitespace, as `scope` is) or array
/// (as `aud` may be), as text safe to print.
pub fn strings(value: Option<&serde_json::Value>) -> Vec<String> {
    use serde_json::Value;
    let items: Vec<String> = match value {
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
    };
    items.iter().map(|item| safe(item).into_owned()).collect()
}

/// The granted scopes of a token's claims: `scope`, or else `scp` (Okta,
/// Entra ID), each as an array or a space-separated string.
pub fn scopes(claims: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    strings(claims.get("scope").or_else(|| claims.get("scp")))
}

/// An access token as JSON for scripts: stable field names, the expiry as an
/// RFC 3339 timestamp, and any extra fields.
pub fn token_json(
    token: &erpnet_auth_oidc::AccessToken,
    extra: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let expires_in = token
        .expires_in()
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut document = serde_json::json!({
        "access_token": token.expose_secret(),
        "token_type": token.token_type(),
        "expires_in": expires_in,
        "expires_at": expires_in.map(|s| rfc3339(now().saturating_add(s))),
        "scope": token.scopes().join(" "),
    });
    if let Some(fields) = document.as_object_mut() {
        fields.extend(extra);
    }
    document
}

/// Pretty JSON, never failing, safe to print. (serde_json escapes C0
/// controls in strings but not DEL, C1 controls or formatting characters;
/// the line breaks between values are its own.)
pub fn json(value: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    text.split('\n').map(safe).collect::<Vec<_>>().join("\n")
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

    #[test]
    fn hostile_dates_are_out_of_range_not_a_panic() {
        for at in [i64::MIN, i64::MAX, i64::MAX - 1, 300_000_000_000_000] {
            assert_eq!(expiry(at), "a date out of range", "{at}");
            assert_eq!(relative(at), "a date out of range", "{at}");
            assert!(date(at).ends_with("(out of range)"), "{at}");
        }
        let json = |v: &str| serde_json::from_str::<serde_json::Value>(v).expect("json");
        assert_eq!(numeric_date(&json("1700000000")), Ok(1_700_000_000));
        assert_eq!(numeric_date(&json("1700000000.9")), Ok(1_700_000_000));
        assert_eq!(numeric_date(&json("1e300")), Ok(i64::MAX));
        assert_eq!(numeric_date(&json("18446744073709551615")), Ok(i64::MAX));
        assert_eq!(
            numeric_date(&json(r#""tomorrow\u001b[2J""#)),
            Err(r#""tomorrow\u001b[2J""#.into())
        );
    }

    #[test]
    fn control_and_formatting_characters_are_escaped() {
        assert_eq!(safe("jdoe"), "jdoe");
        assert!(matches!(safe("Ana Müller 名"), Cow::Borrowed(_)));
        assert_eq!(safe("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(safe("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(safe("x\u{7f}"), "x\\u{7f}");
        assert_eq!(safe("admin\u{202e}nimda"), "admin\\u{202e}nimda");
        assert_eq!(safe("two\nlines\tand\r"), "two\\nlines\\tand\\r");
        let value = serde_json::json!({"name": "a\u{1b}]0;owned\u{7}b\u{9b}", "n": 1});
        let shown = json(&value);
        assert!(!shown.chars().any(|c| c != '\n' && is_unsafe(c)), "{shown}");
        assert!(shown.contains("\\u{9b}"), "{shown}");
        assert_eq!(
            shown.lines().count(),
            4,
            "pretty, line breaks kept: {shown}"
        );
    }
}
