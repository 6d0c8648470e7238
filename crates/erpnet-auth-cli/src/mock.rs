//! `erpnet-auth mock`: the mock ERP.net Identity as a standalone server.

use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MockIdentity};

use crate::failure::{Failure, Outcome};

/// Run a mock ERP.net Identity on 127.0.0.1 until Ctrl-C.
///
/// For testing in any language: it serves discovery, a key set and the token
/// endpoint (client credentials) as ERP.net does, with a ready client.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  erpnet-auth mock\n  erpnet-auth mock --port 8400")]
pub(crate) struct Args {
    /// The port (default: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

pub(crate) async fn run(args: Args) -> Outcome {
    let identity = MockIdentity::builder()
        .port(args.port)
        .try_start()
        .await
        .map_err(|e| Failure::Usage(format!("cannot listen on 127.0.0.1:{}: {e}", args.port)))?;
    let issuer = identity.issuer();
    println!("mock ERP.net Identity at {issuer}");
    println!("client id      {DEFAULT_CLIENT_ID}");
    println!("client secret  {DEFAULT_CLIENT_SECRET}");
    println!("scopes         read update");
    println!("try:");
    println!(
        "  curl -s -d grant_type=client_credentials -d 'client_id={DEFAULT_CLIENT_ID}' -d 'client_secret={DEFAULT_CLIENT_SECRET}' -d 'scope=read update' {}",
        identity.token_endpoint()
    );
    println!("stop with Ctrl-C");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| Failure::Check(format!("cannot wait for Ctrl-C: {e}")))?;
    println!("stopped");
    Ok(())
}
