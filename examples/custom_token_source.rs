//! A token source of your own, in a few lines.
//!
//! Here the token is kept fresh in a file by another process (a sidecar, a
//! vault agent). The source reads it; `CachedTokenSource` adds the lock-free
//! cache and single-flight re-reads on top, and a rejected token makes it read
//! the file again.
//!
//! ```text
//! cargo run --example custom_token_source
//! ```

use std::path::PathBuf;
use std::time::Duration;

use erpnet_auth::{AccessToken, CachedTokenSource, Error, TokenSource, async_trait};

/// Reads the bearer token that another process writes to `path`.
struct TokenFile {
    path: PathBuf,
    lifetime: Duration,
}

#[async_trait]
impl TokenSource for TokenFile {
    async fn token(&self) -> Result<AccessToken, Error> {
        let value = tokio::fs::read_to_string(&self.path).await.map_err(|e| {
            Error::source_failed(format!("cannot read {}: {e}", self.path.display()), true)
        })?;
        Ok(AccessToken::new(value.trim()).with_expires_in(self.lifetime))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Stand-in for the sidecar: write a token to a file.
    let path =
        std::env::temp_dir().join(format!("erpnet-auth-example-{}.token", std::process::id()));
    tokio::fs::write(&path, "first-token-value\n").await?;

    let tokens = CachedTokenSource::new(TokenFile {
        path: path.clone(),
        lifetime: Duration::from_secs(300),
    });
    let first = tokens.token().await?;
    let again = tokens.token().await?;
    println!("read the file once, served twice: {}", first == again);

    // The sidecar rotates the token; a resource server rejects the old one.
    tokio::fs::write(&path, "second-token-value\n").await?;
    tokens.report_rejected(&first);
    let second = tokens.token().await?;
    println!(
        "after a rejection the file is read again: {}",
        second != first
    );

    tokio::fs::remove_file(&path).await?;
    Ok(())
}
