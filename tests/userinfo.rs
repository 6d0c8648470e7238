//! The userinfo endpoint against the mock ERP.net Identity: ERP.net's user
//! claims typed (its string booleans included), the subject checked against
//! the ID token's. Users sign in through the device grant under a paused
//! clock, which lets a test choose who signs in.

use erpnet_auth::{
    AuthorizationCodeFlow, ClientAuthMethod, ClientConfig, ClientCredentials, Discovery, Error,
    IdToken, SignIn, SignInError, TokenSource, UserType,
};
use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_USER, Endpoint,
    MockIdentity, User,
};

async fn flow(identity: &MockIdentity) -> AuthorizationCodeFlow {
    let discovery = Discovery::fetch(&identity.issuer())
        .await
        .expect("discovery");
    let client = ClientConfig::builder(discovery, DEFAULT_PUBLIC_CLIENT_ID)
        .auth_method(ClientAuthMethod::None)
        .build()
        .expect("public client");
    AuthorizationCodeFlow::builder(client)
        .scopes(["profile", "read"])
        .build()
        .expect("flow")
}

/// `login` signs in on another device.
async fn sign_in_as(identity: &MockIdentity, flow: &AuthorizationCodeFlow, login: &str) -> SignIn {
    let authorization = flow
        .start_device_authorization()
        .await
        .expect("device authorization");
    assert!(identity.approve_device(authorization.user_code(), login));
    flow.complete_device_authorization(&authorization)
        .await
        .expect("signed in")
}

fn id_token(sign_in: &SignIn) -> &IdToken {
    sign_in.id_token.as_ref().expect("ID token")
}

#[tokio::test(start_paused = true)]
async fn erpnet_user_claims_are_typed_string_booleans_included() {
    let identity = MockIdentity::builder()
        .user(User::default_user())
        .user(
            User::new("asmith")
                .name("Ann Smith")
                .is_admin(true)
                .email_verified(false)
                .user_type(erpnet_auth_testkit::UserType::ExternalCommunityUser),
        )
        .start()
        .await;
    let flow = flow(&identity).await;
    let sign_in = sign_in_as(&identity, &flow, "asmith").await;
    let userinfo = flow
        .userinfo(&sign_in.access_token, id_token(&sign_in))
        .await
        .expect("userinfo")
        .expect("the mock has a userinfo endpoint");
    assert_eq!(userinfo.subject(), "asmith");
    // As ERP.net sends them: strings.
    assert_eq!(userinfo.claim("is_admin"), Some(&serde_json::json!("true")));
    assert_eq!(
        userinfo.claim("email_verified"),
        Some(&serde_json::json!("false"))
    );
    let erpnet = userinfo.erpnet();
    assert_eq!(erpnet.is_admin, Some(true));
    assert_eq!(erpnet.email_verified, Some(false));
    assert_eq!(erpnet.name.as_deref(), Some("Ann Smith"));
    assert_eq!(erpnet.email.as_deref(), Some("asmith@example.com"));
    assert_eq!(erpnet.user_type, Some(UserType::ExternalCommunityUser));
    assert!(erpnet.id.is_some_and(|id| id.len() == 36), "a GUID");
    assert!(erpnet.db.is_some() && erpnet.locale.is_some());
    // Personal data stays out of Debug output.
    let shown = format!("{userinfo:?}");
    assert!(
        shown.contains("asmith") && shown.contains("email"),
        "{shown}"
    );
    assert!(!shown.contains("Ann Smith"), "{shown}");
    assert_eq!(identity.requests(Endpoint::UserInfo), 1);
}

#[tokio::test(start_paused = true)]
async fn an_answer_about_another_user_than_the_id_tokens_is_refused() {
    let identity = MockIdentity::builder()
        .user(User::default_user())
        .user(User::new("asmith"))
        .start()
        .await;
    let flow = flow(&identity).await;
    let john = sign_in_as(&identity, &flow, DEFAULT_USER).await;
    let ann = sign_in_as(&identity, &flow, "asmith").await;
    // Ann's access token presented as John's sign-in.
    let error = flow
        .userinfo(&ann.access_token, id_token(&john))
        .await
        .expect_err("another user's claims");
    assert!(
        matches!(error, SignInError::UserInfoSubject { .. }),
        "{error}"
    );
    assert!(!error.is_transient());
    let own = flow
        .userinfo(&john.access_token, id_token(&john))
        .await
        .expect("userinfo")
        .expect("endpoint");
    assert_eq!(own.subject(), DEFAULT_USER);
    assert_eq!(own.erpnet().name.as_deref(), Some("John Doe"));
}

#[tokio::test(start_paused = true)]
async fn a_service_token_speaks_for_no_user() {
    let identity = MockIdentity::start().await;
    let flow = flow(&identity).await;
    let john = sign_in_as(&identity, &flow, DEFAULT_USER).await;
    let service = ClientCredentials::builder(
        ClientConfig::builder(
            erpnet_auth::Authority::parse(&identity.issuer()).expect("issuer"),
            DEFAULT_CLIENT_ID,
        )
        .client_secret(DEFAULT_CLIENT_SECRET)
        .build()
        .expect("client"),
    )
    .scopes(["read"])
    .build()
    .expect("grant")
    .token()
    .await
    .expect("service token");
    let error = flow
        .userinfo(&service, id_token(&john))
        .await
        .expect_err("no user");
    assert!(
        matches!(error, SignInError::Token(Error::Status { status: 403, .. })),
        "{error}"
    );
}
