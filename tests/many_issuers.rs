//! One API, several issuers: a `JwtValidator` built from `Issuers` against
//! several mock ERP.net Identities on loopback, each its own issuer with its
//! own keys, directly and through `ValidateBearerLayer`.

use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use erpnet_auth::tower::ValidateBearerLayer;
use erpnet_auth::{Authority, Issuers, JwtValidator, ValidationError, VerifiedToken};
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, Endpoint, Failure, MockIdentity, TokenSpec};
use http::{Request, StatusCode};
use tower::ServiceExt;

fn authority(identity: &MockIdentity) -> Authority {
    Authority::parse(&identity.issuer()).expect("authority")
}

fn validator(issuers: Issuers) -> JwtValidator {
    JwtValidator::builder_for_issuers(issuers)
        .audience("DomainAPI")
        .build()
        .expect("validator")
}

fn token(identity: &MockIdentity) -> String {
    identity.access_token_for(DEFAULT_CLIENT_ID, &["read"])
}

/// Requests to the discovery and key-set endpoints of `identity`.
fn fetches(identity: &MockIdentity) -> (usize, usize) {
    (
        identity.requests(Endpoint::Discovery),
        identity.requests(Endpoint::Jwks),
    )
}

#[tokio::test]
async fn each_listed_issuer_is_set_up_on_its_first_token_and_others_are_refused_offline() {
    let (a, b, outsider) = (
        MockIdentity::start().await,
        MockIdentity::start().await,
        MockIdentity::start().await,
    );
    let validator = validator(Issuers::list([authority(&a), authority(&b)]));
    assert_eq!(
        validator.accepted_issuers(),
        Some({
            let mut listed = vec![a.issuer(), b.issuer()];
            listed.sort();
            listed
        })
    );
    assert!(validator.held_issuers().is_empty(), "nothing fetched yet");
    assert_eq!(fetches(&a), (0, 0));

    let from_a = validator.validate(&token(&a)).await.expect("a's token");
    assert_eq!(from_a.issuer(), a.issuer(), "the token says who issued it");
    assert_eq!(fetches(&a), (1, 1));
    assert_eq!(fetches(&b), (0, 0), "b is fetched only when needed");

    let from_b = validator.validate(&token(&b)).await.expect("b's token");
    assert_eq!(from_b.issuer(), b.issuer());
    assert_eq!(fetches(&b), (1, 1));

    // Seen again, and new tokens of held issuers: no more fetches, no waiting.
    validator
        .validate_now(&token(&a))
        .expect("held: validated at once");
    validator.validate(&token(&b)).await.expect("valid");
    assert_eq!((fetches(&a), fetches(&b)), ((1, 1), (1, 1)));

    // An issuer outside the list: refused before any network call.
    let refused = validator.validate(&token(&outsider)).await;
    assert!(
        matches!(refused, Err(ValidationError::WrongIssuer)),
        "{refused:?}"
    );
    assert!(matches!(
        validator.validate_now(&token(&outsider)),
        Err(ValidationError::WrongIssuer)
    ));
    assert_eq!(fetches(&outsider), (0, 0));
    let mut held = vec![a.issuer(), b.issuer()];
    held.sort();
    assert_eq!(validator.held_issuers(), held);
    assert!(validator.jwks().is_none(), "no single key set");
    assert!(validator.jwks_of(&a.issuer()).is_some());
    assert!(validator.issuer().is_none());
}

#[tokio::test]
async fn a_token_naming_one_issuer_must_be_signed_by_that_issuer() {
    let (a, b) = (MockIdentity::start().await, MockIdentity::start().await);
    let validator = validator(Issuers::list([authority(&a), authority(&b)]));
    validator.validate(&token(&a)).await.expect("a is held");

    // b signs a token that claims to come from a: a's keys cannot verify it.
    let forged = b.mint(TokenSpec::access_token().issuer(a.issuer()));
    let refused = validator.validate(&forged).await;
    assert!(
        matches!(refused, Err(ValidationError::UnknownKey)),
        "{refused:?}"
    );
    // Same kid as a's key (a forger can copy it), signed by b: a bad signature.
    let copied_kid = b.mint(
        TokenSpec::access_token()
            .issuer(a.issuer())
            .kid(Some(&a.signing_kid())),
    );
    let refused = validator.validate(&copied_kid).await;
    assert!(
        matches!(refused, Err(ValidationError::BadSignature)),
        "{refused:?}"
    );
    assert_eq!(fetches(&b), (0, 0), "b's keys were never needed");

    // Every single-issuer rule holds for each issuer: audience, expiry.
    let wrong_audience = a.mint(TokenSpec::access_token().audiences(["OLAP"]));
    assert!(matches!(
        validator.validate(&wrong_audience).await,
        Err(ValidationError::WrongAudience)
    ));
    let expired = b.mint(TokenSpec::access_token().expires_in(-3600));
    assert!(matches!(
        validator.validate(&expired).await,
        Err(ValidationError::Expired)
    ));
    let no_issuer = a.mint(TokenSpec::access_token().remove_claim("iss"));
    assert!(matches!(
        validator.validate(&no_issuer).await,
        Err(ValidationError::MissingClaim("iss"))
    ));
}

#[tokio::test]
async fn a_rule_admits_issuers_it_accepts_and_the_set_is_bounded() {
    let [a, b, c] = [
        MockIdentity::start().await,
        MockIdentity::start().await,
        MockIdentity::start().await,
    ];
    let allowed = [a.issuer(), b.issuer(), c.issuer()];
    let validator =
        validator(Issuers::rule(move |issuer| allowed.iter().any(|a| a == issuer)).max_held(2));
    assert_eq!(
        validator.accepted_issuers(),
        None,
        "a rule cannot be listed"
    );

    validator.validate(&token(&a)).await.expect("a");
    // b is set up by a token that does not verify (a's kid, b's issuer, a's
    // key): b is held, but has verified nothing.
    let unproven = a.mint(
        TokenSpec::access_token()
            .issuer(b.issuer())
            .kid(Some("not-a-kid-of-b")),
    );
    assert!(validator.validate(&unproven).await.is_err());
    assert_eq!(fetches(&b).0, 1);
    let mut held = vec![a.issuer(), b.issuer()];
    held.sort();
    assert_eq!(validator.held_issuers(), held);

    // c needs room: b, which never verified a token, goes before a.
    validator.validate(&token(&c)).await.expect("c");
    let mut held = vec![a.issuer(), c.issuer()];
    held.sort();
    assert_eq!(validator.held_issuers(), held);
    assert!(validator.jwks_of(&b.issuer()).is_none(), "b's keys dropped");
    validator.validate_now(&token(&a)).expect("a is still held");

    // b comes back on its next token: set up again, evicting the least
    // recently used of a and c.
    let from_b = validator.validate(&token(&b)).await.expect("b again");
    assert_eq!(from_b.issuer(), b.issuer());
    assert_eq!(fetches(&b).0, 2, "set up again");
    assert_eq!(validator.held_issuers().len(), 2);
}

#[tokio::test]
async fn a_remembered_token_of_an_evicted_issuer_is_checked_again() {
    let [a, b] = [MockIdentity::start().await, MockIdentity::start().await];
    let validator = validator(Issuers::list([authority(&a), authority(&b)]).max_held(1));
    let token_a = token(&a);
    validator.validate(&token_a).await.expect("a");
    assert_eq!(fetches(&a), (1, 1));
    validator.validate(&token(&b)).await.expect("b evicts a");
    // a's verified token is no longer served from memory: a is set up again.
    assert!(matches!(
        validator.validate_now(&token_a),
        Err(ValidationError::UnknownKey)
    ));
    validator.validate(&token_a).await.expect("a again");
    assert_eq!(fetches(&a), (2, 2));
}

#[tokio::test]
async fn erpnet_instances_admits_only_listed_instance_names() {
    let issuers = Issuers::erpnet_instances(["Customer-A", "customer-b"]).expect("names");
    assert!(issuers.allows("https://customer-a.my.erp.net/id"));
    assert!(issuers.allows("https://customer-b.my.erp.net/id"));
    for refused in [
        "https://customer-c.my.erp.net/id",
        "https://customer-a.my.erp.net/id/",
        "https://customer-a.my.erp.net:8443/id",
        "http://customer-a.my.erp.net/id",
        "https://customer-a.my.erp.net.evil.example/id",
        "https://evil.example/customer-a.my.erp.net/id",
        "https://x.customer-a.my.erp.net/id",
        "https://CUSTOMER-A.my.erp.net/id",
    ] {
        assert!(!issuers.allows(refused), "{refused}");
    }
    assert!(Issuers::erpnet_instances(["not a name"]).is_err());
    assert!(Issuers::erpnet_instances(Vec::<String>::new()).is_err());
    assert!(Issuers::parse_list(" , ").is_err());
    let parsed = Issuers::parse_list("customer-a,customer-b  https://login.example.com/realm")
        .expect("list");
    assert_eq!(
        parsed.listed(),
        Some(vec![
            "https://customer-a.my.erp.net/id",
            "https://customer-b.my.erp.net/id",
            "https://login.example.com/realm",
        ])
    );
    // A rule never admits a plain-http issuer off loopback.
    assert!(!Issuers::rule(|_| true).allows("http://example.com/id"));

    // Refused offline: nothing listens at these hosts, and none is asked.
    let validator = validator(issuers);
    let stranger = MockIdentity::start().await;
    assert!(matches!(
        validator.validate(&token(&stranger)).await,
        Err(ValidationError::WrongIssuer)
    ));
    assert_eq!(fetches(&stranger), (0, 0));
}

#[tokio::test]
async fn setting_up_an_issuer_survives_its_first_caller_being_dropped() {
    let a = MockIdentity::start().await;
    let validator = validator(Issuers::list([authority(&a)]));
    a.fail_next(
        Endpoint::Jwks,
        1,
        Failure::Delay(Duration::from_millis(400)),
    );
    let token = token(&a);
    // The first caller gives up while the key set is on its way.
    let gave_up =
        tokio::time::timeout(Duration::from_millis(150), validator.validate(&token)).await;
    assert!(gave_up.is_err(), "the key set is still on its way");
    assert_eq!(fetches(&a), (1, 1), "the fetch had started");
    // The next caller joins that fetch rather than starting another one.
    validator.validate(&token).await.expect("valid");
    assert_eq!(fetches(&a), (1, 1));
}

#[tokio::test]
async fn the_layer_takes_a_validator_of_several_issuers() {
    let [a, b, outsider] = [
        MockIdentity::start().await,
        MockIdentity::start().await,
        MockIdentity::start().await,
    ];
    let app =
        Router::new()
            .route(
                "/whoami",
                get(|Extension(token): Extension<VerifiedToken>| async move {
                    token.issuer().to_owned()
                }),
            )
            .layer(ValidateBearerLayer::new(validator(Issuers::list([
                authority(&a),
                authority(&b),
            ]))));
    let call = |token: String| {
        let request = Request::get("/whoami")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        app.clone().oneshot(request)
    };
    for identity in [&a, &b] {
        let response = call(token(identity)).await.expect("answer");
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        assert_eq!(body, identity.issuer().as_bytes());
    }
    let refused = call(token(&outsider)).await.expect("answer");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .expect("ascii");
    assert!(
        challenge.contains(r#"error="invalid_token""#) && challenge.contains("wrong issuer"),
        "{challenge}"
    );
    assert_eq!(fetches(&outsider), (0, 0));
}
