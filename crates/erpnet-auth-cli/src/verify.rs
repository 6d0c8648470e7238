//! `erpnet-auth verify`: the library's own validator, check by check.

use erpnet_auth_cli::inspection::decode;
use erpnet_auth_cli::output;
use erpnet_auth_oidc::{Algorithm, Authority, JwtValidator, ValidationError};
use serde_json::Value;

use crate::failure::{Failure, Outcome};
use crate::settings::{Provider, TokenInput};

/// Validate a token with the provider's keys, printing each check.
///
/// Uses exactly the validator the library's tower layer uses, with keys from
/// the provider's discovery document. The token is never sent to anyone.
/// Exits 0 when valid, 1 when a check fails, 2 on a usage error.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  erpnet-auth token | erpnet-auth verify --audience DomainAPI -\n  erpnet-auth verify --authority myinstance --audience DomainAPI --scope read --token-file token.jwt"
)]
pub(crate) struct Args {
    #[command(flatten)]
    token: TokenInput,
    #[command(flatten)]
    provider: Provider,
    /// Take the issuer (and so the keys) from the token's own `iss` instead of
    /// --authority. Only the signature then ties the token to a provider.
    #[arg(long, conflicts_with = "authority")]
    trust_token_issuer: bool,
    /// An audience the token must name (repeatable).
    #[arg(long = "audience", env = "ERPNET_AUDIENCE", value_delimiter = ',')]
    audiences: Vec<String>,
    /// Accept any audience (explicit opt-out of the audience check).
    #[arg(long, conflicts_with = "audiences")]
    any_audience: bool,
    /// A scope the token must carry (repeatable).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// An allowed algorithm (repeatable; default RS256).
    #[arg(long = "alg", value_name = "ALG")]
    algorithms: Vec<String>,
    /// Accept tokens without `typ: at+jwt` (for providers that do not set it).
    #[arg(long)]
    any_type: bool,
}

const CHECKS: [&str; 11] = [
    "structure",
    "algorithm",
    "typ",
    "header",
    "signature",
    "claims",
    "issuer",
    "audience",
    "expiry",
    "not-before",
    "scopes",
];

/// Which check a validation error belongs to.
fn failed_check(error: &ValidationError) -> usize {
    use ValidationError as E;
    match error {
        E::TooLong | E::Malformed(_) => 0,
        E::NoneAlgorithm | E::SymmetricAlgorithm | E::AlgorithmNotAllowed => 1,
        E::WrongType | E::IdToken => 2,
        E::CriticalHeader => 3,
        E::UnknownKey | E::KeyMismatch | E::BadSignature | E::KeysUnavailable(_) => 4,
        E::MissingClaim("iss") | E::WrongIssuer => 6,
        E::WrongAudience => 7,
        E::MissingClaim("exp") | E::Expired => 8,
        E::NotYetValid | E::IssuedInFuture => 9,
        E::InsufficientScope { .. } => 10,
        _ => 5,
    }
}

pub(crate) async fn run(args: Args) -> Outcome {
    let token = args.token.read().await?;
    let decoded = decode(&token).ok();
    let claim = |name: &str| decoded.as_ref().and_then(|d| d.claims.get(name)).cloned();
    // Everything shown from the token is escaped: it is not verified yet,
    // and may not be at all.
    let head = |name: &str| {
        decoded
            .as_ref()
            .and_then(|d| d.header.get(name))
            .and_then(Value::as_str)
            .map_or_else(|| "(none)".to_owned(), |v| output::safe(v).into_owned())
    };
    let date = |name: &str, missing: &str| match claim(name).as_ref().map(output::numeric_date) {
        None => missing.to_owned(),
        Some(Ok(at)) if name == "exp" => format!("{} ({})", output::date(at), output::expiry(at)),
        Some(Ok(at)) => output::date(at),
        Some(Err(raw)) => format!("not a date: {raw}"),
    };

    let authority = if args.trust_token_issuer {
        let iss = claim("iss")
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or_else(|| {
                Failure::Check("the token has no `iss` to take the issuer from".into())
            })?;
        Authority::issuer_url(&iss).map_err(|e| Failure::Check(e.to_string()))?
    } else {
        args.provider.authority()?
    };
    if args.audiences.is_empty() && !args.any_audience {
        return Err(Failure::Usage(
            "no audience: pass --audience (or set ERPNET_AUDIENCE), or --any-audience to skip the check".into(),
        ));
    }
    let algorithms = if args.algorithms.is_empty() {
        vec![Algorithm::RS256]
    } else {
        args.algorithms
            .iter()
            .map(|name| {
                Algorithm::from_name(name)
                    .ok_or_else(|| Failure::Usage(format!("unsupported algorithm `{name}`")))
            })
            .collect::<Result<_, _>>()?
    };
    let mut builder = JwtValidator::builder(authority.clone())
        .algorithms(algorithms.clone())
        .require_scopes(args.scopes.clone())
        .verified_cache_capacity(0);
    builder = if args.any_audience {
        builder.accept_any_audience()
    } else {
        builder.audiences(args.audiences.clone())
    };
    if args.any_type {
        builder = builder.accepted_types([
            Some("at+jwt"),
            Some("application/at+jwt"),
            Some("JWT"),
            None,
        ]);
    }
    let validator = builder.build()?;
    let result = validator.validate(&token).await;

    let list = |value: Option<Value>| {
        let items = output::strings(value.as_ref());
        if items.is_empty() {
            "(none)".to_owned()
        } else {
            items.join(" ")
        }
    };
    let details = [
        format!("compact JWS, {} bytes", token.len()),
        format!(
            "{} (allowed: {})",
            head("alg"),
            algorithms
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        head("typ"),
        "no unsupported critical parameters".to_owned(),
        format!("key id {}", head("kid")),
        "well-formed".to_owned(),
        format!("{} (expected {})", list(claim("iss")), authority.issuer()),
        format!(
            "{} (expected one of: {})",
            list(claim("aud")),
            if args.any_audience {
                "any".to_owned()
            } else {
                args.audiences.join(", ")
            }
        ),
        date("exp", "(no exp)"),
        date("nbf", "(no nbf)"),
        format!(
            "{} (required: {})",
            list(claim("scope").or_else(|| claim("scp"))),
            if args.scopes.is_empty() {
                "none".to_owned()
            } else {
                args.scopes.join(" ")
            }
        ),
    ];
    println!(
        "verifying against {} (keys from its discovery document)",
        authority.issuer()
    );
    let failed = result.as_ref().err().map(failed_check);
    for (index, name) in CHECKS.iter().enumerate() {
        let (pass, detail) = match failed {
            None => (Some(true), details[index].clone()),
            Some(at) if index < at => (Some(true), details[index].clone()),
            Some(at) if index == at => (
                Some(false),
                match &result {
                    Err(error) => format!("{error}: {}", details[index]),
                    Ok(_) => details[index].clone(),
                },
            ),
            Some(_) => (None, "not checked".to_owned()),
        };
        println!("{} {name:<11} {detail}", output::mark(pass));
    }
    match result {
        Ok(verified) => {
            println!(
                "valid: {} token for {}",
                if verified.is_service_token() {
                    "service"
                } else {
                    "user"
                },
                output::safe(verified.caller().unwrap_or("(unknown caller)"))
            );
            Ok(())
        }
        Err(error) => Err(Failure::Check(format!("the token is not valid: {error}"))),
    }
}
