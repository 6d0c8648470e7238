//! [`SkipAuth`]: a per-request override.

/// Sends one request without a token, even to an allowed origin: insert it as
/// a request extension.
///
/// ```
/// # fn demo(client: &reqwest_middleware::ClientWithMiddleware) {
/// use erpnet_auth_reqwest::SkipAuth;
///
/// // A public endpoint of the API: no token, and no token request for it.
/// let request = client
///     .get("https://myinstance.my.erp.net/sys/auto-discovery")
///     .with_extension(SkipAuth);
/// # let _ = request; }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkipAuth;
