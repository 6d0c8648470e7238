//! [`JwtValidator`]: validation of JWT access tokens (RFC 9068) against the
//! provider's signing keys.
//!
//! The order of checks, and why:
//!
//! 1. Size cap, before any decoding (default 16 KiB).
//! 2. The verified-token cache: a token seen before and still valid skips the
//!    rest. A keyed fast hash (random per validator) of the token's last 64
//!    bytes, its signature, picks the entry; the whole token is then compared
//!    in constant time, so no collision, chance or crafted, can return
//!    another token's claims.
//! 3. Header: `alg` must be in the allowlist (default RS256); `none` and `HS*`
//!    are refused whatever the configuration; `typ` must be `at+jwt` (RFC 9068,
//!    as ERP.net sets it) unless configured otherwise; any `crit` is refused, as
//!    this library implements no JWS extension; `jku`, `x5u`, `x5c` and `jwk`
//!    are never read.
//! 4. Key: by `kid` from the [`JwksCache`]; the key's type must fit the
//!    algorithm (an RSA key never verifies an EC algorithm, nor the reverse).
//! 5. Signature, with the key parsed once when the key set was fetched.
//! 6. Claims: `iss` exactly, `aud` (string or array) containing a configured
//!    audience, `exp` required, `nbf` and `iat` with a small leeway, required
//!    scopes (`scope`, or else `scp`, as a string or an array).
//!
//! A validator of several issuers ([`Issuers`]) reads the claims before step 4:
//! the unverified `iss` picks one of the allowed issuers (any other is refused
//! there, before any network call), whose keys alone must then verify the
//! signature.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use erpnet_auth_core::sync::lock;
use erpnet_auth_core::{ConfigError, constant_time_eq};

use crate::claims::{
    Checked, Claims, VerifiedToken, granted_scopes, parse_audiences, parse_numeric_date, unix_now,
};
use crate::discovery::{Authority, DiscoveryCache};
use crate::http::HttpClient;
use crate::jose::Algorithm;
use crate::scopes::Scopes;
use crate::validation::error::ValidationError;
use crate::validation::issuers::{HeldIssuer, IssuerSet, Issuers};
use crate::validation::jwks::JwksCache;
use crate::validation::jws;

/// Default largest token accepted, checked before any decoding.
pub const DEFAULT_MAX_TOKEN_LENGTH: usize = 16 * 1024;
/// Default leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Default number of verified tokens remembered.
pub const DEFAULT_VERIFIED_CACHE: usize = 10_000;

/// Which `typ` header values are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TypPolicy {
    /// `at+jwt` or `application/at+jwt` (case-insensitive): RFC 9068, ERP.net.
    AccessToken,
    /// Exactly these (case-insensitive); `None` in the list accepts a missing `typ`.
    OneOf(Vec<Option<String>>),
}

/// Validates JWT access tokens. Cheap to clone; clones share the key set and
/// the verified-token cache.
///
/// The checks, in order: size cap (16 KiB); the verified-token cache (a token
/// seen before and still valid skips the rest); header (`alg` in the
/// allowlist, never `none` or `HS*`; `typ` `at+jwt`; no `crit`; `jku`, `x5u`,
/// `x5c` and `jwk` never read); key by `kid` from the [`JwksCache`], of the
/// algorithm's type; signature; claims (`iss` exactly, `aud` naming a
/// configured audience, `exp` required, `nbf` and `iat` with leeway, required
/// scopes).
///
/// ```no_run
/// # async fn demo(token: &str) -> Result<(), Box<dyn std::error::Error>> {
/// use erpnet_auth_oidc::{Authority, Issuers, JwtValidator};
///
/// let validator = JwtValidator::builder(Authority::parse("myinstance")?)
///     .audience("DomainAPI")
///     .build()?;
/// let verified = validator.validate(token).await?;
/// println!("{:?} may {:?}", verified.caller(), verified.scopes());
///
/// // Tokens of several ERP.net instances, each with its own keys.
/// let customers = JwtValidator::builder_for_issuers(Issuers::parse_list("customer-a customer-b")?)
///     .audience("DomainAPI")
///     .build()?;
/// let verified = customers.validate(token).await?;
/// println!("from {}", verified.issuer());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwtValidator {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    audiences: Vec<String>,
    any_audience: bool,
    algorithms: Vec<Algorithm>,
    leeway: i64,
    required_scopes: Vec<String>,
    typ: TypPolicy,
    max_len: usize,
    verified: VerifiedCache,
}

/// Whose keys verify tokens.
enum Keys {
    /// One issuer and its key set.
    One { issuer: String, jwks: JwksCache },
    /// Several issuers, picked by the token's `iss`.
    Many(IssuerSet),
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keys::One { issuer, jwks } => f
                .debug_struct("One")
                .field("issuer", issuer)
                .field("jwks", jwks)
                .finish(),
            Keys::Many(set) => set.fmt(f),
        }
    }
}

/// Settings of a [`JwtValidator`].
#[derive(Debug, Clone)]
pub struct JwtValidatorBuilder {
    jwks: JwksSource,
    audiences: Vec<String>,
    any_audience: bool,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    required_scopes: Scopes,
    typ: TypPolicy,
    max_len: usize,
    cache_capacity: usize,
    http: Option<HttpClient>,
}

#[derive(Debug, Clone)]
enum JwksSource {
    Authority(Authority),
    Discover(DiscoveryCache),
    Given(String, JwksCache),
    Many(Issuers),
}

impl JwtValidator {
    /// A validator for tokens of `authority`, with keys from its discovery
    /// document's `jwks_uri`.
    pub fn builder(authority: Authority) -> JwtValidatorBuilder {
        JwtValidatorBuilder::new(JwksSource::Authority(authority))
    }

    /// A validator using a discovery cache you already have (shared with token
    /// sources, or with your own [`HttpClient`]).
    pub fn builder_for_discovery(discovery: DiscoveryCache) -> JwtValidatorBuilder {
        JwtValidatorBuilder::new(JwksSource::Discover(discovery))
    }

    /// A validator for tokens from `issuer`, with keys from a key set you
    /// configured yourself.
    pub fn builder_for_jwks(issuer: impl Into<String>, jwks: JwksCache) -> JwtValidatorBuilder {
        JwtValidatorBuilder::new(JwksSource::Given(issuer.into(), jwks))
    }

    /// A validator for tokens of several issuers (a list of authorities or a
    /// rule, see [`Issuers`]): the token's `iss` picks the issuer among the
    /// allowed ones, whose discovery document and key set are fetched on its
    /// first token and then held (at most [`Issuers::max_held`]). Every other
    /// setting applies to all of them alike; [`VerifiedToken::issuer`] tells
    /// which one issued a token.
    pub fn builder_for_issuers(issuers: Issuers) -> JwtValidatorBuilder {
        JwtValidatorBuilder::new(JwksSource::Many(issuers))
    }

    /// The key set of a validator of one issuer; `None` for several (see
    /// [`jwks_of`](Self::jwks_of)).
    pub fn jwks(&self) -> Option<&JwksCache> {
        match &self.inner.keys {
            Keys::One { jwks, .. } => Some(jwks),
            Keys::Many(_) => None,
        }
    }

    /// The key set of `issuer`, if this validator holds it now.
    pub fn jwks_of(&self, issuer: &str) -> Option<JwksCache> {
        match &self.inner.keys {
            Keys::One { issuer: own, jwks } => (own == issuer).then(|| jwks.clone()),
            Keys::Many(set) => set.held(issuer).ok().map(|(_, jwks)| jwks),
        }
    }

    /// The issuer tokens must name, for a validator of one issuer; `None` for
    /// several (see [`accepted_issuers`](Self::accepted_issuers)).
    pub fn issuer(&self) -> Option<&str> {
        match &self.inner.keys {
            Keys::One { issuer, .. } => Some(issuer),
            Keys::Many(_) => None,
        }
    }

    /// The issuers accepted, when they can be listed: the one issuer, or the
    /// configured list, sorted; `None` for a rule ([`Issuers::rule`]).
    pub fn accepted_issuers(&self) -> Option<Vec<String>> {
        match &self.inner.keys {
            Keys::One { issuer, .. } => Some(vec![issuer.clone()]),
            Keys::Many(set) => set
                .issuers()
                .listed()
                .map(|listed| listed.into_iter().map(str::to_owned).collect()),
        }
    }

    /// The issuers whose keys are held now, sorted: for several issuers, those
    /// set up by a token and not evicted since.
    pub fn held_issuers(&self) -> Vec<String> {
        match &self.inner.keys {
            Keys::One { issuer, .. } => vec![issuer.clone()],
            Keys::Many(set) => set.held_issuers(),
        }
    }

    /// The audiences accepted (empty with [`JwtValidatorBuilder::accept_any_audience`]).
    pub fn audiences(&self) -> &[String] {
        if self.inner.any_audience {
            &[]
        } else {
            &self.inner.audiences
        }
    }

    /// The scopes every token must carry.
    pub fn required_scopes(&self) -> &[String] {
        &self.inner.required_scopes
    }

    /// Validates a token, fetching the key set if the token names a key not
    /// yet known (at most once per cooldown; see [`JwksCache`]). If that fetch
    /// failed (now or, within the cooldown, last time), an unknown key is
    /// [`ValidationError::KeysUnavailable`]: the token may be signed with a key
    /// rotated in that could not be fetched, so the answer is "try again", not
    /// "invalid token".
    ///
    /// With several issuers, a token of an allowed issuer not held yet sets
    /// that issuer up first (its discovery document and key set, fetched on
    /// their own task, so a caller that is dropped meanwhile cancels nothing).
    pub async fn validate(&self, token: &str) -> Result<VerifiedToken, ValidationError> {
        match &self.inner.keys {
            Keys::One { jwks, .. } => jwks.check_with_refetch(|| self.validate_now(token)).await,
            Keys::Many(set) => match self.validate_now(token) {
                Err(ValidationError::UnknownKey) => {
                    let (held, jwks) = set.admit(&unverified_issuer(token)?)?;
                    jwks.check_with_refetch(|| self.validate_with(token, Some((&held, &jwks))))
                        .await
                }
                other => other,
            },
        }
    }

    /// Validates a token with the keys at hand, never waiting. Returns
    /// [`ValidationError::UnknownKey`] when the key set would have to be
    /// fetched (with several issuers, also when the token's issuer is allowed
    /// but not held yet); [`validate`](Self::validate) does that.
    pub fn validate_now(&self, token: &str) -> Result<VerifiedToken, ValidationError> {
        self.validate_with(token, None)
    }

    /// [`validate_now`](Self::validate_now), with the issuer (and its key set)
    /// just admitted for this token when there are several.
    fn validate_with(
        &self,
        token: &str,
        admitted: Option<(&Arc<HeldIssuer>, &JwksCache)>,
    ) -> Result<VerifiedToken, ValidationError> {
        let inner = &*self.inner;
        if token.len() > inner.max_len {
            return Err(ValidationError::TooLong);
        }
        let now = unix_now();
        // Read once: it checks a remembered result, and dates a new one to the
        // key set it was verified with. Several issuers: each remembered
        // result is checked against its own issuer's key set.
        let generation = match &inner.keys {
            Keys::One { jwks, .. } => jwks.generation(),
            Keys::Many(_) => 0,
        };
        let key = inner.verified.enabled().then(|| inner.verified.key(token));
        if let Some(key) = key
            && let Some(hit) = inner.verified.get(key, token, now, generation)
        {
            return Ok(hit);
        }
        let (verified, dated) = self.validate_cold(token, now, generation, admitted)?;
        if let Some(key) = key {
            inner.verified.insert(
                key,
                token,
                verified.clone(),
                verified.expires_at_seconds().saturating_add(inner.leeway),
                dated,
                now,
            );
        }
        Ok(verified)
    }

    /// Every check but the cache. Returns the verified token and what dates it:
    /// the key set's generation and, with several issuers, the issuer.
    fn validate_cold(
        &self,
        token: &str,
        now: i64,
        generation: u64,
        admitted: Option<(&Arc<HeldIssuer>, &JwksCache)>,
    ) -> Result<(VerifiedToken, Dated), ValidationError> {
        let inner = &*self.inner;
        let jws = jws::decode(token)?;
        let header = &jws.header;

        let alg = allowed_algorithm(&header.alg, &inner.algorithms)?;
        if !type_accepted(&inner.typ, header.typ.as_deref()) {
            return Err(ValidationError::WrongType);
        }
        if header.crit.is_some() {
            return Err(ValidationError::CriticalHeader);
        }
        let (key_id, claims, dated) = match &inner.keys {
            Keys::One { issuer, jwks } => {
                let key_id = verify_signature(&jws, alg, jwks)?;
                let claims = Registered::parse(&jws.payload)?;
                if claims.issuer()? != issuer {
                    return Err(ValidationError::WrongIssuer);
                }
                let dated = Dated {
                    generation,
                    issuer: None,
                };
                (key_id, claims, dated)
            }
            Keys::Many(set) => {
                // The unverified `iss` only picks among the allowed issuers;
                // that issuer's keys must then verify the signature.
                let claims = Registered::parse(&jws.payload)?;
                let iss = claims.issuer()?;
                let (held, jwks) = match admitted {
                    Some((held, jwks)) if held.issuer() == iss => (held.clone(), jwks.clone()),
                    _ => set.held(iss)?,
                };
                let generation = jwks.generation();
                let key_id = verify_signature(&jws, alg, &jwks)?;
                let dated = Dated {
                    generation,
                    issuer: Some(held),
                };
                (key_id, claims, dated)
            }
        };
        let audiences = match &claims.aud {
            None => Vec::new(),
            Some(aud) => parse_audiences(aud).ok_or(ValidationError::MalformedClaims("`aud`"))?,
        };
        if !inner.any_audience && !audiences.iter().any(|a| inner.audiences.contains(a)) {
            return Err(ValidationError::WrongAudience);
        }
        let date = |value: &Option<Value>| match value {
            None => Ok(None),
            Some(value) => {
                parse_numeric_date(value)
                    .map(Some)
                    .ok_or(ValidationError::MalformedClaims(
                        "a date claim is not a number",
                    ))
            }
        };
        let expires_at = date(&claims.exp)?.ok_or(ValidationError::MissingClaim("exp"))?;
        let not_before = date(&claims.nbf)?;
        let issued_at = date(&claims.iat)?;
        if now >= expires_at.saturating_add(inner.leeway) {
            return Err(ValidationError::Expired);
        }
        if not_before.is_some_and(|nbf| nbf > now.saturating_add(inner.leeway)) {
            return Err(ValidationError::NotYetValid);
        }
        if issued_at.is_some_and(|iat| iat > now.saturating_add(inner.leeway)) {
            return Err(ValidationError::IssuedInFuture);
        }
        if inner.typ != TypPolicy::AccessToken && claims.nonce {
            return Err(ValidationError::IdToken);
        }
        let scopes = granted_scopes(claims.scope.as_ref(), claims.scp.as_ref())
            .map_err(ValidationError::MalformedClaims)?;
        if !inner.required_scopes.iter().all(|s| scopes.contains(s)) {
            return Err(ValidationError::InsufficientScope {
                required: inner.required_scopes.clone(),
            });
        }
        if let Some(held) = &dated.issuer {
            held.verified_at(now);
        }
        let verified = VerifiedToken::new(Checked {
            audiences,
            expires_at,
            not_before,
            issued_at,
            scopes,
            key_id,
            algorithm: Some(alg),
            claims: Claims::Payload(jws.payload),
        });
        Ok((verified, dated))
    }
}

/// The token's `iss`, unverified: with several issuers, it picks whose keys
/// must verify the token.
fn unverified_issuer(token: &str) -> Result<String, ValidationError> {
    let jws = jws::decode(token)?;
    Registered::parse(&jws.payload)?.issuer().map(str::to_owned)
}

/// The claims a validation checks, read from the payload without building a
/// map of every claim. A JSON `null` counts as absent, except for `nonce`,
/// whose mere presence marks an ID token.
#[derive(Default)]
struct Registered {
    iss: Option<Value>,
    aud: Option<Value>,
    exp: Option<Value>,
    nbf: Option<Value>,
    iat: Option<Value>,
    scope: Option<Value>,
    scp: Option<Value>,
    nonce: bool,
}

impl Registered {
    /// The claims an access token's validation checks, read strictly (see
    /// [`parse_claims`]).
    fn parse(payload: &[u8]) -> Result<Self, ValidationError> {
        parse_claims::<RegisteredSink<'_>>(payload).map(|sink| sink.claims)
    }

    /// `iss`, which must be a string.
    fn issuer(&self) -> Result<&str, ValidationError> {
        match &self.iss {
            None => Err(ValidationError::MissingClaim("iss")),
            Some(Value::String(iss)) => Ok(iss),
            Some(_) => Err(ValidationError::WrongIssuer),
        }
    }
}

/// Reads a JWT's claims set strictly, into `S`: one JSON object and nothing
/// after it, every value parsed as JSON (serde's "ignore" path would skip the
/// nesting limit, UTF-8 and number checks, so a payload accepted here always
/// makes a claims map later, see [`VerifiedToken::claims`]), and no claim
/// name twice (RFC 7519 §4 lets a parser refuse duplicates or take the last
/// one; refusing leaves no room for two readers to disagree).
///
/// Access tokens read only the claims they check ([`Registered`]); ID tokens
/// every claim, as a map.
pub(crate) fn parse_claims<'de, S: ClaimSink<'de>>(
    payload: &'de [u8],
) -> Result<S, ValidationError> {
    let mut json = serde_json::Deserializer::from_slice(payload);
    serde::Deserializer::deserialize_map(&mut json, StrictClaims(std::marker::PhantomData))
        .and_then(|claims| json.end().map(|()| claims))
        .map_err(|_| ValidationError::MalformedClaims("not a JSON object with one of each claim"))
}

/// Where [`parse_claims`] puts each claim.
pub(crate) trait ClaimSink<'de>: Default {
    /// Takes one claim; `Err` when its name was seen before.
    fn take(&mut self, name: Cow<'de, str>, value: Value) -> Result<(), Repeated>;
}

/// A claim name given twice.
pub(crate) struct Repeated;

/// Every claim, as a map (ID tokens).
impl<'de> ClaimSink<'de> for Map<String, Value> {
    fn take(&mut self, name: Cow<'de, str>, value: Value) -> Result<(), Repeated> {
        match self.insert(name.into_owned(), value) {
            None => Ok(()),
            Some(_) => Err(Repeated),
        }
    }
}

/// The claims an access token's validation checks; the names of the others
/// only, to refuse a repeated one, borrowed from the payload where they need
/// no unescaping.
#[derive(Default)]
struct RegisteredSink<'de> {
    claims: Registered,
    seen: [bool; ClaimName::COUNT],
    others: Vec<Cow<'de, str>>,
}

impl<'de> ClaimSink<'de> for RegisteredSink<'de> {
    fn take(&mut self, name: Cow<'de, str>, value: Value) -> Result<(), Repeated> {
        let Some(claim) = ClaimName::of(&name) else {
            if self.others.contains(&name) {
                return Err(Repeated);
            }
            self.others.push(name);
            return Ok(());
        };
        if std::mem::replace(&mut self.seen[claim as usize], true) {
            return Err(Repeated);
        }
        let claims = &mut self.claims;
        let value = (!value.is_null()).then_some(value);
        match claim {
            ClaimName::Iss => claims.iss = value,
            ClaimName::Aud => claims.aud = value,
            ClaimName::Exp => claims.exp = value,
            ClaimName::Nbf => claims.nbf = value,
            ClaimName::Iat => claims.iat = value,
            ClaimName::Scope => claims.scope = value,
            ClaimName::Scp => claims.scp = value,
            ClaimName::Nonce => claims.nonce = true,
        }
        Ok(())
    }
}

struct StrictClaims<S>(std::marker::PhantomData<S>);

impl<'de, S: ClaimSink<'de>> serde::de::Visitor<'de> for StrictClaims<S> {
    type Value = S;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<S, A::Error> {
        let mut sink = S::default();
        while let Some(ClaimKey(name)) = map.next_key()? {
            let value = map.next_value::<Value>()?;
            sink.take(name, value)
                .map_err(|Repeated| serde::de::Error::custom("a claim twice"))?;
        }
        Ok(sink)
    }
}

/// A claim's name, borrowed from the payload unless it has escapes.
struct ClaimKey<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for ClaimKey<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = ClaimKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                name: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(ClaimKey(Cow::Borrowed(name)))
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
                Ok(ClaimKey(Cow::Owned(name.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, name: String) -> Result<Self::Value, E> {
                Ok(ClaimKey(Cow::Owned(name)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The claims [`Registered`] holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClaimName {
    Iss,
    Aud,
    Exp,
    Nbf,
    Iat,
    Scope,
    Scp,
    Nonce,
}

impl ClaimName {
    const COUNT: usize = 8;

    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "iss" => ClaimName::Iss,
            "aud" => ClaimName::Aud,
            "exp" => ClaimName::Exp,
            "nbf" => ClaimName::Nbf,
            "iat" => ClaimName::Iat,
            "scope" => ClaimName::Scope,
            "scp" => ClaimName::Scp,
            "nonce" => ClaimName::Nonce,
            _ => return None,
        })
    }
}

/// The header's `alg`, if allowed: `none` and `HS*` never are, whatever the
/// allowlist says.
pub(crate) fn allowed_algorithm(
    name: &str,
    allowed: &[Algorithm],
) -> Result<Algorithm, ValidationError> {
    if name.eq_ignore_ascii_case("none") {
        return Err(ValidationError::NoneAlgorithm);
    }
    if name.starts_with("HS") {
        return Err(ValidationError::SymmetricAlgorithm);
    }
    Algorithm::from_name(name)
        .filter(|a| allowed.contains(a))
        .ok_or(ValidationError::AlgorithmNotAllowed)
}

/// Verifies the signature with the key named by `kid` (or, without a `kid`,
/// any key of the set that fits the algorithm). Returns the key's id.
pub(crate) fn verify_signature(
    jws: &jws::Compact<'_>,
    alg: Algorithm,
    jwks: &JwksCache,
) -> Result<Option<String>, ValidationError> {
    let keys = jwks.current();
    let kid = jws.header.kid.as_ref();
    let mut candidates = keys
        .keys
        .iter()
        .filter(|key| kid.is_none() || key.kid.as_ref() == kid)
        .peekable();
    if candidates.peek().is_none() {
        return Err(ValidationError::UnknownKey);
    }
    let mut mismatch = true;
    for key in candidates {
        let Some(verifier) = key.verifier(alg) else {
            continue;
        };
        mismatch = false;
        if verifier
            .verify_sig(jws.signing_input, &jws.signature)
            .is_ok()
        {
            return Ok(key.kid.clone());
        }
    }
    Err(if mismatch {
        ValidationError::KeyMismatch
    } else {
        ValidationError::BadSignature
    })
}

fn type_accepted(policy: &TypPolicy, typ: Option<&str>) -> bool {
    match policy {
        TypPolicy::AccessToken => typ.is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        }),
        TypPolicy::OneOf(accepted) => accepted.iter().any(|a| match (a, typ) {
            (None, None) => true,
            (Some(a), Some(t)) => a.eq_ignore_ascii_case(t),
            _ => false,
        }),
    }
}

impl JwtValidatorBuilder {
    fn new(jwks: JwksSource) -> Self {
        Self {
            jwks,
            audiences: Vec::new(),
            any_audience: false,
            algorithms: vec![Algorithm::RS256],
            leeway: DEFAULT_LEEWAY,
            required_scopes: Scopes::default(),
            typ: TypPolicy::AccessToken,
            max_len: DEFAULT_MAX_TOKEN_LENGTH,
            cache_capacity: DEFAULT_VERIFIED_CACHE,
            http: None,
        }
    }

    /// The HTTP client for discovery and the key set, when the validator was
    /// made with [`JwtValidator::builder`] or
    /// [`JwtValidator::builder_for_issuers`] (default: [`HttpClient::new`]; a
    /// discovery cache or key set you give brings its own).
    pub fn http(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// An audience this API accepts; tokens must name at least one configured
    /// audience in `aud`. May be repeated. ERP.net tokens name e.g.
    /// `DomainAPI`, `TableAPI`, `OLAP`, `AppServer`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Several audiences at once.
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Accepts any `aud`. An explicit opt-out: without an audience, a token
    /// issued for any other API of the same provider would be accepted here.
    pub fn accept_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// The algorithms accepted (default `RS256`, the one ERP.net uses).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat` (default 30 s; at most 5 minutes).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(Duration::from_secs(300));
        self
    }

    /// Adds scopes every token must carry (all of them), read as every
    /// `scopes(…)` of this crate reads them ([Scopes](crate#scopes)); a token
    /// without one is refused with [`ValidationError::InsufficientScope`]
    /// (HTTP 403).
    pub fn require_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_scopes.add(scopes);
        self
    }

    /// Accepts these `typ` values instead of `at+jwt` (for providers that do not
    /// follow RFC 9068); `None` accepts a token without `typ`. Tokens carrying a
    /// `nonce` (ID tokens) are then refused by that claim.
    pub fn accepted_types<I>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = Option<&'static str>>,
    {
        self.typ = TypPolicy::OneOf(types.into_iter().map(|t| t.map(str::to_owned)).collect());
        self
    }

    /// The largest token accepted, checked before any decoding (default 16 KiB).
    pub fn max_token_length(mut self, max: usize) -> Self {
        self.max_len = max;
        self
    }

    /// How many verified tokens are remembered, at most, so that a token seen again skips
    /// the signature check (default 10,000; 0 turns the cache off). Entries live
    /// no longer than the token's `exp` and are dropped when the key set changes.
    /// Each entry holds the token itself (a hit compares it in full) and its
    /// decoded payload, plus the map of every claim once someone asked for it
    /// (`VerifiedToken::claims`): one to a few KB for an ERP.net token, so the
    /// default takes tens of MB at most.
    pub fn verified_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Checks the configuration and builds the validator.
    pub fn build(self) -> Result<JwtValidator, ConfigError> {
        if self.audiences.is_empty() && !self.any_audience {
            return Err(ConfigError::invalid(
                "no audience configured: name the audience(s) this API accepts, or opt out explicitly with accept_any_audience()",
            ));
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::invalid("no signature algorithm allowed"));
        }
        let http = || match self.http {
            Some(http) => Ok(http),
            None => HttpClient::new(),
        };
        let keys = match self.jwks {
            JwksSource::Given(issuer, jwks) => Keys::One { issuer, jwks },
            JwksSource::Discover(discovery) => Keys::One {
                issuer: discovery.authority().issuer().to_owned(),
                jwks: JwksCache::builder_for_discovery(discovery).build()?,
            },
            JwksSource::Authority(authority) => Keys::One {
                issuer: authority.issuer().to_owned(),
                jwks: JwksCache::builder_for_discovery(DiscoveryCache::new(authority, http()?))
                    .build()?,
            },
            JwksSource::Many(issuers) => Keys::Many(IssuerSet::new(issuers, http()?)),
        };
        Ok(JwtValidator {
            inner: Arc::new(Inner {
                keys,
                audiences: self.audiences,
                any_audience: self.any_audience,
                algorithms: self.algorithms,
                leeway: self.leeway.as_secs() as i64,
                required_scopes: self.required_scopes.as_slice().to_vec(),
                typ: self.typ,
                max_len: self.max_len,
                verified: VerifiedCache::new(self.cache_capacity),
            }),
        })
    }
}

impl fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("JwtValidator")
            .field("keys", &inner.keys)
            .field("audiences", &inner.audiences)
            .field("any_audience", &inner.any_audience)
            .field("algorithms", &inner.algorithms)
            .field("leeway", &inner.leeway)
            .field("required_scopes", &inner.required_scopes)
            .field("typ", &inner.typ)
            .finish()
    }
}

/// Tokens already verified. Sharded so that concurrent requests rarely meet on
/// one lock; bounded in entries.
///
/// An entry is found by a fast keyed hash of the token's length and last 64
/// bytes, and holds the whole token, which must equal the one presented
/// (compared in constant time): a collision can only cost a miss, never
/// return another token's claims.
///
/// Why the last 64 bytes: they are the end of the signature, which the
/// issuer's key makes unpredictable, so they spread entries as well as the
/// whole token would; only tokens that verified are stored, and nobody can
/// choose the signature of a valid token. A cryptographic digest of the whole
/// token as the key would need no stored token, but costs more than the rest
/// of a hit together (SHA-256 of a 1 KB token: ~0.6 µs).
struct VerifiedCache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    hasher: TokenHasher,
}

type Shard = HashMap<u64, Remembered, BuildHasherDefault<KeyHasher>>;

struct Remembered {
    token: Box<str>,
    verified: VerifiedToken,
    valid_until: i64,
    dated: Dated,
}

/// What a verified result depends on besides its token's `exp`: the key set
/// that verified it, by its generation, and with several issuers the issuer
/// it belongs to (whose key set must still be held).
struct Dated {
    generation: u64,
    issuer: Option<Arc<HeldIssuer>>,
}

impl Dated {
    /// Whether the key set is still the one that verified the result;
    /// `generation` is the current one of a validator of one issuer.
    fn is_current(&self, generation: u64) -> bool {
        match &self.issuer {
            None => self.generation == generation,
            Some(held) => held.generation() == self.generation,
        }
    }
}

const SHARDS: usize = 16;

impl VerifiedCache {
    fn new(capacity: usize) -> Self {
        // Never more than `capacity` entries in all: fewer shards for a small
        // capacity, and each shard's share rounded down.
        let shards = capacity.min(SHARDS);
        let per_shard = capacity.checked_div(shards).unwrap_or(0);
        Self {
            shards: (0..shards)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            per_shard,
            hasher: TokenHasher::new(),
        }
    }

    fn enabled(&self) -> bool {
        !self.shards.is_empty()
    }

    /// The key of a token in this cache.
    fn key(&self, token: &str) -> u64 {
        let bytes = token.as_bytes();
        let tail = &bytes[bytes.len().saturating_sub(64)..];
        self.hasher.hash(tail, bytes.len())
    }

    fn shard(&self, key: u64) -> &Mutex<Shard> {
        // Bits the maps do not use for their buckets and tags.
        &self.shards[(key >> 32) as usize % self.shards.len()]
    }

    fn get(&self, key: u64, token: &str, now: i64, generation: u64) -> Option<VerifiedToken> {
        let shard = lock(self.shard(key));
        let hit = shard.get(&key)?;
        let current = now < hit.valid_until
            && hit.dated.is_current(generation)
            // Constant time, so that response times tell nothing of a
            // remembered token.
            && constant_time_eq(&hit.token, token);
        if !current {
            return None;
        }
        Some(hit.verified.clone())
    }

    fn insert(
        &self,
        key: u64,
        token: &str,
        verified: VerifiedToken,
        valid_until: i64,
        dated: Dated,
        now: i64,
    ) {
        let mut shard = lock(self.shard(key));
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            let generation = dated.generation;
            shard.retain(|_, r| now < r.valid_until && r.dated.is_current(generation));
            if shard.len() >= self.per_shard
                && let Some(victim) = shard.keys().next().copied()
            {
                shard.remove(&victim);
            }
        }
        shard.insert(
            key,
            Remembered {
                token: token.into(),
                verified,
                valid_until,
                dated,
            },
        );
    }
}

/// A fast keyed hash (the folded-multiply construction of wyhash and
/// foldhash, four lanes of 16 bytes), with keys drawn at random for each
/// cache. Not a MAC: it only spreads entries, and a collision costs a miss
/// (see [`VerifiedCache`]).
struct TokenHasher {
    seeds: [u64; 4],
}

/// Digits of pi, as in foldhash: fixed odd constants for the second operand.
const PI: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

impl TokenHasher {
    fn new() -> Self {
        let random = RandomState::new();
        Self {
            seeds: [0u64, 1, 2, 3].map(|i| random.hash_one(i)),
        }
    }

    fn hash(&self, bytes: &[u8], length: usize) -> u64 {
        let mut lanes = self.seeds;
        let mut chunks = bytes.chunks_exact(64);
        for chunk in &mut chunks {
            mix(&mut lanes, chunk);
        }
        let mut tail = [0u8; 64];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        mix(&mut lanes, &tail);
        let folded = folded_multiply(lanes[0] ^ lanes[1], lanes[2] ^ lanes[3] ^ PI[0]);
        folded_multiply(folded ^ length as u64, self.seeds[0] ^ PI[1])
    }
}

/// One 64-byte block into the four lanes.
fn mix(lanes: &mut [u64; 4], block: &[u8]) {
    let word = |i: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&block[i * 8..i * 8 + 8]);
        u64::from_le_bytes(bytes)
    };
    for (lane, (state, pi)) in lanes.iter_mut().zip(PI).enumerate() {
        *state = folded_multiply(*state ^ word(2 * lane), word(2 * lane + 1) ^ pi);
    }
}

fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The key is already a hash: use it as it is.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        if let Some(first) = bytes.first_chunk::<8>() {
            self.0 = u64::from_ne_bytes(*first);
        }
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

#[cfg(test)]
mod tests;
