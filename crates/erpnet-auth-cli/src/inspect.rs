//! `erpnet-auth inspect`: what a token says, decoded locally and sent nowhere.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use erpnet_auth_oidc::is_erpnet_reference_token;
use serde_json::{Map, Value};

use crate::failure::{Failure, Outcome};
use crate::output;
use crate::settings::TokenInput;

/// Decode a token and explain it, without sending it anywhere.
///
/// Shows the header and claims, times as dates and as "expires in 41 min",
/// scopes and audiences, and what ERP.net's claims mean. Nothing is verified:
/// use `erpnet-auth verify` for that.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  erpnet-auth token | erpnet-auth inspect -\n  erpnet-auth inspect --token-file token.jwt\n  ERPNET_TOKEN=\"$(erpnet-auth token)\" erpnet-auth inspect"
)]
pub(crate) struct Args {
    #[command(flatten)]
    token: TokenInput,
}

/// A decoded but unverified JWT.
pub(crate) struct Decoded {
    pub(crate) header: Map<String, Value>,
    pub(crate) claims: Map<String, Value>,
}

/// Decodes a compact JWS without verifying anything.
pub(crate) fn decode(token: &str) -> Result<Decoded, String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(format!(
            "a JWT has three dot-separated parts; this has {}",
            parts.len()
        ));
    }
    let part = |index: usize, name: &str| -> Result<Map<String, Value>, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(parts[index])
            .map_err(|_| format!("the {name} is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| format!("the {name} is not a JSON object"))
    };
    Ok(Decoded {
        header: part(0, "header")?,
        claims: part(1, "payload")?,
    })
}

/// A claim or header parameter that is a string, safe to print: everything
/// here comes from a token nobody has verified.
fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(|value| output::safe(value).into_owned())
}

pub(crate) async fn run(args: Args) -> Outcome {
    let token = args.token.read().await?;
    if is_erpnet_reference_token(&token) {
        println!(
            "ERP.net reference access token (enrt_…: a personal or system access token, PAT/SAT)."
        );
        println!(
            "It is opaque: it carries no readable claims. Only the ERP.net instance that issued it"
        );
        println!(
            "can tell who it acts as, its scopes and its expiry; send it as `Authorization: Bearer …`"
        );
        println!("or in the `X-Api-Key` header.");
        return Ok(());
    }
    let decoded = decode(&token).map_err(|reason| {
        Failure::Check(format!(
            "not a JWT ({reason}), and not an ERP.net reference token (enrt_ + 64 hex)"
        ))
    })?;
    let (header, claims) = (&decoded.header, &decoded.claims);

    println!("header");
    println!("{}", output::json(&Value::Object(header.clone())));
    println!("claims");
    println!("{}", output::json(&Value::Object(claims.clone())));
    println!();

    let typ = text(header, "typ").unwrap_or_else(|| "(none)".to_owned());
    let kind =
        if typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt") {
            "access token (RFC 9068)"
        } else if claims.contains_key("nonce") || claims.contains_key("at_hash") {
            "ID token (OpenID Connect)"
        } else {
            "JWT"
        };
    println!(
        "kind        {kind}, typ {typ}, alg {}",
        text(header, "alg").as_deref().unwrap_or("(none)")
    );
    if let Some(kid) = text(header, "kid") {
        println!("key id      {kid}");
    }
    if let Some(iss) = text(claims, "iss") {
        println!("issuer      {iss}");
    }
    println!(
        "audiences   {}",
        output::strings(claims.get("aud")).join(", ")
    );
    println!("scopes      {}", output::scopes(claims).join(" "));
    for (name, label) in [
        ("iat", "issued"),
        ("nbf", "not before"),
        ("auth_time", "signed in"),
    ] {
        match claims.get(name).map(output::numeric_date) {
            None => {}
            Some(Ok(at)) => println!(
                "{label:<11} {} ({})",
                output::date(at),
                output::relative(at)
            ),
            Some(Err(raw)) => println!("{label:<11} (not a date: {raw})"),
        }
    }
    match claims.get("exp").map(output::numeric_date) {
        Some(Ok(exp)) => println!(
            "expires     {} ({})",
            output::date(exp),
            output::expiry(exp)
        ),
        Some(Err(raw)) => println!("expires     (not a date: {raw})"),
        None => println!("expires     (no exp claim)"),
    }
    println!();
    explain_erpnet(claims);
    Ok(())
}

/// What ERP.net's claims say about the caller.
fn explain_erpnet(claims: &Map<String, Value>) {
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
        println!(
            "user token: signed in as `{sub}`, {}",
            user_type(text(claims, "user_type"))
        );
        if let Some(id) = text(claims, "id") {
            println!("  user id (stable)  {id}");
        }
        if let Some(name) = text(claims, "name") {
            println!("  name              {name}");
        }
        if let Some(email) = text(claims, "email") {
            let verified = match flag("email_verified") {
                Some(true) => " (verified)",
                Some(false) => " (not verified)",
                None => "",
            };
            println!("  email             {email}{verified}");
        }
        if let Some(admin) = flag("is_admin") {
            println!("  administrator     {}", if admin { "yes" } else { "no" });
        }
        if let Some(db) = text(claims, "db") {
            println!("  database          {db}");
        }
    } else if let Some(user) = text(claims, "client_system_user") {
        println!(
            "service token (client credentials): the application acts as system user `{user}`, {}",
            user_type(text(claims, "client_system_user_type"))
        );
        if let Some(db) = text(claims, "client_db") {
            println!("  database          {db}");
        }
    } else {
        println!("no subject: a token for the application itself");
    }
    if let Some(client) = text(claims, "client_id") {
        println!("  client (application) {client}");
    }
}
