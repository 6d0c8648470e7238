//! [`Failure`]: what a command reports, and the exit code it earns.

/// What went wrong, and which exit code it earns.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The thing checked failed (exit 1).
    Check(String),
    /// The command line or the configuration is wrong (exit 2).
    Usage(String),
}

impl From<erpnet_auth_oidc::Error> for Failure {
    fn from(error: erpnet_auth_oidc::Error) -> Self {
        match error {
            erpnet_auth_oidc::Error::Config(_) => Failure::Usage(error.to_string()),
            other => Failure::Check(other.to_string()),
        }
    }
}

impl From<erpnet_auth_oidc::ConfigError> for Failure {
    fn from(error: erpnet_auth_oidc::ConfigError) -> Self {
        Failure::Usage(error.to_string())
    }
}

impl From<erpnet_auth_oidc::SignInError> for Failure {
    fn from(error: erpnet_auth_oidc::SignInError) -> Self {
        match error {
            erpnet_auth_oidc::SignInError::Token(error) => error.into(),
            other => Failure::Check(other.to_string()),
        }
    }
}

pub(crate) type Outcome = Result<(), Failure>;
