//! What the mock has issued and what is revoked: authorization codes, sign-in grants, refresh
//! tokens and access tokens.
//!
//! Every time is whole seconds of wall-clock time since the Unix epoch (`jwt::now`), the same
//! clock as the `iat` and `exp` claims: something is expired once `now >= expires_at`. The
//! Tokio clock is not used, so a paused test clock does not age codes or tokens.

use std::collections::HashMap;

use crate::jwt::{Object, SignIn};

/// Identifies a [`Grant`].
pub(crate) type GrantId = u64;

/// Above this many remembered access tokens, expired ones are forgotten on the next insert.
const ACCESS_TOKENS_BEFORE_PURGE: usize = 4096;

/// One user's sign-in to one client, from the authorization code on: every token issued from
/// it, refresh after refresh, belongs to it, and revoking it revokes them all.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) sign_in: SignIn,
    /// The scopes granted at authorization: what a refresh may ask for at most.
    pub(crate) scopes: Vec<String>,
    /// When refresh tokens of this grant stop working (absolute expiration).
    pub(crate) refresh_expires_at: i64,
    revoked: bool,
}

impl Grant {
    /// A grant that is not revoked.
    pub(crate) fn new(
        client_id: String,
        sign_in: SignIn,
        scopes: Vec<String>,
        refresh_expires_at: i64,
    ) -> Grant {
        Grant {
            client_id,
            sign_in,
            scopes,
            refresh_expires_at,
            revoked: false,
        }
    }
}

/// An authorization code and what the authorization request bound to it.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizationCode {
    pub(crate) grant: GrantId,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    /// The `S256` challenge, if the request had one.
    pub(crate) code_challenge: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) expires_at: i64,
    redeemed: bool,
}

impl AuthorizationCode {
    /// A code that has not been redeemed.
    pub(crate) fn new(
        grant: GrantId,
        client_id: String,
        redirect_uri: String,
        code_challenge: Option<String>,
        nonce: Option<String>,
        expires_at: i64,
    ) -> AuthorizationCode {
        AuthorizationCode {
            grant,
            client_id,
            redirect_uri,
            code_challenge,
            nonce,
            expires_at,
            redeemed: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshState {
    /// The newest refresh token of its grant.
    Active,
    /// Used once and replaced: using it again is reuse.
    Rotated,
    /// Revoked (through the revocation endpoint or with its grant).
    Revoked,
}

#[derive(Debug)]
struct RefreshToken {
    grant: GrantId,
    state: RefreshState,
}

/// An access token the mock issued (or a JWT it was asked to revoke).
#[derive(Debug, Clone)]
pub(crate) struct IssuedAccessToken {
    pub(crate) client_id: String,
    pub(crate) grant: Option<GrantId>,
    /// The claims of a reference token (a JWT carries its own).
    pub(crate) claims: Option<Object>,
    pub(crate) expires_at: i64,
    revoked: bool,
}

impl IssuedAccessToken {
    /// A token that is not revoked.
    pub(crate) fn new(
        client_id: String,
        grant: Option<GrantId>,
        claims: Option<Object>,
        expires_at: i64,
    ) -> IssuedAccessToken {
        IssuedAccessToken {
            client_id,
            grant,
            claims,
            expires_at,
            revoked: false,
        }
    }
}

/// Why a code or refresh token was refused: every case answers `invalid_grant`, but tests of
/// the store want to know which rule fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Unknown,
    OtherClient,
    /// A redeemed code or a rotated refresh token came back: its grant is now revoked.
    Replayed,
    Revoked,
    Expired,
}

/// Everything the mock remembers about what it issued.
#[derive(Debug, Default)]
pub(crate) struct Store {
    codes: HashMap<String, AuthorizationCode>,
    grants: HashMap<GrantId, Grant>,
    refresh_tokens: HashMap<String, RefreshToken>,
    /// JWTs by `jti`, reference tokens by the token itself.
    access_tokens: HashMap<String, IssuedAccessToken>,
    next_grant: GrantId,
}

impl Store {
    /// Remembers a new grant and returns its id.
    pub(crate) fn start_grant(&mut self, grant: Grant) -> GrantId {
        self.next_grant += 1;
        self.grants.insert(self.next_grant, grant);
        self.next_grant
    }

    pub(crate) fn insert_code(&mut self, code: String, entry: AuthorizationCode) {
        self.codes.insert(code, entry);
    }

    /// Redeems `code` for `client_id`. The first attempt by the right client uses the code up,
    /// whatever comes of it; a second one revokes everything issued from the code's grant.
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        client_id: &str,
        now: i64,
    ) -> Result<(AuthorizationCode, Grant), Refusal> {
        let entry = self.codes.get_mut(code).ok_or(Refusal::Unknown)?;
        if entry.client_id != client_id {
            return Err(Refusal::OtherClient);
        }
        if entry.redeemed {
            let grant = entry.grant;
            self.revoke_grant(grant);
            return Err(Refusal::Replayed);
        }
        entry.redeemed = true;
        if now >= entry.expires_at {
            return Err(Refusal::Expired);
        }
        let entry = entry.clone();
        let grant = self.live_grant(entry.grant)?.clone();
        Ok((entry, grant))
    }

    /// Checks `token` for `client_id` and lets `accept` look at its grant; only when both
    /// agree is the token rotated (marked used). Using a rotated token revokes its grant.
    pub(crate) fn rotate_refresh_token<T, E>(
        &mut self,
        token: &str,
        client_id: &str,
        now: i64,
        accept: impl FnOnce(GrantId, &Grant) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<Refusal>,
    {
        let entry = self.refresh_tokens.get(token).ok_or(Refusal::Unknown)?;
        let grant_id = entry.grant;
        let grant = self.grants.get(&grant_id).ok_or(Refusal::Unknown)?;
        if grant.client_id != client_id {
            return Err(Refusal::OtherClient.into());
        }
        match entry.state {
            RefreshState::Active => {}
            RefreshState::Rotated => {
                self.revoke_grant(grant_id);
                return Err(Refusal::Replayed.into());
            }
            RefreshState::Revoked => return Err(Refusal::Revoked.into()),
        }
        if grant.revoked {
            return Err(Refusal::Revoked.into());
        }
        if now >= grant.refresh_expires_at {
            return Err(Refusal::Expired.into());
        }
        let accepted = accept(grant_id, grant)?;
        if let Some(entry) = self.refresh_tokens.get_mut(token) {
            entry.state = RefreshState::Rotated;
        }
        Ok(accepted)
    }

    pub(crate) fn insert_refresh_token(&mut self, token: String, grant: GrantId) {
        self.refresh_tokens.insert(
            token,
            RefreshToken {
                grant,
                state: RefreshState::Active,
            },
        );
    }

    /// Remembers an access token under `key` (its `jti`, or the reference token itself).
    pub(crate) fn insert_access_token(&mut self, key: String, token: IssuedAccessToken) {
        if self.access_tokens.len() >= ACCESS_TOKENS_BEFORE_PURGE {
            let now = crate::jwt::now();
            self.access_tokens
                .retain(|_, known| known.expires_at > now || known.revoked);
        }
        self.access_tokens.insert(key, token);
    }

    /// The access token remembered under `key`, if it is neither revoked nor expired nor
    /// part of a revoked grant. `None` too when the key is unknown: see
    /// [`is_access_token_revoked`](Store::is_access_token_revoked) for JWTs.
    pub(crate) fn active_access_token(&self, key: &str, now: i64) -> Option<&IssuedAccessToken> {
        self.access_tokens
            .get(key)
            .filter(|token| !self.is_revoked(token) && now < token.expires_at)
    }

    /// Whether the access token remembered under `key` was revoked (alone or with its grant).
    /// An unknown key is not revoked.
    pub(crate) fn is_access_token_revoked(&self, key: &str) -> bool {
        self.access_tokens
            .get(key)
            .is_some_and(|token| self.is_revoked(token))
    }

    fn is_revoked(&self, token: &IssuedAccessToken) -> bool {
        token.revoked
            || token
                .grant
                .and_then(|grant| self.grants.get(&grant))
                .is_some_and(|grant| grant.revoked)
    }

    /// Revokes the access token remembered under `key` if `client_id` owns it; otherwise, or
    /// if `key` is unknown, does nothing. Returns whether `key` was known.
    pub(crate) fn revoke_access_token(&mut self, key: &str, client_id: &str) -> bool {
        match self.access_tokens.get_mut(key) {
            Some(token) => {
                if token.client_id == client_id {
                    token.revoked = true;
                }
                true
            }
            None => false,
        }
    }

    /// Revokes the JWT access token with this `jti` if `client_id` owns it, remembering it
    /// until `expires_at` even if the mock did not issue it through an endpoint (a minted
    /// token).
    pub(crate) fn revoke_jwt(&mut self, jti: &str, client_id: &str, expires_at: i64) {
        if !self.revoke_access_token(jti, client_id) {
            let mut token = IssuedAccessToken::new(client_id.to_owned(), None, None, expires_at);
            token.revoked = true;
            self.insert_access_token(jti.to_owned(), token);
        }
    }

    /// Revokes the grant of refresh token `token` if `client_id` owns it (RFC 7009 §2.1: the
    /// access tokens of the same grant go with it). Returns whether `token` was known.
    pub(crate) fn revoke_refresh_token(&mut self, token: &str, client_id: &str) -> bool {
        let Some(grant) = self.refresh_tokens.get(token).map(|entry| entry.grant) else {
            return false;
        };
        if self
            .grants
            .get(&grant)
            .is_some_and(|known| known.client_id == client_id)
        {
            self.revoke_grant(grant);
        }
        true
    }

    /// Revokes a grant: its refresh tokens, and (through [`is_revoked`](Store::is_revoked))
    /// every access token issued from it.
    pub(crate) fn revoke_grant(&mut self, grant: GrantId) {
        if let Some(known) = self.grants.get_mut(&grant) {
            known.revoked = true;
        }
        for token in self.refresh_tokens.values_mut() {
            if token.grant == grant {
                token.state = RefreshState::Revoked;
            }
        }
    }

    fn live_grant(&self, grant: GrantId) -> Result<&Grant, Refusal> {
        match self.grants.get(&grant) {
            Some(known) if !known.revoked => Ok(known),
            Some(_) => Err(Refusal::Revoked),
            None => Err(Refusal::Unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::User;

    fn grant(client_id: &str) -> Grant {
        let sign_in = SignIn {
            user: User::default_user(),
            sid: "SID".to_owned(),
            auth_time: 0,
        };
        Grant::new(
            client_id.to_owned(),
            sign_in,
            vec!["openid".to_owned()],
            100,
        )
    }

    fn code(grant: GrantId, expires_at: i64) -> AuthorizationCode {
        AuthorizationCode::new(
            grant,
            "app".to_owned(),
            "uri".to_owned(),
            None,
            None,
            expires_at,
        )
    }

    #[test]
    fn codes_are_single_use_and_a_replay_revokes_the_grant() {
        let mut store = Store::default();
        let id = store.start_grant(grant("app"));
        store.insert_code("C".to_owned(), code(id, 10));
        store.insert_refresh_token("R".to_owned(), id);
        store.insert_access_token(
            "J".to_owned(),
            IssuedAccessToken::new("app".to_owned(), Some(id), None, 50),
        );
        assert_eq!(
            store.redeem_code("C", "other", 0).err(),
            Some(Refusal::OtherClient)
        );
        assert!(store.redeem_code("C", "app", 0).is_ok());
        assert!(store.active_access_token("J", 1).is_some());
        assert_eq!(
            store.redeem_code("C", "app", 0).err(),
            Some(Refusal::Replayed)
        );
        assert!(store.active_access_token("J", 1).is_none());
        assert!(store.is_access_token_revoked("J"));
        let refused = store.rotate_refresh_token("R", "app", 1, |_, _| Ok::<_, Refusal>(()));
        assert_eq!(refused, Err(Refusal::Revoked));
        assert_eq!(
            store.redeem_code("nope", "app", 0).err(),
            Some(Refusal::Unknown)
        );
    }

    #[test]
    fn an_expired_code_is_used_up_all_the_same() {
        let mut store = Store::default();
        let id = store.start_grant(grant("app"));
        store.insert_code("C".to_owned(), code(id, 10));
        assert_eq!(
            store.redeem_code("C", "app", 10).err(),
            Some(Refusal::Expired)
        );
        assert_eq!(
            store.redeem_code("C", "app", 0).err(),
            Some(Refusal::Replayed)
        );
    }

    #[test]
    fn refresh_tokens_rotate_only_when_accepted() {
        let mut store = Store::default();
        let id = store.start_grant(grant("app"));
        store.insert_refresh_token("R1".to_owned(), id);
        let declined =
            store.rotate_refresh_token("R1", "app", 1, |_, _| Err::<(), _>(Refusal::Unknown));
        assert_eq!(declined, Err(Refusal::Unknown));
        let rotate = |store: &mut Store, token: &str| {
            store.rotate_refresh_token(token, "app", 1, |grant, _| Ok::<_, Refusal>(grant))
        };
        assert_eq!(rotate(&mut store, "R1"), Ok(id));
        store.insert_refresh_token("R2".to_owned(), id);
        assert_eq!(
            store.rotate_refresh_token("R2", "other", 1, |_, _| Ok::<_, Refusal>(())),
            Err(Refusal::OtherClient)
        );
        assert_eq!(rotate(&mut store, "R1"), Err(Refusal::Replayed));
        assert_eq!(rotate(&mut store, "R2"), Err(Refusal::Revoked));
        let late = store.start_grant(grant("app"));
        store.insert_refresh_token("R3".to_owned(), late);
        assert_eq!(
            store.rotate_refresh_token("R3", "app", 100, |_, _| Ok::<_, Refusal>(())),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn only_the_owner_revokes() {
        let mut store = Store::default();
        let id = store.start_grant(grant("app"));
        store.insert_refresh_token("R".to_owned(), id);
        store.insert_access_token(
            "A".to_owned(),
            IssuedAccessToken::new("app".to_owned(), None, None, 50),
        );
        assert!(store.revoke_access_token("A", "other"));
        assert!(store.active_access_token("A", 1).is_some());
        assert!(store.revoke_refresh_token("R", "other"));
        assert!(store.revoke_access_token("A", "app"));
        assert!(store.active_access_token("A", 1).is_none());
        assert!(store.revoke_refresh_token("R", "app"));
        assert!(!store.revoke_refresh_token("unknown", "app"));
        assert!(store.active_access_token("A", 60).is_none(), "expired");
    }
}
