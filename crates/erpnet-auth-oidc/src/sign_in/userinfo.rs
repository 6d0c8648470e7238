//! The userinfo endpoint (OpenID Connect Core §5.3): the signed-in user's
//! claims that the ID token leaves out. IdentityServer, ERP.net's provider,
//! puts the `profile` claims (`name`, …) there rather than into the ID token.

use serde_json::{Map, Value};

use erpnet_auth_core::pacing::retry_after;
use erpnet_auth_core::{AccessToken, Error};

use crate::http::{endpoint_name, is_json, media_type, request_error};
use crate::sign_in::authorization_code::AuthorizationCodeFlow;

impl AuthorizationCodeFlow {
    /// The user's claims from the provider's userinfo endpoint, with the access
    /// token of their sign-in; `Ok(None)` when the provider has no such
    /// endpoint. `subject` is the ID token's `sub`: an answer about anyone
    /// else is refused (§5.3.2), so a substituted access token cannot change
    /// who the application thinks signed in. Signed or encrypted answers
    /// (`application/jwt`) are not supported and fail as an invalid response.
    pub async fn userinfo(
        &self,
        access_token: &AccessToken,
        subject: &str,
    ) -> Result<Option<Map<String, Value>>, Error> {
        let Some(url) = self.discovery().metadata().userinfo_endpoint.clone() else {
            return Ok(None);
        };
        let endpoint = endpoint_name(&url);
        let header = access_token.authorization_header().map_err(|_| {
            Error::source_failed("the access token cannot be sent in a header", false)
        })?;
        let request = self
            .http()
            .reqwest_client()
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::AUTHORIZATION, header)
            .build()
            .map_err(|e| request_error(&endpoint, &e))?;
        let response = self.http().execute(request).await?;
        if !response.status.is_success() {
            return Err(Error::Status {
                endpoint,
                status: response.status.as_u16(),
                retry_after: retry_after(&response.headers),
            });
        }
        let invalid = |reason: String| Error::InvalidResponse {
            endpoint: endpoint.clone(),
            reason,
        };
        if !is_json(&response.headers) {
            return Err(invalid(format!(
                "expected JSON claims, got content type `{}`",
                media_type(&response.headers).unwrap_or_default()
            )));
        }
        let claims: Map<String, Value> = serde_json::from_slice(&response.body)
            .map_err(|_| invalid("the claims are not a JSON object".into()))?;
        match claims.get("sub") {
            Some(Value::String(sub)) if sub == subject => Ok(Some(claims)),
            _ => Err(invalid(
                "the claims are about another user than the ID token (`sub` differs)".into(),
            )),
        }
    }
}
