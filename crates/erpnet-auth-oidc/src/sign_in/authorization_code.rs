//! The authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636, OpenID
//! Connect Core §3.1): interactive sign-in for native, command-line and web apps.
//!
//! The `openidconnect` crate builds the authorization request (PKCE `S256`,
//! `state`, `nonce`); the code exchange goes through the same token-endpoint
//! client as every other grant, so errors, time-outs, the body cap and client
//! authentication behave alike; the ID token is checked with the same
//! [`JwksCache`] as access tokens.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthUrl, ClientId, CsrfToken, IssuerUrl, JsonWebKeySet, LoginHint, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use erpnet_auth_core::{AccessToken, ConfigError, Error, constant_time_eq};

use crate::client::config::ClientConfig;
use crate::client::refresh_token::{RefreshTokenGrant, RefreshTokenGrantBuilder};
use crate::client::revocation::Revocation;
use crate::client::token_endpoint::TokenResponse;
use crate::discovery::Discovery;
use crate::http::{check_url, endpoint_name};
use crate::jose::Algorithm;
use crate::scopes::Scopes;
use crate::sign_in::SignInError;
use crate::sign_in::id_token::{self, IdToken, IdTokenCheck};
use crate::validation::jwks::JwksCache;
use crate::validation::validator::DEFAULT_LEEWAY;

/// The authorization code flow for one client of one provider.
///
/// Built from a [`ClientConfig`] whose provider is a fetched [`Discovery`]
/// document: authorization and end-session URLs are built from it without
/// waiting on the network.
///
/// ```no_run
/// # async fn demo(callback: erpnet_auth_oidc::Url) -> Result<(), Box<dyn std::error::Error>> {
/// use erpnet_auth_oidc::{AuthorizationCodeFlow, ClientAuthMethod, ClientConfig, Discovery, Url};
///
/// let discovery = Discovery::fetch("myinstance").await?;
/// let client = ClientConfig::builder(discovery, "my.native.app")
///     .auth_method(ClientAuthMethod::None) // a public client
///     .build()?;
/// let flow = AuthorizationCodeFlow::builder(client)
///     .scopes(["profile", "offline_access", "read"]) // and `openid`, always
///     .build()?;
///
/// let redirect = Url::parse("http://127.0.0.1:8400/callback").expect("url");
/// let pending = flow.authorization_request(&redirect).build()?;
/// println!("Open this URL to sign in: {}", pending.url());
/// // … the browser comes back to `redirect` with `?code=…&state=…&iss=…`:
/// let sign_in = flow.complete(pending, &callback).await?;
/// println!("signed in as {}", sign_in.id_token.as_ref().map(|t| t.subject()).unwrap_or("?"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuthorizationCodeFlow {
    inner: Arc<Inner>,
}

struct Inner {
    client: ClientConfig,
    discovery: Arc<Discovery>,
    scopes: Scopes,
    jwks: JwksCache,
    algorithms: Vec<Algorithm>,
    leeway: i64,
}

/// Configures an [`AuthorizationCodeFlow`].
pub struct AuthorizationCodeFlowBuilder {
    client: ClientConfig,
    scopes: Scopes,
    jwks: Option<JwksCache>,
    algorithms: Vec<Algorithm>,
}

/// An authorization request on its way: the URL to open, and the secrets
/// (`state`, `nonce`, PKCE verifier) needed to complete it. Keep it until the
/// callback arrives; a web app stores it server-side (see
/// [`into_parts`](Self::into_parts)).
pub struct PendingAuthorization {
    url: Url,
    redirect_uri: Url,
    state: SecretString,
    nonce: SecretString,
    verifier: SecretString,
    openid: bool,
    resources: Vec<String>,
}

/// The parts of a [`PendingAuthorization`], for storing between the redirect
/// and the callback. Every field but `redirect_uri` is a secret: keep them
/// server-side or encrypted, never in a URL or a log.
#[derive(Clone)]
#[non_exhaustive]
pub struct PendingParts {
    /// `state`.
    pub state: SecretString,
    /// `nonce`.
    pub nonce: SecretString,
    /// The PKCE `code_verifier`.
    pub code_verifier: SecretString,
    /// The redirect URI the request named.
    pub redirect_uri: Url,
    /// Whether `openid` was requested (an ID token is then required).
    pub openid: bool,
    /// The RFC 8707 `resource` indicators the request named; the code
    /// exchange names them again.
    pub resources: Vec<String>,
}

/// What a sign-in yields.
#[derive(Clone)]
#[non_exhaustive]
pub struct SignIn {
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token, when `offline_access` was granted.
    pub refresh_token: Option<SecretString>,
    /// The validated ID token, when `openid` was requested.
    pub id_token: Option<IdToken>,
}

/// Options of one authorization request; see
/// [`AuthorizationCodeFlow::authorization_request`].
pub struct AuthorizationRequestBuilder<'a> {
    flow: &'a AuthorizationCodeFlow,
    redirect_uri: Url,
    scopes: Scopes,
    login_hint: Option<String>,
    prompt: Option<String>,
    resources: Vec<String>,
    params: Vec<(String, String)>,
}

impl AuthorizationCodeFlow {
    /// Starts configuring the flow for `client`, whose provider must be a
    /// fetched [`Discovery`] document ([`Provider::Document`](crate::Provider::Document)).
    /// A public client (native and command-line apps) has
    /// [`ClientAuthMethod::None`](crate::ClientAuthMethod::None); a web app is
    /// usually confidential.
    pub fn builder(client: ClientConfig) -> AuthorizationCodeFlowBuilder {
        let mut scopes = Scopes::default();
        scopes.add(["openid"]);
        AuthorizationCodeFlowBuilder {
            client,
            scopes,
            jwks: None,
            algorithms: vec![Algorithm::RS256],
        }
    }

    /// Starts an authorization request that comes back to `redirect_uri`.
    pub fn authorization_request(&self, redirect_uri: &Url) -> AuthorizationRequestBuilder<'_> {
        AuthorizationRequestBuilder {
            flow: self,
            redirect_uri: redirect_uri.clone(),
            scopes: self.inner.scopes.clone(),
            login_hint: None,
            prompt: None,
            resources: Vec::new(),
            params: Vec::new(),
        }
    }

    /// The key set ID tokens are checked against.
    pub fn jwks(&self) -> &JwksCache {
        &self.inner.jwks
    }

    /// The discovery document.
    pub fn discovery(&self) -> &Discovery {
        &self.inner.discovery
    }

    /// The client.
    pub fn client(&self) -> &ClientConfig {
        &self.inner.client
    }

    /// The scopes every authorization request asks for, `openid` first.
    pub fn scopes(&self) -> &[String] {
        self.inner.scopes.as_slice()
    }

    /// The HTTP client every call of this flow goes through (its client's).
    pub(crate) fn http(&self) -> &crate::http::HttpClient {
        self.inner.client.http()
    }

    /// The algorithms accepted for tokens the provider signs for this client
    /// (ID tokens, logout tokens), and the clock leeway in seconds.
    pub(crate) fn signature_policy(&self) -> (&[Algorithm], i64) {
        (&self.inner.algorithms, self.inner.leeway)
    }

    /// Completes a sign-in from the callback URL the browser was sent to: checks
    /// `state` (and the RFC 9207 `iss` parameter when the provider sends it),
    /// turns `error=…` into [`SignInError::Authorization`], exchanges the code with the
    /// PKCE verifier, and validates the ID token (signature, `iss`, `aud`,
    /// `azp`, `exp`, `iat`, `nonce`, `at_hash`).
    pub async fn complete(
        &self,
        pending: PendingAuthorization,
        callback: &Url,
    ) -> Result<SignIn, SignInError> {
        let inner = &*self.inner;
        let mut params: HashMap<String, String> = HashMap::new();
        for (name, value) in callback.query_pairs() {
            if params.insert(name.to_string(), value.to_string()).is_some() {
                return Err(SignInError::Callback(format!(
                    "the parameter `{name}` is repeated"
                )));
            }
        }
        let state_matches = params
            .get("state")
            .is_some_and(|s| constant_time_eq(s, pending.state.expose_secret()));
        if let Some(code) = params.get("error") {
            if params.contains_key("state") && !state_matches {
                return Err(SignInError::StateMismatch);
            }
            return Err(SignInError::Authorization {
                code: code.clone(),
                description: params.get("error_description").cloned(),
                uri: params.get("error_uri").cloned(),
            });
        }
        if !state_matches {
            return Err(SignInError::StateMismatch);
        }
        let issuer = inner.discovery.issuer();
        let iss_required = inner
            .discovery
            .metadata()
            .authorization_response_iss_parameter_supported
            .unwrap_or(false);
        match params.get("iss") {
            Some(iss) if iss == issuer => {}
            None if !iss_required => {}
            found => {
                return Err(SignInError::IssuerParameter {
                    expected: issuer.to_owned(),
                    found: found.cloned(),
                });
            }
        }
        let code = params
            .get("code")
            .ok_or_else(|| SignInError::Callback("the callback carries no `code`".into()))?;

        let form = exchange_form(code, &pending);
        let response = inner
            .client
            .request_token("authorization_code", &form, inner.scopes.as_slice())
            .await?;
        self.signed_in(
            response,
            Some(pending.nonce.expose_secret()),
            pending.openid,
        )
        .await
    }

    /// The [`SignIn`] of a token response to a user grant: its ID token
    /// validated (with the `nonce` the request sent, if any), and required when
    /// `openid` was asked for.
    pub(crate) async fn signed_in(
        &self,
        response: TokenResponse,
        nonce: Option<&str>,
        openid: bool,
    ) -> Result<SignIn, SignInError> {
        let inner = &*self.inner;
        let issuer = inner.discovery.issuer();
        let endpoint = inner.discovery.token_endpoint();
        let id_token = match (&response.id_token, openid) {
            (Some(raw), _) => {
                let check = IdTokenCheck {
                    issuer,
                    client_id: inner.client.client_id(),
                    nonce,
                    algorithms: &inner.algorithms,
                    leeway: inner.leeway,
                    access_token: Some(response.access_token.expose_secret()),
                };
                let token = id_token::validate(raw.expose_secret(), &inner.jwks, &check)
                    .await
                    .map_err(|source| SignInError::IdToken {
                        endpoint: endpoint_name(endpoint),
                        source: Box::new(source),
                    })?;
                Some(token)
            }
            (None, true) => {
                return Err(Error::InvalidResponse {
                    endpoint: endpoint_name(endpoint),
                    reason: "`openid` was requested but no `id_token` came back".into(),
                }
                .into());
            }
            (None, false) => None,
        };
        tracing::info!(
            client_id = %inner.client.client_id(),
            subject = id_token.as_ref().map(|t| t.subject()),
            refresh_token = response.refresh_token.is_some(),
            "signed in"
        );
        Ok(SignIn {
            access_token: response.access_token,
            refresh_token: response.refresh_token,
            id_token,
        })
    }

    /// A [`RefreshTokenGrant`] for the same client, to keep the session's access
    /// token fresh with the sign-in's refresh token. If the sign-in named a
    /// `resource`, name it again with
    /// [`RefreshTokenGrantBuilder::resource`].
    pub fn refresh_grant(&self, refresh_token: SecretString) -> RefreshTokenGrantBuilder {
        RefreshTokenGrant::builder(self.inner.client.clone(), refresh_token)
    }

    /// [`Revocation`] for the same client, to revoke the session's tokens at
    /// sign-out. Fails when the provider has no revocation endpoint.
    pub fn revocation(&self) -> Result<Revocation, ConfigError> {
        Revocation::new(self.inner.client.clone())
    }

    /// The RP-initiated logout URL (`end_session_endpoint`), with
    /// `id_token_hint`, `post_logout_redirect_uri`, `state` and `client_id` as
    /// given. Fails when the provider has no end-session endpoint.
    pub fn end_session_url(
        &self,
        id_token: Option<&IdToken>,
        post_logout_redirect_uri: Option<&Url>,
        state: Option<&str>,
    ) -> Result<Url, ConfigError> {
        let mut url = self
            .inner
            .discovery
            .end_session_endpoint()
            .cloned()
            .ok_or_else(|| ConfigError::invalid("the provider has no end_session_endpoint"))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(token) = id_token {
                query.append_pair("id_token_hint", token.expose_secret());
            }
            if let Some(uri) = post_logout_redirect_uri {
                query.append_pair("post_logout_redirect_uri", uri.as_str());
            }
            if let Some(state) = state {
                query.append_pair("state", state);
            }
            query.append_pair("client_id", self.inner.client.client_id());
        }
        Ok(url)
    }
}

impl AuthorizationCodeFlowBuilder {
    /// Adds scopes to request; see [Scopes](crate#scopes). `openid` is always
    /// requested; with `offline_access` the sign-in yields a refresh token.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.add(scopes);
        self
    }

    /// The key set for ID tokens (default: the discovery document's `jwks_uri`).
    /// Share one with a [`JwtValidator`](crate::JwtValidator) to fetch keys once.
    pub fn jwks(mut self, jwks: JwksCache) -> Self {
        self.jwks = Some(jwks);
        self
    }

    /// The algorithms accepted for ID tokens (default `RS256`).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Checks the configuration and builds the flow.
    pub fn build(self) -> Result<AuthorizationCodeFlow, ConfigError> {
        let discovery = self.client.discovery().cloned().ok_or_else(|| {
            ConfigError::invalid(
                "sign-in builds authorization URLs from the provider's discovery document: \
                 build the ClientConfig from a fetched Discovery (Discovery::fetch), not from \
                 an authority, a discovery cache or endpoint URLs",
            )
        })?;
        if self.algorithms.is_empty() {
            return Err(ConfigError::invalid(
                "no ID token signature algorithm allowed",
            ));
        }
        let methods = &discovery.metadata().code_challenge_methods_supported;
        if methods
            .as_ref()
            .is_some_and(|m| !m.iter().any(|m| m == "S256"))
        {
            return Err(ConfigError::invalid(
                "the provider does not support PKCE with S256, which this library requires",
            ));
        }
        let jwks = match self.jwks {
            Some(jwks) => jwks,
            None => JwksCache::builder(discovery.jwks_uri().clone())
                .http(self.client.http().clone())
                .build()?,
        };
        Ok(AuthorizationCodeFlow {
            inner: Arc::new(Inner {
                client: self.client,
                discovery,
                scopes: self.scopes,
                jwks,
                algorithms: self.algorithms,
                leeway: DEFAULT_LEEWAY.as_secs() as i64,
            }),
        })
    }
}

impl AuthorizationRequestBuilder<'_> {
    /// Adds scopes for this request to the flow's (incremental consent); see
    /// [Scopes](crate#scopes).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.add(scopes);
        self
    }

    /// `login_hint`: the user expected to sign in.
    pub fn login_hint(mut self, hint: impl Into<String>) -> Self {
        self.login_hint = Some(hint.into());
        self
    }

    /// `prompt` (`login`, `consent`, `none`, `select_account`). Without one, a
    /// request for `offline_access` asks for `consent` (OpenID Connect Core §11).
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// An RFC 8707 `resource` indicator: the API the access token is for. May
    /// be repeated. The code exchange names the same resources again (RFC 8707
    /// §2.2); a provider that issues one audience per token (oidc-provider)
    /// accepts only one there.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// Any other parameter. May be repeated.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Builds the URL with fresh `state`, `nonce` and PKCE `S256` challenge.
    pub fn build(self) -> Result<PendingAuthorization, ConfigError> {
        let inner = &*self.flow.inner;
        check_url(&self.redirect_uri)?;
        const RESERVED: [&str; 9] = [
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "prompt",
        ];
        if let Some((name, _)) = self
            .params
            .iter()
            .find(|(n, _)| RESERVED.contains(&n.as_str()))
        {
            return Err(ConfigError::invalid(format!(
                "the parameter `{name}` is set by the flow itself"
            )));
        }
        // openidconnect builds the request from the endpoint alone; the
        // discovery document was read and checked by this crate.
        let client = CoreClient::new(
            ClientId::new(inner.client.client_id().to_owned()),
            IssuerUrl::from_url(inner.discovery.authority().url().clone()),
            JsonWebKeySet::new(Vec::new()),
        )
        .set_auth_uri(AuthUrl::from_url(
            inner.discovery.authorization_endpoint().clone(),
        ))
        .set_redirect_uri(RedirectUrl::from_url(self.redirect_uri.clone()));
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.scopes.as_slice().iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let prompt = self.prompt.or_else(|| {
            self.scopes
                .contains("offline_access")
                .then(|| "consent".to_owned())
        });
        for prompt in prompt.iter().flat_map(|p| p.split_whitespace()) {
            let prompt: CoreAuthPrompt =
                serde_json::from_value(serde_json::Value::String(prompt.to_owned()))
                    .map_err(|_| ConfigError::invalid(format!("invalid prompt `{prompt}`")))?;
            request = request.add_prompt(prompt);
        }
        if let Some(hint) = self.login_hint {
            request = request.set_login_hint(LoginHint::new(hint));
        }
        for resource in &self.resources {
            request = request.add_extra_param("resource", resource.clone());
        }
        for (name, value) in &self.params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let (url, state, nonce) = request.url();
        Ok(PendingAuthorization {
            url,
            redirect_uri: self.redirect_uri,
            state: SecretString::from(state.secret().clone()),
            nonce: SecretString::from(nonce.secret().clone()),
            verifier: SecretString::from(PkceCodeVerifier::secret(&verifier).clone()),
            openid: true,
            resources: self.resources,
        })
    }
}

impl PendingParts {
    /// Parts read back from an application's own storage (a web app's
    /// server-side session), for [`PendingAuthorization::from_parts`]: the
    /// secrets of a request this flow built, and its redirect URI. An ID token
    /// is required on completion, as for every request the flow builds.
    pub fn new(
        state: SecretString,
        nonce: SecretString,
        code_verifier: SecretString,
        redirect_uri: Url,
        resources: Vec<String>,
    ) -> Self {
        Self {
            state,
            nonce,
            code_verifier,
            redirect_uri,
            openid: true,
            resources,
        }
    }
}

impl PendingAuthorization {
    /// The URL to open in the user's browser.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The redirect URI the request names.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// The parts, for storing between the redirect and the callback.
    pub fn into_parts(self) -> PendingParts {
        PendingParts {
            state: self.state,
            nonce: self.nonce,
            code_verifier: self.verifier,
            redirect_uri: self.redirect_uri,
            openid: self.openid,
            resources: self.resources,
        }
    }

    /// Rebuilds a pending request from stored parts (the URL is not needed to
    /// complete it and is left empty).
    pub fn from_parts(parts: PendingParts) -> Self {
        Self {
            url: parts.redirect_uri.clone(),
            redirect_uri: parts.redirect_uri,
            state: parts.state,
            nonce: parts.nonce,
            verifier: parts.code_verifier,
            openid: parts.openid,
            resources: parts.resources,
        }
    }
}

/// The code exchange's form (RFC 6749 §4.1.3, RFC 7636 §4.5). The `resource`
/// indicators of the authorization request are named again (RFC 8707 §2.2):
/// without them some providers (oidc-provider among them) issue the access
/// token for their own userinfo endpoint instead of the API.
fn exchange_form<'a>(code: &'a str, pending: &'a PendingAuthorization) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", pending.redirect_uri.as_str()),
        ("code_verifier", pending.verifier.expose_secret()),
    ];
    form.extend(pending.resources.iter().map(|r| ("resource", r.as_str())));
    form
}

/// Default time a sign-in may take before the loopback helper gives up.
pub const DEFAULT_SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

impl fmt::Debug for AuthorizationCodeFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCodeFlow")
            .field("client", &self.inner.client)
            .field("scopes", &self.inner.scopes.as_slice())
            .finish()
    }
}

impl fmt::Debug for AuthorizationCodeFlowBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCodeFlowBuilder")
            .field("client", &self.client)
            .field("scopes", &self.scopes.as_slice())
            .finish()
    }
}

impl fmt::Debug for AuthorizationRequestBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRequestBuilder")
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes.as_slice())
            .field("login_hint", &self.login_hint)
            .field("prompt", &self.prompt)
            .finish()
    }
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("redirect_uri", &self.redirect_uri)
            .field("resources", &self.resources)
            .field("state", &"[redacted]")
            .field("nonce", &"[redacted]")
            .field("code_verifier", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for PendingParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingParts")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignIn")
            .field("access_token", &self.access_token)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("id_token", &self.id_token)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_exchange_names_the_requested_resources_again() {
        let parts = PendingParts {
            state: SecretString::from("state"),
            nonce: SecretString::from("nonce"),
            code_verifier: SecretString::from("verifier"),
            redirect_uri: Url::parse("http://127.0.0.1:8400/callback").expect("url"),
            openid: true,
            resources: vec!["https://api.example.com".into()],
        };
        let pending = PendingAuthorization::from_parts(parts);
        assert_eq!(
            exchange_form("the-code", &pending),
            [
                ("grant_type", "authorization_code"),
                ("code", "the-code"),
                ("redirect_uri", "http://127.0.0.1:8400/callback"),
                ("code_verifier", "verifier"),
                ("resource", "https://api.example.com"),
            ]
        );
        let parts = pending.into_parts();
        assert_eq!(parts.resources, ["https://api.example.com"]);
        let without = PendingAuthorization::from_parts(PendingParts {
            resources: Vec::new(),
            ..parts
        });
        assert!(
            exchange_form("c", &without)
                .iter()
                .all(|(name, _)| *name != "resource")
        );
    }
}
