//! [`RequireSignInLayer`]: routes behind it need a signed-in user.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::config::WebSignIn;
use crate::extract::resolve;

/// Requires a signed-in user: a browser asking for a page is sent to the sign-in route (and
/// brought back afterwards), a request that asks for JSON (or anything but HTML) gets
/// `401 {"error":"sign_in_required",…}`. A session whose sign-in has ended elsewhere
/// (back-channel logout, a refused refresh token) counts as signed out.
///
/// Get one with [`WebSignIn::require_sign_in`]; put it on the routes with axum's
/// `route_layer`, inside [`WebSignIn::layer`]. The sign-in it finds is kept for the
/// [`SignedIn`](crate::SignedIn) and [`UserTokens`](crate::UserTokens) extractors, which do
/// not look it up again.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequireSignInLayer(());

/// The service of [`RequireSignInLayer`].
#[derive(Debug, Clone)]
pub struct RequireSignIn<S> {
    inner: S,
}

impl WebSignIn {
    /// A layer that lets only signed-in users through; see [`RequireSignInLayer`].
    pub fn require_sign_in(&self) -> RequireSignInLayer {
        RequireSignInLayer(())
    }
}

impl<S> Layer<S> for RequireSignInLayer {
    type Service = RequireSignIn<S>;

    fn layer(&self, inner: S) -> RequireSignIn<S> {
        RequireSignIn { inner }
    }
}

/// The future of [`RequireSignIn`]: boxed, since it awaits the session and sign-in stores
/// before the inner service (a store round trip dwarfs the allocation).
pub type RequireSignInFuture<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

impl<S> Service<Request> for RequireSignIn<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RequireSignInFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The ready service serves this request; the clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match resolve(&mut parts).await {
                Ok((_, Some(_))) => inner.call(Request::from_parts(parts, body)).await,
                Ok((web, None)) => {
                    Ok(web.sign_in_required(&parts.method, &parts.uri, &parts.headers))
                }
                Err(error) => Ok(error.into_response()),
            }
        })
    }
}
