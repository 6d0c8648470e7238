//! A real browser for the tests: headless Chromium from the Debian packages (`chromium`,
//! `chromium-driver`), driven through chromedriver with the W3C WebDriver protocol over
//! reqwest. chromedriver comes from the same Debian source package as Chromium, so their
//! versions always match; the few commands the tests need are written here rather than
//! pulling in a WebDriver crate.
//!
//! Without Chromium the test is skipped with a message naming the install command, except
//! when `CI` is set: then it fails. `.ci/run` installs both packages.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to show what a test waits for.
const WAIT: Duration = Duration::from_secs(20);
/// The key W3C WebDriver names an element reference with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session; both end on drop.
pub(crate) struct Chromium {
    http: reqwest::Client,
    session: String,
    driver: String,
    _chromedriver: Child,
    profile: PathBuf,
}

impl Chromium {
    /// Starts chromedriver and a headless Chromium with a fresh profile, or returns `None`
    /// (after saying why) when they are not installed and `CI` is not set.
    pub(crate) async fn start() -> Option<Chromium> {
        if let Some(missing) = [CHROMIUM, CHROMEDRIVER]
            .into_iter()
            .find(|path| !Path::new(path).exists())
        {
            let message = format!(
                "{missing} is missing; install it with \
                 `apt-get install -y chromium chromium-driver`"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{message}\nCI is set, so the browser tests must run.");
            }
            eprintln!("*** BROWSER TEST SKIPPED: {message}");
            return None;
        }
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let driver = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{driver}/status")).send().await;
            if let Ok(answer) = ready
                && let Ok(status) = answer.bytes().await
                && serde_json::from_slice::<Value>(&status)
                    .is_ok_and(|s| s["value"]["ready"] == json!(true))
            {
                break;
            }
            assert!(started.elapsed() < WAIT, "chromedriver did not get ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = std::env::temp_dir().join(format!(
            "erpnet-auth-chromium-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&profile);
        // As root, in a container, with no network beyond loopback: no sandbox, no GPU, and
        // none of the background traffic (updates, sync, QUIC probes) that would stall.
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            }}
        });
        let answer = http
            .post(format!("{driver}/session"))
            .header("content-type", "application/json")
            .body(capabilities.to_string())
            .send()
            .await
            .expect("new session");
        let body: Value =
            serde_json::from_slice(&answer.bytes().await.expect("body")).expect("JSON");
        let session = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("Chromium did not start: {body}"))
            .to_owned();
        Some(Chromium {
            http,
            session,
            driver,
            _chromedriver: chromedriver,
            profile,
        })
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.driver, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let answer = request.send().await.expect("WebDriver answers");
        let body: Value =
            serde_json::from_slice(&answer.bytes().await.expect("body")).expect("JSON");
        body["value"].clone()
    }

    /// Opens `url` and waits for it to load.
    pub(crate) async fn goto(&self, url: &str) {
        let answer = self
            .command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
        assert!(answer.is_null(), "navigating to {url}: {answer}");
    }

    /// The URL the browser shows.
    pub(crate) async fn url(&self) -> String {
        let url = self.command(reqwest::Method::GET, "/url", None).await;
        url.as_str().unwrap_or_default().to_owned()
    }

    /// The page's visible text.
    pub(crate) async fn text(&self) -> String {
        let script =
            json!({ "script": "return document.body ? document.body.innerText : ''", "args": [] });
        let text = self
            .command(reqwest::Method::POST, "/execute/sync", Some(script))
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the page's text contains `wanted`, and returns the text.
    pub(crate) async fn wait_for_text(&self, wanted: &str) -> String {
        self.wait_for_any(&[wanted]).await
    }

    /// Waits until the page's text contains one of `wanted`, and returns the text.
    pub(crate) async fn wait_for_any(&self, wanted: &[&str]) -> String {
        let started = Instant::now();
        loop {
            let text = self.text().await;
            if wanted.iter().any(|w| text.contains(w)) {
                return text;
            }
            assert!(
                started.elapsed() < WAIT,
                "none of {wanted:?} appeared at {}; the page says:\n{text}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element `css` selects, waiting for it to appear.
    async fn element(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self
                .command(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await;
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(
                started.elapsed() < WAIT,
                "no `{css}` at {}; the page says:\n{}",
                self.url().await,
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the field `css` selects.
    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        let answer = self
            .command(
                reqwest::Method::POST,
                &format!("/element/{element}/value"),
                Some(json!({ "text": text })),
            )
            .await;
        assert!(answer.is_null(), "typing into {css}: {answer}");
    }

    /// Clicks what `css` selects.
    pub(crate) async fn click(&self, css: &str) {
        let element = self.element(css).await;
        let answer = self
            .command(
                reqwest::Method::POST,
                &format!("/element/{element}/click"),
                Some(json!({})),
            )
            .await;
        assert!(answer.is_null(), "clicking {css}: {answer}");
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // chromedriver ends the browser when it is killed (kill_on_drop); the profile goes.
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The built example `name`, started with the environment `vars` (every `ERPNET_*`,
/// `REDIS_URL`, `PUBLIC_URL` and `BIND` of the test's own environment removed first), and the
/// address of its `listening on http://ADDR` line.
pub(crate) async fn start_web_app(vars: &[(&str, &str)]) -> (Child, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut command = Command::new(crate::support::example_binary("web_app"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ERPNET_")
            || ["REDIS_URL", "PUBLIC_URL", "BIND"].contains(&name.as_str())
        {
            command.env_remove(name);
        }
    }
    command
        .env("BIND", "127.0.0.1:0")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the example starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let address = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("stdout") {
            if let Some(address) = line.strip_prefix("listening on ") {
                return address.to_owned();
            }
        }
        panic!("the example ended without listening");
    })
    .await
    .expect("the example listens within 60 s");
    // Keep reading its output, so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, address)
}
