// A certified OpenID provider (panva/oidc-provider, pinned in package.json) on
// 127.0.0.1, configured for erpnet-auth's conformance tests (tests/peer/).
//
// Started by the Rust harness as `node server.mjs` with a piped stdin: it
// listens on a random port, prints `ISSUER http://127.0.0.1:PORT` once ready,
// and exits when its stdin closes, so it never outlives the test process.
//
// What it offers (the constants below are mirrored in tests/peer/mod.rs):
// - clients `cc-basic` and `cc-post`: confidential, client credentials, one
//   registered for each authentication method (the provider accepts either
//   secret method from both);
// - client `native-app`: public (`none`), native, loopback redirect
//   `http://127.0.0.1/callback` (any port, RFC 8252), authorization code with
//   PKCE, the device authorization grant (RFC 8628), rotating refresh tokens;
// - client `resource-server`: confidential, no grants, may introspect;
// - resource `urn:erpnet-auth:peer:jwt-api`: JWT access tokens (RS256,
//   `typ: at+jwt`, `aud` = the resource, scopes `read update`);
// - resource `urn:erpnet-auth:peer:opaque-api`: opaque access tokens (the
//   provider introspects only opaque ones), scopes `read update`;
// - client `web-app` (only when WEB_APP_URL is set, e.g. http://127.0.0.1:PORT):
//   confidential (`client_secret_post`, secret `web-app-secret`), web, redirect
//   `WEB_APP_URL/callback`, post-logout `WEB_APP_URL/`, back-channel logout
//   `WEB_APP_URL/backchannel-logout` (with `sid`); it signs in through the
//   provider's own login and consent pages (devInteractions);
// - client `cc-jwt` (only when CLIENT_JWKS is set, a JSON JWK set of public
//   keys): confidential, client credentials, authenticating with
//   `private_key_jwt` (RFC 7523) signed by one of those keys;
// - a headless interaction for every other client: GET /interaction/:uid
//   signs in the fixed account `alice` and grants what the client asked for,
//   then redirects on;
// - GET /__test/device?user_code=…&action=approve|deny: what a user does on the
//   verification page, headless: approve signs ACCOUNT in and grants the
//   scopes the device asked for; deny refuses (access_denied). 404 for an
//   unknown or expired code;
// - GET /__test/rotate?keep=true|false: a new signing key; the old ones stay
//   published (keep=true) or are dropped (keep=false). Answers the kids.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';
// Internals of the pinned version, used only to swap the key set at run time
// (the provider reads `jwks` once, at construction).
import initializeKeystore from 'oidc-provider/lib/helpers/initialize_keystore.js';
// The provider's own user-code normalisation (upper case, no separators), to
// find a device code the way its verification page does.
import { normalize as normalizeUserCode } from 'oidc-provider/lib/helpers/user_codes.js';

const JWT_API = 'urn:erpnet-auth:peer:jwt-api';
const OPAQUE_API = 'urn:erpnet-auth:peer:opaque-api';
const ACCOUNT = 'alice';
const NO_GRANTS = { grant_types: [], response_types: [], redirect_uris: [] };
const WEB_APP = 'web-app';
const WEB_APP_URL = process.env.WEB_APP_URL;
const CLIENT_JWKS = process.env.CLIENT_JWKS ? JSON.parse(process.env.CLIENT_JWKS) : undefined;

function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    ...privateKey.export({ format: 'jwk' }),
    kid: crypto.randomBytes(8).toString('hex'),
    alg: 'RS256',
    use: 'sig',
  };
}

// Newest first: the provider signs with the first key that fits.
let signingKeys = [newSigningKey()];

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const resourceServers = {
  [JWT_API]: {
    scope: 'read update',
    audience: JWT_API,
    accessTokenTTL: 3600,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  },
  [OPAQUE_API]: {
    scope: 'read update',
    audience: OPAQUE_API,
    accessTokenTTL: 3600,
    accessTokenFormat: 'opaque',
  },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'cc-basic',
      client_secret: 'cc-basic-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      ...NO_GRANTS,
      grant_types: ['client_credentials'],
    },
    {
      client_id: 'cc-post',
      client_secret: 'cc-post-secret',
      token_endpoint_auth_method: 'client_secret_post',
      ...NO_GRANTS,
      grant_types: ['client_credentials'],
    },
    {
      client_id: 'native-app',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: [
        'authorization_code',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code',
      ],
      response_types: ['code'],
      scope: 'openid profile email offline_access',
    },
    {
      client_id: 'resource-server',
      client_secret: 'resource-server-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      ...NO_GRANTS,
    },
    ...(CLIENT_JWKS ? [{
      client_id: 'cc-jwt',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: CLIENT_JWKS,
      ...NO_GRANTS,
      grant_types: ['client_credentials'],
    }] : []),
    ...(WEB_APP_URL ? [{
      client_id: WEB_APP,
      client_secret: 'web-app-secret',
      token_endpoint_auth_method: 'client_secret_post',
      application_type: 'web',
      redirect_uris: [`${WEB_APP_URL}/callback`],
      post_logout_redirect_uris: [`${WEB_APP_URL}/`],
      backchannel_logout_uri: `${WEB_APP_URL}/backchannel-logout`,
      backchannel_logout_session_required: true,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      scope: 'openid profile email offline_access',
    }] : []),
  ],
  jwks: { keys: signingKeys },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  claims: { profile: ['name'], email: ['email', 'email_verified'] },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub, name: 'Alice Tester', email: 'alice@example.test', email_verified: true,
        };
      },
    };
  },
  // The ID token carries the claims its scopes ask for (`name` with `profile`):
  // the web app's access tokens are for an API, which the userinfo endpoint
  // does not accept.
  conformIdTokenClaims: false,
  // Outgoing calls (back-channel logout tokens) go to the web app on loopback,
  // which the provider's SSRF protection (its own dispatcher) refuses.
  fetch: (url, options) => {
    const { dispatcher: _ssrfProtection, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  features: {
    // The provider's own login and consent pages, for the web app in a browser.
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async defaultResource(_ctx, _client, oneOf) {
        return oneOf;
      },
      async getResourceServerInfo(_ctx, resource) {
        const info = resourceServers[resource];
        if (!info) throw new errors.InvalidTarget();
        return info;
      },
    },
  },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  clientBasedCORS: () => false,
  ttl: {
    AccessToken: 3600,
    ClientCredentials: 3600,
    IdToken: 300,
    RefreshToken: 24 * 3600,
    Grant: 24 * 3600,
    Session: 24 * 3600,
    Interaction: 600,
    AuthorizationCode: 60,
  },
});

// The headless browser part: every interaction (login, then consent) is
// completed at once for ACCOUNT, granting what the client asked for.
async function interaction(ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: ACCOUNT } };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    result = { error: 'access_denied', error_description: `unexpected prompt ${prompt.name}` };
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: false,
  });
  ctx.status = 303;
  ctx.set('Location', returnTo);
  ctx.body = '';
}

async function decideDevice(ctx) {
  const code = await provider.DeviceCode.findByUserCode(
    normalizeUserCode(String(ctx.query.user_code ?? '')),
  );
  if (!code || code.isExpired || code.accountId || code.error) {
    ctx.status = 404;
    ctx.body = { error: 'no pending device code' };
    return;
  }
  if (ctx.query.action === 'deny') {
    Object.assign(code, { error: 'access_denied', errorDescription: 'the user refused' });
  } else {
    const scope = code.params.scope ?? 'openid';
    const grant = new provider.Grant({ accountId: ACCOUNT, clientId: code.clientId });
    grant.addOIDCScope(scope);
    Object.assign(code, {
      accountId: ACCOUNT,
      authTime: Math.floor(Date.now() / 1000),
      grantId: await grant.save(),
      scope,
    });
  }
  await code.save();
  ctx.body = { decided: ctx.query.action ?? 'approve' };
}

function rotate(ctx) {
  const keep = ctx.query.keep === 'true';
  signingKeys = [newSigningKey(), ...(keep ? signingKeys : [])];
  initializeKeystore.call(provider, { keys: signingKeys });
  ctx.body = { kids: signingKeys.map((k) => k.kid) };
}

// Is this interaction the web app's (which shows the provider's own pages)?
async function isWebApp(ctx) {
  try {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    return details.params.client_id === WEB_APP;
  } catch {
    return false;
  }
}

provider.use(async (ctx, next) => {
  const interactionUid = ctx.method === 'GET' && ctx.path.match(/^\/interaction\/([\w-]+)$/);
  if (interactionUid) return (await isWebApp(ctx)) ? next() : interaction(ctx);
  if (ctx.method === 'GET' && ctx.path === '/__test/rotate') return rotate(ctx);
  if (ctx.method === 'GET' && ctx.path === '/__test/device') return decideDevice(ctx);
  return next();
});

server.on('request', provider.callback());

// Die with the test process: the harness holds our stdin open.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();

console.log(`ISSUER ${issuer}`);
