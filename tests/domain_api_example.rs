//! `examples/domain_api.rs` end to end: the built example binary with its embedded mocks,
//! and against a mock identity and Domain API named by the environment, as a real instance
//! would be.

use std::process::{Command, Output};
use std::time::Duration;

use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ENTERPRISE_COMPANY_ID, MockDomainApi, MockIdentity,
};

mod support;

/// Runs the example with exactly these `ERPNET_*` variables and arguments.
async fn run_example(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(support::example_binary("domain_api"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ERPNET_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied()).args(args);
    // The mocks run on this runtime while the example runs.
    tokio::task::spawn_blocking(move || command.output().expect("example runs"))
        .await
        .expect("join")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `(requests, ok, throttled, retried)` of the last line, which must have the exact form
/// `requests: M, ok: O, throttled (429): T, retried: R, elapsed: S s`.
fn last_line(output: &Output) -> (usize, usize, usize, usize) {
    let stdout = text(&output.stdout);
    let line = stdout.lines().last().expect("a last line");
    let mut numbers = Vec::new();
    let mut rest = line;
    for label in [
        "requests: ",
        ", ok: ",
        ", throttled (429): ",
        ", retried: ",
        ", elapsed: ",
    ] {
        let after = rest
            .strip_prefix(label)
            .unwrap_or_else(|| panic!("`{label}` in `{line}`"));
        let end = after
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(after.len());
        numbers.push(after[..end].to_owned());
        rest = &after[end..];
    }
    assert_eq!(rest, " s", "{line}");
    assert!(numbers[4].parse::<f64>().is_ok(), "{line}");
    let n = |i: usize| numbers[i].parse::<usize>().expect("a count");
    (n(0), n(1), n(2), n(3))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_mock_paced_and_unpaced() {
    let paced = run_example(&[], &["--concurrency", "8", "--requests", "24"]).await;
    assert!(paced.status.success(), "{}", text(&paced.stderr));
    let stdout = text(&paced.stdout);
    assert!(
        stdout.contains(&format!(
            "first record of General_Contacts_Parties: {ENTERPRISE_COMPANY_ID}"
        )),
        "{stdout}"
    );
    assert_eq!(last_line(&paced), (24, 24, 0, 0), "{stdout}");

    let unpaced = run_example(
        &[],
        &["--concurrency", "16", "--requests", "48", "--no-pacing"],
    )
    .await;
    assert!(unpaced.status.success(), "{}", text(&unpaced.stderr));
    let (requests, ok, throttled, retried) = last_line(&unpaced);
    assert_eq!((requests, ok + throttled, retried), (48, 48, 0));
    assert!(
        throttled > 0,
        "without pacing the mock refuses some: {}",
        text(&unpaced.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_instance_through_the_environment() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::builder(&identity)
        .service_time(Duration::from_millis(5))
        .start()
        .await;
    let (issuer, root) = (identity.issuer(), api.odata_root());
    let env = [
        ("ERPNET_AUTHORITY", issuer.as_str()),
        ("ERPNET_CLIENT_ID", DEFAULT_CLIENT_ID),
        ("ERPNET_CLIENT_SECRET", DEFAULT_CLIENT_SECRET),
        ("ERPNET_SCOPES", "read"),
        ("ERPNET_API_URL", root.as_str()),
        ("ERPNET_ENTITY", "General_Contacts_Persons"),
    ];
    let output = run_example(&env, &["--requests", "12", "--concurrency", "12"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(!stdout.contains("embedded mock"), "{stdout}");
    assert!(
        stdout.contains(
            "first record of General_Contacts_Persons: 6f8f0c1e-2b7a-4c3d-9e51-0a1b2c3d4e11"
        ),
        "{stdout}"
    );
    assert_eq!(last_line(&output), (12, 12, 0, 0));
    let seen = api.stats();
    assert_eq!(
        (seen.served, seen.refused(), seen.max_session_in_flight),
        (13, 0, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_mistakes_exit_two_with_one_line() {
    for (env, args, says) in [
        (
            vec![],
            vec!["--requests", "0"],
            "--requests needs a positive number",
        ),
        (vec![], vec!["--fast"], "unknown argument `--fast`"),
        (
            vec![("ERPNET_AUTHORITY", "myinstance")],
            vec![],
            "is not set: set ERPNET_AUTHORITY",
        ),
    ] {
        let output = run_example(&env, &args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_first_request_exits_one_with_erpnets_message() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::start(&identity).await;
    let (issuer, root) = (identity.issuer(), api.odata_root());
    let env = [
        ("ERPNET_AUTHORITY", issuer.as_str()),
        ("ERPNET_CLIENT_ID", DEFAULT_CLIENT_ID),
        ("ERPNET_CLIENT_SECRET", DEFAULT_CLIENT_SECRET),
        // A token without `read`: ERP.net answers 403.
        ("ERPNET_SCOPES", "update"),
        ("ERPNET_API_URL", root.as_str()),
    ];
    let output = run_example(&env, &[]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("HTTP 403") && stderr.contains("`read`"),
        "{stderr}"
    );
}
