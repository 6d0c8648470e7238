//! `erpnet-auth login` and `erpnet-auth refresh`: interactive sign-in with a
//! public client, and the saved, rotating refresh token.

use std::path::{Path, PathBuf};
use std::time::Duration;

use erpnet_auth_oidc::{
    AccessToken, Authority, AuthorizationCodeFlow, ClientAuthMethod, ClientConfig, Discovery,
    Error, HttpClient, LoopbackOptions, RefreshTokenGrant, TokenSource, refresh_token_store_fn,
    sign_in_with_loopback,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::failure::{Failure, Outcome};
use crate::output;
use crate::settings::{Provider, scopes};

const DEFAULT_SCOPES: &str = "openid profile offline_access read";

/// Sign in as a user in the browser (authorization code + PKCE, public client).
///
/// Listens on 127.0.0.1 for the browser's return, prints the URL to open (on
/// standard error) and opens the browser unless --no-browser. Prints the
/// access token (or --json). With --save the refresh token is stored in a file
/// only you can read (0600) under your configuration directory, for
/// `erpnet-auth refresh`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  erpnet-auth login --authority myinstance --client-id my.native.app --save\n  erpnet-auth login --no-browser --json"
)]
pub(crate) struct LoginArgs {
    #[command(flatten)]
    provider: Provider,
    /// The public client's id.
    #[arg(long, env = "ERPNET_CLIENT_ID")]
    client_id: Option<String>,
    /// Space-separated scopes.
    #[arg(long, env = "ERPNET_SCOPES", default_value = DEFAULT_SCOPES)]
    scopes: String,
    /// An RFC 8707 resource indicator.
    #[arg(long, env = "ERPNET_RESOURCE")]
    resource: Option<String>,
    /// Do not try to open a browser; just print the URL.
    #[arg(long)]
    no_browser: bool,
    /// Save the refresh token for `erpnet-auth refresh`.
    #[arg(long)]
    save: bool,
    /// Seconds to wait for the sign-in.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Get a new access token with the refresh token saved by `login --save`.
///
/// The provider rotates the refresh token; the new one replaces the saved one.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  erpnet-auth refresh\n  erpnet-auth refresh --authority myinstance --client-id my.native.app --json"
)]
pub(crate) struct RefreshArgs {
    #[command(flatten)]
    provider: Provider,
    /// The public client's id.
    #[arg(long, env = "ERPNET_CLIENT_ID")]
    client_id: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn login(args: LoginArgs) -> Outcome {
    let authority = args.provider.authority()?;
    let client_id = args.client_id.clone().ok_or_else(|| {
        Failure::Usage(
            "no client id: pass --client-id or set ERPNET_CLIENT_ID (a public client)".into(),
        )
    })?;
    let http = HttpClient::new()?;
    let discovery = Discovery::fetch_with(&authority, &http).await?;
    let client = public_client(discovery, &client_id, http)?;
    let flow = AuthorizationCodeFlow::builder(client)
        .scopes(scopes(&args.scopes))
        .build()?;
    let mut options = LoopbackOptions::default()
        .open_browser(!args.no_browser)
        .timeout(Duration::from_secs(args.timeout));
    if let Some(resource) = &args.resource {
        options = options.resource(resource.clone());
    }
    let sign_in = sign_in_with_loopback(&flow, options, |url| {
        eprintln!("Open this URL to sign in: {url}");
    })
    .await?;
    let subject = sign_in.id_token.as_ref().map(|t| t.subject().to_owned());
    let saved = match (&sign_in.refresh_token, args.save) {
        (Some(refresh_token), true) => {
            let path = session_path(authority.issuer(), &client_id)?;
            save_session(&path, authority.issuer(), &client_id, refresh_token).await?;
            eprintln!("refresh token saved to {}", path.display());
            Some(path)
        }
        (None, true) => {
            return Err(Failure::Check(
                "no refresh token was issued (request the offline_access scope)".into(),
            ));
        }
        _ => None,
    };
    print_token(
        &sign_in.access_token,
        subject.as_deref(),
        saved.as_deref(),
        args.json,
    );
    Ok(())
}

pub(crate) async fn refresh(args: RefreshArgs) -> Outcome {
    let (path, session) = find_session(&args).await?;
    let issuer = session["issuer"].as_str().unwrap_or_default().to_owned();
    let client_id = session["client_id"].as_str().unwrap_or_default().to_owned();
    let refresh_token = session["refresh_token"]
        .as_str()
        .map(|s| SecretString::from(s.to_owned()))
        .ok_or_else(|| {
            Failure::Usage(format!(
                "{} holds no refresh token; run `erpnet-auth login --save`",
                path.display()
            ))
        })?;
    let authority = Authority::issuer_url(&issuer).map_err(|e| Failure::Usage(e.to_string()))?;
    let client = public_client(authority, &client_id, HttpClient::new()?)?;
    let store_path = path.clone();
    let (store_issuer, store_client) = (issuer, client_id);
    let grant = RefreshTokenGrant::builder(client, refresh_token)
        .store(refresh_token_store_fn(move |token: SecretString| {
            let (path, issuer, client) = (
                store_path.clone(),
                store_issuer.clone(),
                store_client.clone(),
            );
            async move {
                save_session(&path, &issuer, &client, &token)
                    .await
                    .map_err(|f| match f {
                        Failure::Check(m) | Failure::Usage(m) => Error::source_failed(m, false),
                    })
            }
        }))
        .build()?;
    let token = grant.token().await.map_err(|error| match error {
        Error::SignInAgain { .. } => {
            Failure::Check(format!("{error} (run `erpnet-auth login --save`)"))
        }
        other => Failure::from(other),
    })?;
    print_token(&token, None, Some(&path), args.json);
    Ok(())
}

/// The public client `client_id` of the provider: no secret.
fn public_client(
    provider: impl Into<erpnet_auth_oidc::Provider>,
    client_id: &str,
    http: HttpClient,
) -> Result<ClientConfig, Failure> {
    Ok(ClientConfig::builder(provider, client_id)
        .auth_method(ClientAuthMethod::None)
        .http(http)
        .build()?)
}

fn print_token(token: &AccessToken, subject: Option<&str>, saved: Option<&Path>, json: bool) {
    if json {
        let mut extra = serde_json::Map::new();
        extra.insert("subject".into(), json!(subject));
        extra.insert(
            "refresh_token_file".into(),
            json!(saved.map(|p| p.display().to_string())),
        );
        println!("{}", output::json(&output::token_json(token, extra)));
    } else {
        if let Some(subject) = subject {
            eprintln!("signed in as {subject}");
        }
        println!("{}", token.expose_secret());
    }
}

/// The directory for saved sessions: `ERPNET_AUTH_CONFIG_DIR`, or the
/// platform's configuration directory plus `erpnet-auth`.
fn config_dir() -> Result<PathBuf, Failure> {
    if let Some(dir) = std::env::var_os("ERPNET_AUTH_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(windows) {
        home("APPDATA")
    } else if cfg!(target_os = "macos") {
        home("HOME").map(|h| h.join("Library/Application Support"))
    } else {
        home("XDG_CONFIG_HOME").or_else(|| home("HOME").map(|h| h.join(".config")))
    };
    base.map(|b| b.join("erpnet-auth")).ok_or_else(|| {
        Failure::Usage("cannot find a configuration directory; set ERPNET_AUTH_CONFIG_DIR".into())
    })
}

fn session_path(issuer: &str, client_id: &str) -> Result<PathBuf, Failure> {
    let slug: String = format!("{issuer} {client_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(config_dir()?.join("sessions").join(format!("{slug}.json")))
}

/// Writes the session file atomically, readable only by the user: a new file
/// created with mode 0600 next to the target, then renamed over it.
async fn save_session(
    path: &Path,
    issuer: &str,
    client_id: &str,
    refresh_token: &SecretString,
) -> Result<(), Failure> {
    let document = json!({
        "issuer": issuer,
        "client_id": client_id,
        "refresh_token": refresh_token.expose_secret(),
        "saved_at": output::rfc3339(output::now()),
    });
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || write_private(&path, document.to_string().as_bytes()))
        .await
        .map_err(|e| Failure::Check(format!("saving the session failed: {e}")))?
        .map_err(|e| Failure::Check(format!("cannot save the refresh token: {e}")))
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    let temporary = dir.join(format!(".session-{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

async fn find_session(args: &RefreshArgs) -> Result<(PathBuf, Value), Failure> {
    let path = match (&args.provider.authority, &args.client_id) {
        (Some(_), Some(client_id)) => session_path(args.provider.authority()?.issuer(), client_id)?,
        _ => {
            let dir = config_dir()?.join("sessions");
            let mut found = Vec::new();
            if let Ok(mut entries) = tokio::fs::read_dir(&dir).await {
                while let Ok(Some(entry)) = entries.next_entry().await {
                    if entry.path().extension().is_some_and(|e| e == "json") {
                        found.push(entry.path());
                    }
                }
            }
            match found.len() {
                1 => found.remove(0),
                0 => {
                    return Err(Failure::Usage(
                        "no saved sign-in; run `erpnet-auth login --save` first".into(),
                    ));
                }
                n => {
                    return Err(Failure::Usage(format!(
                        "{n} saved sign-ins; choose one with --authority and --client-id"
                    )));
                }
            }
        }
    };
    let text = tokio::fs::read_to_string(&path).await.map_err(|_| {
        Failure::Usage(format!(
            "no saved sign-in at {}; run `erpnet-auth login --save` first",
            path.display()
        ))
    })?;
    let session: Value = serde_json::from_str(&text)
        .map_err(|_| Failure::Usage(format!("{} is not a saved sign-in", path.display())))?;
    Ok((path, session))
}
