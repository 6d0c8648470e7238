//! GET one URL of an ERP.net instance's API with a client-credentials token:
//! `ClientCredentials` + `CachedTokenSource` behind the reqwest-middleware
//! `BearerAuth`.
//!
//! ```text
//! ERPNET_AUTHORITY=myinstance \
//! ERPNET_CLIENT_ID=my.trusted.app/first \
//! ERPNET_CLIENT_SECRET=… \
//! ERPNET_SCOPES="read update" \
//! cargo run --example client_credentials -- \
//!     'https://myinstance.my.erp.net/api/domain/odata/General_Contacts_Persons?$top=1'
//! ```
//!
//! - `ERPNET_AUTHORITY`: an ERP.net instance name (`myinstance`) or an issuer URL;
//! - `ERPNET_CLIENT_ID`, `ERPNET_CLIENT_SECRET`: the trusted application;
//! - `ERPNET_SCOPES`: space-separated, e.g. `read update`;
//! - optionally `ERPNET_AUTH_METHOD`: `post` (default), `basic` or
//!   `private_key_jwt`; with `private_key_jwt` no secret but
//!   `ERPNET_CLIENT_KEY`, the path of the client's private key (PKCS#8 PEM,
//!   RSA or EC P-256), and optionally `ERPNET_CLIENT_KEY_ID`, the `kid` the
//!   provider knows it by (default: the key's RFC 7638 thumbprint);
//! - optionally `ERPNET_RESOURCE`: an RFC 8707 `resource` indicator, for
//!   providers that issue API tokens per resource (ERP.net does not need it).
//!
//! Prints the HTTP status code on the first line and the body after it, and
//! exits 0 whenever the request was answered, whatever the status. Exits 1 with
//! a one-line error when no token could be obtained (the request is then not
//! sent) or the request failed, and 2 when the configuration is incomplete.

use std::process::ExitCode;

use erpnet_auth::reqwest::BearerAuth;
use erpnet_auth::{
    Authority, CachedTokenSource, ClientAuthMethod, ClientConfig, ClientCredentials,
    ClientSigningKey, Url,
};

const WHAT_TO_SET: &str = "set ERPNET_AUTHORITY (an ERP.net instance name or issuer URL), \
     ERPNET_CLIENT_ID, ERPNET_CLIENT_SECRET, ERPNET_SCOPES (space-separated) and optionally \
     ERPNET_AUTH_METHOD (post, basic, or private_key_jwt with ERPNET_CLIENT_KEY, the path of \
     a PEM private key, instead of the secret), and pass the URL to GET";

/// Why the example stopped: its exit code and a one-line message.
struct Stop(u8, String);

fn config_error(message: impl Into<String>) -> Stop {
    Stop(2, message.into())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop(code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

async fn run() -> Result<(), Stop> {
    let Ok(authority) = std::env::var("ERPNET_AUTHORITY") else {
        return Err(config_error(format!(
            "ERPNET_AUTHORITY is not set: {WHAT_TO_SET}"
        )));
    };
    let var = |name: &str| {
        std::env::var(name).map_err(|_| config_error(format!("{name} is not set: {WHAT_TO_SET}")))
    };
    let method = match std::env::var("ERPNET_AUTH_METHOD") {
        Ok(value) => ClientAuthMethod::parse(&value).ok_or_else(|| {
            config_error(format!(
                "ERPNET_AUTH_METHOD must be `post`, `basic` or `private_key_jwt`, not `{value}`"
            ))
        })?,
        Err(_) => ClientAuthMethod::ClientSecretPost,
    };
    let mut args = std::env::args().skip(1);
    let (Some(url), None) = (args.next(), args.next()) else {
        return Err(config_error(format!("pass exactly one URL: {WHAT_TO_SET}")));
    };
    let url = Url::parse(&url).map_err(|e| config_error(format!("`{url}` is not a URL: {e}")))?;

    let authority: Authority = authority
        .parse()
        .map_err(|e| config_error(format!("ERPNET_AUTHORITY: {e}")))?;
    let client = ClientConfig::builder(authority, var("ERPNET_CLIENT_ID")?);
    let client = if method == ClientAuthMethod::PrivateKeyJwt {
        let path = var("ERPNET_CLIENT_KEY")?;
        let pem = std::fs::read(&path)
            .map_err(|e| config_error(format!("ERPNET_CLIENT_KEY: cannot read {path}: {e}")))?;
        let mut key = ClientSigningKey::from_pem(&pem)
            .map_err(|e| config_error(format!("ERPNET_CLIENT_KEY: {e}")))?;
        if let Ok(kid) = std::env::var("ERPNET_CLIENT_KEY_ID") {
            key = key
                .with_kid(kid)
                .map_err(|e| config_error(format!("ERPNET_CLIENT_KEY_ID: {e}")))?;
        }
        client.private_key(key)
    } else {
        client
            .client_secret(var("ERPNET_CLIENT_SECRET")?)
            .auth_method(method)
    };
    let client = client.build().map_err(|e| config_error(e.to_string()))?;
    let mut grant = ClientCredentials::builder(client).scopes([var("ERPNET_SCOPES")?]);
    if let Ok(resource) = std::env::var("ERPNET_RESOURCE") {
        grant = grant.param("resource", resource);
    }
    let grant = grant.build().map_err(|e| config_error(e.to_string()))?;
    let tokens = CachedTokenSource::new(grant);

    // The token goes to the URL's origin only (https, or http to loopback).
    let auth = BearerAuth::builder(tokens)
        .allow_origin(url.origin().ascii_serialization())
        .build()
        .map_err(|e| config_error(e.to_string()))?;
    let client = auth
        .client_builder(reqwest::Client::builder())
        .map_err(|e| config_error(e.to_string()))?
        .build();

    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| Stop(1, one_line(&e)))?;
    println!("{}", response.status().as_u16());
    let body = response.bytes().await.map_err(|e| Stop(1, one_line(&e)))?;
    println!("{}", String::from_utf8_lossy(&body));
    Ok(())
}

/// An error and its causes on one line. reqwest's own messages repeat in
/// their sources, so a cause already shown is skipped.
fn one_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !line.contains(&cause_text) {
            line.push_str(": ");
            line.push_str(&cause_text);
        }
        source = cause.source();
    }
    line.replace('\n', " ")
}
