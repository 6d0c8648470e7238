//! The `WWW-Authenticate` reader of `BearerAuth`: after a 401, does a new
//! token stand a chance? Each input line is one header value.
#![no_main]

use erpnet_auth_fuzz::headers;
use erpnet_auth_reqwest::fuzzing::{bearer_error, new_token_may_help};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let values = headers(http::header::WWW_AUTHENTICATE, data.split(|&b| b == b'\n'));
    let errors: Vec<&str> = values
        .values()
        .filter_map(|value| value.to_str().ok())
        .filter_map(bearer_error)
        .collect();
    // A retry unless some Bearer challenge names an error other than
    // `invalid_token`.
    let expected = errors
        .iter()
        .all(|error| error.eq_ignore_ascii_case("invalid_token"));
    assert_eq!(new_token_may_help(&values), expected, "{errors:?}");
    for error in errors {
        // The code is a piece of the header value, quotes taken off.
        assert!(!error.starts_with('"') && !error.ends_with('"') || error == "\"");
    }
});
