//! API resources: the protected APIs that may ask the introspection endpoint about tokens.

use std::fmt;

/// The name of the API resource registered when a mock starts without API resources of its
/// own. It is one of the default audiences of access tokens.
pub const DEFAULT_RESOURCE_ID: &str = "DomainAPI";

/// The secret of [`DEFAULT_RESOURCE_ID`].
pub const DEFAULT_RESOURCE_SECRET: &str = "api-s3cr3t";

/// An API resource (IdentityServer's `ApiResource`): a protected API that authenticates at the
/// introspection endpoint with its name and secret (HTTP Basic or form post).
///
/// Introspection answers such a caller `active: true` only for tokens whose `aud` names the
/// resource and that carry at least one of its scopes, and reports only those scopes, as
/// IdentityServer does. `Debug` never prints the secret.
///
/// ```
/// use erpnet_auth_testkit::ApiResource;
///
/// let api = ApiResource::new("TableAPI", "hunter2").scopes(["read"]);
/// assert_eq!(api.name(), "TableAPI");
/// assert!(!format!("{api:?}").contains("hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiResource {
    pub(crate) name: String,
    pub(crate) secret: String,
    pub(crate) scopes: Vec<String>,
}

impl ApiResource {
    /// An API resource with this name (an audience) and secret, owning the scopes `read` and
    /// `update`.
    pub fn new(name: impl Into<String>, secret: impl Into<String>) -> ApiResource {
        ApiResource {
            name: name.into(),
            secret: secret.into(),
            scopes: vec!["read".to_owned(), "update".to_owned()],
        }
    }

    /// The default API resource: [`DEFAULT_RESOURCE_ID`] / [`DEFAULT_RESOURCE_SECRET`], scopes
    /// `read` and `update`.
    pub fn default_resource() -> ApiResource {
        ApiResource::new(DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET)
    }

    /// Replaces the scopes that belong to this API.
    pub fn scopes<I, S>(mut self, scopes: I) -> ApiResource
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The name: what the resource authenticates with, and the audience it looks for.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Default for ApiResource {
    fn default() -> ApiResource {
        ApiResource::default_resource()
    }
}

impl fmt::Debug for ApiResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiResource")
            .field("name", &self.name)
            .field("secret", &"[redacted]")
            .field("scopes", &self.scopes)
            .finish()
    }
}
