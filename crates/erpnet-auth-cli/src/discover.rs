//! `erpnet-auth discover`: the discovery document and the key set, for a person.

use erpnet_auth_cli::output;
use erpnet_auth_oidc::{Authority, Discovery, HttpClient, JwksCache};
use serde_json::{Value, json};

use crate::failure::{Failure, Outcome};

/// Show a provider's discovery document and signing keys.
///
/// Example: erpnet-auth discover myinstance
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  erpnet-auth discover myinstance\n  erpnet-auth discover https://login.example.com/realms/main --json"
)]
pub(crate) struct Args {
    /// ERP.net instance name (`myinstance`) or issuer URL.
    #[arg(value_name = "INSTANCE|ISSUER")]
    authority: String,
    /// Print the raw documents as JSON: {"discovery": …, "jwks": …}.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: Args) -> Outcome {
    let authority = Authority::parse(&args.authority).map_err(|e| Failure::Usage(e.to_string()))?;
    let http = HttpClient::new()?;
    let discovery = Discovery::fetch_with(&authority, &http).await?;
    let raw_jwks = http.get_json(discovery.jwks_uri()).await?;
    let jwks = JwksCache::from_json(&raw_jwks.to_string(), 256)?;

    if args.json {
        let document = serde_json::to_value(discovery.metadata())
            .map_err(|e| Failure::Check(format!("cannot show the discovery document: {e}")))?;
        println!(
            "{}",
            output::json(&json!({ "discovery": document, "jwks": raw_jwks }))
        );
        return Ok(());
    }

    let metadata = serde_json::to_value(discovery.metadata()).unwrap_or(Value::Null);
    let list = |name: &str| -> String {
        let items = output::strings(metadata.get(name));
        if items.is_empty() {
            "(not listed)".to_owned()
        } else {
            items.join(", ")
        }
    };
    let endpoint =
        |url: Option<&erpnet_auth_oidc::Url>| url.map_or("(none)".to_owned(), |u| u.to_string());
    println!("issuer                  {}", discovery.issuer());
    println!(
        "authorization endpoint  {}",
        discovery.authorization_endpoint()
    );
    println!("token endpoint          {}", discovery.token_endpoint());
    println!("jwks uri                {}", discovery.jwks_uri());
    println!(
        "end session endpoint    {}",
        endpoint(discovery.end_session_endpoint())
    );
    println!(
        "introspection endpoint  {}",
        endpoint(discovery.introspection_endpoint())
    );
    println!(
        "revocation endpoint     {}",
        endpoint(discovery.revocation_endpoint())
    );
    println!("grant types             {}", list("grant_types_supported"));
    println!("scopes                  {}", list("scopes_supported"));
    println!(
        "client auth methods     {}",
        list("token_endpoint_auth_methods_supported")
    );
    println!(
        "code challenge methods  {}",
        list("code_challenge_methods_supported")
    );
    println!(
        "signing algorithms      {}",
        list("id_token_signing_alg_values_supported")
    );
    println!();

    let raw_keys = raw_jwks
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    println!(
        "signing keys ({} published, {} usable for signatures)",
        raw_keys.len(),
        jwks.keys().len()
    );
    for key in &raw_keys {
        let field = |name: &str| {
            key.get(name)
                .and_then(Value::as_str)
                .map_or_else(|| "-".to_owned(), |v| output::safe(v).into_owned())
        };
        let kid = field("kid");
        let raw_kid = key.get("kid").and_then(Value::as_str);
        let usable = jwks
            .keys()
            .into_iter()
            .find(|k| k.kid.is_some() && k.kid.as_deref() == raw_kid);
        let size = usable
            .as_ref()
            .map(|k| format!("{} bits", k.bits))
            .unwrap_or_else(|| "not usable here".into());
        println!(
            "  kid {kid}  kty {}  alg {}  use {}  {size}",
            field("kty"),
            field("alg"),
            field("use")
        );
    }
    Ok(())
}
