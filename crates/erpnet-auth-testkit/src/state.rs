//! The state the handle and the endpoints' handlers share: the registered clients, users and
//! API resources, the signing keys, lifetimes, counters, queued failures and issued tokens,
//! and what makes, signs, checks and revokes tokens with them.
//!
//! It imports none of its users: `server` builds it and routes requests to the handlers
//! (`authorize`, `token_endpoint`, …), which take a `&Shared`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use serde_json::Value;

use crate::api_resource::ApiResource;
use crate::backchannel::{FormRequest, OAuthError};
use crate::client::{AccessTokenType, Client};
use crate::client_assertion::{self, UsedAssertions};
use crate::device_codes::DeviceCodes;
use crate::discovery;
use crate::failure::{Endpoint, Failure};
use crate::jwt::{self, AccessTokenClaims, IdTokenClaims, Object, SignIn, Signature, Subject};
use crate::keys::{SigningKey, random_hex};
use crate::store::{GrantId, IssuedAccessToken, Store};
use crate::token_request::TokenRequestRecord;
use crate::token_spec::{Alg, MintDefaults, TokenSpec};
use crate::user::User;
use crate::user_session::Sessions;

/// What every reference access token starts with.
pub(crate) const REFERENCE_TOKEN_PREFIX: &str = "enrt_";

/// The signing key and every key the JWKS publishes (the current one among them).
pub(crate) struct KeySet {
    pub(crate) current: Arc<SigningKey>,
    pub(crate) published: Vec<Arc<SigningKey>>,
}

/// State shared by the handle and the handlers.
///
/// `server` builds it and its handle reads and changes the fields directly; the handlers go
/// through the methods.
pub(crate) struct Shared {
    pub(crate) issuer: String,
    pub(crate) addr: SocketAddr,
    /// The path part of the issuer, every endpoint's prefix (`""` at the root).
    pub(crate) issuer_path: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) clients: Mutex<Vec<Client>>,
    pub(crate) users: Mutex<Vec<User>>,
    pub(crate) api_resources: Mutex<Vec<ApiResource>>,
    pub(crate) keys: Mutex<KeySet>,
    pub(crate) token_lifetime: Mutex<Duration>,
    pub(crate) code_lifetime: Mutex<Duration>,
    pub(crate) counters: [AtomicUsize; Endpoint::COUNT],
    pub(crate) grant_counters: Mutex<HashMap<String, usize>>,
    pub(crate) failures: Mutex<[VecDeque<Failure>; Endpoint::COUNT]>,
    pub(crate) last_token_request: Mutex<Option<TokenRequestRecord>>,
    pub(crate) store: Mutex<Store>,
    /// The users' sessions (the browser cookie's side of a sign-in).
    pub(crate) sessions: Mutex<Sessions>,
    /// Whether the authorization endpoint shows the sign-in page to a browser without a session.
    pub(crate) sign_in_page: AtomicBool,
    /// The device authorizations (RFC 8628).
    pub(crate) device_codes: Mutex<DeviceCodes>,
    /// The `jti`s of the client assertions already used.
    pub(crate) used_assertions: Mutex<UsedAssertions>,
}

/// Everything that makes an access token.
pub(crate) struct AccessTokenRequest<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) subject: Subject<'a>,
    pub(crate) scopes: &'a [String],
    pub(crate) grant: Option<GrantId>,
    pub(crate) lifetime_secs: i64,
    pub(crate) token_type: AccessTokenType,
}

impl Shared {
    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    pub(crate) fn client(&self, id: &str) -> Option<Client> {
        lock(&self.clients)
            .iter()
            .find(|client| client.id() == id)
            .cloned()
    }

    pub(crate) fn user(&self, login: &str) -> Option<User> {
        lock(&self.users)
            .iter()
            .find(|user| user.login == login)
            .cloned()
    }

    pub(crate) fn first_user(&self) -> Option<User> {
        lock(&self.users).first().cloned()
    }

    pub(crate) fn api_resource(&self, name: &str) -> Option<ApiResource> {
        lock(&self.api_resources)
            .iter()
            .find(|resource| resource.name == name)
            .cloned()
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub(crate) fn sessions(&self) -> MutexGuard<'_, Sessions> {
        lock(&self.sessions)
    }

    pub(crate) fn device_codes(&self) -> MutexGuard<'_, DeviceCodes> {
        lock(&self.device_codes)
    }

    pub(crate) fn has_sign_in_page(&self) -> bool {
        self.sign_in_page.load(Ordering::SeqCst)
    }

    /// Checks a `private_key_jwt` assertion of `client`, for the token endpoint's URL or the
    /// issuer, and spends its `jti`.
    pub(crate) fn verify_client_assertion(
        &self,
        client: &Client,
        assertion: &str,
    ) -> Result<(), OAuthError> {
        let token_endpoint = format!("{}{}", self.issuer, discovery::TOKEN_PATH);
        let audiences = [token_endpoint.as_str(), self.issuer.as_str()];
        client_assertion::verify(
            client,
            assertion,
            &audiences,
            &mut lock(&self.used_assertions),
        )
    }

    pub(crate) fn record_token_request(&self, record: TokenRequestRecord) {
        *lock(&self.last_token_request) = Some(record);
    }

    pub(crate) fn lifetime_secs(&self) -> i64 {
        whole_secs(*lock(&self.token_lifetime))
    }

    pub(crate) fn code_lifetime_secs(&self) -> i64 {
        whole_secs(*lock(&self.code_lifetime))
    }

    /// An access token of the client's kind with the configured lifetime, remembered for
    /// introspection and revocation, and its lifetime in seconds.
    pub(crate) fn issue_access_token(
        &self,
        client: &Client,
        subject: Subject<'_>,
        scopes: &[String],
        grant: Option<GrantId>,
    ) -> (String, i64) {
        let lifetime_secs = self.lifetime_secs();
        let request = AccessTokenRequest {
            client_id: client.id(),
            subject,
            scopes,
            grant,
            lifetime_secs,
            token_type: client.access_token_type,
        };
        (self.access_token(request), lifetime_secs)
    }

    /// Makes an access token and remembers it: a JWT by its `jti`, a reference token by
    /// itself, with its claims.
    pub(crate) fn access_token(&self, request: AccessTokenRequest<'_>) -> String {
        let now = jwt::now();
        let claims = AccessTokenClaims {
            issuer: &self.issuer,
            audiences: &self.audiences,
            client_id: request.client_id,
            subject: request.subject,
            scopes: request.scopes,
            now,
            lifetime_secs: request.lifetime_secs,
        }
        .to_object();
        let expires_at = now.saturating_add(request.lifetime_secs);
        let (token, key, remembered_claims) = match request.token_type {
            AccessTokenType::Reference => {
                let token = format!("{REFERENCE_TOKEN_PREFIX}{}", random_hex(32));
                (token.clone(), token, Some(claims))
            }
            AccessTokenType::Jwt => {
                let jti = claims
                    .get("jti")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                (self.sign_access_token(&claims), jti, None)
            }
        };
        let issued = IssuedAccessToken::new(
            request.client_id.to_owned(),
            request.grant,
            remembered_claims,
            expires_at,
        );
        self.store().insert_access_token(key, issued);
        token
    }

    pub(crate) fn sign_access_token(&self, claims: &Object) -> String {
        let key = Arc::clone(&lock(&self.keys).current);
        jwt::encode(
            &jwt::access_token_header(key.kid()),
            claims,
            Signature::Rs256(&key),
        )
    }

    pub(crate) fn sign_id_token(&self, claims: &IdTokenClaims<'_>) -> String {
        let key = Arc::clone(&lock(&self.keys).current);
        jwt::encode(
            &jwt::id_token_header(key.kid()),
            &claims.to_object(),
            Signature::Rs256(&key),
        )
    }

    /// A back-channel logout token for `client_id` about the session of `sign_in`.
    pub(crate) fn sign_logout_token(&self, client_id: &str, sign_in: &SignIn) -> String {
        let key = Arc::clone(&lock(&self.keys).current);
        let claims = jwt::logout_token_claims(
            &self.issuer,
            client_id,
            sign_in.user.login(),
            &sign_in.sid,
            jwt::now(),
        );
        jwt::encode(
            &jwt::logout_token_header(key.kid()),
            &claims,
            Signature::Rs256(&key),
        )
    }

    /// The claims of a JWT that one of the published keys signed (RS256), issued by this mock,
    /// with header `typ` equal to `typ`; `exp` is checked (without leeway) if `check_exp`.
    pub(crate) fn verify_jwt(&self, token: &str, typ: &str, check_exp: bool) -> Option<Object> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.typ.as_deref() != Some(typ) {
            return None;
        }
        let kid = header.kid?;
        let key = lock(&self.keys)
            .published
            .iter()
            .find(|key| key.kid() == kid)
            .map(Arc::clone)?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.validate_exp = check_exp;
        validation.required_spec_claims.clear();
        if check_exp {
            validation.required_spec_claims.insert("exp".to_owned());
        }
        jsonwebtoken::decode::<Object>(token, key.decoding_key(), &validation)
            .ok()
            .map(|data| data.claims)
    }

    /// The claims of an access token that is active now: a reference token the mock issued
    /// and did not revoke, or a JWT of this mock that is signed, unexpired and not revoked.
    pub(crate) fn active_access_token_claims(&self, token: &str) -> Option<Object> {
        if token.starts_with(REFERENCE_TOKEN_PREFIX) {
            return self
                .store()
                .active_access_token(token, jwt::now())
                .and_then(|issued| issued.claims.clone());
        }
        let claims = self.verify_jwt(token, "at+jwt", true)?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default();
        (!self.store().is_access_token_revoked(jti)).then_some(claims)
    }

    /// Revokes `token` if it is `client_id`'s: a refresh token (with its grant), a reference
    /// token, or a JWT of this mock (by `jti`). Anything else is ignored.
    pub(crate) fn revoke(&self, token: &str, client_id: &str) {
        {
            let mut store = self.store();
            if store.revoke_refresh_token(token, client_id)
                || store.revoke_access_token(token, client_id)
            {
                return;
            }
        }
        let Some(claims) = self.verify_jwt(token, "at+jwt", true) else {
            return;
        };
        let owner = claims.get("client_id").and_then(Value::as_str);
        let jti = claims.get("jti").and_then(Value::as_str);
        let expires_at = claims.get("exp").and_then(Value::as_i64);
        match (owner, jti, expires_at) {
            (Some(owner), Some(jti), Some(expires_at)) if owner == client_id => {
                self.store().revoke_jwt(jti, client_id, expires_at);
            }
            _ => tracing::debug!(client_id, "a client may not revoke another client's token"),
        }
    }

    pub(crate) fn mint(&self, spec: &TokenSpec) -> String {
        let current = Arc::clone(&lock(&self.keys).current);
        let defaults = MintDefaults {
            issuer: &self.issuer,
            audiences: &self.audiences,
            lifetime_secs: self.lifetime_secs(),
            kid: current.kid(),
            now: jwt::now(),
        };
        let (header, claims) = spec.build(&defaults);
        let key = if spec.uses_foreign_key() {
            foreign_key()
        } else {
            &current
        };
        let signature = match spec.signing_alg() {
            Alg::Rs256 => Signature::Rs256(key),
            Alg::Hs256 => Signature::Hs256(key.public_pem().as_bytes()),
            Alg::None => Signature::Unsigned,
        };
        jwt::encode(&header, &claims, signature)
    }

    pub(crate) fn discovery_document(&self) -> Value {
        discovery::document(&self.issuer)
    }

    pub(crate) fn jwks(&self) -> Value {
        let keys = lock(&self.keys);
        discovery::jwks(keys.published.iter().map(AsRef::as_ref))
    }

    pub(crate) fn count(&self, endpoint: Endpoint) {
        self.counters[endpoint.index()].fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn count_grant(&self, request: &FormRequest) {
        if let Some(grant_type) = request
            .form
            .as_ref()
            .ok()
            .and_then(|form| form.get("grant_type"))
        {
            *lock(&self.grant_counters)
                .entry(grant_type.to_owned())
                .or_default() += 1;
        }
    }
}

/// Seconds in `duration`, saturating.
pub(crate) fn whole_secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// A key that no mock ever publishes, shared by the whole process.
fn foreign_key() -> &'static SigningKey {
    static FOREIGN: OnceLock<SigningKey> = OnceLock::new();
    FOREIGN.get_or_init(SigningKey::generate)
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding a lock must not take every later assertion with it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
