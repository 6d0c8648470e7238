//! Two replicas of a web app behind one real Redis (`redis-server` on 127.0.0.1, started
//! here): they share the sessions, and requests of one user arriving on both at the moment
//! the access token is due cause exactly one refresh at the provider, round after round.
//!
//! `redis-server` comes from the Debian package `redis-server` (`.ci/run` installs it). Without
//! it the test is skipped with a message, except when `CI` is set: then it fails.

mod support;

use std::net::TcpListener as StdListener;
use std::process::Stdio;
use std::time::Duration;

use erpnet_auth::web::Redis;
use erpnet_auth_testkit::{DEFAULT_USER, MockIdentity};
use serde_json::Value;
use support::browser::Browser;
use support::web::{TestApp, listener, serve, web_client, web_sign_in};
use tokio::process::{Child, Command};

/// A `redis-server` of this test's own: a free port on 127.0.0.1, nothing saved to disk,
/// killed on drop.
struct RedisServer {
    url: String,
    _child: Child,
}

impl RedisServer {
    async fn start() -> Option<RedisServer> {
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let message = format!(
                    "redis-server is not available ({error}); install it with \
                     `apt-get install -y redis-server`"
                );
                if std::env::var_os("CI").is_some() {
                    panic!("{message}\nCI is set, so the several-replicas test must run.");
                }
                eprintln!("*** TEST SKIPPED: {message}");
                return None;
            }
        };
        let address = format!("127.0.0.1:{port}");
        let ready = async {
            while tokio::net::TcpStream::connect(&address).await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .expect("redis-server listens within 10 s");
        Some(RedisServer {
            url: format!("redis://{address}"),
            _child: child,
        })
    }
}

/// Sends `count` requests for `/data` to each replica at once, with the session cookie;
/// every one must succeed with the same token, which is returned.
async fn burst(replicas: &[&TestApp], cookie: &str, count: usize) -> String {
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..count {
        for replica in replicas {
            let request = client
                .get(replica.at("/data"))
                .header("cookie", cookie)
                .send();
            tasks.push(tokio::spawn(async move {
                let answer = request.await.expect("answer");
                assert_eq!(answer.status(), 200);
                let body = answer.bytes().await.expect("body");
                serde_json::from_slice::<Value>(&body).expect("JSON")["token"]
                    .as_str()
                    .expect("a token fingerprint")
                    .to_owned()
            }));
        }
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.expect("task"));
    }
    assert!(
        tokens.windows(2).all(|w| w[0] == w[1]),
        "one token for all: {tokens:?}"
    );
    tokens.swap_remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_sessions_and_refresh_once_per_due_token() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    // Tokens of 30 s are due at once (refreshed 60 s early); hour-long ones are not.
    let identity = MockIdentity::builder()
        .token_lifetime(Duration::from_secs(30))
        .start()
        .await;
    let (listener_a, public_url) = listener().await;
    let (listener_b, _) = listener().await;
    // Both replicas answer for one public URL (a load balancer's): replica A's here.
    identity.register_client(web_client(&public_url));
    let mut replicas = Vec::new();
    for listener in [listener_a, listener_b] {
        let connection = Redis::connect(&redis.url).await.expect("Redis");
        let web = web_sign_in(&identity, &public_url)
            .await
            .redis(&connection)
            .build()
            .expect("web sign-in");
        replicas.push(serve(listener, &web));
    }
    let (a, b) = (&replicas[0], &replicas[1]);

    let mut cookie = String::new();
    for round in 1..=3 {
        // A new sign-in, whose 30-s token is due at once; the refreshed one will not be.
        identity.set_token_lifetime(Duration::from_secs(30));
        let mut browser = Browser::new();
        let page = browser.navigate(&a.at("/login")).await;
        assert!(page.body.contains("Signed in as John Doe"), "{}", page.body);
        cookie = format!(
            "erpnet-auth={}",
            browser
                .cookie(&a.url, "erpnet-auth")
                .expect("session cookie")
        );
        let on_b = page_on(b, &cookie).await;
        assert!(
            on_b.contains("Signed in as John Doe"),
            "the session is shared: {on_b}"
        );
        identity.set_token_lifetime(Duration::from_secs(3600));
        burst(&[a, b], &cookie, 20).await;
        assert_eq!(
            identity.requests_for_grant("refresh_token"),
            round,
            "one refresh for 40 requests on two replicas"
        );
    }

    // The user signs out at the provider: a logout token per sign-in reaches replica A, and
    // B knows.
    assert_eq!(identity.sign_out_user(DEFAULT_USER).await, 3);
    let on_b = page_on(b, &cookie).await;
    assert!(on_b.contains("Sign in"), "{on_b}");
}

/// The home page of `replica` for the session `cookie`.
async fn page_on(replica: &TestApp, cookie: &str) -> String {
    reqwest::Client::new()
        .get(replica.at("/"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("page")
}
