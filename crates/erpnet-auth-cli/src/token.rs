//! `erpnet-auth token`: an access token with client credentials.

use std::path::PathBuf;

use erpnet_auth_cli::output;
use erpnet_auth_oidc::{ClientAuthMethod, ClientConfig, ClientCredentials, TokenSource};
use tokio::io::AsyncReadExt;

use crate::failure::{Failure, Outcome};
use crate::settings::{Provider, scopes};

/// Get an access token with client credentials and print it.
///
/// The client secret is read only from the ERPNET_CLIENT_SECRET environment
/// variable, a file (--client-secret-file) or standard input
/// (--client-secret-stdin), never from a command-line argument: arguments are
/// visible to every user of the machine (ps, /proc) and stay in shell history.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  export ERPNET_AUTHORITY=myinstance ERPNET_CLIENT_ID=my.trusted.app/first ERPNET_SCOPES='read update'\n  export ERPNET_CLIENT_SECRET=…   # or --client-secret-file / --client-secret-stdin\n  curl -H \"Authorization: Bearer $(erpnet-auth token)\" https://myinstance.my.erp.net/api/domain/odata/General_Contacts_Persons"
)]
pub(crate) struct Args {
    #[command(flatten)]
    provider: Provider,
    /// The client id (the trusted application's ApplicationUri).
    #[arg(long, env = "ERPNET_CLIENT_ID")]
    client_id: Option<String>,
    /// Space-separated scopes, e.g. "read update".
    #[arg(long, env = "ERPNET_SCOPES")]
    scopes: Option<String>,
    /// Client authentication: post (default) or basic.
    #[arg(long, env = "ERPNET_AUTH_METHOD", default_value = "post")]
    auth_method: String,
    /// Read the client secret from this file (first line).
    #[arg(long, value_name = "PATH", conflicts_with = "client_secret_stdin")]
    client_secret_file: Option<PathBuf>,
    /// Read the client secret from standard input (first line).
    #[arg(long)]
    client_secret_stdin: bool,
    /// Print the whole response as JSON, with the expiry as a timestamp.
    #[arg(long)]
    json: bool,
}

async fn client_secret(args: &Args) -> Result<String, Failure> {
    let raw = if let Some(path) = &args.client_secret_file {
        tokio::fs::read_to_string(path).await.map_err(|e| {
            Failure::Usage(format!(
                "cannot read the client secret from {}: {e}",
                path.display()
            ))
        })?
    } else if args.client_secret_stdin {
        let mut input = String::new();
        tokio::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut input)
            .await
            .map_err(|e| {
                Failure::Usage(format!(
                    "cannot read the client secret from standard input: {e}"
                ))
            })?;
        input
    } else {
        std::env::var("ERPNET_CLIENT_SECRET").map_err(|_| {
            Failure::Usage(
                "no client secret: set ERPNET_CLIENT_SECRET, or use --client-secret-file or --client-secret-stdin".into(),
            )
        })?
    };
    let secret = raw.lines().next().unwrap_or_default().trim().to_owned();
    if secret.is_empty() {
        return Err(Failure::Usage("the client secret is empty".into()));
    }
    Ok(secret)
}

pub(crate) async fn run(args: Args) -> Outcome {
    let authority = args.provider.authority()?;
    let client_id = args.client_id.clone().ok_or_else(|| {
        Failure::Usage("no client id: pass --client-id or set ERPNET_CLIENT_ID".into())
    })?;
    let scopes = args
        .scopes
        .as_deref()
        .map(scopes)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Failure::Usage(
                "no scopes: pass --scopes or set ERPNET_SCOPES (e.g. \"read update\")".into(),
            )
        })?;
    let method = ClientAuthMethod::parse(&args.auth_method)
        .filter(|m| *m != ClientAuthMethod::None)
        .ok_or_else(|| {
            Failure::Usage(format!(
                "--auth-method must be `post` or `basic`, not `{}`",
                args.auth_method
            ))
        })?;
    let secret = client_secret(&args).await?;
    let client = ClientConfig::builder(authority, client_id)
        .client_secret(secret)
        .auth_method(method)
        .build()?;
    let grant = ClientCredentials::builder(client).scopes(scopes).build()?;
    let token = grant.token().await?;
    if args.json {
        let document = output::token_json(&token, serde_json::Map::new());
        println!("{}", output::json(&document));
    } else {
        println!("{}", token.expose_secret());
    }
    Ok(())
}
