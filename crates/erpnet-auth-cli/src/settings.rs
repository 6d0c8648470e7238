//! Settings shared by the commands: the provider, and tokens read from an
//! argument or standard input.

use clap::Args;
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

/// The token from the argument, or from standard input when it is `-` or absent.
pub(crate) async fn read_token(argument: Option<&str>) -> Result<String, Failure> {
    let token = match argument {
        Some(token) if token != "-" => token.to_owned(),
        _ => {
            let mut input = String::new();
            tokio::io::stdin()
                .take(1024 * 1024)
                .read_to_string(&mut input)
                .await
                .map_err(|e| {
                    Failure::Usage(format!("cannot read the token from standard input: {e}"))
                })?;
            input
        }
    };
    let token = token.trim();
    let token = token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("bearer "))
        .unwrap_or(token)
        .trim();
    if token.is_empty() {
        return Err(Failure::Usage(
            "no token given: pass it as an argument or on standard input".into(),
        ));
    }
    Ok(token.to_owned())
}
