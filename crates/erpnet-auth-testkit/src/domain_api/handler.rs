//! The request path of the mock Domain API: an injected failure if one is queued, then the
//! credential (`401`), the session and site limits (`429`), the scope (`403`), the service
//! time, and the data.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

use crate::domain_api::auth::{self, Denied};
use crate::domain_api::limits::Limiter;
use crate::domain_api::odata::{EntitySets, ODataError, Query, Target};
use crate::domain_api::stats::{Counters, add};
use crate::failure::{ConnectionControl, Failure, Injected, inject};
use crate::state::{Shared, lock};

/// The path of the OData root, as at ERP.net (`https://{instance}/api/domain/odata/`).
pub(crate) const ROOT_PATH: &str = "/api/domain/odata/";
/// The largest request body the mock reads.
const BODY_LIMIT: usize = 1024 * 1024;
/// The content type of OData JSON answers.
const ODATA_JSON: &str =
    "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8";

/// What the handle and the handlers share.
pub(crate) struct ApiState {
    pub(crate) identity: Arc<Shared>,
    /// `http://127.0.0.1:{port}/api/domain/odata/`
    pub(crate) root: String,
    pub(crate) limiter: Arc<Limiter>,
    pub(crate) service_time: Mutex<Duration>,
    /// Sent as `Retry-After` (whole seconds) with every `429`, if set; ERP.net sends none.
    pub(crate) retry_after: Option<Duration>,
    pub(crate) data: Mutex<EntitySets>,
    pub(crate) counters: Counters,
    pub(crate) failures: Mutex<VecDeque<Failure>>,
}

pub(crate) async fn dispatch(
    State(state): State<Arc<ApiState>>,
    Extension(connection): Extension<ConnectionControl>,
    request: Request,
) -> Response {
    let path = request.uri().path();
    let Some(rest) = path
        .strip_prefix(ROOT_PATH)
        .or_else(|| (path == ROOT_PATH.trim_end_matches('/')).then_some(""))
    else {
        return error(
            StatusCode::NOT_FOUND,
            "Only the Domain API's OData root is served here.",
        );
    };
    let rest = rest.to_owned();
    let counters = &state.counters;
    add(&counters.requests);

    let failure = lock(&state.failures).pop_front();
    if let Some(failure) = failure {
        add(&counters.injected);
        tracing::debug!(?failure, "mock domain api injects a failure");
        let normal = || lock(&state.data).service_document(&state.root).to_string();
        match inject(failure, &connection, normal).await {
            Injected::Respond(response) => return response,
            Injected::OAuthError(code) => return error(StatusCode::BAD_REQUEST, &code),
            Injected::Proceed => {}
        }
    }

    let token = match auth::credential(request.headers()) {
        Ok(token) => token.to_owned(),
        Err(denied) => return refuse(counters, &denied, false),
    };
    let caller = match auth::authenticate(&state.identity, &token) {
        Ok(caller) => caller,
        Err(denied) => return refuse(counters, &denied, true),
    };
    let admitted = match state.limiter.admit(&token, counters).await {
        Ok(admitted) => admitted,
        Err(refusal) => {
            refusal.count(counters);
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, refusal.message());
            if let Some(wait) = state.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
            }
            return response;
        }
    };
    drop(token);
    if let Err(denied) = auth::authorize(&caller, request.method()) {
        return refuse(counters, &denied, true);
    }
    let service_time = *lock(&state.service_time);
    if !service_time.is_zero() {
        tokio::time::sleep(service_time).await;
    }
    add(&counters.served);
    let response = answer(&state, &rest, request).await;
    drop(admitted);
    response
}

/// The data's answer to a request that passed every check.
async fn answer(state: &ApiState, rest: &str, request: Request) -> Response {
    let Some(target) = Target::parse(rest) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("Resource not found for the segment '{rest}'."),
        );
    };
    let method = request.method().clone();
    let query = request.uri().query().map(str::to_owned);
    let root = &state.root;
    let result = match (target, &method) {
        (Target::ServiceDocument, &Method::GET | &Method::HEAD) => Ok(json_response(
            StatusCode::OK,
            &lock(&state.data).service_document(root),
        )),
        (Target::Collection(name), &Method::GET | &Method::HEAD) => Query::parse(query.as_deref())
            .and_then(|query| lock(&state.data).list(root, name, &query))
            .map(|body| json_response(StatusCode::OK, &body)),
        (Target::Entity(name, id), &Method::GET | &Method::HEAD) => lock(&state.data)
            .get(root, name, id)
            .map(|body| json_response(StatusCode::OK, &body)),
        (Target::Collection(name), &Method::POST) => match read_json(request).await {
            Ok(body) => lock(&state.data)
                .create(root, name, body)
                .map(|(id, body)| {
                    let mut response = json_response(StatusCode::CREATED, &body);
                    if let Ok(location) = HeaderValue::from_str(&format!("{root}{name}({id})")) {
                        response.headers_mut().insert(header::LOCATION, location);
                    }
                    response
                }),
            Err(refused) => Err(refused),
        },
        (Target::Entity(name, id), &Method::PATCH) => match read_json(request).await {
            Ok(body) => lock(&state.data)
                .update(name, id, body)
                .map(|()| no_content()),
            Err(refused) => Err(refused),
        },
        (Target::Entity(name, id), &Method::DELETE) => {
            lock(&state.data).delete(name, id).map(|()| no_content())
        }
        (target, _) => {
            let allow = match target {
                Target::ServiceDocument => "GET",
                Target::Collection(_) => "GET, POST",
                Target::Entity(..) => "GET, PATCH, DELETE",
            };
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{method} is not allowed here."),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            Ok(response)
        }
    };
    result.unwrap_or_else(|refused: ODataError| error(refused.status, &refused.message))
}

async fn read_json(request: Request) -> Result<Value, ODataError> {
    let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
        .await
        .map_err(|_| ODataError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("The body is larger than {BODY_LIMIT} bytes or was cut off."),
        })?;
    serde_json::from_slice(&bytes).map_err(|error| ODataError {
        status: StatusCode::BAD_REQUEST,
        message: format!("The body is not JSON: {error}"),
    })
}

/// A `401` or `403` as ERP.net answers it; a `401` for a token that was sent carries the
/// RFC 6750 challenge `error="invalid_token"`, one for no token a bare `Bearer`.
fn refuse(counters: &Counters, denied: &Denied, token_sent: bool) -> Response {
    match denied {
        Denied::Unauthorized(message) => {
            add(&counters.unauthorized);
            let mut response = error(StatusCode::UNAUTHORIZED, message);
            let challenge = if token_sent {
                r#"Bearer error="invalid_token""#
            } else {
                "Bearer"
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
            response
        }
        Denied::Forbidden(message) => {
            add(&counters.forbidden);
            error(StatusCode::FORBIDDEN, message)
        }
    }
}

/// ERP.net's error body: `{"error": {"code", "message", "info", "type"}}`, with the HTTP
/// status as `code` and its name as `type`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let kind: String = status
        .canonical_reason()
        .unwrap_or("Error")
        .split_whitespace()
        .collect();
    let body = json!({
        "error": {
            "code": status.as_u16(),
            "message": message,
            "info": "",
            "type": kind,
        }
    });
    let mut response = json_response(status, &body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
    headers.insert("odata-version", HeaderValue::from_static("4.0"));
    response
}

fn no_content() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// Logs method, path and status; never the query, headers or body.
pub(crate) async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(), "mock domain api request");
    response
}
