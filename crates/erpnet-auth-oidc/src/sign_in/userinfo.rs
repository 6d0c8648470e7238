//! The userinfo endpoint (OpenID Connect Core §5.3): the signed-in user's
//! claims that the ID token leaves out. IdentityServer, ERP.net's provider,
//! puts the `profile` claims (`name`, …) there rather than into the ID token.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use erpnet_auth_core::pacing::retry_after;
use erpnet_auth_core::{AccessToken, Error};

use crate::claims::ErpNetClaims;
use crate::http::{endpoint_name, is_json, media_type, request_error};
use crate::sign_in::SignInError;
use crate::sign_in::authorization_code::AuthorizationCodeFlow;
use crate::sign_in::id_token::IdToken;

/// The claims the userinfo endpoint gave about the signed-in user, whose
/// `sub` was checked to be the ID token's.
///
/// Every claim stays available as JSON ([`claim`](Self::claim),
/// [`claims`](Self::claims)); ERP.net's are typed by
/// [`erpnet`](Self::erpnet), which reads `is_admin` and `email_verified` from
/// the strings `"true"` and `"false"` ERP.net sends as well as from JSON
/// booleans. `Debug` shows the subject and the claims' names, not their
/// values (they are personal data).
#[derive(Clone, PartialEq)]
pub struct UserInfo {
    subject: String,
    claims: Map<String, Value>,
}

impl UserInfo {
    /// `sub`: the user, the same as the ID token's.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// One claim, as it came.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// Every claim, as it came.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Every claim, as it came, by value.
    pub fn into_claims(self) -> Map<String, Value> {
        self.claims
    }

    /// ERP.net's user claims, typed (`id`, `name`, `email`,
    /// `email_verified`, `locale`, `user_type`, `is_admin`, `db`, `tid`, …).
    /// Claims the answer lacks, or that have another form, are `None`.
    pub fn erpnet(&self) -> ErpNetClaims {
        self.deserialize().unwrap_or_default()
    }

    /// The claims as a type of your own.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.claims)
    }
}

impl fmt::Debug for UserInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInfo")
            .field("subject", &self.subject)
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl AuthorizationCodeFlow {
    /// The user's claims from the provider's userinfo endpoint, with the access
    /// token of their sign-in; `Ok(None)` when the provider has no such
    /// endpoint. An answer about anyone but `id_token`'s subject is refused
    /// with [`SignInError::UserInfoSubject`] (§5.3.2: `sub` must match), so a
    /// substituted access token cannot change who the application thinks
    /// signed in; a failed request is [`SignInError::Token`]. Signed or encrypted answers
    /// (`application/jwt`) are not supported and fail as an invalid response.
    pub async fn userinfo(
        &self,
        access_token: &AccessToken,
        id_token: &IdToken,
    ) -> Result<Option<UserInfo>, SignInError> {
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
            }
            .into());
        }
        let invalid = |reason: String| Error::InvalidResponse {
            endpoint: endpoint.clone(),
            reason,
        };
        if !is_json(&response.headers) {
            return Err(invalid(format!(
                "expected JSON claims, got content type `{}`",
                media_type(&response.headers).unwrap_or_default()
            ))
            .into());
        }
        let claims: Map<String, Value> = serde_json::from_slice(&response.body)
            .map_err(|_| invalid("the claims are not a JSON object".into()))?;
        match claims.get("sub") {
            Some(Value::String(sub)) if sub == id_token.subject() => Ok(Some(UserInfo {
                subject: sub.clone(),
                claims,
            })),
            Some(Value::String(_)) => Err(SignInError::UserInfoSubject { endpoint }),
            _ => Err(invalid("the claims have no `sub`".into()).into()),
        }
    }
}
