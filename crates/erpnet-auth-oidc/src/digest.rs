//! SHA-256, for keys of caches that must not hold a token itself.

/// The SHA-256 digest of `token`.
pub(crate) fn sha256(token: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
