//! The `Authorization` header as `ValidateBearerLayer` reads it, alone and
//! through the layer itself with the fixed validator: every request gets an
//! RFC 6750 answer (200, 400, 401 or 403), and the challenge of a refusal
//! reads back, through `BearerAuth`'s challenge reader, as what it means.
//!
//! Input: `CONTENT-TYPE\nAUTHORIZATION...`, each further line one
//! `Authorization` value (a gRPC content type gets a gRPC answer).
#![no_main]

use std::convert::Infallible;

use erpnet_auth_fuzz::{fields, headers, runtime, validator};
use erpnet_auth_reqwest::fuzzing::new_token_may_help;
use erpnet_auth_tower::ValidateBearerLayer;
use erpnet_auth_tower::fuzzing::{bearer_token, malformed};
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt, service_fn};

fuzz_target!(|data: &[u8]| {
    let Some(([media_type], rest)) = fields::<1>(data) else {
        return;
    };
    let authorization = headers(AUTHORIZATION, rest.split(|&b| b == b'\n'));
    let read = bearer_token(&authorization);
    if let Ok(Some(token)) = read {
        assert_eq!(token, token.trim_ascii(), "the token is trimmed");
        if malformed(token).is_none() {
            assert!(!token.is_empty() && token.is_ascii(), "{token:?}");
        }
    }
    let media_type = HeaderValue::from_bytes(media_type).ok();
    let grpc = media_type
        .as_ref()
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));

    for optional in [false, true] {
        let mut request = Request::new(());
        *request.headers_mut() = authorization.clone();
        if let Some(value) = &media_type {
            request.headers_mut().insert(CONTENT_TYPE, value.clone());
        }
        let layer = ValidateBearerLayer::new(validator().clone());
        let layer = if optional { layer.optional() } else { layer };
        let service = layer.layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(()))
        }));
        let response = runtime()
            .block_on(service.oneshot(request))
            .unwrap_or_else(|never| match never {});
        let status = response.status();
        if grpc {
            continue;
        }
        match &read {
            Err(_) => assert_eq!(status, StatusCode::BAD_REQUEST),
            Ok(None) if optional => assert_eq!(status, StatusCode::OK),
            Ok(None) => assert_eq!(status, StatusCode::UNAUTHORIZED),
            Ok(Some(_)) => assert!([200, 400, 401, 403].contains(&status.as_u16()), "{status}"),
        }
        if status.is_success() {
            continue;
        }
        // The challenge, read by this library's own client: a new token helps
        // only after 401 (an invalid or missing token).
        assert!(
            response.headers().contains_key(WWW_AUTHENTICATE),
            "{status}"
        );
        assert_eq!(
            new_token_may_help(response.headers()),
            status == StatusCode::UNAUTHORIZED,
            "{status} {:?}",
            response.headers().get(WWW_AUTHENTICATE)
        );
    }
});
