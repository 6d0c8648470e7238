//! Test users: who signs in at the mock's authorization endpoint, and the ERP.net user claims
//! their tokens carry.

use aws_lc_rs::digest::{SHA256, digest};

/// The login name of the user registered when a mock starts without users of its own.
pub const DEFAULT_USER: &str = "jdoe";

/// The password of every user unless [`User::password`] says otherwise: what the mock's
/// sign-in page ([`MockIdentityBuilder::sign_in_page`](crate::MockIdentityBuilder::sign_in_page))
/// accepts.
pub const DEFAULT_PASSWORD: &str = "correct horse battery";

/// `db` of users unless [`User::db`] says otherwise (the same database as service tokens'
/// `client_db`).
const DEFAULT_DB: &str = "mockdb";

/// `tid` of users unless [`User::tid`] says otherwise.
const DEFAULT_TENANT_ID: &str = "8b6ad1c2-5f3e-4a4e-9d0b-3f1f0e9c2a10";

/// The kind of an ERP.net user (the `user_type` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum UserType {
    /// An employee of the enterprise: `InternalUser`.
    #[default]
    InternalUser,
    /// A customer or partner from the community: `ExternalCommunityUser`.
    ExternalCommunityUser,
    /// A system user that cannot sign in interactively: `SystemUserNoLogin`.
    SystemUserNoLogin,
}

impl UserType {
    /// The claim value, e.g. `"InternalUser"`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::InternalUser => "InternalUser",
            UserType::ExternalCommunityUser => "ExternalCommunityUser",
            UserType::SystemUserNoLogin => "SystemUserNoLogin",
        }
    }
}

/// A user who can sign in at the mock's authorization endpoint. Without a UI (the default),
/// the authorization request names one with `login_hint`, or the first registered user signs
/// in; with the mock's sign-in page, the user types their login and password
/// ([`DEFAULT_PASSWORD`] unless [`password`](User::password) says otherwise).
///
/// Every setter but [`password`](User::password) is named after the claim it fills. `Debug`
/// never prints the password.
///
/// ```
/// use erpnet_auth_testkit::{User, UserType};
///
/// let user = User::new("mary")
///     .name("Mary Major")
///     .email("mary@example.com")
///     .is_admin(true)
///     .user_type(UserType::ExternalCommunityUser);
/// assert_eq!(user.login(), "mary");
/// assert_eq!(user.guid().len(), 36);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub(crate) login: String,
    pub(crate) password: String,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) email_verified: bool,
    pub(crate) is_admin: bool,
    pub(crate) locale: String,
    pub(crate) user_type: UserType,
    pub(crate) db: String,
    pub(crate) tid: String,
}

impl User {
    /// A user with this login name (the `sub` claim): an internal, non-admin user with the
    /// login as display name, the e-mail `{login}@example.com` (verified), locale `en`, and a
    /// GUID derived from the login, so it is the same in every run.
    pub fn new(login: impl Into<String>) -> User {
        let login = login.into();
        User {
            id: guid_for(&login),
            name: login.clone(),
            email: format!("{login}@example.com"),
            email_verified: true,
            is_admin: false,
            locale: "en".to_owned(),
            user_type: UserType::InternalUser,
            db: DEFAULT_DB.to_owned(),
            tid: DEFAULT_TENANT_ID.to_owned(),
            password: DEFAULT_PASSWORD.to_owned(),
            login,
        }
    }

    /// Sets the password the sign-in page accepts (default [`DEFAULT_PASSWORD`]).
    pub fn password(mut self, password: impl Into<String>) -> User {
        self.password = password.into();
        self
    }

    /// The default user: [`DEFAULT_USER`] (`jdoe`), named `John Doe`.
    pub fn default_user() -> User {
        User::new(DEFAULT_USER).name("John Doe")
    }

    /// Sets the user's GUID (the `id` claim, ERP.net's stable user id).
    pub fn id(mut self, guid: impl Into<String>) -> User {
        self.id = guid.into();
        self
    }

    /// Sets the display name (`name`).
    pub fn name(mut self, name: impl Into<String>) -> User {
        self.name = name.into();
        self
    }

    /// Sets the e-mail address (`email`).
    pub fn email(mut self, email: impl Into<String>) -> User {
        self.email = email.into();
        self
    }

    /// Sets whether the e-mail address is verified (`email_verified`, sent as the string
    /// `"true"` or `"false"` as ERP.net does).
    pub fn email_verified(mut self, verified: bool) -> User {
        self.email_verified = verified;
        self
    }

    /// Sets whether the user is an administrator (`is_admin`, sent as the string `"true"` or
    /// `"false"` as ERP.net does).
    pub fn is_admin(mut self, admin: bool) -> User {
        self.is_admin = admin;
        self
    }

    /// Sets the locale (`locale`, default `en`).
    pub fn locale(mut self, locale: impl Into<String>) -> User {
        self.locale = locale.into();
        self
    }

    /// Sets the kind of user (`user_type`).
    pub fn user_type(mut self, user_type: UserType) -> User {
        self.user_type = user_type;
        self
    }

    /// Sets the database name (`db`, default `mockdb`).
    pub fn db(mut self, db: impl Into<String>) -> User {
        self.db = db.into();
        self
    }

    /// Sets the tenant id (`tid`).
    pub fn tid(mut self, tid: impl Into<String>) -> User {
        self.tid = tid.into();
        self
    }

    /// The login name: the `sub` claim.
    pub fn login(&self) -> &str {
        &self.login
    }

    /// The user's GUID: the `id` claim.
    pub fn guid(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("login", &self.login)
            .field("password", &"[redacted]")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("is_admin", &self.is_admin)
            .field("locale", &self.locale)
            .field("user_type", &self.user_type)
            .field("db", &self.db)
            .field("tid", &self.tid)
            .finish()
    }
}

impl Default for User {
    fn default() -> User {
        User::default_user()
    }
}

/// A GUID-shaped id (`8-4-4-4-12` lowercase hex) from the SHA-256 of `login`.
fn guid_for(login: &str) -> String {
    let hash = digest(&SHA256, login.as_bytes());
    let hex: String = hash.as_ref()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_is_stable_and_guid_shaped() {
        let guid = User::new("jdoe").guid().to_owned();
        assert_eq!(guid, User::new("jdoe").guid());
        assert_ne!(guid, User::new("mary").guid());
        let groups: Vec<usize> = guid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(
            guid.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_lowercase())
        );
    }

    #[test]
    fn setters_change_what_they_say() {
        let user = User::new("x")
            .id("guid")
            .name("X")
            .email("x@x")
            .email_verified(false)
            .is_admin(true)
            .locale("bg")
            .user_type(UserType::SystemUserNoLogin)
            .db("db2")
            .tid("t");
        assert_eq!(user.guid(), "guid");
        assert_eq!(
            (
                user.name.as_str(),
                user.email.as_str(),
                user.locale.as_str()
            ),
            ("X", "x@x", "bg")
        );
        assert!(!user.email_verified && user.is_admin);
        assert_eq!(user.user_type.as_str(), "SystemUserNoLogin");
        assert_eq!((user.db.as_str(), user.tid.as_str()), ("db2", "t"));
        assert_eq!(User::default().login(), DEFAULT_USER);
        let user = User::new("y").password("hunter2");
        assert_eq!(user.password, "hunter2");
        assert!(!format!("{user:?}").contains("hunter2"));
        assert_eq!(User::new("z").password, DEFAULT_PASSWORD);
    }
}
