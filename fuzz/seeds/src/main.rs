//! Writes the fuzz targets' seed corpora, `fuzz/corpus/<target>/`, and the
//! fixed key set the token targets check against, `fuzz/fixtures/jwks.json`,
//! from real shapes: what the mock ERP.net Identity (the testkit) and
//! panva's oidc-provider (the conformance peer in `tests/peers/`) send, what
//! this library's own `ValidateBearerLayer` answers, and requests as browsers
//! and tools send them.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml -p erpnet-auth-fuzz-seeds
//! ```
//!
//! Needs Node.js; the peer's package is installed with `npm ci` when its
//! `node_modules` is missing. Every run replaces the corpus and the key set
//! (tokens and keys are new each time), so commit them together.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use erpnet_auth_fuzz::{AUDIENCE, ED25519_KID, ISSUER};
use erpnet_auth_oidc::{Algorithm, JwksCache, JwtValidator};
use erpnet_auth_testkit::{
    Alg, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_RESOURCE_ID,
    DEFAULT_RESOURCE_SECRET, Endpoint, Failure, MockIdentity, TokenSpec,
};
use erpnet_auth_tower::ValidateBearerLayer;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tower::{Layer, ServiceExt};

/// A hundred years: seed tokens for the `validate` target must outlive the
/// corpus.
const LONG: i64 = 100 * 365 * 86_400;
/// The loopback redirect URI the `loopback` target listens on.
const REDIRECT_URI: &str = "http://127.0.0.1:49152/callback";

#[tokio::main]
async fn main() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/seeds is inside fuzz/")
        .to_path_buf();
    let corpus = Corpus::new(fuzz.join("corpus"));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");

    let identity = MockIdentity::start().await;
    let jwks = Answer::get(&http, &identity.jwks_uri()).await;
    std::fs::create_dir_all(fuzz.join("fixtures")).expect("fuzz/fixtures");
    std::fs::write(fuzz.join("fixtures/jwks.json"), &jwks.body).expect("fixtures/jwks.json");

    testkit_tokens(&corpus, &identity);
    testkit_documents(&corpus, &http, &identity, &jwks).await;
    testkit_token_endpoint(&corpus, &http, &identity).await;
    testkit_introspection(&corpus, &http, &identity).await;
    testkit_sign_in(&corpus, &http, &identity).await;
    own_challenges(&corpus, &identity, &jwks).await;
    oidc_provider(&corpus, &http, &fuzz).await;
    by_hand(&corpus);
    println!("{}", corpus.summary());
}

/// The corpus folder, emptied first: every seed comes from this program.
struct Corpus {
    root: PathBuf,
}

impl Corpus {
    fn new(root: PathBuf) -> Self {
        if root.exists() {
            std::fs::remove_dir_all(&root).expect("remove the old corpus");
        }
        Self { root }
    }

    fn add(&self, target: &str, name: &str, bytes: impl AsRef<[u8]>) {
        let folder = self.root.join(target);
        std::fs::create_dir_all(&folder).expect("a corpus folder");
        std::fs::write(folder.join(name), bytes).expect("a seed");
    }

    fn summary(&self) -> String {
        let mut summary = String::new();
        let mut folders: Vec<_> = std::fs::read_dir(&self.root)
            .expect("the corpus")
            .map(|entry| entry.expect("an entry").path())
            .collect();
        folders.sort();
        for folder in folders {
            let count = std::fs::read_dir(&folder).expect("a folder").count();
            let name = folder.file_name().unwrap_or_default().to_string_lossy();
            let _ = writeln!(summary, "{name:<22} {count} seeds");
        }
        summary
    }
}

/// An HTTP answer as the targets that read one frame it:
/// `STATUS\nCONTENT-TYPE\nBODY`.
struct Answer {
    status: u16,
    content_type: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.bytes().await.expect("a body").to_vec();
        Self {
            status,
            content_type,
            headers,
            body,
        }
    }

    async fn get(http: &reqwest::Client, url: &str) -> Self {
        Self::read(http.get(url).send().await.expect("GET")).await
    }

    /// A form post; `basic` authenticates the client with HTTP Basic.
    async fn post(
        http: &reqwest::Client,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = http
            .post(url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        Self::read(request.send().await.expect("POST")).await
    }

    fn framed(&self) -> Vec<u8> {
        let mut framed = format!("{}\n{}\n", self.status, self.content_type).into_bytes();
        framed.extend_from_slice(&self.body);
        framed
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Tokens the mock signs: for the readers that take a token as it arrives,
/// and, issued for the fixed validator, for `validate`.
fn testkit_tokens(corpus: &Corpus, identity: &MockIdentity) {
    let user = || {
        TokenSpec::access_token()
            .subject("jdoe")
            .claim("id", json!("7e9f2c4d-5b1a-4e8c-9d3f-2a6b8c0e1f47"))
            .claim("name", json!("John Doe"))
            .claim("email", json!("jdoe@example.com"))
            .claim("email_verified", json!("true"))
            .claim("user_type", json!("InternalUser"))
            .claim("is_admin", json!("false"))
            .claim("db", json!("mydb"))
    };
    let tokens = [
        (
            "testkit-client-credentials",
            identity.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]),
        ),
        ("testkit-user", identity.mint(user())),
        (
            "testkit-scope-string",
            identity.mint(TokenSpec::access_token().scope_string("read update")),
        ),
        ("testkit-id-token", identity.mint(TokenSpec::id_token())),
        (
            "testkit-expired",
            identity.mint(TokenSpec::access_token().expires_in(-3600)),
        ),
        (
            "testkit-alg-none",
            identity.mint(TokenSpec::access_token().alg(Alg::None)),
        ),
        (
            "testkit-hs256-confusion",
            identity.mint(TokenSpec::access_token().alg(Alg::Hs256)),
        ),
        (
            "testkit-crit",
            identity.mint(TokenSpec::access_token().crit(["exp"])),
        ),
        (
            "testkit-no-kid",
            identity.mint(TokenSpec::access_token().kid(None)),
        ),
    ];
    for (name, token) in &tokens {
        corpus.add("jws", name, token);
        corpus.add("inspect", name, token);
    }
    corpus.add(
        "inspect",
        "testkit-header-value",
        format!("Bearer {}\n", tokens[0].1),
    );
    corpus.add(
        "inspect",
        "testkit-reference-token",
        identity.mint_reference_token(DEFAULT_CLIENT_ID, &["read"], Duration::from_secs(3600)),
    );
    corpus.add(
        "authorization_header",
        "testkit-bearer",
        format!("application/json\nBearer {}", tokens[0].1),
    );
    corpus.add(
        "authorization_header",
        "testkit-grpc",
        format!("application/grpc\nBearer {}", tokens[1].1),
    );

    // For the fixed validator: its issuer and audience, a long life.
    let valid = |spec: TokenSpec| {
        identity.mint(
            spec.issuer(ISSUER)
                .audiences([AUDIENCE, "TableAPI"])
                .expires_in(LONG),
        )
    };
    let valid_tokens = [
        (
            "testkit-client-credentials",
            valid(TokenSpec::access_token()),
        ),
        ("testkit-user", valid(user())),
        (
            "testkit-scope-string",
            valid(TokenSpec::access_token().scope_string("read update")),
        ),
        (
            "testkit-audience-string",
            identity.mint(
                TokenSpec::access_token()
                    .issuer(ISSUER)
                    .audience_str(AUDIENCE)
                    .expires_in(LONG),
            ),
        ),
        (
            "testkit-not-yet-valid",
            valid(TokenSpec::access_token().not_before_offset(LONG / 2)),
        ),
        (
            "testkit-wrong-issuer",
            identity.mint(TokenSpec::access_token()),
        ),
    ];
    for (name, token) in &valid_tokens {
        corpus.add("validate", name, token);
    }
    corpus.add(
        "authorization_header",
        "testkit-valid",
        format!("application/json\nBearer {}", valid_tokens[0].1),
    );
    corpus.add(
        "authorization_header",
        "testkit-valid-user",
        format!("text/plain\nbearer  {}", valid_tokens[1].1),
    );

    // `HEADER\nPAYLOAD` for the target to sign with its Ed25519 key: the
    // mock's claims sets under an EdDSA header.
    let header = json!({"alg": "EdDSA", "kid": ED25519_KID, "typ": "at+jwt"}).to_string();
    for (name, token) in &valid_tokens[..4] {
        let payload = token.split('.').nth(1).expect("a payload");
        let payload = URL_SAFE_NO_PAD.decode(payload).expect("base64url");
        let mut seed = format!("{header}\n").into_bytes();
        seed.extend_from_slice(&payload);
        corpus.add("validate", &format!("{name}-eddsa"), seed);
    }
    let scp = json!({
        "iss": ISSUER, "aud": AUDIENCE, "exp": 4_102_444_800u64, "nbf": 1_700_000_000,
        "iat": 1_700_000_000, "scp": "read update", "client_id": "okta-style",
        "sub": "00u1a2b3c4", "jti": "AT.x1y2z3",
    });
    corpus.add("validate", "scp-string-eddsa", format!("{header}\n{scp}"));
}

/// The mock's discovery document and key set.
async fn testkit_documents(
    corpus: &Corpus,
    http: &reqwest::Client,
    identity: &MockIdentity,
    jwks: &Answer,
) {
    let discovery = Answer::get(http, &identity.discovery_url()).await;
    corpus.add(
        "discovery",
        "testkit",
        framed_document(&discovery, &identity.issuer()),
    );
    corpus.add("jwks", "testkit", &jwks.body);
    corpus.add("authority", "testkit-issuer", identity.issuer());
}

/// `CONTENT-TYPE\nISSUER\nDOCUMENT`, as the `discovery` target reads it.
fn framed_document(answer: &Answer, issuer: &str) -> Vec<u8> {
    let mut framed = format!("{}\n{issuer}\n", answer.content_type).into_bytes();
    framed.extend_from_slice(&answer.body);
    framed
}

/// The mock's token endpoint: tokens, refusals, and the faults it injects.
async fn testkit_token_endpoint(corpus: &Corpus, http: &reqwest::Client, identity: &MockIdentity) {
    let url = identity.token_endpoint();
    let grant = |secret| {
        [
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", secret),
            ("scope", "read update"),
        ]
    };
    let seeds = [
        (
            "testkit-client-credentials",
            Answer::post(http, &url, &grant(DEFAULT_CLIENT_SECRET), None).await,
        ),
        (
            "testkit-invalid-client",
            Answer::post(http, &url, &grant("wrong-secret"), None).await,
        ),
        (
            "testkit-invalid-scope",
            Answer::post(
                http,
                &url,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", DEFAULT_CLIENT_ID),
                    ("client_secret", DEFAULT_CLIENT_SECRET),
                    ("scope", "no-such-scope"),
                ],
                None,
            )
            .await,
        ),
        (
            "testkit-unsupported-grant",
            Answer::post(
                http,
                &url,
                &[
                    ("grant_type", "password"),
                    ("client_id", DEFAULT_CLIENT_ID),
                    ("client_secret", DEFAULT_CLIENT_SECRET),
                    ("username", "jdoe"),
                    ("password", "secret"),
                ],
                None,
            )
            .await,
        ),
    ];
    for (name, answer) in &seeds {
        corpus.add("token_response", name, answer.framed());
    }
    let faults = [
        ("testkit-truncated", Failure::MalformedBody),
        ("testkit-503", Failure::Status(503)),
        (
            "testkit-temporarily-unavailable",
            Failure::OAuthError("temporarily_unavailable".into()),
        ),
        (
            "testkit-html",
            Failure::Body {
                status: 502,
                content_type: "text/html".into(),
                body: "<html><body><h1>502 Bad Gateway</h1></body></html>".into(),
            },
        ),
        (
            "testkit-expires-in-zero",
            Failure::Body {
                status: 200,
                content_type: "application/json; charset=utf-8".into(),
                body: json!({
                    "access_token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
                    "expires_in": 0,
                    "token_type": "Bearer",
                    "scope": ["read"],
                })
                .to_string(),
            },
        ),
    ];
    for (name, failure) in faults {
        identity.fail_next(Endpoint::Token, 1, failure);
        let answer = Answer::post(http, &url, &grant(DEFAULT_CLIENT_SECRET), None).await;
        corpus.add("token_response", name, answer.framed());
    }
}

/// The mock's introspection endpoint: active, inactive, refused.
async fn testkit_introspection(corpus: &Corpus, http: &reqwest::Client, identity: &MockIdentity) {
    let url = identity.introspection_endpoint();
    let reference = identity.mint_reference_token(
        DEFAULT_CLIENT_ID,
        &["read", "update"],
        Duration::from_secs(3600),
    );
    let jwt = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let resource = Some((DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET));
    let seeds = [
        (
            "testkit-active-reference",
            Answer::post(http, &url, &[("token", &reference)], resource).await,
        ),
        (
            "testkit-active-jwt",
            Answer::post(
                http,
                &url,
                &[("token", &jwt), ("token_type_hint", "access_token")],
                resource,
            )
            .await,
        ),
        (
            "testkit-inactive",
            Answer::post(http, &url, &[("token", "enrt_not-a-token")], resource).await,
        ),
        (
            "testkit-invalid-client",
            Answer::post(
                http,
                &url,
                &[("token", &reference)],
                Some((DEFAULT_RESOURCE_ID, "wrong")),
            )
            .await,
        ),
    ];
    for (name, answer) in &seeds {
        corpus.add("introspection", name, answer.framed());
    }
    identity.fail_next(Endpoint::Introspection, 1, Failure::MalformedBody);
    let truncated = Answer::post(http, &url, &[("token", &reference)], resource).await;
    corpus.add("introspection", "testkit-truncated", truncated.framed());
}

/// A native sign-in against the mock: the redirect the browser follows to
/// the loopback listener, and the token answers of the code exchange and of
/// a refresh.
async fn testkit_sign_in(corpus: &Corpus, http: &reqwest::Client, identity: &MockIdentity) {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let mut authorize = reqwest::Url::parse(&identity.authorization_endpoint()).expect("a URL");
    authorize
        .query_pairs_mut()
        .append_pair("client_id", DEFAULT_PUBLIC_CLIENT_ID)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile offline_access read")
        .append_pair("state", "Xq3vQ9sJcT1mW8rY")
        .append_pair("nonce", "n-0S6_WzA2Mj")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    let redirect = Answer::get(http, authorize.as_str()).await;
    let location = redirect
        .headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a redirect to the loopback listener")
        .to_owned();
    corpus.add("loopback", "testkit-callback", browser_request(&location));
    identity.deny_next_authorization();
    let denied = Answer::get(http, authorize.as_str()).await;
    if let Some(location) = denied
        .headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        corpus.add(
            "loopback",
            "testkit-access-denied",
            browser_request(location),
        );
    }

    let code = reqwest::Url::parse(&location)
        .expect("a URL")
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .expect("a code");
    let exchange = Answer::post(
        http,
        &identity.token_endpoint(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
            ("client_id", DEFAULT_PUBLIC_CLIENT_ID),
        ],
        None,
    )
    .await;
    corpus.add(
        "token_response",
        "testkit-authorization-code",
        exchange.framed(),
    );
    let tokens = exchange.json();
    if let Some(id_token) = tokens["id_token"].as_str() {
        corpus.add("jws", "testkit-sign-in-id-token", id_token);
        corpus.add("inspect", "testkit-sign-in-id-token", id_token);
    }
    if let Some(refresh_token) = tokens["refresh_token"].as_str() {
        let refreshed = Answer::post(
            http,
            &identity.token_endpoint(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", DEFAULT_PUBLIC_CLIENT_ID),
            ],
            None,
        )
        .await;
        corpus.add("token_response", "testkit-refresh", refreshed.framed());
        let replayed = Answer::post(
            http,
            &identity.token_endpoint(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", DEFAULT_PUBLIC_CLIENT_ID),
            ],
            None,
        )
        .await;
        corpus.add("token_response", "testkit-invalid-grant", replayed.framed());
    }
}

/// A browser's request for `url` (on the loopback listener), as Chromium
/// sends it.
fn browser_request(url: &str) -> String {
    let url = reqwest::Url::parse(url).expect("a URL");
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    format!(
        "GET {target} HTTP/1.1\r\nHost: {}:{}\r\nConnection: keep-alive\r\n\
         Upgrade-Insecure-Requests: 1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) \
         AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
         Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
         Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: document\r\n\
         Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default(),
    )
}

/// The challenges this library's own `ValidateBearerLayer` sends, for the
/// reader `BearerAuth` applies to them.
async fn own_challenges(corpus: &Corpus, identity: &MockIdentity, jwks: &Answer) {
    let jwks =
        JwksCache::from_json(&String::from_utf8_lossy(&jwks.body), 8).expect("the mock's key set");
    let validator = JwtValidator::builder_for_jwks(identity.issuer(), jwks)
        .audience("DomainAPI")
        .algorithms([Algorithm::RS256])
        .require_scopes(["admin"])
        .build()
        .expect("a validator");
    let layer = ValidateBearerLayer::new(validator).realm("ERP.net Domain API");
    let service = layer.layer(tower::service_fn(|_: http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(()))
    }));
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let cases = [
        ("own-missing-token", None),
        (
            "own-invalid-token",
            Some("Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln".to_owned()),
        ),
        ("own-invalid-request", Some("Bearer a,b".to_owned())),
        ("own-insufficient-scope", Some(format!("Bearer {token}"))),
    ];
    let mut all = Vec::new();
    for (name, authorization) in cases {
        let mut request = http::Request::new(());
        if let Some(value) = authorization {
            request.headers_mut().insert(
                http::header::AUTHORIZATION,
                value.parse().expect("a header value"),
            );
        }
        let response = service.clone().oneshot(request).await.expect("an answer");
        let challenge = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .expect("a challenge")
            .as_bytes()
            .to_vec();
        corpus.add("www_authenticate", name, &challenge);
        all.push(challenge);
    }
    corpus.add("www_authenticate", "own-all", all.join(&b'\n'));
}

/// What panva's oidc-provider (OpenID Certified) sends: its discovery
/// document and key set, JWT and opaque access tokens, its refusals, its
/// introspection answers and its userinfo challenges.
async fn oidc_provider(corpus: &Corpus, http: &reqwest::Client, fuzz: &Path) {
    let peer = fuzz.join("../tests/peers/oidc-provider");
    if !peer.join("node_modules").exists() {
        let status = tokio::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&peer)
            .status()
            .await
            .expect("npm");
        assert!(status.success(), "npm ci in {}", peer.display());
    }
    let mut node = tokio::process::Command::new("node")
        .arg("server.mjs")
        .current_dir(&peer)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut lines = BufReader::new(node.stdout.take().expect("stdout")).lines();
    let issuer = loop {
        let line = lines.next_line().await.expect("the peer's output");
        let line = line.expect("the peer prints its issuer");
        if let Some(issuer) = line.strip_prefix("ISSUER ") {
            break issuer.to_owned();
        }
    };
    corpus.add("authority", "oidc-provider-issuer", &issuer);

    let discovery = Answer::get(http, &format!("{issuer}/.well-known/openid-configuration")).await;
    corpus.add(
        "discovery",
        "oidc-provider",
        framed_document(&discovery, &issuer),
    );
    let metadata = discovery.json();
    let endpoint = |name: &str| metadata[name].as_str().expect(name).to_owned();
    let jwks = Answer::get(http, &endpoint("jwks_uri")).await;
    corpus.add("jwks", "oidc-provider", &jwks.body);

    let token_url = endpoint("token_endpoint");
    let basic = Some(("cc-basic", "cc-basic-secret"));
    let grant = |resource| {
        [
            ("grant_type", "client_credentials"),
            ("resource", resource),
            ("scope", "read update"),
        ]
    };
    let jwt_answer = Answer::post(
        http,
        &token_url,
        &grant("urn:erpnet-auth:peer:jwt-api"),
        basic,
    )
    .await;
    corpus.add("token_response", "oidc-provider-jwt", jwt_answer.framed());
    let jwt = jwt_answer.json()["access_token"]
        .as_str()
        .expect("a JWT access token")
        .to_owned();
    corpus.add("jws", "oidc-provider-access-token", &jwt);
    corpus.add("inspect", "oidc-provider-access-token", &jwt);
    corpus.add(
        "authorization_header",
        "oidc-provider-bearer",
        format!("application/json\nBearer {jwt}"),
    );
    let opaque_answer = Answer::post(
        http,
        &token_url,
        &grant("urn:erpnet-auth:peer:opaque-api"),
        basic,
    )
    .await;
    corpus.add(
        "token_response",
        "oidc-provider-opaque",
        opaque_answer.framed(),
    );
    let opaque = opaque_answer.json()["access_token"]
        .as_str()
        .expect("an opaque access token")
        .to_owned();
    let refusals = [
        (
            "oidc-provider-invalid-client",
            Answer::post(
                http,
                &token_url,
                &grant("urn:erpnet-auth:peer:jwt-api"),
                Some(("cc-basic", "wrong")),
            )
            .await,
        ),
        (
            "oidc-provider-invalid-target",
            Answer::post(http, &token_url, &grant("urn:unknown"), basic).await,
        ),
        (
            "oidc-provider-unsupported-grant",
            Answer::post(http, &token_url, &[("grant_type", "password")], basic).await,
        ),
    ];
    for (name, answer) in &refusals {
        corpus.add("token_response", name, answer.framed());
    }

    let introspect = endpoint("introspection_endpoint");
    let server = Some(("resource-server", "resource-server-secret"));
    let answers = [
        (
            "oidc-provider-active",
            Answer::post(http, &introspect, &[("token", &opaque)], server).await,
        ),
        (
            "oidc-provider-inactive",
            Answer::post(http, &introspect, &[("token", "not-a-token")], server).await,
        ),
        (
            "oidc-provider-invalid-client",
            Answer::post(
                http,
                &introspect,
                &[("token", &opaque)],
                Some(("resource-server", "wrong")),
            )
            .await,
        ),
    ];
    for (name, answer) in &answers {
        corpus.add("introspection", name, answer.framed());
    }

    let userinfo = endpoint("userinfo_endpoint");
    let mut challenges = Vec::new();
    for (name, token) in [
        ("oidc-provider-no-token", None),
        ("oidc-provider-bad-token", Some(&opaque)),
    ] {
        let mut request = http.get(&userinfo);
        if let Some(token) = token {
            request = request.bearer_auth(format!("{token}x"));
        }
        let answer = Answer::read(request.send().await.expect("GET userinfo")).await;
        if let Some(challenge) = answer.headers.get(http::header::WWW_AUTHENTICATE) {
            corpus.add("www_authenticate", name, challenge.as_bytes());
            challenges.push(challenge.as_bytes().to_vec());
        }
    }
    assert!(
        !challenges.is_empty(),
        "the peer's userinfo sends challenges"
    );
    drop(node.stdin.take());
    let _ = node.kill().await;
}

/// Shapes no server here sends, written as the specifications and other
/// providers write them.
fn by_hand(corpus: &Corpus) {
    for (name, value) in [
        ("erpnet-instance", "myinstance"),
        ("erpnet-issuer", "https://myinstance.my.erp.net/id"),
        (
            "entra-id",
            "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
        ),
        ("keycloak", "https://sso.example.com/realms/main/"),
        ("loopback-v6", "http://[::1]:8080/id"),
        ("plain-http", "http://id.example.com"),
        ("query", "https://id.example.com/?tenant=1"),
    ] {
        corpus.add("authority", name, value);
    }
    for (name, value) in [
        (
            "rfc6750-invalid-token",
            r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#,
        ),
        (
            "rfc6750-insufficient-scope",
            r#"Bearer realm="example", error="insufficient_scope", scope="read update""#,
        ),
        (
            "rfc9728-resource-metadata",
            r#"Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource", error="invalid_token""#,
        ),
        (
            "several-schemes",
            "Basic realm=\"x, y\", Bearer error=\"invalid_request\"\nNegotiate\nDPoP algs=\"ES256 PS256\", error=\"use_dpop_nonce\"",
        ),
        (
            "escaped-quote",
            r#"Bearer realm="a \"quoted\", realm", error=invalid_token"#,
        ),
    ] {
        corpus.add("www_authenticate", name, value);
    }
    for (name, value) in [
        ("basic", "application/json\nBasic ZGVtbzpwQDU1dzByZA=="),
        ("tab", "application/json\nBearer\tabc.def.ghi"),
        ("two-headers", "application/json\nBearer abc\nBearer def"),
        (
            "reference-token",
            format!("application/json\nBearer enrt_{}", "0f".repeat(32)).as_str(),
        ),
        ("grpc-missing", "application/grpc+proto\n"),
    ] {
        corpus.add("authorization_header", name, value);
    }
    for (name, value) in [
        (
            "favicon",
            "GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1:49152\r\nAccept: image/avif,image/webp,*/*\r\n\r\n",
        ),
        (
            "post-callback",
            "POST /callback HTTP/1.1\r\nHost: 127.0.0.1:49152\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 22\r\n\r\ncode=abc&state=xyz",
        ),
        (
            "absolute-form",
            "GET http://127.0.0.1:49152/callback?code=abc&state=xyz HTTP/1.1\r\nHost: 127.0.0.1:49152\r\n\r\n",
        ),
        (
            "other-origin",
            "GET http://evil.example/callback?code=abc HTTP/1.1\r\n\r\n",
        ),
        (
            "curl",
            "GET /callback?code=abc&state=xyz&iss=http%3A%2F%2F127.0.0.1%3A5000%2Fid HTTP/1.1\r\nHost: 127.0.0.1:49152\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
        ),
    ] {
        corpus.add("loopback", name, value);
    }
    for (name, value) in [
        (
            "symmetric-and-encryption",
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}, {"kty": "RSA", "use": "enc", "n": "sXch", "e": "AQAB"}]}),
        ),
        (
            "empty-modulus",
            json!({"keys": [{"kty": "RSA", "n": "", "e": "AQAB"}, {"kty": "RSA", "n": "AA", "e": "AQAB"}]}),
        ),
    ] {
        corpus.add("jwks", name, value.to_string());
    }
    corpus.add("jwks", "ec-and-okp", generated_keys().to_string());
}

/// A key set of fresh P-256, P-384 and Ed25519 keys, the kinds beside RSA
/// that the validator takes.
fn generated_keys() -> Value {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
        Ed25519KeyPair, KeyPair as _,
    };
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let ec = |alg, crv: &str, name: &str| {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).expect("an EC key");
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("the EC key");
        // Uncompressed point: 0x04, then x and y of equal length.
        let point = &pair.public_key().as_ref()[1..];
        let (x, y) = point.split_at(point.len() / 2);
        json!({"kty": "EC", "crv": crv, "use": "sig", "alg": name, "kid": name, "x": b64(x), "y": b64(y)})
    };
    let ed25519 = Ed25519KeyPair::generate().expect("an Ed25519 key");
    json!({"keys": [
        ec(&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", "ES256"),
        ec(&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", "ES384"),
        {"kty": "OKP", "crv": "Ed25519", "kid": "EdDSA", "x": b64(ed25519.public_key().as_ref())},
    ]})
}
