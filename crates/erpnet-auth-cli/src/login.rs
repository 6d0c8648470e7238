//! `erpnet-auth login` and `erpnet-auth refresh`: interactive sign-in with a
//! public client, and the saved, rotating refresh token.

use std::path::{Path, PathBuf};
use std::time::Duration;

use erpnet_auth_cli::output;
use erpnet_auth_oidc::{
    AccessToken, Authority, AuthorizationCodeFlow, ClientAuthMethod, ClientConfig,
    DeviceAuthorization, Discovery, Error, HttpClient, LoopbackOptions, RefreshTokenGrant, SignIn,
    TokenSource, refresh_token_store_fn, sign_in_with_loopback,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::failure::{Failure, Outcome};
use crate::settings::{Provider, scopes};

const DEFAULT_SCOPES: &str = "openid profile offline_access read";

/// Sign in as a user in the browser (authorization code + PKCE, public client).
///
/// Listens on 127.0.0.1 for the browser's return, prints the URL to open (on
/// standard error) and opens the browser unless --no-browser. With --device
/// (RFC 8628, for SSH sessions and containers) nothing listens: it prints
/// `To sign in, open <verification_uri> and enter the code <user_code>` (and
/// the URI with the code filled in on the next line, when the provider gives
/// one) on standard error and waits while you do that on any device. Prints
/// the access token (or --json). With --save the refresh token is stored in a
/// file only you can read (0600) under your configuration directory, for
/// `erpnet-auth refresh`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  erpnet-auth login --authority myinstance --client-id my.native.app --save\n  erpnet-auth login --no-browser --json\n  erpnet-auth login --device --save"
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
    /// Sign in on another device: print a URL and a code to enter there
    /// (device authorization grant, RFC 8628).
    #[arg(long, conflicts_with_all = ["no_browser", "resource"])]
    device: bool,
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
    let session = if args.save {
        let path = session_path(authority.issuer(), &client_id)?;
        // Before the user signs in, not after: a directory we cannot write to
        // is found while nothing is lost yet.
        check_writable(&path).await?;
        Some(path)
    } else {
        None
    };
    let sign_in = if args.device {
        sign_in_on_another_device(&flow, Duration::from_secs(args.timeout)).await?
    } else {
        sign_in_with_loopback(&flow, options, |url| {
            eprintln!("Open this URL to sign in: {url}");
        })
        .await?
    };
    let subject = sign_in.id_token.as_ref().map(|t| t.subject().to_owned());
    let saved = match (&sign_in.refresh_token, session) {
        (Some(refresh_token), Some(path)) => {
            save_session(&path, authority.issuer(), &client_id, refresh_token)
                .await
                .map_err(|reason| {
                    Failure::Check(format!(
                        "signed in, but the refresh token could not be saved: {reason}"
                    ))
                })?;
            eprintln!("refresh token saved to {}", path.display());
            Some(path)
        }
        (None, Some(_)) => {
            return Err(Failure::Check(
                "no refresh token was issued (request the offline_access scope)".into(),
            ));
        }
        (_, None) => None,
    };
    print_token(
        &sign_in.access_token,
        subject.as_deref(),
        saved.as_deref(),
        args.json,
    );
    Ok(())
}

/// The device authorization grant: the prompt on standard error, then polling
/// until the user has signed in elsewhere, for at most `timeout`.
async fn sign_in_on_another_device(
    flow: &AuthorizationCodeFlow,
    timeout: Duration,
) -> Result<SignIn, Failure> {
    let authorization = flow.start_device_authorization().await?;
    eprintln!("{}", device_prompt(&authorization));
    match tokio::time::timeout(timeout, flow.complete_device_authorization(&authorization)).await {
        Ok(sign_in) => Ok(sign_in?),
        Err(_) => Err(Failure::Check(format!(
            "nobody signed in within {} s",
            timeout.as_secs()
        ))),
    }
}

/// What the user is told to do: the first line is a contract (scripts read
/// it); the complete URI follows on a line of its own when there is one.
fn device_prompt(authorization: &DeviceAuthorization) -> String {
    let mut prompt = format!(
        "To sign in, open {} and enter the code {}",
        authorization.verification_uri(),
        authorization.user_code()
    );
    if let Some(complete) = authorization.verification_uri_complete() {
        prompt.push('\n');
        prompt.push_str(complete.as_str());
    }
    prompt
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
    // The provider revokes the refresh token as it issues the next one: make
    // sure the next one can be saved before spending this one.
    check_writable(&path).await?;
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
                    .map_err(|reason| Error::source_failed(reason, false))
            }
        }))
        .build()?;
    let token = match grant.token().await {
        // The grant holds the new refresh token and tries the store again on
        // the next call: once more, with a new temporary file.
        Err(Error::Persist(_)) => grant.token().await,
        other => other,
    };
    let token = token.map_err(|error| match error {
        Error::SignInAgain { .. } => {
            Failure::Check(format!("{error} (run `erpnet-auth login --save`)"))
        }
        Error::Persist(reason) => Failure::Check(format!(
            "the provider issued a new refresh token, and revoked the saved one, but the new one \
             could not be saved: {reason}"
        )),
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

/// Writes the session file atomically, readable only by the user; see
/// [`write_private`]. The error says where the new refresh token is, if
/// anywhere.
async fn save_session(
    path: &Path,
    issuer: &str,
    client_id: &str,
    refresh_token: &SecretString,
) -> Result<(), String> {
    let document = json!({
        "issuer": issuer,
        "client_id": client_id,
        "refresh_token": refresh_token.expose_secret(),
        "saved_at": output::rfc3339(output::now()),
    });
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || write_private(&path, document.to_string().as_bytes()))
        .await
        .map_err(|e| format!("the task saving it failed: {e}"))?
        .map_err(|failure| failure.to_string())
}

/// Why [`write_private`] failed, and what became of the contents.
#[derive(Debug)]
enum WriteFailure {
    /// Nothing was written; the target is as it was.
    NotWritten {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The contents are complete in `kept`, but it could not replace the
    /// target, which is as it was.
    NotReplaced {
        path: PathBuf,
        kept: PathBuf,
        error: std::io::Error,
    },
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteFailure::NotWritten { path, error } => write!(
                f,
                "cannot write next to {} ({error}); it still holds the previous sign-in",
                path.display()
            ),
            WriteFailure::NotReplaced { path, kept, error } => write!(
                f,
                "cannot replace {} ({error}); the new sign-in is in {} (readable only by you): \
                 move it to {} to keep it",
                path.display(),
                kept.display(),
                path.display()
            ),
        }
    }
}

/// Writes `contents` to `path` atomically, readable only by the user: into a
/// new file next to it, created with mode 0600 (Unix) under a name no other
/// run can hold (the process id and a random suffix, created exclusively, so
/// that neither a stale file left by a crash nor a symbolic link planted there
/// is ever written through), synced, then renamed over `path`. Until the
/// rename, `path` keeps its previous contents; if the rename fails, the new
/// file is kept and named in the error rather than deleted.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), WriteFailure> {
    use std::io::Write;
    let not_written = |error| WriteFailure::NotWritten {
        path: path.to_owned(),
        error,
    };
    let (temporary, mut file) = create_temporary(path).map_err(not_written)?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    drop(file);
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(not_written(error));
    }
    // A rename can fail for a moment where another program holds the target
    // open (Windows): a few tries before giving up.
    let mut tries = 0;
    loop {
        match std::fs::rename(&temporary, path) {
            Ok(()) => return Ok(()),
            Err(_) if tries < 3 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(error) => {
                return Err(WriteFailure::NotReplaced {
                    path: path.to_owned(),
                    kept: temporary,
                    error,
                });
            }
        }
    }
}

/// A new, empty file next to `path` (its directory created if need be, 0700),
/// with a name unique to this call.
fn create_temporary(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::hash::{BuildHasher, RandomState};
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    // Names are drawn from the process id and a per-process random hasher
    // (std's RandomState, seeded from the OS), so a name taken is a name of
    // another run: draw again.
    let random = RandomState::new();
    let mut last = None;
    for attempt in 0u32..8 {
        let suffix = random.hash_one((attempt, std::time::SystemTime::now()));
        let name = format!(".session-{}-{suffix:016x}.tmp", std::process::id());
        let temporary = dir.join(name);
        match options.open(&temporary) {
            Ok(file) => return Ok((temporary, file)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => last = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary file name")))
}

/// Fails unless a new session file could be written next to `path` now.
async fn check_writable(path: &Path) -> Result<(), Failure> {
    let dir = path
        .parent()
        .unwrap_or(Path::new("."))
        .display()
        .to_string();
    let path = path.to_owned();
    let probe = tokio::task::spawn_blocking(move || {
        create_temporary(&path).and_then(|(temporary, file)| {
            drop(file);
            std::fs::remove_file(temporary)
        })
    });
    match probe.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(Failure::Usage(format!(
            "cannot write to {dir} ({error}); nothing was used or changed: fix it (or set \
             ERPNET_AUTH_CONFIG_DIR) and try again"
        ))),
        Err(error) => Err(Failure::Check(format!(
            "checking the session directory failed: {error}"
        ))),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("erpnet-auth-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    }

    fn temporaries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_stale_temporary_file_from_a_crash_does_not_stop_the_save() {
        let dir = scratch("stale");
        let path = dir.join("session.json");
        // What a run that crashed between creating and renaming left behind,
        // under the name this process would once have used.
        let stale = dir.join(format!(".session-{}.tmp", std::process::id()));
        std::fs::write(&stale, "stale").expect("stale file");
        assert!(write_private(&path, b"{\"refresh_token\":\"new\"}").is_ok());
        assert_eq!(
            std::fs::read_to_string(&path).expect("saved"),
            r#"{"refresh_token":"new"}"#
        );
        assert_eq!(
            std::fs::read_to_string(&stale).expect("left alone"),
            "stale"
        );
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn temporary_names_are_unique_and_private() {
        let dir = scratch("unique");
        let path = dir.join("session.json");
        let (first, _) = create_temporary(&path).expect("first");
        let (second, _) = create_temporary(&path).expect("second");
        assert_ne!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first)
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn a_failed_replace_keeps_the_new_contents_and_the_old_file() {
        let dir = scratch("replace");
        // A target that cannot be replaced by a file, whoever runs the test:
        // a directory that is not empty.
        let path = dir.join("session.json");
        std::fs::create_dir(&path).expect("directory in the way");
        std::fs::write(path.join("previous"), "previous").expect("previous");
        let failure = write_private(&path, b"new sign-in").expect_err("cannot replace");
        let WriteFailure::NotReplaced { kept, .. } = &failure else {
            panic!("{failure}");
        };
        assert_eq!(std::fs::read_to_string(kept).expect("kept"), "new sign-in");
        let message = failure.to_string();
        assert!(message.contains(&kept.display().to_string()), "{message}");
        assert!(message.contains("move it to"), "{message}");
        assert_eq!(
            std::fs::read_to_string(path.join("previous")).expect("untouched"),
            "previous"
        );
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[tokio::test]
    async fn an_unusable_directory_is_found_before_anything_is_spent() {
        let dir = scratch("unusable");
        let blocker = dir.join("not-a-directory");
        std::fs::write(&blocker, "").expect("file");
        let error = check_writable(&blocker.join("sessions").join("session.json"))
            .await
            .expect_err("cannot write there");
        assert!(
            matches!(&error, Failure::Usage(m) if m.contains("nothing was used")),
            "{error:?}"
        );
        check_writable(&dir.join("sessions").join("session.json"))
            .await
            .expect("writable");
        assert!(
            temporaries(&dir.join("sessions")).is_empty(),
            "the probe is removed"
        );
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
