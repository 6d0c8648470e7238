//! A resource server on 127.0.0.1 that records what each request carried.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::task::JoinHandle;

/// What one request carried.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) path: String,
    pub(crate) authorization: Option<String>,
    pub(crate) api_key: Option<String>,
}

impl Seen {
    /// The token, from either header.
    pub(crate) fn token(&self) -> Option<&str> {
        self.authorization
            .as_deref()
            .and_then(|value| value.strip_prefix("Bearer "))
            .or(self.api_key.as_deref())
    }
}

/// Paths:
/// - `/always-401`: 401 with `WWW-Authenticate: Bearer error="invalid_token"`;
/// - `/insufficient-scope`: 401 with `Bearer error="insufficient_scope"`;
/// - `/redirect`: 302 to the target set with [`Api::redirect_to`];
/// - anything else: 401 (`invalid_token`) for a token given to [`Api::reject`],
///   otherwise 200 with the body `ok`.
pub(crate) struct Api {
    pub(crate) origin: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    rejected: Mutex<HashSet<String>>,
    redirect_to: Mutex<String>,
}

impl Api {
    pub(crate) async fn start() -> Api {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let origin = format!("http://{}", listener.local_addr().expect("address"));
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Api {
            origin,
            shared,
            task,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Every request so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    /// Answers 401 to requests carrying `token` from now on.
    pub(crate) fn reject(&self, token: &str) {
        lock(&self.shared.rejected).insert(token.to_owned());
    }

    /// Where `/redirect` sends clients (absolute, or a path on this server).
    pub(crate) fn redirect_to(&self, location: &str) {
        *lock(&self.shared.redirect_to) = location.to_owned();
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let seen = Seen {
        path: parts.uri.path().to_owned(),
        authorization: text(header::AUTHORIZATION),
        api_key: text(header::HeaderName::from_static("x-api-key")),
    };
    // Read the whole body, as a real API would before answering.
    let _ = axum::body::to_bytes(body, usize::MAX).await;
    lock(&shared.seen).push(seen.clone());

    let challenge = |error: &str| {
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                format!(r#"Bearer error="{error}""#),
            )],
        )
            .into_response()
    };
    match seen.path.as_str() {
        "/always-401" => challenge("invalid_token"),
        "/insufficient-scope" => challenge("insufficient_scope"),
        "/redirect" => {
            let location = lock(&shared.redirect_to).clone();
            (
                StatusCode::FOUND,
                [(header::LOCATION, location)],
                Body::empty(),
            )
                .into_response()
        }
        _ if seen
            .token()
            .is_some_and(|token| lock(&shared.rejected).contains(token)) =>
        {
            challenge("invalid_token")
        }
        _ => (StatusCode::OK, "ok").into_response(),
    }
}
