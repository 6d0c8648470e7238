//! Helpers shared by the behaviour tests (each test binary uses a part).

#![allow(dead_code)]

pub(crate) mod browser;
pub(crate) mod web;
pub(crate) mod webdriver;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use erpnet_auth::{
    AccessToken, AuthorizationCodeFlow, CachedTokenSource, OAuthErrorCode, PendingAuthorization,
    PendingParts, RefreshTokenStore, SignIn, TokenSource, Url, refresh_token_store_fn,
};
use secrecy::{ExposeSecret, SecretString};

/// The path of a built example. `cargo test` builds the examples before it
/// runs the tests, into `target/<profile>/examples/`, beside this test's own
/// `deps/` folder.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("test binary path");
    let profile_dir = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo test` (which builds the examples) or \
         `cargo build --example {name}` first",
        binary.display()
    );
    binary
}

/// Completes a sign-in, then tries the same code once more: the provider must
/// refuse it (`invalid_grant`, RFC 6749 §4.1.2). Returns the first sign-in.
pub(crate) async fn complete_twice(
    flow: &AuthorizationCodeFlow,
    parts: PendingParts,
    callback: &Url,
) -> SignIn {
    let first = flow
        .complete(PendingAuthorization::from_parts(parts.clone()), callback)
        .await
        .expect("first use of the code");
    let error = flow
        .complete(PendingAuthorization::from_parts(parts), callback)
        .await
        .expect_err("the code was used");
    assert_eq!(
        error.oauth_code(),
        Some(&OAuthErrorCode::InvalidGrant),
        "{error}"
    );
    first
}

/// A `RefreshTokenStore` that keeps every refresh token saved to it, in the
/// returned list.
pub(crate) fn recording_store() -> (impl RefreshTokenStore, Arc<Mutex<Vec<String>>>) {
    let saved: Arc<Mutex<Vec<String>>> = Arc::default();
    let list = saved.clone();
    let store = refresh_token_store_fn(move |token: SecretString| {
        let saved = saved.clone();
        async move {
            saved
                .lock()
                .expect("lock")
                .push(token.expose_secret().to_owned());
            Ok(())
        }
    });
    (store, list)
}

/// Calls `tokens.token()` from `callers` tasks at once; every caller must get
/// the same token, which is returned.
pub(crate) async fn same_token_for_all<S: TokenSource>(
    tokens: &CachedTokenSource<S>,
    callers: usize,
) -> AccessToken {
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.token().await })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.expect("task").expect("token"));
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "one token for all");
    seen.swap_remove(0)
}

/// The value of the query parameter `name` of `url`, if it has one.
pub(crate) fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}
