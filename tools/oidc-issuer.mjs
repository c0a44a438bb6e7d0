// A real OpenID Connect provider (npm `oidc-provider`) on 127.0.0.1, for the API's token tests and
// for trying single sign-on locally. It serves discovery, JWKS and the client-credentials grant;
// access tokens are JWTs for the resource (audience) a client asks for. With `device_clients`, it
// also serves the device authorization flow (RFC 8628) for those public clients, with the
// provider's own development sign-in pages: any login (an e-mail) with any password signs in as
// that e-mail, verified, and its access tokens carry `email` and `email_verified`.
//
//   node tools/oidc-issuer.mjs CONFIG.json
//
// CONFIG.json: {
//   "port": 9400,
//   "keys": [<private JWK with kid>, ...],        // the first signs; all are published (rotation)
//   "resources": {"chainlake": 300},              // audience -> access token lifetime in seconds
//   "clients": [{"client_id": "ci-bot", "client_secret": "...",
//                "claims": {"org": "a", "role": "writer"}}],  // extra claims in its tokens
//   "device_clients": ["chainlake-cli"],          // optional: public clients of the device flow
//   "device_code_ttl": 600                        // optional: seconds a user code stays valid
// }
// It prints `ready <issuer>` on stdout once listening.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const extraClaims = Object.fromEntries(config.clients.map((c) => [c.client_id, c.claims || {}]));
const deviceClients = config.device_clients || [];
const person = (email) => ({ email, email_verified: true });

const provider = new Provider(issuer, {
  clients: [
    ...config.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    ...deviceClients.map((id) => ({
      client_id: id,
      application_type: 'native',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'none',
    })),
  ],
  jwks: { keys: config.keys },
  scopes: ['openid', 'offline_access', 'email'],
  claims: { email: ['email', 'email_verified'] },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id, ...person(id) }) }),
  ttl: { DeviceCode: config.device_code_ttl || 600 },
  features: {
    devInteractions: { enabled: deviceClients.length > 0 },
    deviceFlow: { enabled: deviceClients.length > 0 },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => Object.keys(config.resources)[0],
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        const ttl = config.resources[resource];
        if (ttl === undefined) throw new Error(`unknown resource ${resource}`);
        return {
          scope: 'api',
          audience: resource,
          accessTokenTTL: ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: config.keys[0].alg || 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: (ctx, token) => (token.accountId ? person(token.accountId) : extraClaims[token.clientId]),
});
provider.proxy = false;
provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));

provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
