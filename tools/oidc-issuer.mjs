// A real OpenID Connect provider (npm `oidc-provider`) on 127.0.0.1, for the API's token tests and
// for trying single sign-on locally. It serves discovery, JWKS and the client-credentials grant;
// access tokens are JWTs for the resource (audience) a client asks for.
//
//   node tools/oidc-issuer.mjs CONFIG.json
//
// CONFIG.json: {
//   "port": 9400,
//   "keys": [<private JWK with kid>, ...],        // the first signs; all are published (rotation)
//   "resources": {"chainlake": 300},              // audience -> access token lifetime in seconds
//   "clients": [{"client_id": "ci-bot", "client_secret": "...",
//                "claims": {"org": "a", "role": "writer"}}]   // extra claims in its tokens
// }
// It prints `ready <issuer>` on stdout once listening.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const extraClaims = Object.fromEntries(config.clients.map((c) => [c.client_id, c.claims || {}]));

const provider = new Provider(issuer, {
  clients: config.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
  })),
  jwks: { keys: config.keys },
  features: {
    devInteractions: { enabled: false },
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
  extraTokenClaims: (ctx, token) => extraClaims[token.clientId],
});
provider.proxy = false;
provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));

provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
