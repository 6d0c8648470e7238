//! Settings shared by the commands: the provider, and tokens read from
//! standard input, a file or the environment.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use erpnet_auth_cli::inspection::token_text;
use erpnet_auth_oidc::Authority;
use tokio::io::AsyncReadExt;

use crate::failure::Failure;

/// Which provider to talk to.
#[derive(Debug, Clone, Args)]
pub(crate) struct Provider {
    /// ERP.net instance name (`myinstance` becomes `https://myinstance.my.erp.net/id`) or issuer URL.
    #[arg(long, env = "ERPNET_AUTHORITY", value_name = "INSTANCE|ISSUER")]
    pub(crate) authority: Option<String>,
}

impl Provider {
    pub(crate) fn authority(&self) -> Result<Authority, Failure> {
        let value = self.authority.as_deref().ok_or_else(|| {
            Failure::Usage("no provider: pass --authority or set ERPNET_AUTHORITY (an ERP.net instance name or an issuer URL)".into())
        })?;
        Authority::parse(value).map_err(|e| Failure::Usage(e.to_string()))
    }
}

/// Splits a space-separated scope list.
pub(crate) fn scopes(value: &str) -> Vec<String> {
    value.split_whitespace().map(str::to_owned).collect()
}

/// Where a token comes from: standard input, a file or the environment,
/// never a command-line argument (arguments are visible to every user of the
/// machine in `ps` and /proc, and stay in shell history), the same rule as for
/// client secrets.
#[derive(Debug, Clone, Args)]
pub(crate) struct TokenInput {
    /// `-`: read the token from standard input (also what happens when no
    /// --token-file is given and ERPNET_TOKEN is not set). A token itself is
    /// refused here: use standard input, --token-file or ERPNET_TOKEN.
    #[arg(value_name = "-")]
    stdin: Option<String>,
    /// Read the token from this file (its first line).
    #[arg(long, value_name = "PATH", conflicts_with = "stdin")]
    token_file: Option<PathBuf>,
}

/// The largest token read from standard input or a file.
const MAX_TOKEN_INPUT: u64 = 1024 * 1024;

impl TokenInput {
    /// The token: from standard input for `-`, from --token-file, from
    /// ERPNET_TOKEN, or else from standard input. A leading `Bearer ` is
    /// dropped, so that a header value can be pasted as it is.
    pub(crate) async fn read(&self) -> Result<String, Failure> {
        let raw = match (&self.stdin, &self.token_file) {
            (Some(dash), _) if dash != "-" => {
                return Err(Failure::Usage(
                    "tokens are not accepted as command-line arguments (they show in `ps` and \
                     shell history): pass `-` and the token on standard input, use --token-file \
                     PATH, or set ERPNET_TOKEN"
                        .into(),
                ));
            }
            (Some(_), _) => read_stdin().await?,
            (None, Some(path)) => {
                let file = tokio::fs::File::open(path).await.map_err(|e| {
                    Failure::Usage(format!(
                        "cannot read the token from {}: {e}",
                        path.display()
                    ))
                })?;
                let mut text = String::new();
                file.take(MAX_TOKEN_INPUT)
                    .read_to_string(&mut text)
                    .await
                    .map_err(|e| {
                        Failure::Usage(format!(
                            "cannot read the token from {}: {e}",
                            path.display()
                        ))
                    })?;
                text.lines().next().unwrap_or_default().to_owned()
            }
            (None, None) => match std::env::var("ERPNET_TOKEN") {
                Ok(token) if !token.trim().is_empty() => token,
                _ => read_stdin().await?,
            },
        };
        let Some(token) = token_text(&raw) else {
            return Err(Failure::Usage(
                "no token given: pass `-` and the token on standard input, use --token-file PATH, \
                 or set ERPNET_TOKEN"
                    .into(),
            ));
        };
        Ok(token.to_owned())
    }
}

async fn read_stdin() -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        eprintln!("reading the token from standard input (paste it, then Ctrl-D)");
    }
    let mut input = String::new();
    tokio::io::stdin()
        .take(MAX_TOKEN_INPUT)
        .read_to_string(&mut input)
        .await
        .map_err(|e| Failure::Usage(format!("cannot read the token from standard input: {e}")))?;
    Ok(input)
}
