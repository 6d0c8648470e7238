//! Users' sessions at the mock, as IdentityServer keeps them in its authentication cookie:
//! who is signed in in a browser and to which clients, so that single sign-on, RP-initiated
//! logout and back-channel logout work as at ERP.net.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, header};

use crate::jwt::SignIn;
use crate::keys::random_hex;

/// The name of the mock's session cookie.
pub(crate) const SESSION_COOKIE: &str = "idsrv.session";

/// One browser's sign-in at the mock.
#[derive(Debug, Clone)]
pub(crate) struct UserSession {
    pub(crate) sign_in: SignIn,
    /// The clients this session signed in to, in order, each once.
    pub(crate) clients: Vec<String>,
}

/// Every live session, by the random handle its cookie carries (the handle is not the `sid`,
/// which clients see in tokens).
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_handle: HashMap<String, UserSession>,
}

impl Sessions {
    /// Starts a session for `sign_in` and returns its cookie handle.
    pub(crate) fn start(&mut self, sign_in: SignIn) -> String {
        let handle = random_hex(32);
        self.by_handle.insert(
            handle.clone(),
            UserSession {
                sign_in,
                clients: Vec::new(),
            },
        );
        handle
    }

    pub(crate) fn get(&self, handle: &str) -> Option<&UserSession> {
        self.by_handle.get(handle)
    }

    /// Remembers that the session signed in to `client_id`.
    pub(crate) fn add_client(&mut self, handle: &str, client_id: &str) {
        if let Some(session) = self.by_handle.get_mut(handle)
            && !session.clients.iter().any(|known| known == client_id)
        {
            session.clients.push(client_id.to_owned());
        }
    }

    /// Ends the session with this cookie handle.
    pub(crate) fn end_by_handle(&mut self, handle: &str) -> Option<UserSession> {
        self.by_handle.remove(handle)
    }

    /// Ends the session whose `sid` this is.
    pub(crate) fn end_by_sid(&mut self, sid: &str) -> Option<UserSession> {
        let handle = self
            .by_handle
            .iter()
            .find(|(_, session)| session.sign_in.sid == sid)
            .map(|(handle, _)| handle.clone())?;
        self.by_handle.remove(&handle)
    }

    /// Ends every session of the user with this login.
    pub(crate) fn end_by_login(&mut self, login: &str) -> Vec<UserSession> {
        let handles: Vec<String> = self
            .by_handle
            .iter()
            .filter(|(_, session)| session.sign_in.user.login == login)
            .map(|(handle, _)| handle.clone())
            .collect();
        handles
            .iter()
            .filter_map(|handle| self.by_handle.remove(handle))
            .collect()
    }
}

/// The session handle the request's `Cookie` header carries, if any.
pub(crate) fn session_handle(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// `Set-Cookie` for a new session (`None` value: removes the cookie), scoped to the issuer's
/// path, HttpOnly and `SameSite=Lax` as IdentityServer sets it; not `Secure`, since the mock
/// serves plain HTTP on loopback.
pub(crate) fn session_cookie(issuer_path: &str, handle: Option<&str>) -> HeaderValue {
    let path = if issuer_path.is_empty() {
        "/"
    } else {
        issuer_path
    };
    let cookie = match handle {
        Some(handle) => format!("{SESSION_COOKIE}={handle}; Path={path}; HttpOnly; SameSite=Lax"),
        None => format!(
            "{SESSION_COOKIE}=; Path={path}; HttpOnly; SameSite=Lax; Max-Age=0; \
             Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        ),
    };
    // Handles are hex and paths come from the builder's issuer path: always a valid header.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::User;

    fn sign_in(login: &str, sid: &str) -> SignIn {
        SignIn {
            user: User::new(login),
            sid: sid.to_owned(),
            auth_time: 0,
        }
    }

    #[test]
    fn sessions_end_by_handle_sid_or_user() {
        let mut sessions = Sessions::default();
        let a = sessions.start(sign_in("jdoe", "S1"));
        let b = sessions.start(sign_in("jdoe", "S2"));
        let c = sessions.start(sign_in("mary", "S3"));
        sessions.add_client(&a, "app");
        sessions.add_client(&a, "app");
        assert_eq!(sessions.get(&a).map(|s| s.clients.len()), Some(1));
        assert_eq!(
            sessions.end_by_sid("S3").map(|s| s.sign_in.sid),
            Some("S3".into())
        );
        assert!(sessions.get(&c).is_none());
        assert_eq!(sessions.end_by_login("jdoe").len(), 2);
        assert!(sessions.get(&a).is_none() && sessions.get(&b).is_none());
        assert!(sessions.end_by_handle(&a).is_none());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; idsrv.session=ABC; b=2"),
        );
        assert_eq!(session_handle(&headers).as_deref(), Some("ABC"));
        assert_eq!(session_handle(&HeaderMap::new()), None);
        let set = session_cookie("/id", Some("ABC"));
        assert_eq!(
            set.to_str().ok(),
            Some("idsrv.session=ABC; Path=/id; HttpOnly; SameSite=Lax")
        );
        assert!(
            session_cookie("", None)
                .to_str()
                .is_ok_and(|v| v.contains("Max-Age=0") && v.contains("Path=/;"))
        );
    }
}
