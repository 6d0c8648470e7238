//! Trusted applications (OAuth clients) that the mock knows.

use std::fmt;

/// The client id registered when a mock starts without clients of its own.
///
/// It contains a `/`, as ERP.net client ids (trusted app ApplicationUris) often do, so every
/// test that uses it also exercises the form-urlencoding of HTTP Basic credentials.
pub const DEFAULT_CLIENT_ID: &str = "my.trusted.app/first";

/// The secret of [`DEFAULT_CLIENT_ID`].
pub const DEFAULT_CLIENT_SECRET: &str = "s3cr3t-value";

/// The system user name put into `client_system_user` unless [`Client::system_user`] says
/// otherwise.
pub const DEFAULT_SYSTEM_USER: &str = "api-user";

/// A confidential client (an ERP.net trusted application) registered with the mock.
///
/// `Debug` never prints the secret.
///
/// ```
/// use erpnet_auth_testkit::Client;
///
/// let client = Client::new("reports.example/nightly", "hunter2")
///     .scopes(["read"])
///     .system_user("reports");
/// assert_eq!(client.id(), "reports.example/nightly");
/// assert!(!format!("{client:?}").contains("hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    id: String,
    secret: String,
    scopes: Vec<String>,
    system_user: String,
}

impl Client {
    /// A client with this id and secret, allowed the scopes `read` and `update`, acting as the
    /// system user `api-user`.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Client {
        Client {
            id: id.into(),
            secret: secret.into(),
            scopes: vec!["read".to_owned(), "update".to_owned()],
            system_user: DEFAULT_SYSTEM_USER.to_owned(),
        }
    }

    /// The default client: [`DEFAULT_CLIENT_ID`] / [`DEFAULT_CLIENT_SECRET`], scopes `read` and
    /// `update`.
    pub fn default_client() -> Client {
        Client::new(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    }

    /// Replaces the scopes this client may request. A client-credentials token request that
    /// omits `scope` gets all of them (except `openid`, `profile` and `offline_access`, which
    /// are never issued for client credentials).
    pub fn scopes<I, S>(mut self, scopes: I) -> Client
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the name of the system user the client acts as (the `client_system_user` claim).
    pub fn system_user(mut self, name: impl Into<String>) -> Client {
        self.system_user = name.into();
        self
    }

    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The client secret.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The scopes this client may request.
    pub fn allowed_scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The name of the system user the client acts as.
    pub fn system_user_name(&self) -> &str {
        &self.system_user
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::default_client()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field("scopes", &self.scopes)
            .field("system_user", &self.system_user)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let printed = format!("{:?}", Client::default_client());
        assert!(printed.contains("[redacted]"));
        assert!(!printed.contains(DEFAULT_CLIENT_SECRET));
        assert!(printed.contains(DEFAULT_CLIENT_ID));
    }

    #[test]
    fn builder_sets_scopes_and_system_user() {
        let client = Client::new("a/b", "s")
            .scopes(["read"])
            .system_user("robot");
        assert_eq!(client.allowed_scopes(), ["read".to_owned()]);
        assert_eq!(client.system_user_name(), "robot");
        assert_eq!(client.secret(), "s");
    }
}
