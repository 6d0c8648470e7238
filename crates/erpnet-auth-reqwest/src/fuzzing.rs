//! The crate's reader of `WWW-Authenticate` challenges, for the fuzz targets
//! in `fuzz/`. Compiled only with `--cfg fuzzing`, which cargo-fuzz sets:
//! not API.

use http::HeaderMap;

/// Whether a 401 with these headers may be cured by a new token, as
/// `BearerAuth` decides before its one retry.
pub fn new_token_may_help(headers: &HeaderMap) -> bool {
    crate::challenge::new_token_may_help(headers)
}

/// The `error` parameter of a Bearer challenge in one header value, if any.
pub fn bearer_error(value: &str) -> Option<&str> {
    crate::challenge::bearer_error(value)
}
