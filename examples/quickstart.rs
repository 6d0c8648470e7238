//! The quick start: obtain a token with client credentials through the cache,
//! see it reused and refreshed, then the whole loop: a protected axum API
//! (validating layer, scopes) called through the reqwest middleware, and
//! ERP.net's session limits kept by `SessionPacing` against a mock Domain API.
//!
//! With no configuration it starts the embedded mock ERP.net Identity on
//! 127.0.0.1 (no network needed):
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! To use a real provider, set:
//! - `ERPNET_AUTHORITY`: an ERP.net instance name (`myinstance`) or an issuer URL;
//! - `ERPNET_CLIENT_ID`, `ERPNET_CLIENT_SECRET`;
//! - `ERPNET_SCOPES`: space-separated, e.g. `read update`;
//! - optionally `ERPNET_AUTH_METHOD`: `post` (default) or `basic`;
//! - optionally `ERPNET_AUDIENCE`: the audience the local API accepts (default
//!   `DomainAPI`, which ERP.net tokens name).

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use erpnet_auth::pacing::Pacer;
use erpnet_auth::reqwest::{BearerAuth, SessionPacing};
use erpnet_auth::tower::{Claims, RequireScopesLayer, ValidateBearerLayer};
use erpnet_auth::{
    AccessToken, Authority, CachedTokenSource, ClientAuthMethod, ClientConfig, ClientCredentials,
    Discovery, Error, JwtValidator,
};
use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ENTITY, Endpoint, MockDomainApi, MockIdentity,
};

struct Settings {
    authority: String,
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
    method: ClientAuthMethod,
}

fn settings_from_env() -> Result<Option<Settings>, String> {
    let Ok(authority) = std::env::var("ERPNET_AUTHORITY") else {
        return Ok(None);
    };
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let method = match std::env::var("ERPNET_AUTH_METHOD") {
        Ok(value) => ClientAuthMethod::parse(&value).ok_or_else(|| {
            format!("ERPNET_AUTH_METHOD must be `post` or `basic`, not `{value}`")
        })?,
        Err(_) => ClientAuthMethod::ClientSecretPost,
    };
    Ok(Some(Settings {
        authority,
        client_id: var("ERPNET_CLIENT_ID")?,
        client_secret: var("ERPNET_CLIENT_SECRET")?,
        scopes: var("ERPNET_SCOPES")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        method,
    }))
}

/// What a person may see of a token: its shape, never its value.
fn describe(token: &AccessToken) -> String {
    let expires = token
        .expires_in()
        .map(|d| format!("expires in {} s", d.as_secs()))
        .unwrap_or_else(|| "expiry unknown".to_owned());
    format!(
        "{} token, {} characters, scopes [{}], {expires}",
        token.token_type(),
        token.expose_secret().len(),
        token.scopes().join(" ")
    )
}

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let settings = settings_from_env()?;
    // The mock must outlive the run; `None` with a real provider.
    let (settings, mock) = match settings {
        Some(settings) => {
            println!("provider: {} (from ERPNET_AUTHORITY)", settings.authority);
            (settings, None)
        }
        None => {
            // Tokens live 6 s here so that the refresh is visible; ERP.net's live 1 h.
            let mock = MockIdentity::builder()
                .token_lifetime(Duration::from_secs(6))
                .start()
                .await;
            println!(
                "provider: embedded mock ERP.net Identity at {}",
                mock.issuer()
            );
            println!("          (set ERPNET_AUTHORITY and friends to use a real one)");
            let settings = Settings {
                authority: mock.issuer(),
                client_id: DEFAULT_CLIENT_ID.to_owned(),
                client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
                scopes: vec!["read".into(), "update".into()],
                method: ClientAuthMethod::ClientSecretPost,
            };
            (settings, Some(mock))
        }
    };
    let token_requests = || {
        mock.as_ref()
            .map(|m| format!(" (token requests so far: {})", m.requests(Endpoint::Token)))
            .unwrap_or_default()
    };

    // 1. Discovery: from an instance name or issuer URL to the token endpoint.
    let authority: Authority = settings.authority.parse()?;
    let discovery = Discovery::fetch(authority.issuer()).await?;
    println!(
        "1. discovered token endpoint {}",
        discovery.token_endpoint()
    );

    // 2. The client (who we are at the provider), its client credentials
    //    grant, and the lock-free cache in front of it.
    let client = ClientConfig::builder(&discovery, settings.client_id.as_str())
        .client_secret(settings.client_secret)
        .auth_method(settings.method)
        .build()?;
    let grant = ClientCredentials::builder(client)
        .scopes(settings.scopes)
        .build()?;
    let tokens = CachedTokenSource::new(grant);
    let first = tokens.token().await?;
    println!("2. got a token: {}{}", describe(&first), token_requests());

    // 3. Reuse: a thousand concurrent callers share the cached token.
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.token().await })
        })
        .collect();
    let mut reused = 0;
    for caller in callers {
        if caller.await?? == first {
            reused += 1;
        }
    }
    println!(
        "3. 1000 concurrent calls: {reused} got the cached token{}",
        token_requests()
    );

    // 4. Early refresh: once a token is due, callers still get it at once while
    //    one background request fetches the next (only shown with the mock,
    //    whose tokens live seconds instead of an hour).
    if mock.is_some() {
        let lifetime = first.expires_in().unwrap_or_default();
        tokio::time::sleep(lifetime / 2 + Duration::from_millis(200)).await;
        let during = tokens.token().await?;
        println!(
            "4. token due for refresh: served the {} token at once{}",
            if during == first { "current" } else { "new" },
            token_requests()
        );
        let refreshed = wait_for_new_token(&tokens, &first).await?;
        println!(
            "   background refresh done: {}{}",
            describe(&refreshed),
            token_requests()
        );
    }

    // 5. A resource server answered 401: report the token and get a new one.
    let current = tokens.token().await?;
    tokens.report_rejected(&current);
    let replacement = tokens.token().await?;
    println!(
        "5. after a 401: {} token{}",
        if replacement == current {
            "same"
        } else {
            "new"
        },
        token_requests()
    );
    // 6. The whole loop: our own API, protected by the validating layer, called
    //    through the reqwest middleware with the cached token.
    let audience = std::env::var("ERPNET_AUDIENCE").unwrap_or_else(|_| "DomainAPI".to_owned());
    let validator = JwtValidator::builder(authority.clone())
        .audience(audience)
        .build()?;
    let api = Router::new()
        .route(
            "/whoami",
            get(whoami).route_layer(RequireScopesLayer::all(["read"])),
        )
        .route(
            "/admin",
            get(whoami).route_layer(RequireScopesLayer::all(["admin"])),
        )
        .layer(ValidateBearerLayer::new(validator));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, api).await });
    println!("6. a protected API at {origin} (ValidateBearerLayer, keys from the provider's JWKS)");

    let auth = BearerAuth::builder(tokens.clone())
        .allow_origin(&origin)
        .build()?;
    let client = auth.client_builder(reqwest::Client::builder())?.build();
    let whoami = client.get(format!("{origin}/whoami")).send().await?;
    let status = whoami.status();
    let body = whoami.text().await?;
    println!(
        "   GET /whoami through BearerAuth: {} {body}",
        status.as_u16()
    );
    let admin = client.get(format!("{origin}/admin")).send().await?;
    let challenge = admin
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    println!(
        "   GET /admin (needs scope `admin`): {} {challenge}",
        admin.status().as_u16()
    );
    let anonymous = reqwest::get(format!("{origin}/whoami")).await?;
    println!(
        "   GET /whoami without a token: {}",
        anonymous.status().as_u16()
    );
    if status != 200 || admin.status() != 403 || anonymous.status() != 401 {
        return Err("the protected API did not answer 200 / 403 / 401".into());
    }

    // 7. ERP.net's rate limits (1 request per session at a time, 600 a minute, 2
    //    per site): 32 concurrent calls to a mock Domain API, which trusts the
    //    mock identity's tokens, through BearerAuth and SessionPacing.
    if let Some(identity) = &mock {
        let api = MockDomainApi::builder(identity)
            .service_time(Duration::from_millis(20))
            .start()
            .await;
        let pacer = Pacer::erpnet().build()?;
        let client = BearerAuth::builder(tokens.clone())
            .allow_origin(api.origin())
            .build()?
            .client_builder(reqwest::Client::builder())?
            .with(SessionPacing::new(pacer.clone()))
            .build();
        let started = Instant::now();
        let calls: Vec<_> = (0..32)
            .map(|_| {
                let (client, url) = (client.clone(), api.entity_url(DEFAULT_ENTITY));
                tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
            })
            .collect();
        let (mut ok, mut throttled) = (0, 0);
        for call in calls {
            match call.await??.as_u16() {
                200 => ok += 1,
                429 => throttled += 1,
                other => return Err(format!("the mock Domain API answered {other}").into()),
            }
        }
        println!(
            "7. 32 concurrent calls to a mock ERP.net Domain API through BearerAuth + SessionPacing: \
             {ok} ok, {throttled} throttled (429), {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let seen = api.stats();
        println!(
            "   the API ran at most {} request per session at a time; the client queued {} and retried {}",
            seen.max_session_in_flight,
            pacer.stats().delayed,
            pacer.stats().retried
        );
        if ok != 32 || throttled != 0 {
            return Err("the paced calls were throttled".into());
        }
    }
    println!("done");
    Ok(())
}

/// Who is calling, from the verified token's claims.
async fn whoami(claims: Claims) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "caller": claims.token.caller(),
        "scopes": claims.token.scopes(),
        "system_user": claims.client_system_user,
    }))
}

async fn wait_for_new_token(
    tokens: &CachedTokenSource<ClientCredentials>,
    old: &AccessToken,
) -> Result<AccessToken, Error> {
    for _ in 0..50 {
        let token = tokens.token().await?;
        if token != *old {
            return Ok(token);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokens.token().await
}
