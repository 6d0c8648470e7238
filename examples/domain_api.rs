//! Many concurrent reads of an ERP.net instance's Domain API with one service token, paced
//! by session: `ClientCredentials` + `CachedTokenSource` behind `BearerAuth`, then
//! `SessionPacing` with ERP.net's documented limits.
//!
//! With no environment it runs against the embedded mock ERP.net Identity and mock Domain
//! API on 127.0.0.1 (each request takes the mock 20 ms; it enforces ERP.net's limits):
//!
//! ```text
//! cargo run --example domain_api                 # paced: no 429
//! cargo run --example domain_api -- --no-pacing  # the same without SessionPacing: mostly 429
//! ```
//!
//! Against a real instance:
//!
//! ```text
//! ERPNET_AUTHORITY=myinstance \
//! ERPNET_CLIENT_ID=my.trusted.app/first \
//! ERPNET_CLIENT_SECRET=… \
//! ERPNET_SCOPES=read \
//! ERPNET_API_URL=https://myinstance.my.erp.net/api/domain/odata/ \
//! cargo run --example domain_api -- --concurrency 32 --requests 200
//! ```
//!
//! - `ERPNET_AUTHORITY`, `ERPNET_CLIENT_ID`, `ERPNET_CLIENT_SECRET`, `ERPNET_SCOPES`
//!   (space-separated), optionally `ERPNET_AUTH_METHOD` (`post` or `basic`): as in the
//!   other examples;
//! - `ERPNET_API_URL`: the Domain API's OData root, with the trailing slash;
//! - `ERPNET_ENTITY`: the entity set to read (default `General_Contacts_Parties`, which every
//!   ERP.net instance has and is never empty: the enterprise company is a party).
//!
//! Arguments: `--concurrency N` callers at once (default 32), `--requests M` in all (default
//! 200; at ERP.net's 600 a minute, 200 take about 20 s), `--no-pacing` to leave
//! `SessionPacing` out.
//!
//! It prints the first record's id, then as its last line
//! `requests: M, ok: O, throttled (429): T, retried: R, elapsed: S s` (`retried` counts the
//! retries `SessionPacing` sent after a 429 or 503). Exits 1 when no token can be had or the
//! first request fails, 2 when the configuration or the arguments are wrong.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use erpnet_auth::pacing::Pacer;
use erpnet_auth::reqwest::{BearerAuth, SessionPacing};
use erpnet_auth::{
    Authority, CachedTokenSource, ClientAuthMethod, ClientConfig, ClientCredentials, Url,
};
use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ENTITY, MockDomainApi, MockIdentity,
};
use reqwest_middleware::ClientWithMiddleware;
use serde_json::Value;

const WHAT_TO_SET: &str = "set ERPNET_AUTHORITY, ERPNET_CLIENT_ID, ERPNET_CLIENT_SECRET, \
     ERPNET_SCOPES and ERPNET_API_URL (the Domain API's OData root), or none of them to use \
     the embedded mock";
const USAGE: &str = "usage: domain_api [--concurrency N] [--requests M] [--no-pacing]";

/// Why the example stopped: its exit code and a one-line message.
struct Stop(u8, String);

fn config_error(message: impl Into<String>) -> Stop {
    Stop(2, message.into())
}

struct Args {
    concurrency: usize,
    requests: usize,
    pacing: bool,
}

fn parse_args() -> Result<Args, Stop> {
    let mut args = Args {
        concurrency: 32,
        requests: 200,
        pacing: true,
    };
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        let mut number = |name: &str| {
            given
                .next()
                .and_then(|value| value.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| config_error(format!("{name} needs a positive number; {USAGE}")))
        };
        match arg.as_str() {
            "--concurrency" => args.concurrency = number("--concurrency")?,
            "--requests" => args.requests = number("--requests")?,
            "--no-pacing" => args.pacing = false,
            other => return Err(config_error(format!("unknown argument `{other}`; {USAGE}"))),
        }
    }
    Ok(args)
}

/// Where the tokens and the data come from.
struct Target {
    authority: String,
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
    method: ClientAuthMethod,
    odata_root: Url,
}

fn target_from_env() -> Result<Option<Target>, Stop> {
    let Ok(authority) = std::env::var("ERPNET_AUTHORITY") else {
        return Ok(None);
    };
    let var = |name: &str| {
        std::env::var(name).map_err(|_| config_error(format!("{name} is not set: {WHAT_TO_SET}")))
    };
    let method = match std::env::var("ERPNET_AUTH_METHOD") {
        Ok(value) => ClientAuthMethod::parse(&value).ok_or_else(|| {
            config_error(format!(
                "ERPNET_AUTH_METHOD must be `post` or `basic`, not `{value}`"
            ))
        })?,
        Err(_) => ClientAuthMethod::ClientSecretPost,
    };
    let root = var("ERPNET_API_URL")?;
    let odata_root = Url::parse(&root)
        .map_err(|e| config_error(format!("ERPNET_API_URL `{root}` is not a URL: {e}")))?;
    Ok(Some(Target {
        authority,
        client_id: var("ERPNET_CLIENT_ID")?,
        client_secret: var("ERPNET_CLIENT_SECRET")?,
        scopes: var("ERPNET_SCOPES")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        method,
        odata_root,
    }))
}

#[tokio::main]
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
    let args = parse_args()?;
    let entity = std::env::var("ERPNET_ENTITY").unwrap_or_else(|_| DEFAULT_ENTITY.to_owned());
    // The mocks must outlive the run; `None` with a real instance.
    let (target, _mocks) = match target_from_env()? {
        Some(target) => (target, None),
        None => {
            let identity = MockIdentity::start().await;
            let api = MockDomainApi::builder(&identity)
                .service_time(Duration::from_millis(20))
                .start()
                .await;
            println!(
                "embedded mock ERP.net Identity and Domain API at {}",
                api.odata_root()
            );
            let target = Target {
                authority: identity.issuer(),
                client_id: DEFAULT_CLIENT_ID.to_owned(),
                client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
                scopes: vec!["read".to_owned()],
                method: ClientAuthMethod::ClientSecretPost,
                odata_root: Url::parse(&api.odata_root()).map_err(|e| Stop(1, e.to_string()))?,
            };
            (target, Some((identity, api)))
        }
    };

    let authority: Authority = target
        .authority
        .parse()
        .map_err(|e| config_error(format!("ERPNET_AUTHORITY: {e}")))?;
    let client = ClientConfig::builder(authority, target.client_id)
        .client_secret(target.client_secret)
        .auth_method(target.method)
        .build()
        .map_err(|e| config_error(e.to_string()))?;
    let grant = ClientCredentials::builder(client)
        .scopes(target.scopes)
        .build()
        .map_err(|e| config_error(e.to_string()))?;
    let tokens = CachedTokenSource::new(grant);
    let auth = BearerAuth::builder(tokens)
        .allow_origin(target.odata_root.origin().ascii_serialization())
        .build()
        .map_err(|e| config_error(e.to_string()))?;
    let pacer = Pacer::erpnet()
        .build()
        .map_err(|e| config_error(e.to_string()))?;
    let mut builder = auth
        .client_builder(reqwest::Client::builder())
        .map_err(|e| config_error(e.to_string()))?;
    if args.pacing {
        builder = builder.with(SessionPacing::new(pacer.clone()));
    }
    let client = builder.build();
    let url = target
        .odata_root
        .join(&entity)
        .map_err(|e| config_error(format!("ERPNET_ENTITY `{entity}`: {e}")))?;

    // The first record, to show the data is real.
    let mut first_url = url.clone();
    first_url
        .query_pairs_mut()
        .append_pair("$top", "1")
        .append_pair("$select", "Id");
    let first = client
        .get(first_url)
        .send()
        .await
        .map_err(|e| Stop(1, one_line(&e)))?;
    let status = first.status();
    let bytes = first.bytes().await.map_err(|e| Stop(1, one_line(&e)))?;
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or_default();
        return Err(Stop(
            1,
            format!("GET {url}: HTTP {} {message}", status.as_u16()),
        ));
    }
    match body["value"][0]["Id"].as_str() {
        Some(id) => println!("first record of {entity}: {id}"),
        None => println!("first record of {entity}: none (the entity set is empty)"),
    }

    let mut page = url.clone();
    page.query_pairs_mut().append_pair("$top", "10");
    let tally = load(&client, &page, &args).await;
    let retried = pacer.stats().retried;
    if tally.other > 0 {
        println!(
            "other answers or failures: {} (last: {})",
            tally.other, tally.last_other
        );
    }
    println!(
        "requests: {}, ok: {}, throttled (429): {}, retried: {retried}, elapsed: {:.2} s",
        args.requests,
        tally.ok,
        tally.throttled,
        tally.elapsed.as_secs_f64()
    );
    Ok(())
}

#[derive(Default)]
struct Tally {
    ok: usize,
    throttled: usize,
    other: usize,
    last_other: String,
    elapsed: Duration,
}

/// `args.requests` GETs of `url` (a page of ten records) by `args.concurrency` callers at once.
async fn load(client: &ClientWithMiddleware, url: &Url, args: &Args) -> Tally {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let callers: Vec<_> = (0..args.concurrency.min(args.requests))
        .map(|_| {
            let (client, url, next, total) =
                (client.clone(), url.clone(), next.clone(), args.requests);
            tokio::spawn(async move {
                let mut tally = Tally::default();
                // Each caller takes the next request number until all are taken.
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    match client.get(url.clone()).send().await {
                        Ok(response) if response.status().is_success() => {
                            // Read the answer, as a real caller would.
                            match response.bytes().await {
                                Ok(_) => tally.ok += 1,
                                Err(error) => {
                                    tally.other += 1;
                                    tally.last_other = one_line(&error);
                                }
                            }
                        }
                        Ok(response) if response.status() == 429 => tally.throttled += 1,
                        Ok(response) => {
                            tally.other += 1;
                            tally.last_other = format!("HTTP {}", response.status().as_u16());
                        }
                        Err(error) => {
                            tally.other += 1;
                            tally.last_other = one_line(&error);
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for caller in callers {
        match caller.await {
            Ok(tally) => {
                total.ok += tally.ok;
                total.throttled += tally.throttled;
                total.other += tally.other;
                if !tally.last_other.is_empty() {
                    total.last_other = tally.last_other;
                }
            }
            Err(error) => {
                total.other += 1;
                total.last_other = error.to_string();
            }
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// An error and its causes on one line.
fn one_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line.replace('\n', " ")
}
