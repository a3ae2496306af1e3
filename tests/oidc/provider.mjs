// A real OpenID provider for releasewatch's tests (#46): panva's oidc-provider with its
// development interactions (any name signs in; the password is not checked). One client: the
// board, confidential, authorization code with PKCE.
//   node provider.mjs PORT REDIRECT_URI CLIENT_SECRET
import Provider from 'oidc-provider';

const [port, redirect, secret] = process.argv.slice(2);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'releasewatch-board',
    client_secret: secret,
    redirect_uris: [redirect],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  // amr: released in every ID token, as the county's provider would (Entra ID, Okta, Keycloak)
  claims: { openid: ['sub', 'amr'], profile: ['preferred_username', 'name'] },
  async findAccount(ctx, sub) {
    return { accountId: sub, async claims() { return { sub, preferred_username: sub, name: sub }; } };
  },
  async loadExistingGrant(ctx) {  // a first-party client: no consent screen
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile');
    await grant.save();
    return grant;
  },
});
// A sign-in says how it was made (RFC 8176 amr): password and one-time code, as the county's
// policy would ask, except for names beginning "one-factor-" (a password only).
const finished = provider.interactionFinished.bind(provider);
provider.interactionFinished = (req, res, result, options) => {
  if (result.login) {
    const oneFactor = String(result.login.accountId).startsWith('one-factor-');
    result.login.amr = oneFactor ? ['pwd'] : ['pwd', 'otp'];
  }
  return finished(req, res, result, options);
};
provider.listen(Number(port), '127.0.0.1', () => console.log(`oidc-provider listening on ${port}`));
