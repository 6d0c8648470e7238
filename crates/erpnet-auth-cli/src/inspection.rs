//! What `erpnet-auth inspect` shows of a token: decoded locally, verified not
//! at all, every string from the token escaped before it reaches a terminal.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use erpnet_auth_oidc::is_erpnet_reference_token;
use serde_json::{Map, Value};

use crate::output;

/// The token in text read from standard input, a file or the environment:
/// trimmed, with a leading `Bearer ` dropped so that a header value can be
/// pasted as it is. `None` when nothing is left.
pub fn token_text(raw: &str) -> Option<&str> {
    let token = raw.trim();
    let token = token
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
        .and_then(|_| token.get(7..))
        .unwrap_or(token)
        .trim();
    (!token.is_empty()).then_some(token)
}

/// A decoded but unverified JWT.
#[derive(Debug)]
pub struct Decoded {
    /// The JOSE header.
    pub header: Map<String, Value>,
    /// The claims set.
    pub claims: Map<String, Value>,
}

/// Decodes a compact JWS without verifying anything; the error says why the
/// token is not one.
pub fn decode(token: &str) -> Result<Decoded, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, _signature] = parts[..] else {
        return Err(format!(
            "a JWT has three dot-separated parts; this has {}",
            parts.len()
        ));
    };
    let part = |encoded: &str, name: &str| -> Result<Map<String, Value>, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| format!("the {name} is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| format!("the {name} is not a JSON object"))
    };
    Ok(Decoded {
        header: part(header, "header")?,
        claims: part(payload, "payload")?,
    })
}

/// What a token is, as `erpnet-auth inspect` prints it ([`fmt::Display`]).
#[derive(Debug)]
pub enum Inspection {
    /// An ERP.net reference token (`enrt_…`): opaque, nothing to decode.
    Reference,
    /// A JWT, decoded.
    Jwt(Decoded),
}

/// Inspects a token; the error says why it is neither a JWT nor an ERP.net
/// reference token.
pub fn inspect(token: &str) -> Result<Inspection, String> {
    if is_erpnet_reference_token(token) {
        return Ok(Inspection::Reference);
    }
    decode(token).map(Inspection::Jwt).map_err(|reason| {
        format!("not a JWT ({reason}), and not an ERP.net reference token (enrt_ + 64 hex)")
    })
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inspection::Reference => f.write_str(
                "ERP.net reference access token (enrt_…: a personal or system access token, PAT/SAT).\n\
                 It is opaque: it carries no readable claims. Only the ERP.net instance that issued it\n\
                 can tell who it acts as, its scopes and its expiry; send it as `Authorization: Bearer …`\n\
                 or in the `X-Api-Key` header.\n",
            ),
            Inspection::Jwt(decoded) => show_jwt(f, decoded),
        }
    }
}

/// A claim or header parameter that is a string, safe to print: everything
/// here comes from a token nobody has verified.
fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(|value| output::safe(value).into_owned())
}

fn show_jwt(f: &mut fmt::Formatter<'_>, decoded: &Decoded) -> fmt::Result {
    let (header, claims) = (&decoded.header, &decoded.claims);
    writeln!(f, "header")?;
    writeln!(f, "{}", output::json(&Value::Object(header.clone())))?;
    writeln!(f, "claims")?;
    writeln!(f, "{}", output::json(&Value::Object(claims.clone())))?;
    writeln!(f)?;

    let typ = text(header, "typ").unwrap_or_else(|| "(none)".to_owned());
    let kind =
        if typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt") {
            "access token (RFC 9068)"
        } else if claims.contains_key("nonce") || claims.contains_key("at_hash") {
            "ID token (OpenID Connect)"
        } else {
            "JWT"
        };
    writeln!(
        f,
        "kind        {kind}, typ {typ}, alg {}",
        text(header, "alg").as_deref().unwrap_or("(none)")
    )?;
    if let Some(kid) = text(header, "kid") {
        writeln!(f, "key id      {kid}")?;
    }
    if let Some(iss) = text(claims, "iss") {
        writeln!(f, "issuer      {iss}")?;
    }
    writeln!(
        f,
        "audiences   {}",
        output::strings(claims.get("aud")).join(", ")
    )?;
    writeln!(f, "scopes      {}", output::scopes(claims).join(" "))?;
    for (name, label) in [
        ("iat", "issued"),
        ("nbf", "not before"),
        ("auth_time", "signed in"),
    ] {
        match claims.get(name).map(output::numeric_date) {
            None => {}
            Some(Ok(at)) => writeln!(
                f,
                "{label:<11} {} ({})",
                output::date(at),
                output::relative(at)
            )?,
            Some(Err(raw)) => writeln!(f, "{label:<11} (not a date: {raw})")?,
        }
    }
    match claims.get("exp").map(output::numeric_date) {
        Some(Ok(exp)) => writeln!(
            f,
            "expires     {} ({})",
            output::date(exp),
            output::expiry(exp)
        )?,
        Some(Err(raw)) => writeln!(f, "expires     (not a date: {raw})")?,
        None => writeln!(f, "expires     (no exp claim)")?,
    }
    writeln!(f)?;
    explain_erpnet(f, claims)
}

/// What ERP.net's claims say about the caller.
fn explain_erpnet(f: &mut fmt::Formatter<'_>, claims: &Map<String, Value>) -> fmt::Result {
    let user_type = |value: Option<String>| match value.as_deref() {
        Some("InternalUser") => "an internal user (an employee of the enterprise)",
        Some("ExternalCommunityUser") => "an external community user (a customer or partner)",
        Some("SystemUserNoLogin") => "a system user that cannot sign in",
        Some(_) => "a user of another type",
        None => "a user",
    };
    let flag = |name: &str| match claims.get(name) {
        Some(Value::String(s)) => Some(s.eq_ignore_ascii_case("true")),
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    };
    if let Some(sub) = text(claims, "sub") {
        writeln!(
            f,
            "user token: signed in as `{sub}`, {}",
            user_type(text(claims, "user_type"))
        )?;
        if let Some(id) = text(claims, "id") {
            writeln!(f, "  user id (stable)  {id}")?;
        }
        if let Some(name) = text(claims, "name") {
            writeln!(f, "  name              {name}")?;
        }
        if let Some(email) = text(claims, "email") {
            let verified = match flag("email_verified") {
                Some(true) => " (verified)",
                Some(false) => " (not verified)",
                None => "",
            };
            writeln!(f, "  email             {email}{verified}")?;
        }
        if let Some(admin) = flag("is_admin") {
            writeln!(
                f,
                "  administrator     {}",
                if admin { "yes" } else { "no" }
            )?;
        }
        if let Some(db) = text(claims, "db") {
            writeln!(f, "  database          {db}")?;
        }
    } else if let Some(user) = text(claims, "client_system_user") {
        writeln!(
            f,
            "service token (client credentials): the application acts as system user `{user}`, {}",
            user_type(text(claims, "client_system_user_type"))
        )?;
        if let Some(db) = text(claims, "client_db") {
            writeln!(f, "  database          {db}")?;
        }
    } else {
        writeln!(f, "no subject: a token for the application itself")?;
    }
    if let Some(client) = text(claims, "client_id") {
        writeln!(f, "  client (application) {client}")?;
    }
    Ok(())
}
