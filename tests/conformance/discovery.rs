//! Discovery of the peer: endpoints, capabilities and the issuer check.

use erpnet_auth::{Authority, Discovery, Error, HttpClient};

use crate::peer::peer_or_skip;

#[tokio::test]
async fn the_peers_document_is_read_and_its_issuer_checked() {
    let peer = peer_or_skip!();
    let discovery = Discovery::fetch(peer.issuer()).await.expect("discovery");
    let issuer = peer.issuer();
    assert_eq!(discovery.issuer(), issuer);
    assert_eq!(
        discovery.token_endpoint().as_str(),
        format!("{issuer}/token")
    );
    assert_eq!(
        discovery.authorization_endpoint().as_str(),
        format!("{issuer}/auth")
    );
    assert_eq!(discovery.jwks_uri().as_str(), format!("{issuer}/jwks"));
    assert_eq!(
        discovery.introspection_endpoint().map(|u| u.as_str()),
        Some(format!("{issuer}/token/introspection").as_str())
    );
    assert_eq!(
        discovery.revocation_endpoint().map(|u| u.as_str()),
        Some(format!("{issuer}/token/revocation").as_str())
    );
    assert!(discovery.end_session_endpoint().is_some());
    let grants = discovery.grant_types_supported();
    for grant in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(grants.contains(&grant.to_owned()), "{grant} in {grants:?}");
    }
    // API scopes belong to the resources: the peer lists only OpenID ones.
    assert!(discovery.scopes_supported().contains(&"openid".to_owned()));
    let extra = discovery.metadata();
    assert_eq!(
        extra.code_challenge_methods_supported.as_deref(),
        Some(&["S256".to_owned()][..])
    );
    assert_eq!(
        extra.authorization_response_iss_parameter_supported,
        Some(true)
    );

    // A trailing slash on the configured issuer is not a different issuer.
    let slashed = Authority::parse(&format!("{issuer}/")).expect("authority");
    assert!(
        Discovery::fetch_with(&slashed, &HttpClient::new().expect("http client"))
            .await
            .is_ok()
    );

    // The same server under another name: its document names 127.0.0.1, so
    // `localhost` must be refused.
    let port = issuer.rsplit(':').next().expect("port");
    let other = Authority::parse(&format!("http://localhost:{port}")).expect("authority");
    let error = Discovery::fetch_with(&other, &HttpClient::new().expect("http client"))
        .await
        .expect_err("issuer mismatch");
    assert!(matches!(error, Error::IssuerMismatch { .. }), "{error}");
}
