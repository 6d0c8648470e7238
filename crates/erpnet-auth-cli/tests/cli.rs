//! The real `erpnet-auth` binary against the mock ERP.net Identity.

use std::process::{Output, Stdio};

use erpnet_auth_testkit::{Alg, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MockIdentity, TokenSpec};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_erpnet-auth");

/// The binary with a clean environment: no ERPNET_* from the developer's shell.
fn cli(identity: Option<&MockIdentity>) -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("ERPNET_") || name == "NO_COLOR" {
            command.env_remove(name);
        }
    }
    if let Some(identity) = identity {
        command
            .env("ERPNET_AUTHORITY", identity.issuer())
            .env("ERPNET_CLIENT_ID", DEFAULT_CLIENT_ID)
            .env("ERPNET_SCOPES", "read update")
            .env("ERPNET_CLIENT_SECRET", DEFAULT_CLIENT_SECRET);
    }
    command.stdin(Stdio::null()).kill_on_drop(true);
    command
}

async fn run(mut command: Command, args: &[&str]) -> Output {
    command.args(args).output().await.expect("the binary runs")
}

async fn run_with_stdin(mut command: Command, args: &[&str], input: &str) -> Output {
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).await.expect("write");
    drop(stdin);
    child.wait_with_output().await.expect("output")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_has_help_with_an_example() {
    for command in [
        "discover", "token", "inspect", "verify", "login", "refresh", "mock",
    ] {
        let output = run(cli(None), &[command, "--help"]).await;
        assert!(output.status.success(), "{command}");
        assert!(
            stdout(&output).contains("Examples:"),
            "{command} --help has no example"
        );
    }
    let token_help = stdout(&run(cli(None), &["token", "--help"]).await);
    let token_help = token_help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(token_help.contains("never from a command-line argument: arguments are visible"));
    let usage = run(cli(None), &["frobnicate"]).await;
    assert_eq!(usage.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_summarises_the_document_and_keys() {
    let identity = MockIdentity::start().await;
    let output = run(cli(None), &["discover", &identity.issuer()]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains(&format!(
        "token endpoint          {}",
        identity.token_endpoint()
    )));
    assert!(text.contains("code challenge methods  plain, S256"));
    assert!(text.contains(&format!("kid {}", identity.signing_kid())));
    assert!(text.contains("2048 bits"));

    let json = run(cli(None), &["discover", &identity.issuer(), "--json"]).await;
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(document["discovery"]["issuer"], identity.issuer());
    assert_eq!(document["jwks"]["keys"][0]["kid"], identity.signing_kid());

    let insecure = run(cli(None), &["discover", "http://id.example.com/id"]).await;
    assert_eq!(insecure.status.code(), Some(2));
    assert!(stderr(&insecure).contains("loopback"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_prints_just_the_token_with_either_auth_method() {
    let identity = MockIdentity::start().await;
    for method in ["post", "basic"] {
        let output = run(cli(Some(&identity)), &["token", "--auth-method", method]).await;
        assert!(output.status.success(), "{}", stderr(&output));
        let token = stdout(&output);
        assert_eq!(token.lines().count(), 1);
        assert_eq!(token.trim().split('.').count(), 3);
    }
    let json = run(cli(Some(&identity)), &["token", "--json"]).await;
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(document["token_type"], "Bearer");
    assert_eq!(document["scope"], "read update");
    assert!(
        document["expires_at"]
            .as_str()
            .expect("timestamp")
            .contains('T')
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_comes_from_the_environment_a_file_or_stdin_only() {
    let identity = MockIdentity::start().await;
    let mut no_secret = cli(Some(&identity));
    no_secret.env_remove("ERPNET_CLIENT_SECRET");
    let output = run(no_secret, &["token"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("ERPNET_CLIENT_SECRET"));

    let file = std::env::temp_dir().join(format!("erpnet-auth-cli-secret-{}", std::process::id()));
    std::fs::write(&file, format!("{DEFAULT_CLIENT_SECRET}\n")).expect("write");
    let mut from_file = cli(Some(&identity));
    from_file.env_remove("ERPNET_CLIENT_SECRET");
    let output = run(
        from_file,
        &[
            "token",
            "--client-secret-file",
            file.to_str().expect("path"),
        ],
    )
    .await;
    std::fs::remove_file(&file).expect("remove");
    assert!(output.status.success(), "{}", stderr(&output));

    let mut from_stdin = cli(Some(&identity));
    from_stdin.env_remove("ERPNET_CLIENT_SECRET");
    let output = run_with_stdin(
        from_stdin,
        &["token", "--client-secret-stdin"],
        DEFAULT_CLIENT_SECRET,
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));

    let mut wrong = cli(Some(&identity));
    wrong.env("ERPNET_CLIENT_SECRET", "wrong-secret-value-42");
    let output = run(wrong, &["token"]).await;
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("invalid_client"));
    assert!(!message.contains("wrong-secret-value-42"));
    assert!(stdout(&output).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_explains_tokens_without_sending_them() {
    let identity = MockIdentity::start().await;
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let output = run_with_stdin(cli(None), &["inspect", "-"], &token).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("access token (RFC 9068)"));
    assert!(text.contains("expires in"));
    assert!(text.contains("service token (client credentials)"));
    assert!(text.contains("system user `api-user`"));

    let expired = identity.mint(TokenSpec::access_token().expires_in(-3 * 3600));
    let text = stdout(&run_with_stdin(cli(None), &["inspect", "-"], &expired).await);
    assert!(text.contains("expired 3 h ago"), "{text}");

    let user = identity.mint(
        TokenSpec::access_token()
            .subject("jdoe")
            .claim("user_type", serde_json::json!("ExternalCommunityUser"))
            .claim("is_admin", serde_json::json!("false")),
    );
    let text = stdout(&run_with_stdin(cli(None), &["inspect", "-"], &user).await);
    assert!(text.contains("user token: signed in as `jdoe`"), "{text}");
    assert!(text.contains("external community user"));
    assert!(text.contains("administrator     no"));

    let reference = format!("enrt_{}", "0f".repeat(32));
    let text = stdout(&run_with_stdin(cli(None), &["inspect", "-"], &reference).await);
    assert!(text.contains("ERP.net reference access token"));

    let garbage = run_with_stdin(cli(None), &["inspect", "-"], "definitely-not-a-token").await;
    assert_eq!(garbage.status.code(), Some(1));
    assert!(stderr(&garbage).contains("not a JWT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_come_from_stdin_a_file_or_the_environment_never_an_argument() {
    let identity = MockIdentity::start().await;
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    for command in [&["inspect"][..], &["verify", "--audience", "DomainAPI"]] {
        let name = command[0];
        let refused = run(cli(Some(&identity)), &[command, &[token.as_str()]].concat()).await;
        assert_eq!(refused.status.code(), Some(2), "{name}");
        let message = stderr(&refused);
        assert!(
            message.contains("not accepted as command-line arguments"),
            "{name}: {message}"
        );
        assert!(!message.contains(&token), "{name}: the token is not echoed");
        assert!(stdout(&refused).is_empty(), "{name}");

        // `erpnet-auth token | erpnet-auth inspect -`, and a pasted header value.
        let piped = run_with_stdin(
            cli(Some(&identity)),
            &[command, &["-"]].concat(),
            &format!("Bearer {token}\n"),
        )
        .await;
        assert!(piped.status.success(), "{name}: {}", stderr(&piped));

        let file = std::env::temp_dir().join(format!(
            "erpnet-auth-cli-token-{name}-{}",
            std::process::id()
        ));
        std::fs::write(&file, format!("{token}\n")).expect("write");
        let from_file = run(
            cli(Some(&identity)),
            &[command, &["--token-file", file.to_str().expect("path")]].concat(),
        )
        .await;
        std::fs::remove_file(&file).expect("remove");
        assert!(from_file.status.success(), "{name}: {}", stderr(&from_file));

        let mut from_env = cli(Some(&identity));
        from_env.env("ERPNET_TOKEN", &token);
        let from_env = run(from_env, command).await;
        assert!(from_env.status.success(), "{name}: {}", stderr(&from_env));
    }
    let missing = run(
        cli(None),
        &["inspect", "--token-file", "/nonexistent/erpnet-auth-token"],
    )
    .await;
    assert_eq!(missing.status.code(), Some(2));
    let empty = run_with_stdin(cli(None), &["inspect", "-"], "  \n").await;
    assert_eq!(empty.status.code(), Some(2));
    assert!(
        stderr(&empty).contains("ERPNET_TOKEN"),
        "{}",
        stderr(&empty)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_claims_reach_the_terminal_escaped_and_absurd_dates_do_not_panic() {
    let identity = MockIdentity::start().await;
    let hostile = identity.mint(
        TokenSpec::access_token()
            .subject("jdoe\u{1b}]0;owned\u{7}\u{1b}[2J")
            .claim("name", serde_json::json!("Ana\u{9b}31m Red"))
            .claim("email", serde_json::json!("admin\u{202e}moc.live@x"))
            .claim("scope", serde_json::json!(["read", "up\u{7f}date"]))
            .header_param("kid", serde_json::json!("k\u{1b}[1A"))
            .claim("exp", serde_json::json!(i64::MIN)),
    );
    let output = run_with_stdin(cli(None), &["inspect", "-"], &hostile).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let raw: Vec<char> = text
        .chars()
        .filter(|c| (c.is_control() && *c != '\n') || ('\u{202a}'..='\u{202e}').contains(c))
        .collect();
    assert!(raw.is_empty(), "unescaped {raw:?} in {text}");
    assert!(
        text.contains(r"signed in as `jdoe\u{1b}]0;owned\u{7}\u{1b}[2J`"),
        "{text}"
    );
    assert!(text.contains(r"Ana\u{9b}31m Red"), "{text}");
    assert!(text.contains(r"admin\u{202e}moc.live@x"), "{text}");
    assert!(text.contains(r"up\u{7f}date"), "{text}");
    assert!(text.contains(r"key id      k\u{1b}[1A"), "{text}");
    assert!(text.contains("(a date out of range)"), "{text}");

    for (exp, shown) in [
        (serde_json::json!(i64::MAX), "(a date out of range)"),
        (serde_json::json!(1e300), "(a date out of range)"),
        (
            serde_json::json!("tomorrow\u{1b}[2J"),
            r#"(not a date: "tomorrow\u001b[2J")"#,
        ),
    ] {
        let token = identity.mint(TokenSpec::access_token().claim("exp", exp.clone()));
        let output = run_with_stdin(cli(None), &["inspect", "-"], &token).await;
        assert!(output.status.success(), "{exp}: {}", stderr(&output));
        assert!(
            stdout(&output).contains(shown),
            "{exp}: {}",
            stdout(&output)
        );
    }

    // verify shows the same claims, escaped, and fails the check it should.
    let output = run_with_stdin(
        cli(Some(&identity)),
        &["verify", "--audience", "DomainAPI", "-"],
        &hostile,
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
    assert!(
        text.contains("FAIL signature"),
        "a kid the key set lacks: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_every_failing_check() {
    let identity = MockIdentity::start().await;
    let valid = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let args = ["verify", "--audience", "DomainAPI", "--scope", "read", "-"];
    let output = run_with_stdin(cli(Some(&identity)), &args, &valid).await;
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert_eq!(stdout(&output).matches("pass ").count(), 11);

    let cases = [
        (
            "signature",
            identity.mint(TokenSpec::access_token().foreign_key()),
        ),
        (
            "algorithm",
            identity.mint(TokenSpec::access_token().alg(Alg::None)),
        ),
        (
            "algorithm",
            identity.mint(TokenSpec::access_token().alg(Alg::Hs256)),
        ),
        ("typ", identity.mint(TokenSpec::id_token())),
        (
            "issuer",
            identity.mint(TokenSpec::access_token().issuer("https://evil.example/id")),
        ),
        (
            "audience",
            identity.mint(TokenSpec::access_token().audiences(["TableAPI"])),
        ),
        (
            "expiry",
            identity.mint(TokenSpec::access_token().expires_in(-600)),
        ),
        (
            "not-before",
            identity.mint(TokenSpec::access_token().not_before_offset(900)),
        ),
        (
            "scopes",
            identity.access_token_for(DEFAULT_CLIENT_ID, &["update"]),
        ),
        ("structure", "not.a.token".to_owned()),
    ];
    for (check, token) in cases {
        let output = run_with_stdin(cli(Some(&identity)), &args, &token).await;
        assert_eq!(
            output.status.code(),
            Some(1),
            "{check}: {}",
            stdout(&output)
        );
        let text = stdout(&output);
        let failing: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
        assert_eq!(failing.len(), 1, "{text}");
        assert!(
            failing[0].starts_with(&format!("FAIL {check}")),
            "{check}: {text}"
        );
    }

    let no_audience = run_with_stdin(cli(Some(&identity)), &["verify", "-"], &valid).await;
    assert_eq!(no_audience.status.code(), Some(2));
    let mut unset = cli(None);
    unset.env_remove("ERPNET_AUTHORITY");
    let no_authority =
        run_with_stdin(unset, &["verify", "--audience", "DomainAPI", "-"], &valid).await;
    assert_eq!(no_authority.status.code(), Some(2));
    let from_token = run_with_stdin(
        cli(None),
        &[
            "verify",
            "--trust-token-issuer",
            "--audience",
            "DomainAPI",
            "-",
        ],
        &valid,
    )
    .await;
    assert!(from_token.status.success(), "{}", stderr(&from_token));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_starts_answers_and_stops_on_ctrl_c() {
    let mut child = cli(None)
        .args(["mock"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("the mock announces itself")
        .expect("read")
        .expect("a line");
    let issuer = first
        .strip_prefix("mock ERP.net Identity at ")
        .expect("issuer line")
        .to_owned();
    let mut rest = Vec::new();
    for _ in 0..6 {
        rest.push(lines.next_line().await.expect("read").expect("line"));
    }
    assert!(rest.iter().any(|l| l.contains(DEFAULT_CLIENT_ID)));
    assert!(rest.iter().any(|l| l.trim_start().starts_with("curl ")));

    // It really is a provider: our own CLI discovers it.
    let discovered = run(cli(None), &["discover", &issuer]).await;
    assert!(discovered.status.success(), "{}", stderr(&discovered));

    let pid = child.id().expect("pid").to_string();
    let signal = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(signal.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("stops")
        .expect("status");
    assert!(status.success(), "{status:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_headless_saves_a_private_refresh_token_that_refresh_rotates() {
    use std::os::unix::fs::PermissionsExt;

    let identity = MockIdentity::start().await;
    let dir = std::env::temp_dir().join(format!("erpnet-auth-cli-login-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = cli(None)
        .env("ERPNET_AUTH_CONFIG_DIR", &dir)
        .args([
            "login",
            "--authority",
            &identity.issuer(),
            "--client-id",
            erpnet_auth_testkit::DEFAULT_PUBLIC_CLIENT_ID,
            "--no-browser",
            "--save",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr_lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), stderr_lines.next_line())
        .await
        .expect("prints the URL")
        .expect("read")
        .expect("a line");
    let url = line
        .strip_prefix("Open this URL to sign in: ")
        .expect("the URL line")
        .to_owned();
    // Play the browser: the mock signs its test user in and redirects to the
    // CLI's loopback listener.
    reqwest::get(url).await.expect("browser");
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("finishes")
        .expect("output");
    assert!(output.status.success());
    let signed_in: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(signed_in["subject"], "jdoe");
    assert_eq!(
        signed_in["access_token"]
            .as_str()
            .expect("token")
            .split('.')
            .count(),
        3
    );
    let file = std::path::PathBuf::from(signed_in["refresh_token_file"].as_str().expect("saved"));
    assert!(file.starts_with(&dir));
    assert_eq!(
        std::fs::metadata(&file).expect("file").permissions().mode() & 0o777,
        0o600
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("JSON");
    let first = saved["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    let refreshed = run(
        {
            let mut command = cli(None);
            command.env("ERPNET_AUTH_CONFIG_DIR", &dir);
            command
        },
        &["refresh", "--json"],
    )
    .await;
    assert!(refreshed.status.success(), "{}", stderr(&refreshed));
    let document: serde_json::Value = serde_json::from_slice(&refreshed.stdout).expect("JSON");
    assert_ne!(document["access_token"], signed_in["access_token"]);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("JSON");
    assert_ne!(
        saved["refresh_token"].as_str().expect("rotated"),
        first,
        "the rotated token replaced the old one"
    );
    assert_eq!(
        std::fs::metadata(&file).expect("file").permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(identity.requests_for_grant("refresh_token"), 1);
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().expect("dir"))
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file is left behind");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// A `login --device` running: its prompt lines (the contract line and the
/// complete URI) and the rest of its standard error, read to the end.
struct DeviceLogin {
    child: tokio::process::Child,
    prompt: String,
    complete: String,
    rest_of_stderr: tokio::task::JoinHandle<String>,
}

/// Starts `login --device` (plus `extra` arguments) and reads its two prompt
/// lines from standard error.
async fn start_device_login(
    identity: &MockIdentity,
    dir: &std::path::Path,
    extra: &[&str],
) -> DeviceLogin {
    let mut child = cli(None)
        .env("ERPNET_AUTH_CONFIG_DIR", dir)
        .args([
            "login",
            "--device",
            "--authority",
            &identity.issuer(),
            "--client-id",
            erpnet_auth_testkit::DEFAULT_PUBLIC_CLIENT_ID,
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut next = async || {
        tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("prints the prompt")
            .expect("read")
            .expect("a line")
    };
    let (prompt, complete) = (next().await, next().await);
    let rest_of_stderr = tokio::spawn(async move {
        let mut rest = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });
    DeviceLogin {
        child,
        prompt,
        complete,
        rest_of_stderr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_device_prints_the_prompt_then_saves_the_session_once_approved() {
    let identity = MockIdentity::start().await;
    let dir = std::env::temp_dir().join(format!("erpnet-auth-cli-device-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let DeviceLogin {
        child,
        prompt,
        complete,
        rest_of_stderr,
    } = start_device_login(&identity, &dir, &["--save", "--json"]).await;

    let [user_code] = identity
        .pending_user_codes()
        .try_into()
        .expect("one pending code");
    assert_eq!(
        prompt,
        format!(
            "To sign in, open {}/device and enter the code {user_code}",
            identity.issuer()
        ),
        "the exact line is a contract"
    );
    assert_eq!(
        complete,
        format!("{}/device?userCode={user_code}", identity.issuer())
    );
    assert!(identity.approve_device(&user_code, erpnet_auth_testkit::DEFAULT_USER));
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("finishes")
        .expect("output");
    let rest = rest_of_stderr.await.expect("stderr");
    assert!(output.status.success(), "{rest}");
    let signed_in: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(signed_in["subject"], erpnet_auth_testkit::DEFAULT_USER);
    let file = std::path::PathBuf::from(signed_in["refresh_token_file"].as_str().expect("saved"));
    assert!(file.starts_with(&dir));

    // Saved like `login`: `refresh` uses it.
    let refreshed = run(
        {
            let mut command = cli(None);
            command.env("ERPNET_AUTH_CONFIG_DIR", &dir);
            command
        },
        &["refresh", "--json"],
    )
    .await;
    assert!(refreshed.status.success(), "{}", stderr(&refreshed));
    assert_eq!(identity.requests_for_grant("refresh_token"), 1);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_device_refused_fails_with_the_reason() {
    let identity = MockIdentity::start().await;
    let dir = std::env::temp_dir().join(format!(
        "erpnet-auth-cli-device-denied-{}",
        std::process::id()
    ));
    let DeviceLogin {
        child,
        rest_of_stderr,
        ..
    } = start_device_login(&identity, &dir, &[]).await;
    let [user_code] = identity
        .pending_user_codes()
        .try_into()
        .expect("one pending code");
    assert!(identity.deny_device(&user_code));
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("finishes")
        .expect("output");
    let rest = rest_of_stderr.await.expect("stderr");
    assert_eq!(output.status.code(), Some(1), "{rest}");
    assert!(stdout(&output).is_empty(), "no token");
    assert!(rest.contains("refused"), "{rest}");
    let _ = std::fs::remove_dir_all(&dir);
}
