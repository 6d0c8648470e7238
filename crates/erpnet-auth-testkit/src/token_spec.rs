//! [`TokenSpec`]: arbitrary tokens for negative tests.

use serde_json::{Value, json};

use crate::client::{DEFAULT_CLIENT_ID, DEFAULT_SYSTEM_USER};
use crate::jwt::{self, AccessTokenClaims, Object, Subject};
use crate::keys::random_hex;

/// How a minted token is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Alg {
    /// `RS256` with the mock's current signing key (or the foreign key, see
    /// [`TokenSpec::foreign_key`]). The default, and what ERP.net uses.
    #[default]
    Rs256,
    /// `HS256` with the PEM text of the signing key's RSA public key
    /// (`-----BEGIN PUBLIC KEY-----` …, `SubjectPublicKeyInfo`) as the HMAC secret: the classic
    /// algorithm-confusion attack against validators that let the token pick the algorithm.
    Hs256,
    /// `"alg":"none"` and an empty signature (the token ends with a dot).
    None,
}

impl Alg {
    fn header_value(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Hs256 => "HS256",
            Alg::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Id,
    Logout,
}

/// One change to a header or claim set, applied in the order the test asked for it.
#[derive(Debug, Clone)]
enum Edit {
    Set(String, Value),
    /// Seconds relative to the moment of minting.
    SetTime(String, i64),
    Remove(String),
}

impl Edit {
    fn apply(&self, object: &mut Object, now: i64) {
        match self {
            Edit::Set(name, value) => {
                object.insert(name.clone(), value.clone());
            }
            Edit::SetTime(name, offset) => {
                object.insert(name.clone(), json!(now.saturating_add(*offset)));
            }
            Edit::Remove(name) => {
                object.remove(name);
            }
        }
    }
}

/// A recipe for a token, passed to [`MockIdentity::mint`](crate::MockIdentity::mint).
///
/// It starts as a valid token of the mock (an access token for [`DEFAULT_CLIENT_ID`] with the
/// scopes `read` and `update`, or an ID token), and each method changes one thing. Changes
/// apply in the order they are made, so a later [`claim`](TokenSpec::claim) overrides an
/// earlier [`issuer`](TokenSpec::issuer) and vice versa. Times are relative to the moment of
/// minting.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use erpnet_auth_testkit::{Alg, MockIdentity, TokenSpec};
///
/// let idp = MockIdentity::start().await;
/// let expired = idp.mint(TokenSpec::access_token().expires_in(-60));
/// let wrong_issuer = idp.mint(TokenSpec::access_token().issuer("https://evil.example/id"));
/// let unsigned = idp.mint(TokenSpec::access_token().alg(Alg::None));
/// assert!(unsigned.ends_with('.'));
/// # let _ = (expired, wrong_issuer);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TokenSpec {
    kind: Kind,
    alg: Alg,
    foreign_key: bool,
    header: Vec<Edit>,
    claims: Vec<Edit>,
}

impl TokenSpec {
    /// A valid access token, as the token endpoint issues it for [`DEFAULT_CLIENT_ID`] with
    /// the scopes `read` and `update`: header `{"alg":"RS256","kid":…,"typ":"at+jwt"}`.
    pub fn access_token() -> TokenSpec {
        TokenSpec::new(Kind::Access)
    }

    /// A valid ID token for [`DEFAULT_CLIENT_ID`]: header `typ: JWT`, `aud` the client id (a
    /// string), `sub`, `sid`, `nonce`, `auth_time`, `idp`, `amr`, living 300 s. It has no
    /// `at_hash`, since no access token accompanies it.
    pub fn id_token() -> TokenSpec {
        TokenSpec::new(Kind::Id)
    }

    /// A valid back-channel logout token for [`DEFAULT_CLIENT_ID`] (OpenID Connect Back-Channel
    /// Logout 1.0): header `typ: logout+jwt`, `aud` the client id, `sub`, a random `sid`,
    /// `events` with `http://schemas.openid.net/event/backchannel-logout`, `jti`, living
    /// 300 s, and no `nonce`.
    pub fn logout_token() -> TokenSpec {
        TokenSpec::new(Kind::Logout)
    }

    fn new(kind: Kind) -> TokenSpec {
        TokenSpec {
            kind,
            alg: Alg::Rs256,
            foreign_key: false,
            header: Vec::new(),
            claims: Vec::new(),
        }
    }

    fn set_claim(mut self, name: &str, value: Value) -> TokenSpec {
        self.claims.push(Edit::Set(name.to_owned(), value));
        self
    }

    fn set_header(mut self, name: &str, value: Value) -> TokenSpec {
        self.header.push(Edit::Set(name.to_owned(), value));
        self
    }

    /// Sets `iss`.
    pub fn issuer(self, issuer: impl Into<String>) -> TokenSpec {
        self.set_claim("iss", Value::String(issuer.into()))
    }

    /// Sets `aud` to a single string, as older ERP.net tokens have it (`"DomainApi"`).
    pub fn audience_str(self, audience: impl Into<String>) -> TokenSpec {
        self.set_claim("aud", Value::String(audience.into()))
    }

    /// Sets `aud` to an array.
    pub fn audiences<I, S>(self, audiences: I) -> TokenSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_claim("aud", strings(audiences))
    }

    /// Sets `scope` to a JSON array, as ERP.net does.
    pub fn scopes_array<I, S>(self, scopes: I) -> TokenSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_claim("scope", strings(scopes))
    }

    /// Sets `scope` to one space-separated string, as RFC 9068 providers do.
    pub fn scope_string(self, scopes: impl Into<String>) -> TokenSpec {
        self.set_claim("scope", Value::String(scopes.into()))
    }

    /// Sets the client: the `client_id` claim of an access token, or the `aud` of an ID or
    /// logout token (their audience is the client they were issued to).
    pub fn client_id(self, client_id: impl Into<String>) -> TokenSpec {
        let name = match self.kind {
            Kind::Access => "client_id",
            Kind::Id | Kind::Logout => "aud",
        };
        self.set_claim(name, Value::String(client_id.into()))
    }

    /// Sets `sub` (a user token's login name; service tokens have none by default).
    pub fn subject(self, subject: impl Into<String>) -> TokenSpec {
        self.set_claim("sub", Value::String(subject.into()))
    }

    /// Sets `exp` to this many seconds from now (negative: already expired).
    pub fn expires_in(mut self, seconds: i64) -> TokenSpec {
        self.claims.push(Edit::SetTime("exp".to_owned(), seconds));
        self
    }

    /// Sets `nbf` to this many seconds from now (positive: not yet valid).
    pub fn not_before_offset(mut self, seconds: i64) -> TokenSpec {
        self.claims.push(Edit::SetTime("nbf".to_owned(), seconds));
        self
    }

    /// Sets `iat` to this many seconds from now (positive: issued in the future).
    pub fn issued_at_offset(mut self, seconds: i64) -> TokenSpec {
        self.claims.push(Edit::SetTime("iat".to_owned(), seconds));
        self
    }

    /// Sets the header's `typ`, or removes it with `None`.
    pub fn typ(mut self, typ: Option<&str>) -> TokenSpec {
        self.header.push(match typ {
            Some(typ) => Edit::Set("typ".to_owned(), json!(typ)),
            None => Edit::Remove("typ".to_owned()),
        });
        self
    }

    /// Sets the header's `kid`, or removes it with `None`. The token is still signed with the
    /// current key (or the foreign one).
    pub fn kid(mut self, kid: Option<&str>) -> TokenSpec {
        self.header.push(match kid {
            Some(kid) => Edit::Set("kid".to_owned(), json!(kid)),
            None => Edit::Remove("kid".to_owned()),
        });
        self
    }

    /// Chooses how the token is signed; the header's `alg` follows (unless a later
    /// [`header_param`](TokenSpec::header_param) sets it to something else).
    pub fn alg(mut self, alg: Alg) -> TokenSpec {
        self.alg = alg;
        self
    }

    /// Signs with a process-wide RSA key that no mock publishes, under the kid of the current
    /// signing key: the signature must fail to verify.
    pub fn foreign_key(mut self) -> TokenSpec {
        self.foreign_key = true;
        self
    }

    /// Sets the header's `crit` (critical extensions the validator must understand).
    pub fn crit<I, S>(self, names: I) -> TokenSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_header("crit", strings(names))
    }

    /// Sets any header parameter to any JSON value.
    pub fn header_param(self, name: &str, value: Value) -> TokenSpec {
        self.set_header(name, value)
    }

    /// Removes a header parameter.
    pub fn remove_header_param(mut self, name: &str) -> TokenSpec {
        self.header.push(Edit::Remove(name.to_owned()));
        self
    }

    /// Sets any claim to any JSON value.
    pub fn claim(self, name: &str, value: Value) -> TokenSpec {
        self.set_claim(name, value)
    }

    /// Removes a claim.
    pub fn remove_claim(mut self, name: &str) -> TokenSpec {
        self.claims.push(Edit::Remove(name.to_owned()));
        self
    }

    pub(crate) fn signing_alg(&self) -> Alg {
        self.alg
    }

    pub(crate) fn uses_foreign_key(&self) -> bool {
        self.foreign_key
    }

    /// The header and claims, starting from the mock's defaults and applying every edit.
    pub(crate) fn build(&self, defaults: &MintDefaults<'_>) -> (Object, Object) {
        let (mut header, mut claims) = match self.kind {
            Kind::Access => {
                let scopes = ["read".to_owned(), "update".to_owned()];
                let claims = AccessTokenClaims {
                    issuer: defaults.issuer,
                    audiences: defaults.audiences,
                    client_id: DEFAULT_CLIENT_ID,
                    subject: Subject::Service {
                        system_user: DEFAULT_SYSTEM_USER,
                    },
                    scopes: &scopes,
                    now: defaults.now,
                    lifetime_secs: defaults.lifetime_secs,
                };
                (jwt::access_token_header(defaults.kid), claims.to_object())
            }
            Kind::Id => (
                jwt::id_token_header(defaults.kid),
                jwt::id_token_claims(defaults.issuer, DEFAULT_CLIENT_ID, defaults.now),
            ),
            Kind::Logout => (
                jwt::logout_token_header(defaults.kid),
                jwt::logout_token_claims(
                    defaults.issuer,
                    DEFAULT_CLIENT_ID,
                    jwt::DEFAULT_ID_TOKEN_SUBJECT,
                    &random_hex(16),
                    defaults.now,
                ),
            ),
        };
        header.insert("alg".to_owned(), json!(self.alg.header_value()));
        for edit in &self.header {
            edit.apply(&mut header, defaults.now);
        }
        for edit in &self.claims {
            edit.apply(&mut claims, defaults.now);
        }
        (header, claims)
    }
}

impl Default for TokenSpec {
    fn default() -> TokenSpec {
        TokenSpec::access_token()
    }
}

/// What the mock contributes to a minted token.
pub(crate) struct MintDefaults<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) audiences: &'a [String],
    pub(crate) lifetime_secs: i64,
    pub(crate) kid: &'a str,
    pub(crate) now: i64,
}

fn strings<I, S>(items: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Value::Array(
        items
            .into_iter()
            .map(|item| Value::String(item.into()))
            .collect(),
    )
}
