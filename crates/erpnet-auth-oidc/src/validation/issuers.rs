//! [`Issuers`]: the issuers a [`JwtValidator`](crate::JwtValidator) accepts
//! when one API serves several providers (a SaaS product with several ERP.net
//! customers, each instance its own issuer with its own keys), and the set of
//! those it holds: each one's discovery document and key set, set up on first
//! use, bounded in number.
//!
//! Why the token's unverified `iss` may choose the keys: it only selects among
//! allowed issuers, and the signature is then checked with that issuer's keys
//! alone, so a token claiming issuer A verifies only if A signed it. An issuer
//! outside the allowed set is refused before any network call.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use erpnet_auth_core::ConfigError;
use erpnet_auth_core::sync::lock;

use crate::discovery::{Authority, DiscoveryCache};
use crate::http::HttpClient;
use crate::validation::error::ValidationError;
use crate::validation::jwks::JwksCache;

/// Default bound on the issuers a validator of several issuers holds at once.
pub const DEFAULT_MAX_ISSUERS: usize = 100;

/// The host suffix and path of every ERP.net instance's issuer:
/// `https://{instance}.my.erp.net/id`.
const ERPNET_HOST_SUFFIX: &str = ".my.erp.net";
const ERPNET_ISSUER_PATH: &str = "/id";

/// Which issuers a [`JwtValidator`](crate::JwtValidator) accepts tokens from:
/// a list of authorities, or a rule on the issuer. Build the validator with
/// [`JwtValidator::builder_for_issuers`](crate::JwtValidator::builder_for_issuers).
///
/// The token's `iss` picks the issuer; one outside the set is refused
/// ([`ValidationError::WrongIssuer`], HTTP 401) before any network call. An
/// allowed issuer's discovery document and key set are fetched on its first
/// token, with every rule of the single-issuer validator (see
/// [`JwksCache`]), and then held.
///
/// At most [`max_held`](Self::max_held) issuers are held (default 100). When a
/// new one needs room, the one that verified a token least recently goes
/// (its keys are dropped and its background refresh stops); issuers that have
/// not verified any token yet go first, oldest first, so that tokens naming
/// issuers that never prove themselves cannot push out those in use. An
/// evicted issuer is set up again on its next token. "Verified" counts each
/// token's first validation, not the answers from the verified-token cache,
/// which then cost no more than with one issuer: an issuer in use verifies
/// every new token of its clients (hourly, for ERP.net's tokens).
///
/// ```
/// use erpnet_auth_oidc::{Authority, Issuers};
///
/// // A list of authorities: instance names or issuer URLs.
/// let listed = Issuers::list([Authority::parse("customer-a")?, Authority::parse("customer-b")?]);
/// assert!(listed.allows("https://customer-a.my.erp.net/id"));
/// assert!(!listed.allows("https://customer-c.my.erp.net/id"));
///
/// // The same, from configuration text (spaces or commas between them).
/// let parsed = Issuers::parse_list("customer-a, https://login.example.com/realms/main")?;
/// assert!(parsed.allows("https://login.example.com/realms/main"));
///
/// // A rule: any ERP.net instance whose name is in a (possibly long) list.
/// let customers = Issuers::erpnet_instances(["customer-a", "customer-b"])?;
/// assert!(customers.allows("https://customer-b.my.erp.net/id"));
/// assert!(!customers.allows("https://customer-b.my.erp.net/id/"));
///
/// // Any rule on the issuer, e.g. instance names looked up elsewhere.
/// let rule = Issuers::rule(|issuer| {
///     Issuers::erpnet_instance_name(issuer).is_some_and(|name| name.starts_with("customer-"))
/// });
/// assert!(rule.allows("https://customer-z.my.erp.net/id"));
/// # Ok::<(), erpnet_auth_oidc::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Issuers {
    allowed: Allowed,
    max_held: usize,
}

#[derive(Clone)]
enum Allowed {
    /// These authorities, by their exact issuer.
    List(Arc<HashMap<String, Authority>>),
    /// Any issuer URL the predicate accepts.
    Rule(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl Issuers {
    /// These authorities (ERP.net instances or other providers), each by its
    /// exact issuer.
    pub fn list<I>(authorities: I) -> Self
    where
        I: IntoIterator<Item = Authority>,
    {
        let list = authorities
            .into_iter()
            .map(|authority| (authority.issuer().to_owned(), authority))
            .collect();
        Self {
            allowed: Allowed::List(Arc::new(list)),
            max_held: DEFAULT_MAX_ISSUERS,
        }
    }

    /// A list of authorities from configuration text: instance names or
    /// issuer URLs ([`Authority::parse`]), separated by spaces or commas.
    pub fn parse_list(text: &str) -> Result<Self, ConfigError> {
        let authorities = split_list(text)
            .map(Authority::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if authorities.is_empty() {
            return Err(ConfigError::invalid(
                "no authority given: name at least one instance or issuer URL",
            ));
        }
        Ok(Self::list(authorities))
    }

    /// Any issuer that `predicate` accepts. The predicate sees the token's
    /// unverified `iss`; an accepted issuer's discovery document is then
    /// fetched from `{iss}/.well-known/openid-configuration`, so make the rule
    /// as narrow as the issuers you trust (a rule that accepts any host lets
    /// any token make this server fetch from that host). The issuer must also
    /// be an `https` URL (or `http` to loopback) that names itself exactly, as
    /// [`Authority::issuer_url`] reads it.
    pub fn rule(predicate: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self {
            allowed: Allowed::Rule(Arc::new(predicate)),
            max_held: DEFAULT_MAX_ISSUERS,
        }
    }

    /// A rule for ERP.net: any instance whose name is in `names`
    /// (case-insensitive), that is any issuer `https://{name}.my.erp.net/id`
    /// for a listed name. Suits long lists (one lookup per new issuer);
    /// a list that changes at run time is a [`rule`](Self::rule) with
    /// [`erpnet_instance_name`](Self::erpnet_instance_name).
    pub fn erpnet_instances<I, S>(names: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names = names
            .into_iter()
            .map(|name| {
                // Checks the name as a configured instance name is checked.
                Authority::erpnet_instance(name.as_ref())
                    .map(|_| name.as_ref().trim().to_ascii_lowercase())
            })
            .collect::<Result<std::collections::HashSet<_>, _>>()?;
        if names.is_empty() {
            return Err(ConfigError::invalid("no ERP.net instance name given"));
        }
        Ok(Self::rule(move |issuer| {
            Self::erpnet_instance_name(issuer).is_some_and(|name| names.contains(name))
        }))
    }

    /// The instance name of an ERP.net issuer (`https://{name}.my.erp.net/id`,
    /// exactly so: lowercase, no port, no trailing `/`), or `None` for any
    /// other issuer.
    pub fn erpnet_instance_name(issuer: &str) -> Option<&str> {
        let host = issuer
            .strip_prefix("https://")?
            .strip_suffix(ERPNET_ISSUER_PATH)?;
        let name = host.strip_suffix(ERPNET_HOST_SUFFIX)?;
        let valid = !name.is_empty()
            && name.len() <= 63
            && !name.starts_with('-')
            && !name.ends_with('-')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        valid.then_some(name)
    }

    /// At most this many issuers are held at once (default 100, at least 1);
    /// see the type's documentation for which one goes when a new one needs
    /// room.
    pub fn max_held(mut self, max: usize) -> Self {
        self.max_held = max.max(1);
        self
    }

    /// Whether tokens of `issuer` are accepted: listed, or accepted by the
    /// rule and a valid issuer URL.
    pub fn allows(&self, issuer: &str) -> bool {
        self.authority(issuer).is_some()
    }

    /// The issuers of the list, sorted; `None` for a rule.
    pub fn listed(&self) -> Option<Vec<&str>> {
        match &self.allowed {
            Allowed::List(list) => {
                let mut issuers: Vec<&str> = list.keys().map(String::as_str).collect();
                issuers.sort_unstable();
                Some(issuers)
            }
            Allowed::Rule(_) => None,
        }
    }

    /// The authority of an allowed issuer.
    fn authority(&self, issuer: &str) -> Option<Authority> {
        match &self.allowed {
            Allowed::List(list) => list.get(issuer).cloned(),
            Allowed::Rule(rule) => {
                if !rule(issuer) {
                    return None;
                }
                // A token's issuer must name itself exactly: no trailing `/`
                // or spaces dropped on the way.
                Authority::issuer_url(issuer)
                    .ok()
                    .filter(|authority| authority.issuer() == issuer)
            }
        }
    }
}

/// The items of a list given as text: separated by whitespace or commas.
pub(crate) fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
}

impl fmt::Debug for Issuers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Issuers");
        match self.listed() {
            Some(listed) => debug.field("list", &listed),
            None => debug.field("rule", &format_args!("..")),
        };
        debug.field("max_held", &self.max_held).finish()
    }
}

/// The issuers a validator holds: each one's key set, set up on first use.
pub(crate) struct IssuerSet {
    issuers: Issuers,
    http: HttpClient,
    /// Read lock-free on every cold validation; replaced whole (it holds at
    /// most `max_held` entries) when an issuer is added or evicted.
    held: ArcSwap<HashMap<Box<str>, Arc<HeldIssuer>>>,
    /// Serialises additions, so that two first tokens of one issuer set it up
    /// once.
    admitting: Mutex<()>,
    admitted: AtomicU64,
}

/// One issuer held: its key set, until it is evicted.
pub(crate) struct HeldIssuer {
    issuer: Box<str>,
    /// Retired once evicted ([`JwksCache::retire`]): its keys and background
    /// refresh are gone, and remembered results of its tokens no longer
    /// count (they hold this, and check the key set's generation: one
    /// arc-swap load, as for a validator of one issuer).
    jwks: JwksCache,
    /// When (unix seconds) it last verified a token (not counting answers
    /// from the verified-token cache); 0: never.
    last_verified: AtomicI64,
    /// The order it was admitted in, to evict the oldest among equals.
    admitted: u64,
}

impl HeldIssuer {
    /// The issuer.
    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The generation of its key set (changed for good once evicted).
    pub(crate) fn generation(&self) -> u64 {
        self.jwks.generation()
    }

    /// Marks it as having verified a token at `now`. Written only when the
    /// second changes, so that concurrent validations rarely write the line.
    pub(crate) fn verified_at(&self, now: i64) {
        if self.last_verified.load(Ordering::Relaxed) != now {
            self.last_verified.store(now, Ordering::Relaxed);
        }
    }
}

impl IssuerSet {
    pub(crate) fn new(issuers: Issuers, http: HttpClient) -> Self {
        Self {
            issuers,
            http,
            held: ArcSwap::default(),
            admitting: Mutex::new(()),
            admitted: AtomicU64::new(0),
        }
    }

    pub(crate) fn issuers(&self) -> &Issuers {
        &self.issuers
    }

    /// The issuer held for `iss`, with its key set, without any network call:
    /// [`ValidationError::UnknownKey`] when it is allowed but not held yet
    /// ([`admit`](Self::admit) sets it up), [`ValidationError::WrongIssuer`]
    /// when it is not allowed.
    pub(crate) fn held(&self, iss: &str) -> Result<(Arc<HeldIssuer>, JwksCache), ValidationError> {
        if let Some(held) = self.held.load().get(iss) {
            return Ok((held.clone(), held.jwks.clone()));
        }
        Err(if self.issuers.allows(iss) {
            ValidationError::UnknownKey
        } else {
            ValidationError::WrongIssuer
        })
    }

    /// The issuer held for `iss`, set up if it is allowed and not held yet,
    /// evicting one if the set is full. Makes no network call: the key set is
    /// fetched by its first use.
    pub(crate) fn admit(&self, iss: &str) -> Result<(Arc<HeldIssuer>, JwksCache), ValidationError> {
        let _admitting = lock(&self.admitting);
        match self.held(iss) {
            Err(ValidationError::UnknownKey) => {}
            other => return other,
        }
        let authority = self
            .issuers
            .authority(iss)
            .ok_or(ValidationError::WrongIssuer)?;
        let jwks =
            JwksCache::builder_for_discovery(DiscoveryCache::new(authority, self.http.clone()))
                .build()
                .map_err(|error| ValidationError::KeysUnavailable(error.into()))?;
        let added = Arc::new(HeldIssuer {
            issuer: iss.into(),
            jwks: jwks.clone(),
            last_verified: AtomicI64::new(0),
            admitted: self.admitted.fetch_add(1, Ordering::Relaxed),
        });
        let mut held = HashMap::clone(&self.held.load());
        while held.len() >= self.issuers.max_held {
            let Some(victim) = held
                .values()
                .min_by_key(|h| (h.last_verified.load(Ordering::Relaxed), h.admitted))
                .cloned()
            else {
                break;
            };
            tracing::info!(
                issuer = %victim.issuer,
                held = held.len(),
                "validator: evicting the issuer that verified a token least recently, to make room"
            );
            victim.jwks.retire();
            held.remove(&victim.issuer);
        }
        held.insert(iss.into(), added.clone());
        self.held.store(Arc::new(held));
        tracing::debug!(issuer = iss, "validator: set up a new issuer");
        Ok((added, jwks))
    }

    /// The issuers held now, sorted.
    pub(crate) fn held_issuers(&self) -> Vec<String> {
        let mut issuers: Vec<String> = self
            .held
            .load()
            .values()
            .map(|h| h.issuer.to_string())
            .collect();
        issuers.sort_unstable();
        issuers
    }
}

impl fmt::Debug for IssuerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerSet")
            .field("issuers", &self.issuers)
            .field("held", &self.held_issuers())
            .finish()
    }
}
