//! Client authentication at the back-channel endpoints (token, device authorization,
//! introspection, revocation): a secret, a client assertion, or a public client's id.

use crate::backchannel::{Credentials, OAuthError};
use crate::client::Client;
use crate::state::Shared;

/// The registered client the credentials prove. A public client needs only its id (a secret
/// it sends anyway is ignored, as IdentityServer does); a confidential one needs its secret
/// or a client assertion signed by one of its keys.
pub(crate) fn authenticate(
    state: &Shared,
    credentials: &Credentials,
) -> Result<Client, OAuthError> {
    let client = state
        .client(&credentials.client_id)
        .ok_or(OAuthError::code("invalid_client"))?;
    if let Some(assertion) = &credentials.assertion {
        state.verify_client_assertion(&client, assertion)?;
        return Ok(client);
    }
    let secret_matches = client.secret.is_some() && credentials.secret == client.secret;
    if client.is_public() || secret_matches {
        Ok(client)
    } else {
        Err(OAuthError::code("invalid_client"))
    }
}
