// A real OpenID provider (oidc-provider) on loopback, for accessguard's tests only.
//
// Usage: node provider.mjs CONFIG.json
//   CONFIG: {"jwks_file": path to a private JWKS, "client": {client_id, client_secret, redirect_uris}}
// Prints "READY <issuer>" once listening on a free 127.0.0.1 port.
//
// The "user" is the test itself: it follows the redirect to /interaction/<uid>
// and posts the account and the methods it used (amr), optionally an older login
// time (ts). The provider derives acr from amr (eidas1 needs a second factor),
// asks for a new login when the requested acr_values are not met by the session,
// and issues ID tokens (RS256) and JWT access tokens (ES256, RFC 9068) that
// carry acr, amr and auth_time. Also serves its metadata at Pro Santé Connect's
// non-standard path, counts JWKS requests (/test/stats) and reloads its keys
// from jwks_file on POST /test/rotate.
import { readFileSync } from 'node:fs';
import * as http from 'node:http';

import Provider, { interactionPolicy } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const RESOURCE = 'urn:accessguard:demo';
const SECOND_FACTORS = new Set(['mfa', 'otp', 'hwk', 'sc']);
const ACCOUNTS = {
  'dr.martin': { roles: ['doctor'], organisation: 'chu-caen' },
  'inf.dubois': { roles: ['nurse'], organisation: 'chu-caen' },
  'ext.nobody': { roles: ['doctor'], organisation: 'clinique-externe' },
};
const stats = { jwks_requests: 0 };

function loginPolicy() {
  const policy = interactionPolicy.base();
  // Step-up: a session whose acr is not among the requested acr_values logs in again.
  policy.get('login').checks.add(new interactionPolicy.Check('acr_values', 'requested acr not met by the session', (ctx) => {
    const requested = ctx.oidc.params.acr_values?.split(' ');
    if (!requested || ctx.oidc.result?.login || requested.includes(ctx.oidc.session.acr)) {
      return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }
    return interactionPolicy.Check.REQUEST_PROMPT;
  }));
  return policy;
}

function authnClaims(source) {
  return source ? { acr: source.acr, amr: source.amr, auth_time: source.authTime } : {};
}

function makeProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: [{
      ...config.client,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      require_auth_time: true,
    }],
    jwks: JSON.parse(readFileSync(config.jwks_file, 'utf8')),
    acrValues: ['eidas1'],
    scopes: ['openid', 'profile'],
    claims: { openid: ['sub', 'acr', 'amr', 'auth_time'], profile: ['roles', 'organisation'] },
    conformIdTokenClaims: false,
    cookies: { keys: ['accessguard-test-provider-cookie-key'] },
    pkce: { required: () => true },
    findAccount: async (ctx, id) => ACCOUNTS[id] && {
      accountId: id,
      claims: async () => ({ sub: id, ...ACCOUNTS[id] }),
    },
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'patients',
          audience: RESOURCE,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    extraTokenClaims: async (ctx, token) => ({
      ...authnClaims(ctx.oidc.entities.AuthorizationCode),
      ...(ACCOUNTS[token.accountId] ?? {}),
    }),
    // First-party test client: consent is implied.
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid profile');
      grant.addOIDCClaims(['roles', 'organisation']);
      grant.addResourceScope(RESOURCE, 'patients');
      await grant.save();
      return grant;
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}`, policy: loginPolicy() },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  });
  provider.use(async (ctx, next) => {
    if (ctx.path === '/jwks') stats.jwks_requests += 1;
    await next();
  });
  return provider;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

function json(res, status, document) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(document));
}

let provider;
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, provider.issuer);
    if (url.pathname === '/.well-known/wallet-openid-configuration') {
      req.url = '/.well-known/openid-configuration';
    } else if (url.pathname === '/test/stats') {
      return json(res, 200, stats);
    } else if (url.pathname === '/test/rotate' && req.method === 'POST') {
      provider = makeProvider(provider.issuer);
      return json(res, 200, { rotated: true });
    } else if (/^\/interaction\/[^/]+$/.test(url.pathname)) {
      const { uid, prompt, params } = await provider.interactionDetails(req, res);
      return json(res, 200, { uid, prompt: prompt.name, reasons: prompt.reasons, params });
    } else if (/^\/interaction\/[^/]+\/login$/.test(url.pathname) && req.method === 'POST') {
      const form = await readForm(req);
      const amr = (form.get('amr') ?? '').split(',').filter(Boolean);
      const login = {
        accountId: form.get('account'),
        amr,
        acr: amr.some((m) => SECOND_FACTORS.has(m)) ? 'eidas1' : undefined,
        ts: form.has('ts') ? Number(form.get('ts')) : undefined,
      };
      return await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    }
    return provider.callback()(req, res);
  } catch (err) {
    return json(res, 500, { error: String(err) });
  }
});

server.listen(0, '127.0.0.1', () => {
  provider = makeProvider(`http://127.0.0.1:${server.address().port}`);
  console.log(`READY ${provider.issuer}`);
});
