// The peer BFF: Apollo Server (standalone, i.e. its built-in Node http
// integration) serving the web client's two page operations over the demo
// REST services. Run: NODE_ENV=production node server.mjs
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { GraphQLError } from 'graphql';
import jwt from 'jsonwebtoken';
import { resolvers } from './resolvers.mjs';
import { requestServices } from './datasources.mjs';

const secret = process.env.BFF_JWT_SECRET;
if (!secret) {
  console.error('BFF_JWT_SECRET is not set');
  process.exit(1);
}

// The caller from `Authorization: Bearer <HS256 JWT>`; no header: anonymous;
// a bad token: the whole request is refused with 401 (docs/contract.md §3).
function callerFrom(header) {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  try {
    if (!m) throw new Error('not a bearer token');
    const claims = jwt.verify(m[1], secret, { algorithms: ['HS256'] });
    if (typeof claims.sub !== 'string' || !claims.sub) throw new Error('no sub');
    return { sub: claims.sub, roles: Array.isArray(claims.roles) ? claims.roles : [], tier: claims.tier };
  } catch {
    throw new GraphQLError('invalid or expired token', {
      extensions: {
        code: 'UNAUTHENTICATED',
        http: { status: 401, headers: new Map([['www-authenticate', 'Bearer']]) },
      },
    });
  }
}

const server = new ApolloServer({
  typeDefs: readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'),
  resolvers,
  introspection: false,
});
// The server's cache (an in-memory LRU by default) is shared by every
// request's data sources: RESTDataSource's HTTP cache lives there.
const { cache } = server;

const { url } = await startStandaloneServer(server, {
  listen: { port: Number(process.env.PORT ?? 4000), host: process.env.HOST ?? '127.0.0.1' },
  context: async ({ req }) => {
    const caller = callerFrom(req.headers.authorization);
    const requestId = req.headers['x-request-id'] || randomUUID();
    return { caller, loaders: requestServices({ cache, caller, requestId }) };
  },
});
console.log(`apollo peer BFF at ${url}`);
