//! `erpnet-auth`: a trustworthy tool for OAuth 2.0 / OpenID Connect with
//! ERP.net and other providers. Nothing it handles is ever sent to a third
//! party: tokens are decoded and verified locally, with the provider's own keys.

mod discover;
mod failure;
mod inspect;
mod login;
mod mock;
mod settings;
mod token;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use erpnet_auth_cli::output;

use crate::failure::Failure;

/// Exit code when the thing checked failed (an invalid token, a refused request).
const FAILURE: u8 = 1;
/// Exit code for usage and configuration errors.
const USAGE: u8 = 2;

/// OAuth 2.0 / OpenID Connect for ERP.net and any standard provider:
/// discover, get tokens, inspect and verify them, sign in, run a mock identity.
///
/// Configuration comes from flags or from the same ERPNET_* environment
/// variables the examples use. Exit codes: 0 success, 1 the thing checked
/// failed, 2 usage or configuration error.
#[derive(Debug, Parser)]
#[command(name = "erpnet-auth", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Discover(discover::Args),
    Token(token::Args),
    Inspect(inspect::Args),
    Verify(verify::Args),
    Login(login::LoginArgs),
    Refresh(login::RefreshArgs),
    Mock(mock::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(FAILURE);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Discover(args) => discover::run(args).await,
            Command::Token(args) => token::run(args).await,
            Command::Inspect(args) => inspect::run(args).await,
            Command::Verify(args) => verify::run(args).await,
            Command::Login(args) => login::login(args).await,
            Command::Refresh(args) => login::refresh(args).await,
            Command::Mock(args) => mock::run(args).await,
        }
    });
    // Messages may quote what a token or a provider said: escaped, and one
    // line each.
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Check(message)) => {
            eprintln!("error: {}", output::safe(&message));
            ExitCode::from(FAILURE)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("error: {}", output::safe(&message));
            ExitCode::from(USAGE)
        }
    }
}
