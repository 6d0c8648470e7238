//! `erpnet-auth inspect`: a token as the tool reads it from standard input, a
//! file or the environment, decoded and explained. Whatever the token holds,
//! what reaches the terminal has no control or formatting character left but
//! the line breaks of the report itself.
#![no_main]

use erpnet_auth_cli::inspection::{decode, inspect, token_text};
use libfuzzer_sys::fuzz_target;

/// Characters that must never reach a terminal as they are (the tool's
/// `output::safe` escapes them): controls, bidirectional overrides and
/// isolates, zero-width and other invisible formatting characters.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

fuzz_target!(|input: &str| {
    let Some(token) = token_text(input) else {
        return;
    };
    assert_eq!(token, token.trim());
    match inspect(token) {
        Ok(inspection) => {
            let shown = inspection.to_string();
            let raw: Vec<char> = shown.chars().filter(|&c| is_unsafe(c)).collect();
            assert!(raw.is_empty(), "unescaped {raw:?} in {shown}");
        }
        Err(message) => assert!(decode(token).is_err(), "{message}"),
    }
});
