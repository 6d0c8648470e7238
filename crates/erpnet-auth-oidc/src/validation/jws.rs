//! Splitting and decoding a compact JWS (RFC 7515) without trusting any of it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::jose::Algorithm;
use crate::validation::error::ValidationError;

impl Algorithm {
    pub(crate) fn verification(self) -> &'static dyn aws_lc_rs::signature::VerificationAlgorithm {
        use aws_lc_rs::signature as s;
        match self {
            Algorithm::RS256 => &s::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &s::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &s::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &s::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &s::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &s::RSA_PSS_2048_8192_SHA512,
            Algorithm::ES256 => &s::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &s::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &s::ED25519,
        }
    }

    pub(crate) fn rsa_parameters(self) -> Option<&'static aws_lc_rs::signature::RsaParameters> {
        use aws_lc_rs::signature as s;
        Some(match self {
            Algorithm::RS256 => &s::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &s::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &s::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &s::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &s::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &s::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }
}
/// The JOSE header fields that matter for validation. `jku`, `x5u`, `x5c` and
/// `jwk` are never read: keys come only from the configured key set.
#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    pub(crate) alg: String,
    #[serde(default)]
    pub(crate) typ: Option<String>,
    #[serde(default)]
    pub(crate) kid: Option<String>,
    #[serde(default)]
    pub(crate) crit: Option<serde_json::Value>,
}

/// A compact JWS split into its parts, with header and payload decoded but
/// nothing yet trusted.
pub(crate) struct Compact<'a> {
    pub(crate) header: Header,
    pub(crate) signing_input: &'a [u8],
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

/// Splits and decodes a compact JWS. Checks shape only.
pub(crate) fn decode(token: &str) -> Result<Compact<'_>, ValidationError> {
    let malformed = ValidationError::Malformed;
    let mut parts = token.splitn(4, '.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not a compact JWS (three dot-separated parts)"));
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| malformed("header is not base64url"))?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|_| malformed("header is not a JSON object with a string `alg`"))?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| malformed("payload is not base64url"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| malformed("signature is not base64url"))?;
    // Everything before the last dot: no index computed from the parts.
    let signing_input = token
        .rsplit_once('.')
        .map(|(input, _)| input.as_bytes())
        .ok_or(malformed("not a compact JWS (three dot-separated parts)"))?;
    Ok(Compact {
        header,
        signing_input,
        payload,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::looks_like_jwt;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn splits_a_compact_jws() {
        let token = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","kid":"AB","typ":"at+jwt"}"#),
            b64("{}"),
            b64("sig")
        );
        let jws = decode(&token).expect("valid");
        assert_eq!(jws.header.alg, "RS256");
        assert_eq!(jws.header.kid.as_deref(), Some("AB"));
        assert_eq!(jws.signature, b"sig");
        assert_eq!(
            jws.signing_input,
            token.rsplit_once('.').expect("dot").0.as_bytes()
        );
        assert!(looks_like_jwt(&token));
    }

    #[test]
    fn refuses_malformed_tokens() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!!.e30.c2ln",
            &format!("{}.e30.c2ln", b64("[]")),
            &format!("{}.e30.c2ln", b64(r#"{"alg":5}"#)),
            &format!("{}.e30.c2ln", b64(r#"{"typ":"JWT"}"#)),
            &format!("{}.***.c2ln", b64(r#"{"alg":"RS256"}"#)),
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
        assert!(!looks_like_jwt("enrt_0123"));
        assert!(!looks_like_jwt("a.b.c.d"));
    }
}
