// A real OpenID Provider for the tests: the npm package oidc-provider on loopback.
//
// Settings come as JSON in OIDC_TEST_SETTINGS: {module, port, issuer, clients}. Accounts need
// no list: the login typed on the provider's own sign-in page (devInteractions) names one.
// The login is the account's id, and so its subject (sub). A plain email
// ("fellow1@hospital.org") is a verified account with that email; a query string
// ("account=a1&email=a@b.org&email_verified=false&name=A") spells out the claims, and leaving
// email out gives an account that shares none. Consent is granted by the provider itself, as a
// hospital's provider does for an app its administrators registered.
import { pathToFileURL } from 'node:url';

const settings = JSON.parse(process.env.OIDC_TEST_SETTINGS);
const { default: Provider } = await import(pathToFileURL(settings.module).href);

function claimsOf(login) {
  if (!login.includes('=')) {
    return { sub: login, email: login, email_verified: true, name: nameOf(login) };
  }
  const params = new URLSearchParams(login);
  const claims = { sub: login };
  if (params.has('email')) {
    claims.email = params.get('email');
    // "absent": as Microsoft Entra ID, which sends xms_edov instead.
    if (params.get('email_verified') !== 'absent') {
      claims.email_verified = params.get('email_verified') !== 'false';
    }
  }
  if (params.has('xms_edov')) claims.xms_edov = params.get('xms_edov') === 'true';
  claims.name = params.get('name') || nameOf(claims.email || params.get('account') || 'someone');
  return claims;
}

function nameOf(text) {
  return text.split('@')[0].split(/[._-]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ');
}

const provider = new Provider(settings.issuer, {
  clients: settings.clients,
  cookies: { keys: ['test-only-cookie-key-0123456789'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified', 'xms_edov'], profile: ['name'] },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  // Tokens of the client named "short-lived" expire after 5 seconds (the tests move the app's
  // clock on instead of waiting).
  ttl: {
    IdToken: (ctx, token, client) => (client.clientId === 'short-lived' ? 5 : 3600),
  },
  async findAccount(ctx, id) {
    const claims = claimsOf(id);
    return { accountId: id, claims: async () => claims };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Error</title><h1>${out.error}</h1><p>${out.error_description || ''}</p>`;
  },
});

const server = provider.listen(settings.port, '127.0.0.1', () => {
  process.stdout.write(`listening on ${settings.port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
