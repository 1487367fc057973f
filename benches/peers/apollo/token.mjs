// Mints HS256 tokens like `bff token`: node token.mjs SUB [COUNT]
// With COUNT, prints tokens for SUB1..SUBCOUNT (e.g. `u 200` → u1..u200).
import jwt from 'jsonwebtoken';

const secret = process.env.BFF_JWT_SECRET;
if (!secret) throw new Error('BFF_JWT_SECRET is not set');
const [sub = 'u1', count] = process.argv.slice(2);
const subs = count ? Array.from({ length: Number(count) }, (_, i) => `${sub}${i + 1}`) : [sub];
for (const s of subs) {
  const claims = { sub: s, roles: ['customer'], scope: 'orders:write reviews:write', tier: 'enterprise' };
  console.log(jwt.sign(claims, secret, { algorithm: 'HS256', expiresIn: '2h' }));
}
