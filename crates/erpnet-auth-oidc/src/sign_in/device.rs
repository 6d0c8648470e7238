//! The device authorization grant (RFC 8628): sign-in where no browser runs
//! on the machine (SSH sessions, containers, CI runners, TVs). The user opens
//! a URL on another device and enters a short code; meanwhile the app polls
//! the token endpoint.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use erpnet_auth_core::{Error, OAuthErrorCode};

use crate::client::config::EndpointKind;
use crate::client::token_endpoint::{error_answer, parse_token_response};
use crate::http::{is_json, media_type};
use crate::sign_in::SignInError;
use crate::sign_in::authorization_code::{AuthorizationCodeFlow, SignIn};

/// The grant type of the polling requests (RFC 8628 §3.4).
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The interval when the provider names none (RFC 8628 §3.2).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// RFC 8628 §3.5: `slow_down` adds five seconds to the interval, for good.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Caps what a provider's answer can make the client wait: a day of validity,
/// five minutes between polls.
const MAX_EXPIRES_IN: Duration = Duration::from_secs(24 * 3600);
const MAX_INTERVAL: Duration = Duration::from_secs(300);

/// A device authorization under way: what to show the user, and the device
/// code to poll with (a secret, never printed). From
/// [`AuthorizationCodeFlow::start_device_authorization`]; finished by
/// [`AuthorizationCodeFlow::complete_device_authorization`].
pub struct DeviceAuthorization {
    device_code: SecretString,
    user_code: String,
    verification_uri: Url,
    verification_uri_complete: Option<Url>,
    expires_in: Duration,
    interval: Duration,
    deadline: Instant,
}

impl DeviceAuthorization {
    /// The code the user enters at [`verification_uri`](Self::verification_uri).
    pub fn user_code(&self) -> &str {
        &self.user_code
    }

    /// Where the user enters the code.
    pub fn verification_uri(&self) -> &Url {
        &self.verification_uri
    }

    /// The same with the code filled in (for a link or a QR code), when the
    /// provider gives one.
    pub fn verification_uri_complete(&self) -> Option<&Url> {
        self.verification_uri_complete.as_ref()
    }

    /// How long the codes are valid, counted from when they were issued.
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// The polling interval the provider asked for (5 s when it named none).
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri.as_str())
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .field("device_code", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// The device authorization response (RFC 8628 §3.2).
#[derive(Deserialize)]
struct RawAuthorization {
    device_code: Option<SecretString>,
    user_code: Option<String>,
    verification_uri: Option<String>,
    /// What some providers (Google) still call it, from an early draft.
    verification_url: Option<String>,
    verification_uri_complete: Option<String>,
    expires_in: Option<serde_json::Value>,
    interval: Option<serde_json::Value>,
}

impl AuthorizationCodeFlow {
    /// Starts a device authorization (RFC 8628 §3.1) at the provider's
    /// `device_authorization_endpoint`, for the flow's scopes (and `openid`),
    /// authenticating as the flow's client does. Show the user
    /// [`DeviceAuthorization::verification_uri`] and
    /// [`DeviceAuthorization::user_code`], then call
    /// [`complete_device_authorization`](Self::complete_device_authorization).
    ///
    /// Fails with an [`Error::Config`] when the provider has no device
    /// authorization endpoint.
    pub async fn start_device_authorization(&self) -> Result<DeviceAuthorization, SignInError> {
        let mut scope = String::from("openid");
        for name in self.scopes().iter().filter(|s| *s != "openid") {
            scope.push(' ');
            scope.push_str(name);
        }
        let (endpoint, response) = self
            .client()
            .post(EndpointKind::DeviceAuthorization, &[("scope", &scope)])
            .await?;
        let issued = Instant::now();
        if !response.status.is_success() {
            return Err(error_answer(&endpoint, &response).into());
        }
        let invalid = |reason: &str| Error::InvalidResponse {
            endpoint: endpoint.clone(),
            reason: reason.to_owned(),
        };
        if !is_json(&response.headers) {
            return Err(Error::InvalidResponse {
                endpoint: endpoint.clone(),
                reason: format!(
                    "expected a JSON document, got content type `{}`",
                    media_type(&response.headers).unwrap_or_default()
                ),
            }
            .into());
        }
        // serde_json's messages can quote the body, which holds the device code.
        let raw: RawAuthorization = serde_json::from_slice(&response.body)
            .map_err(|_| invalid("the device authorization answer is not the expected JSON"))?;
        let device_code = raw
            .device_code
            .filter(|code| !code.expose_secret().is_empty())
            .ok_or_else(|| invalid("missing `device_code`"))?;
        let user_code = raw
            .user_code
            .filter(|code| !code.is_empty())
            .ok_or_else(|| invalid("missing `user_code`"))?;
        let verification_uri = raw
            .verification_uri
            .or(raw.verification_url)
            .and_then(|uri| Url::parse(&uri).ok())
            .ok_or_else(|| invalid("missing or malformed `verification_uri`"))?;
        let verification_uri_complete = match raw.verification_uri_complete {
            None => None,
            Some(uri) => Some(
                Url::parse(&uri).map_err(|_| invalid("malformed `verification_uri_complete`"))?,
            ),
        };
        let expires_in = raw
            .expires_in
            .as_ref()
            .and_then(seconds)
            .ok_or_else(|| invalid("`expires_in` is missing or not a number of seconds"))?
            .min(MAX_EXPIRES_IN);
        let interval = match &raw.interval {
            None | Some(serde_json::Value::Null) => DEFAULT_INTERVAL,
            Some(value) => seconds(value)
                .ok_or_else(|| invalid("`interval` is not a number of seconds"))?
                .min(MAX_INTERVAL),
        };
        tracing::info!(
            client_id = %self.client().client_id(),
            endpoint = %endpoint,
            ?expires_in,
            ?interval,
            "device authorization started"
        );
        Ok(DeviceAuthorization {
            device_code,
            user_code,
            verification_uri,
            verification_uri_complete,
            expires_in,
            interval,
            deadline: issued + expires_in,
        })
    }

    /// Polls the token endpoint until the user has approved or refused
    /// `authorization` (RFC 8628 §3.4, §3.5): `authorization_pending` waits
    /// the interval, `slow_down` adds 5 s to it for good; a transient failure
    /// (a time-out, a 5xx) is retried at the next interval. The result goes
    /// through the same ID-token checks as the code flow's (no `nonce`: none
    /// was sent), and its refresh token feeds
    /// [`refresh_grant`](Self::refresh_grant) as a code flow's does.
    ///
    /// Ends with [`SignInError::AccessDenied`] when the user refuses,
    /// [`SignInError::Expired`] when the codes expire first (the provider's
    /// `expired_token`, or the time announced in `expires_in` passing), and
    /// the provider's error for anything else. To cancel, drop the future
    /// (for example in a `tokio::select!` with Ctrl-C): nothing runs on after
    /// it.
    pub async fn complete_device_authorization(
        &self,
        authorization: &DeviceAuthorization,
    ) -> Result<SignIn, SignInError> {
        let mut interval = authorization.interval;
        let params = [
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", authorization.device_code.expose_secret()),
        ];
        loop {
            let now = Instant::now();
            if now + interval > authorization.deadline {
                return Err(SignInError::Expired);
            }
            tokio::time::sleep(interval).await;
            let (endpoint, response) = match self.client().post(EndpointKind::Token, &params).await
            {
                Ok(answer) => answer,
                Err(error) if error.is_transient() => {
                    tracing::debug!(%error, "device authorization poll failed; trying again");
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            let parsed = parse_token_response(
                &endpoint,
                response.status.as_u16(),
                &response.headers,
                &response.body,
                self.scopes(),
            );
            let error = match parsed {
                Ok(tokens) => return self.signed_in(tokens, None, true).await,
                Err(error) => error,
            };
            match error.oauth_code() {
                Some(OAuthErrorCode::SlowDown) => {
                    interval = interval.saturating_add(SLOW_DOWN_STEP).min(MAX_INTERVAL);
                }
                Some(OAuthErrorCode::Other(code)) if code == "authorization_pending" => {}
                Some(OAuthErrorCode::Other(code)) if code == "access_denied" => {
                    return Err(SignInError::AccessDenied);
                }
                Some(OAuthErrorCode::Other(code)) if code == "expired_token" => {
                    return Err(SignInError::Expired);
                }
                _ if error.is_transient() => {
                    tracing::debug!(%error, "device authorization poll failed; trying again");
                }
                _ => return Err(error.into()),
            }
        }
    }
}

/// A whole number of seconds (a JSON number or a numeric string).
fn seconds(value: &serde_json::Value) -> Option<Duration> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_u64()?,
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}
