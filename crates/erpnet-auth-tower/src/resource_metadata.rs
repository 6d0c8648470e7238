//! [`ResourceMetadataLayer`]: serves this API's OAuth 2.0 Protected Resource
//! Metadata (RFC 9728) at `/.well-known/oauth-protected-resource`, so that
//! clients (MCP clients among them, whose authorization spec requires it)
//! discover which authorization server protects it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use erpnet_auth_core::ConfigError;
use erpnet_auth_oidc::{JwtValidator, Url, is_secure_url};
use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use serde::Serialize;
use tower::{Layer, Service};

use crate::body::ResponseBody;

/// The well-known path of protected resource metadata (RFC 9728 §3).
pub const RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// An API's protected resource metadata document (RFC 9728 §2), and where it
/// is served.
///
/// Built from the [`JwtValidator`] where it can be: the issuers it accepts
/// are the `authorization_servers`, the scopes it requires are among the
/// `scopes_supported`. `bearer_methods_supported` is `["header"]`, the one
/// method [`ValidateBearerLayer`](crate::ValidateBearerLayer) reads.
///
/// The document is served at `/.well-known/oauth-protected-resource`, or,
/// for a resource URL with a path (`https://api.example.com/orders`), at the
/// path-suffixed form (`/.well-known/oauth-protected-resource/orders`), as
/// RFC 9728 §3.1 derives it.
///
/// ```
/// use axum::{Router, routing::get};
/// use erpnet_auth_oidc::{Authority, JwtValidator};
/// use erpnet_auth_tower::{ResourceMetadata, ValidateBearerLayer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let validator = JwtValidator::builder(Authority::parse("myinstance")?)
///     .audience("https://api.example.com/orders")
///     .build()?;
/// let metadata = ResourceMetadata::builder("https://api.example.com/orders")
///     .validator(&validator)
///     .scopes_supported(["read", "update"])
///     .resource_name("Orders API")
///     .build()?;
/// assert_eq!(metadata.path(), "/.well-known/oauth-protected-resource/orders");
/// assert_eq!(
///     metadata.url(),
///     Some("https://api.example.com/.well-known/oauth-protected-resource/orders")
/// );
/// assert_eq!(
///     metadata.json(),
///     r#"{"resource":"https://api.example.com/orders","authorization_servers":["https://myinstance.my.erp.net/id"],"scopes_supported":["read","update"],"bearer_methods_supported":["header"],"resource_name":"Orders API"}"#
/// );
///
/// let bearer = ValidateBearerLayer::new(validator)
///     .resource_metadata(metadata.url().unwrap_or_default());
/// // The metadata layer outside the validating one: the document is public.
/// let app: Router = Router::new()
///     .route("/orders", get(|| async { "orders" }))
///     .layer(bearer)
///     .layer(metadata.layer());
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone)]
pub struct ResourceMetadata {
    inner: Arc<Inner>,
}

struct Inner {
    json: Bytes,
    path: String,
    url: Option<String>,
}

/// Settings of a [`ResourceMetadata`] document.
#[derive(Debug, Clone)]
pub struct ResourceMetadataBuilder {
    document: Document,
}

/// The members of RFC 9728 §2 this library serves, in the RFC's order.
#[derive(Debug, Clone, Serialize)]
struct Document {
    resource: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_documentation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_tos_uri: Option<String>,
}

impl ResourceMetadata {
    /// A document for `resource`, the protected resource's identifier: RFC
    /// 9728 wants the API's `https` URL (MCP clients check that it is the URL
    /// they called), which should then be an audience the validator accepts.
    pub fn builder(resource: impl Into<String>) -> ResourceMetadataBuilder {
        ResourceMetadataBuilder {
            document: Document {
                resource: resource.into(),
                authorization_servers: Vec::new(),
                scopes_supported: Vec::new(),
                bearer_methods_supported: vec!["header".to_owned()],
                resource_name: None,
                resource_documentation: None,
                resource_policy_uri: None,
                resource_tos_uri: None,
            },
        }
    }

    /// The document, as served.
    pub fn json(&self) -> &str {
        // Written by serde_json, so UTF-8.
        std::str::from_utf8(&self.inner.json).unwrap_or_default()
    }

    /// The path it is served at: [`RESOURCE_METADATA_PATH`], followed by the
    /// resource URL's path when it has one.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The document's URL, derived from the resource URL (RFC 9728 §3.1), to
    /// give [`ValidateBearerLayer::resource_metadata`](crate::ValidateBearerLayer::resource_metadata);
    /// `None` when the resource is not an `http(s)` URL (then the URL is this
    /// server's origin followed by [`path`](Self::path)).
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// The layer that serves the document at [`path`](Self::path) and passes
    /// every other request on.
    pub fn layer(&self) -> ResourceMetadataLayer {
        ResourceMetadataLayer {
            metadata: self.clone(),
        }
    }
}

impl fmt::Debug for ResourceMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceMetadata")
            .field("path", &self.inner.path)
            .field("json", &self.json())
            .finish()
    }
}

impl ResourceMetadataBuilder {
    /// Takes what the validator knows: the issuers it accepts as
    /// `authorization_servers` (a validator of several issuers given by a
    /// rule has no list: name them with
    /// [`authorization_servers`](Self::authorization_servers)) and the scopes
    /// it requires of every token into `scopes_supported`.
    pub fn validator(mut self, validator: &JwtValidator) -> Self {
        if let Some(issuers) = validator.accepted_issuers() {
            self = self.authorization_servers(issuers);
        }
        self.scopes_supported(validator.required_scopes().iter().cloned())
    }

    /// Adds issuer URLs of authorization servers whose tokens this API
    /// accepts (`https`, or `http` to loopback). Listed once each, in order.
    pub fn authorization_servers<I, S>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        add_unique(&mut self.document.authorization_servers, issuers);
        self
    }

    /// Adds scopes that clients may request to call this API (the scopes of
    /// its [`RequireScopes`](crate::RequireScopes) layers). Listed once
    /// each, in order.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        add_unique(&mut self.document.scopes_supported, scopes);
        self
    }

    /// A human-readable name of the API (`resource_name`).
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.document.resource_name = Some(name.into());
        self
    }

    /// A page of documentation for developers (`resource_documentation`).
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.document.resource_documentation = Some(url.into());
        self
    }

    /// The page on how clients may use the data (`resource_policy_uri`).
    pub fn resource_policy_uri(mut self, url: impl Into<String>) -> Self {
        self.document.resource_policy_uri = Some(url.into());
        self
    }

    /// The terms of service (`resource_tos_uri`).
    pub fn resource_tos_uri(mut self, url: impl Into<String>) -> Self {
        self.document.resource_tos_uri = Some(url.into());
        self
    }

    /// Checks the document and builds it: a resource identifier without a
    /// fragment or query, and an `http(s)` resource URL secure (`https`, or
    /// `http` to loopback); authorization servers and links that are secure
    /// URLs. A resource that is no URL (an ERP.net audience such as
    /// `DomainAPI`) is served as it is, at the path without suffix.
    pub fn build(self) -> Result<ResourceMetadata, ConfigError> {
        let document = self.document;
        if document.resource.trim().is_empty() {
            return Err(ConfigError::invalid(
                "the protected resource metadata needs a resource identifier",
            ));
        }
        let (path, url) = match Url::parse(&document.resource) {
            Ok(resource) if matches!(resource.scheme(), "https" | "http") => {
                if !is_secure_url(&resource) {
                    return Err(ConfigError::invalid(format!(
                        "resource `{}` must be https (or http to a loopback address)",
                        document.resource
                    )));
                }
                if resource.query().is_some() || resource.fragment().is_some() {
                    return Err(ConfigError::invalid(format!(
                        "resource `{}` must have no query or fragment (RFC 9728 §2)",
                        document.resource
                    )));
                }
                // RFC 9728 §3.1: the well-known path goes between the host
                // and the resource's path, whose trailing `/` is dropped.
                let suffix = resource.path().trim_end_matches('/');
                let path = format!("{RESOURCE_METADATA_PATH}{suffix}");
                let url = format!("{}{path}", resource.origin().ascii_serialization());
                (path, Some(url))
            }
            Ok(resource) if resource.fragment().is_some() => {
                return Err(ConfigError::invalid(format!(
                    "resource `{}` must have no fragment (RFC 9728 §2)",
                    document.resource
                )));
            }
            _ => (RESOURCE_METADATA_PATH.to_owned(), None),
        };
        let links = [
            &document.resource_documentation,
            &document.resource_policy_uri,
            &document.resource_tos_uri,
        ];
        for url in document
            .authorization_servers
            .iter()
            .chain(links.into_iter().flatten())
        {
            let secure = Url::parse(url).is_ok_and(|parsed| is_secure_url(&parsed));
            if !secure {
                return Err(ConfigError::invalid(format!(
                    "`{url}` in the protected resource metadata must be an https URL (or http to a loopback address)"
                )));
            }
        }
        let json = serde_json::to_vec(&document)
            .map_err(|error| ConfigError::invalid(format!("metadata document: {error}")))?;
        Ok(ResourceMetadata {
            inner: Arc::new(Inner {
                json: Bytes::from(json),
                path,
                url,
            }),
        })
    }
}

/// Appends the items not yet in `list`.
fn add_unique<I, S>(list: &mut Vec<String>, items: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    for item in items {
        let item = item.into();
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// Serves a [`ResourceMetadata`] document at its path: `GET` and `HEAD` get
/// it (`200`, `application/json`, cacheable for an hour, readable from any
/// origin since it is public), other methods `405`; every other request goes
/// to the inner service. Put it outside
/// [`ValidateBearerLayer`](crate::ValidateBearerLayer): the document needs no
/// token.
#[derive(Debug, Clone)]
pub struct ResourceMetadataLayer {
    metadata: ResourceMetadata,
}

impl ResourceMetadataLayer {
    /// The layer serving `metadata`; the same as [`ResourceMetadata::layer`].
    pub fn new(metadata: ResourceMetadata) -> Self {
        Self { metadata }
    }
}

impl<S> Layer<S> for ResourceMetadataLayer {
    type Service = ServeResourceMetadata<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServeResourceMetadata {
            inner,
            metadata: self.metadata.clone(),
        }
    }
}

/// The service of [`ResourceMetadataLayer`]; see there.
#[derive(Debug, Clone)]
pub struct ServeResourceMetadata<S> {
    inner: S,
    metadata: ResourceMetadata,
}

impl<S> ServeResourceMetadata<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The answer at the document's path.
    fn answer(&self, method: &Method) -> Response<Bytes> {
        let headers = |response: &mut Response<Bytes>| {
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        };
        match *method {
            Method::GET => {
                let mut response = Response::new(self.metadata.inner.json.clone());
                headers(&mut response);
                response
            }
            Method::HEAD => {
                let mut response = Response::new(Bytes::new());
                headers(&mut response);
                response
            }
            _ => {
                let mut response = Response::new(Bytes::new());
                *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
                response
            }
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ServeResourceMetadata<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let state = if request.uri().path() == self.metadata.path() {
            State::Served {
                response: Some(self.answer(request.method())),
            }
        } else {
            State::Called {
                future: self.inner.call(request),
            }
        };
        ResponseFuture { state }
    }
}

pin_project! {
    /// The response future of [`ServeResourceMetadata`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called { #[pin] future: F },
        Served { response: Option<Response<Bytes>> },
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(ResponseBody::inner)))
            }
            StateProj::Served { response } => {
                let response = response.take().expect("polled after completion");
                Poll::Ready(Ok(response.map(ResponseBody::refusal)))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
