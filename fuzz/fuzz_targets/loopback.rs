//! The loopback redirect listener of native sign-in (RFC 8252): one request
//! as its TCP stream delivers it. Only a `GET` of the redirect path, on the
//! listener's origin, is the authorization response.
#![no_main]

use std::sync::OnceLock;

use erpnet_auth_fuzz::runtime;
use erpnet_auth_oidc::Url;
use erpnet_auth_oidc::fuzzing::loopback_request;
use libfuzzer_sys::fuzz_target;

fn redirect_uri() -> &'static Url {
    static URI: OnceLock<Url> = OnceLock::new();
    URI.get_or_init(|| Url::parse("http://127.0.0.1:49152/callback").expect("a URL"))
}

fuzz_target!(|request: &[u8]| {
    let redirect_uri = redirect_uri();
    let (status, callback) = runtime().block_on(loopback_request(redirect_uri, request));
    assert!([200, 400, 404, 405].contains(&status), "{status}");
    assert_eq!(status == 200, callback.is_some());
    if let Some(callback) = callback {
        assert_eq!(callback.origin(), redirect_uri.origin(), "{callback}");
        assert_eq!(callback.path(), redirect_uri.path(), "{callback}");
        assert!(request.starts_with(b"GET "));
    }
});
