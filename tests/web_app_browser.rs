//! `examples/web_app.rs` in a real browser (headless Chromium): with no configuration it
//! runs against the embedded mock ERP.net Identity, whose sign-in page the browser fills in;
//! then it sees `Signed in as`, loads `/data` (records read from the mock Domain API as the
//! user), signs out, and is signed out, at the app and at the provider.

mod support;

use erpnet_auth_testkit::{DEFAULT_PASSWORD, DEFAULT_USER};
use support::webdriver::{Chromium, start_web_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_reads_data_and_signs_out() {
    let Some(browser) = Chromium::start().await else {
        return;
    };
    let (_app, address) = start_web_app(&[]).await;

    browser.goto(&address).await;
    browser.wait_for_text("You are not signed in").await;
    browser.click("#sign-in").await;
    // The mock identity's sign-in page.
    browser.wait_for_text("Sign in").await;
    browser.type_into("#username", DEFAULT_USER).await;
    browser.type_into("#password", DEFAULT_PASSWORD).await;
    browser.click("button#sign-in").await;
    browser.wait_for_text("Signed in as John Doe").await;
    assert!(browser.url().await.starts_with(&address));

    browser.click("#data").await;
    let data = browser.wait_for_text("read as jdoe").await;
    assert!(data.contains("Mock Enterprise Ltd"), "{data}");

    browser.goto(&address).await;
    browser.click("#sign-out").await;
    browser.wait_for_text("You are not signed in").await;
    assert!(browser.url().await.starts_with(&address));

    // Signed out at the provider too: the next sign-in asks for the password again.
    browser.goto(&format!("{address}/data")).await;
    browser.wait_for_text("Password").await;
    assert!(!browser.url().await.starts_with(&address));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_names_what_is_missing_from_its_configuration() {
    let mut command = tokio::process::Command::new(support::example_binary("web_app"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ERPNET_") {
            command.env_remove(name);
        }
    }
    let output = command
        .env("BIND", "127.0.0.1:0")
        .env("ERPNET_AUTHORITY", "http://127.0.0.1:9/id")
        .env("ERPNET_CLIENT_ID", "my.web.app")
        .kill_on_drop(true)
        .output()
        .await
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ERPNET_CLIENT_SECRET is not set"),
        "{stderr}"
    );

    let output = tokio::process::Command::new(support::example_binary("web_app"))
        .env("BIND", "not an address")
        .env_remove("ERPNET_AUTHORITY")
        .kill_on_drop(true)
        .output()
        .await
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("BIND"));
}
