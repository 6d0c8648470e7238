//! What the mock remembers of the last token request, for tests to assert on.

use std::fmt;

use crate::backchannel::AuthMethodUsed;
use crate::params::Redacted;

/// What the last token request looked like, for assertions on what a client sent.
///
/// Recorded for every token request that named its client (with at most one client
/// authentication method), whether or not it then succeeded. The client secret is never
/// recorded; `Debug` also hides the values of `code`, `code_verifier`, `refresh_token` and
/// the like, which the fields keep for assertions.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRequestRecord {
    /// How the client authenticated.
    pub auth_method: AuthMethodUsed,
    /// The client id, decoded (from the Basic credentials or the form).
    pub client_id: String,
    /// The form parameters in the order sent, decoded, without `client_secret`.
    pub form: Vec<(String, String)>,
}

impl TokenRequestRecord {
    /// The value of a form parameter, if it was sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl fmt::Debug for TokenRequestRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequestRecord")
            .field("auth_method", &self.auth_method)
            .field("client_id", &self.client_id)
            .field("form", &Redacted(&self.form))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_record_hides_codes_verifiers_and_refresh_tokens() {
        let record = TokenRequestRecord {
            auth_method: AuthMethodUsed::None,
            client_id: "app".to_owned(),
            form: vec![
                ("grant_type".to_owned(), "authorization_code".to_owned()),
                ("code".to_owned(), "THE-CODE".to_owned()),
                ("code_verifier".to_owned(), "THE-VERIFIER".to_owned()),
                ("refresh_token".to_owned(), "THE-RT".to_owned()),
            ],
        };
        let printed = format!("{record:?}");
        assert!(!printed.contains("THE-"), "{printed}");
        assert!(printed.contains("authorization_code"));
        assert_eq!(record.param("code"), Some("THE-CODE"));
    }
}
