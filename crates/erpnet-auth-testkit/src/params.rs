//! Decoded request parameters (a form body or a query): each at most once, with the values
//! of secret parameters hidden from `Debug`.

use std::fmt;

/// Parameters whose values may carry a secret: never printed.
const SECRET_PARAMS: [&str; 7] = [
    "client_secret",
    "code",
    "code_verifier",
    "refresh_token",
    "token",
    "client_assertion",
    "device_code",
];

/// Decoded `application/x-www-form-urlencoded` parameters, in the order sent.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes `encoded`, refusing a repeated parameter (RFC 6749 §3.1, §3.2) unless its name
    /// is in `repeatable`; only the first value of a repeatable one counts.
    pub(crate) fn parse(encoded: &[u8], repeatable: &[&str]) -> Result<Params, &'static str> {
        let mut params: Vec<(String, String)> = Vec::new();
        for (key, value) in form_urlencoded::parse(encoded) {
            if !repeatable.contains(&key.as_ref()) && params.iter().any(|(seen, _)| *seen == key) {
                return Err("a parameter is repeated");
            }
            params.push((key.into_owned(), value.into_owned()));
        }
        Ok(Params(params))
    }

    /// The value of a parameter; an empty value counts as absent (as at IdentityServer).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// The parameters in the order sent, without those named `except`.
    pub(crate) fn pairs_without(&self, except: &str) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(key, _)| key != except)
            .cloned()
            .collect()
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Redacted(&self.0).fmt(f)
    }
}

/// Prints parameter pairs with the values of secret parameters replaced.
pub(crate) struct Redacted<'a>(pub(crate) &'a [(String, String)]);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(key, value)| {
                let value = if SECRET_PARAMS.contains(&key.as_str()) {
                    "[redacted]"
                } else {
                    value.as_str()
                };
                (key, value)
            }))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_refused_unless_allowed() {
        assert!(Params::parse(b"a=1&a=2", &[]).is_err());
        let params = Params::parse(b"resource=x&resource=y&b=&c=3", &["resource"]).expect("parsed");
        assert_eq!(params.get("resource"), Some("x"));
        assert_eq!(params.get("b"), None);
        assert_eq!(params.get("c"), Some("3"));
        assert!(Params::parse(b"", &[]).is_ok());
        assert_eq!(
            params.pairs_without("resource"),
            [
                ("b".to_owned(), String::new()),
                ("c".to_owned(), "3".to_owned())
            ]
        );
    }

    #[test]
    fn debug_hides_secret_values() {
        let params = Params::parse(
            b"grant_type=refresh_token&refresh_token=RT-SECRET&code=CODE&code_verifier=VERIFIER&client_secret=CS&token=TOK",
            &[],
        )
        .expect("parsed");
        let printed = format!("{params:?}");
        for secret in ["RT-SECRET", "CODE", "VERIFIER", "CS", "TOK"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("refresh_token"));
    }
}
