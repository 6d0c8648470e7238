//! Checking `private_key_jwt` client assertions (RFC 7523 §3, OpenID Connect Core §9) as
//! IdentityServer does: the signature against the client's registered keys, `iss` = `sub` =
//! the client id, the audience, a short expiry and a `jti` used once.

use std::collections::HashMap;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::backchannel::OAuthError;
use crate::client::Client;
use crate::jwt::now;

/// Assertions valid longer than this are refused: they are meant for one request.
const MAX_LIFETIME_SECS: i64 = 300;

/// The `jti`s already used, with when each expires (a used one stays refused until then).
#[derive(Default)]
pub(crate) struct UsedAssertions {
    jtis: HashMap<String, i64>,
}

impl UsedAssertions {
    /// Records `jti` until `exp`; `false` if it was already used.
    fn first_use(&mut self, jti: &str, exp: i64) -> bool {
        let now = now();
        self.jtis.retain(|_, expires| *expires >= now);
        self.jtis.insert(jti.to_owned(), exp).is_none()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    jti: Option<String>,
    exp: i64,
}

/// Checks `assertion` of `client` for one of `audiences`; `invalid_client` when it fails.
pub(crate) fn verify(
    client: &Client,
    assertion: &str,
    audiences: &[&str],
    used: &mut UsedAssertions,
) -> Result<(), OAuthError> {
    let invalid = |why: &'static str| OAuthError::described("invalid_client", why);
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| invalid("the client assertion is not a JWT"))?;
    let candidates = client.keys.iter().filter(|jwk| {
        match (&header.kid, jwk.get("kid").and_then(Value::as_str)) {
            (Some(wanted), Some(kid)) => wanted == kid,
            _ => true,
        }
    });
    let mut claims = None;
    for jwk in candidates {
        let Some((key, algorithm)) = decoding_key(jwk) else {
            continue;
        };
        // The key decides the algorithm, never the assertion's header.
        if header.alg != algorithm {
            continue;
        }
        let mut validation = Validation::new(algorithm);
        validation.set_audience(audiences);
        validation.set_issuer(&[client.id()]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 5;
        if let Ok(data) = jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
            claims = Some(data.claims);
            break;
        }
    }
    let claims = claims.ok_or(invalid(
        "the client assertion is not signed by a registered key, or its iss, aud or exp is wrong",
    ))?;
    if claims.sub != client.id() {
        return Err(invalid("the client assertion's sub is not the client id"));
    }
    if claims.exp.saturating_sub(now()) > MAX_LIFETIME_SECS {
        return Err(invalid("the client assertion lives too long"));
    }
    let jti = claims
        .jti
        .filter(|jti| !jti.is_empty())
        .ok_or(invalid("the client assertion has no jti"))?;
    if !used.first_use(&jti, claims.exp) {
        return Err(invalid("the client assertion was already used"));
    }
    Ok(())
}

/// The verification key of a registered public JWK and the one algorithm it verifies.
fn decoding_key(jwk: &Value) -> Option<(DecodingKey, Algorithm)> {
    let algorithm = match jwk.get("kty").and_then(Value::as_str)? {
        "RSA" => Algorithm::RS256,
        "EC" => Algorithm::ES256,
        _ => return None,
    };
    let jwk: Jwk = serde_json::from_value(jwk.clone()).ok()?;
    Some((DecodingKey::from_jwk(&jwk).ok()?, algorithm))
}
