//! The crate's reader of the `Authorization` header, for the fuzz targets in
//! `fuzz/`. Compiled only with `--cfg fuzzing`, which cargo-fuzz sets: not
//! API.

use http::HeaderMap;

/// The bearer token of a request as `ValidateBearerLayer` reads it: `Ok(None)`
/// without one, `Err` with the `error_description` of a malformed header.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    crate::bearer::token(headers).map_err(|malformed| malformed.description())
}

/// Why a token the validator refused makes the request malformed (400), if
/// it does: the `error_description`.
pub fn malformed(token: &str) -> Option<&'static str> {
    crate::bearer::malformed(token).map(|malformed| malformed.description())
}
