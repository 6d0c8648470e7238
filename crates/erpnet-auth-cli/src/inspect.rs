//! `erpnet-auth inspect`: what a token says, decoded locally and sent nowhere.

use erpnet_auth_cli::inspection::inspect;

use crate::failure::{Failure, Outcome};
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

pub(crate) async fn run(args: Args) -> Outcome {
    let token = args.token.read().await?;
    print!("{}", inspect(&token).map_err(Failure::Check)?);
    Ok(())
}
