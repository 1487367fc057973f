// Resolvers for schema.graphql, mirroring bff-web/src/types/*.rs.
import { GraphQLError } from 'graphql';

// Reviews are fetched once per product with a window of 20; `reviews(first:)`
// and `averageRating` share that fetch (REVIEW_WINDOW in the Rust gateway).
const REVIEW_WINDOW = 20;
const MAX_PAGE = 100;
const page = (first, max) => Math.min(Math.max(first, 0), max);

const formats = new Map();
const money = (cents, currency) => ({ cents, currency });
const formatted = ({ cents, currency }) => {
  let f = formats.get(currency);
  if (!f) {
    f = new Intl.NumberFormat('en-US', { style: 'currency', currency });
    formats.set(currency, f);
  }
  return f.format(cents / 100);
};

// The Rust gateway prints timestamps with chrono's to_rfc3339 (`+00:00`).
const rfc3339 = (s) => new Date(s).toISOString().replace('.000Z', 'Z').replace(/Z$/, '+00:00');
// Legacy inventory: `YYYY-MM-DD HH:MM:SS` in UTC (RFC 3339 tolerated).
const legacyTime = (s) => rfc3339(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(s.trim()) ? `${s.trim().replace(' ', 'T')}Z` : s);

const unauthenticated = (msg) => new GraphQLError(msg, { extensions: { code: 'UNAUTHENTICATED' } });
const ownerOrStaff = (caller, userId) => {
  if (!caller) throw unauthenticated('sign in to see this');
  if (caller.sub !== userId && !caller.roles.some((r) => r === 'support' || r === 'admin')) {
    throw new GraphQLError('only the user or staff may see this', { extensions: { code: 'FORBIDDEN' } });
  }
};
const reviewsOf = (product, { loaders }) => loaders.reviewsByProduct.load({ id: product.id, limit: REVIEW_WINDOW });

export const resolvers = {
  Query: {
    me: (_, __, { caller, loaders }) => {
      if (!caller) throw unauthenticated('`me` needs a signed-in user');
      return loaders.users.load(caller.sub);
    },
    product: (_, { id }, { loaders }) => loaders.products.load(id),
  },
  User: {
    email: (user, _, { caller }) => {
      ownerOrStaff(caller, user.id);
      return user.email;
    },
    orders: async (user, { first }, { caller, loaders }) => {
      ownerOrStaff(caller, user.id);
      const n = page(first, MAX_PAGE);
      if (n === 0) return [];
      return (await loaders.ordersByUser.load({ id: user.id, limit: n })).slice(0, n);
    },
    recommendations: async (user, { first }, { loaders }) => {
      const n = page(first, MAX_PAGE);
      if (n === 0) return [];
      const ids = (await loaders.recommendations.load({ id: user.id, limit: n })).slice(0, n);
      return (await loaders.products.loadMany(ids)).filter((p) => p && !(p instanceof Error));
    },
  },
  Product: {
    price: (p) => money(p.priceCents, p.currency),
    reviews: async (p, { first }, ctx) => (await reviewsOf(p, ctx)).slice(0, page(first, REVIEW_WINDOW)),
    averageRating: async (p, _, ctx) => {
      const list = await reviewsOf(p, ctx);
      if (list.length === 0) return null;
      const mean = list.reduce((sum, r) => sum + r.rating, 0) / list.length;
      return Math.round(mean * 100) / 100;
    },
    stock: async (p, _, { loaders }) => {
      const s = await loaders.stock.load(p.sku);
      if (!s) return null;
      const available = Math.max(s.QTY, 0);
      return { sku: s.SKU, available, inStock: available > 0, warehouse: s.WH, updatedAt: legacyTime(s.UPDATED) };
    },
  },
  Order: {
    total: (o) => money(o.totalCents, o.currency),
    createdAt: (o) => rfc3339(o.createdAt),
    items: (o) => o.items.map((item) => ({ item, currency: o.currency })),
  },
  OrderItem: {
    product: ({ item }, _, { loaders }) => loaders.products.load(item.productId),
    quantity: ({ item }) => item.quantity,
    unitPrice: ({ item, currency }) => money(item.unitPriceCents, currency),
  },
  Review: {
    author: (r, _, { loaders }) => loaders.users.load(r.userId),
    createdAt: (r) => rfc3339(r.createdAt),
  },
  Money: { formatted },
};
