//! `examples/native_login.rs` end to end: with no configuration it signs the
//! mock identity's test user in headless, refreshes once and says so.

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_login_signs_in_and_refreshes_against_the_mock() {
    let mut command = tokio::process::Command::new(support::example_binary("native_login"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ERPNET_") {
            command.env_remove(name);
        }
    }
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        command.arg("--no-browser").kill_on_drop(true).output(),
    )
    .await
    .expect("finishes")
    .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("Open this URL to sign in: http://127.0.0.1:"));
    assert!(lines[0].contains("code_challenge_method=S256"));
    assert_eq!(lines[1], "signed in as jdoe");
    let seconds: u64 = lines[2]
        .strip_prefix("refreshed: access token valid for ")
        .and_then(|rest| rest.strip_suffix(" s"))
        .and_then(|n| n.parse().ok())
        .expect("refreshed line");
    assert!(seconds > 3000);
}
