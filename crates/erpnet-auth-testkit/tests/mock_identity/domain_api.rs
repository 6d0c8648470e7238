//! The mock Domain API over HTTP: OData answers, ERP.net's 401 and 403, and its limits.

use std::time::Duration;

use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_ENTITY, ENTERPRISE_COMPANY_ID, Failure, MockDomainApi, MockIdentity,
    TokenSpec,
};
use serde_json::{Value, json};

use crate::http::{RawResponse, path_of, send};

async fn get(api: &MockDomainApi, path_and_query: &str, token: &str) -> RawResponse {
    let url = format!("{}{path_and_query}", api.odata_root());
    let bearer = format!("Bearer {token}");
    send(
        api.addr(),
        "GET",
        path_of(&url),
        &[("Authorization", &bearer)],
        b"",
    )
    .await
}

/// The ERP.net error body's `error` object, checked for its four fields.
fn error_of(response: &RawResponse) -> Value {
    let body = response.json();
    let error = body["error"].clone();
    for field in ["code", "message", "info", "type"] {
        assert!(!error[field].is_null(), "{field} in {body}");
    }
    assert_eq!(error["code"], response.status);
    error
}

#[tokio::test]
async fn answers_odata_json_with_top_skip_select_and_filter() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::start(&identity).await;
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);

    let all = get(&api, DEFAULT_ENTITY, &token).await;
    assert_eq!(all.status, 200, "{}", all.text());
    assert!(
        all.header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
    );
    let body = all.json();
    assert_eq!(
        body["@odata.context"],
        format!("{}$metadata#{DEFAULT_ENTITY}", api.odata_root())
    );
    let parties = body["value"].as_array().expect("value");
    assert_eq!(parties.len(), 8);
    assert_eq!(parties[0]["Id"], ENTERPRISE_COMPANY_ID);
    assert_eq!(parties[0]["PartyName"]["EN"], "Mock Enterprise Ltd");

    let page = get(
        &api,
        &format!("{DEFAULT_ENTITY}?$top=2&$skip=3&$select=PartyCode"),
        &token,
    )
    .await;
    assert_eq!(
        page.json()["value"],
        json!([{"PartyCode": "1001"}, {"PartyCode": "1002"}])
    );
    let filtered = get(
        &api,
        "General_Contacts_Persons?$filter=Gender%20eq%20'F'%20and%20IsActive%20eq%20true&$select=PartyCode",
        &token,
    )
    .await;
    assert_eq!(
        filtered.json()["value"],
        json!([{"PartyCode": "1002"}, {"PartyCode": "1004"}])
    );

    let one = get(
        &api,
        &format!("{DEFAULT_ENTITY}({ENTERPRISE_COMPANY_ID})"),
        &token,
    )
    .await;
    assert_eq!(one.json()["PartyCode"], "0001");
    let missing = get(&api, "No_Such_Entities", &token).await;
    assert_eq!(missing.status, 404);
    error_of(&missing);
    let bad = get(&api, &format!("{DEFAULT_ENTITY}?$top=x"), &token).await;
    assert_eq!(bad.status, 400);
    let root = get(&api, "", &token).await;
    assert!(root.text().contains(DEFAULT_ENTITY));
    let stats = api.stats();
    assert_eq!((stats.requests, stats.served, stats.sessions), (7, 7, 1));
}

#[tokio::test]
async fn refuses_as_erpnet_does_with_its_error_body() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::start(&identity).await;
    let url = api.entity_url(DEFAULT_ENTITY);

    let anonymous = send(api.addr(), "GET", path_of(&url), &[], b"").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    assert_eq!(error_of(&anonymous)["type"], "Unauthorized");

    let expired = identity.mint(TokenSpec::access_token().expires_in(-60));
    let response = get(&api, DEFAULT_ENTITY, &expired).await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert!(
        error_of(&response)["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired"))
    );

    for not_ours in [
        identity.mint(TokenSpec::id_token()),
        identity.mint(TokenSpec::access_token().foreign_key()),
        "not-a-token".to_owned(),
    ] {
        assert_eq!(get(&api, DEFAULT_ENTITY, &not_ours).await.status, 401);
    }

    let elsewhere = identity.mint(TokenSpec::access_token().issuer("https://other.my.erp.net/id"));
    let response = get(&api, DEFAULT_ENTITY, &elsewhere).await;
    assert_eq!(response.status, 403);
    assert_eq!(error_of(&response)["type"], "Forbidden");
    let other_api = identity.mint(TokenSpec::access_token().audiences(["TableAPI"]));
    assert_eq!(get(&api, DEFAULT_ENTITY, &other_api).await.status, 403);

    let read_only = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let bearer = format!("Bearer {read_only}");
    let post = send(
        api.addr(),
        "POST",
        path_of(&url),
        &[("Authorization", &bearer)],
        b"{}",
    )
    .await;
    assert_eq!(post.status, 403);
    assert!(
        error_of(&post)["message"]
            .as_str()
            .is_some_and(|m| m.contains("update"))
    );

    let stats = api.stats();
    assert_eq!(
        (stats.unauthorized, stats.forbidden, stats.served),
        (5, 3, 0)
    );
}

#[tokio::test]
async fn reference_tokens_in_x_api_key_and_changes_with_update() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::start(&identity).await;
    let url = api.entity_url("General_Contacts_Companies");
    let sat = identity.mint_reference_token(
        DEFAULT_CLIENT_ID,
        &["read", "update"],
        Duration::from_secs(600),
    );
    let key = [
        ("X-Api-Key", sat.as_str()),
        ("Content-Type", "application/json"),
    ];

    let created = send(
        api.addr(),
        "POST",
        path_of(&url),
        &key,
        br#"{"PartyCode":"0009"}"#,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["Id"].as_str().expect("an Id").to_owned();
    assert!(
        created
            .header("location")
            .is_some_and(|l| l.ends_with(&format!("({id})")))
    );
    let entity = format!("{url}({id})");
    let patched = send(
        api.addr(),
        "PATCH",
        path_of(&entity),
        &key,
        br#"{"IsActive":false}"#,
    )
    .await;
    assert_eq!(patched.status, 204);
    let records = api.records("General_Contacts_Companies").expect("the set");
    assert!(
        records
            .iter()
            .any(|r| r["Id"] == id.as_str() && r["IsActive"] == false)
    );
    let deleted = send(api.addr(), "DELETE", path_of(&entity), &key, b"").await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        api.records("General_Contacts_Companies").map(|r| r.len()),
        Some(3)
    );

    identity.mint(TokenSpec::access_token()); // the identity goes on working
    let both = [("X-Api-Key", sat.as_str()), ("Authorization", "Bearer x")];
    assert_eq!(
        send(api.addr(), "GET", path_of(&url), &both, b"")
            .await
            .status,
        401
    );
    let unknown = [("X-Api-Key", "enrt_00")];
    assert_eq!(
        send(api.addr(), "GET", path_of(&url), &unknown, b"")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn one_request_per_session_runs_five_wait_the_rest_get_429() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::builder(&identity)
        .service_time(Duration::from_millis(150))
        .retry_after(Duration::from_secs(2))
        .start()
        .await;
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (api, token) = (api.clone(), token.clone());
            tokio::spawn(async move { get(&api, DEFAULT_ENTITY, &token).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        let response = call.await.expect("task");
        if response.status == 429 {
            assert_eq!(response.header("retry-after"), Some("2"));
            assert_eq!(error_of(&response)["type"], "TooManyRequests");
        }
        statuses.push(response.status);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 429, 429, 429, 429]);
    let stats = api.stats();
    assert_eq!(stats.served, 6);
    assert_eq!(stats.queued, 5);
    assert_eq!(stats.refused_session_concurrency, 4);
    assert_eq!(stats.max_session_in_flight, 1);
}

#[tokio::test]
async fn two_requests_per_site_and_a_minute_budget_per_session() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::builder(&identity)
        .service_time(Duration::from_millis(150))
        .session_requests_per_minute(2)
        .start()
        .await;
    // Three sessions at once: the site runs two, the third is refused.
    let calls: Vec<_> = ["read", "read update", "update read"]
        .into_iter()
        .map(|scopes| {
            let scopes: Vec<&str> = scopes.split(' ').collect();
            let token = identity.access_token_for(DEFAULT_CLIENT_ID, &scopes);
            let api = api.clone();
            tokio::spawn(async move { get(&api, DEFAULT_ENTITY, &token).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.expect("task"));
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 429]);
    let stats = api.stats();
    assert_eq!(
        (stats.refused_site_concurrency, stats.max_site_in_flight),
        (1, 2)
    );
    assert_eq!(stats.sessions, 3);

    api.set_service_time(Duration::ZERO);
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    assert_eq!(get(&api, DEFAULT_ENTITY, &token).await.status, 200);
    assert_eq!(get(&api, DEFAULT_ENTITY, &token).await.status, 200);
    let third = get(&api, DEFAULT_ENTITY, &token).await;
    assert_eq!(third.status, 429);
    assert_eq!(
        third.header("retry-after"),
        None,
        "ERP.net sends no Retry-After"
    );
    assert_eq!(api.stats().refused_session_rate, 1);
    assert_eq!(api.open_sessions(), 4);
}

#[tokio::test]
async fn failures_come_first_in_order() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::start(&identity).await;
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    api.fail_next(
        1,
        Failure::RetryAfter {
            status: 429,
            retry_after: "7".into(),
        },
    );
    api.fail_next(1, Failure::Status(503));
    let first = get(&api, DEFAULT_ENTITY, "no token needed for a failure").await;
    assert_eq!(
        (first.status, first.header("retry-after")),
        (429, Some("7"))
    );
    assert_eq!(get(&api, DEFAULT_ENTITY, &token).await.status, 503);
    assert_eq!(get(&api, DEFAULT_ENTITY, &token).await.status, 200);
    let stats = api.stats();
    assert_eq!((stats.injected, stats.served), (2, 1));
    api.reset_stats();
    assert_eq!(api.stats().requests, 0);
    assert!(format!("{api:?}").contains("odata_root"));
}
