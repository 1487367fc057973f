// One RESTDataSource per demo REST service (docs/contract.md §4), plus the
// per-request DataLoaders that batch lookups the way the Rust gateway's
// loaders do (same routes, same keys, at most 100 ids a call).
import { RESTDataSource } from '@apollo/datasource-rest';
import DataLoader from 'dataloader';

// Which answers are cached, and for how long (seconds).
//   PEER_CACHE=rust (default): the Rust gateway's defaults: shared entries
//     per URL, the service's Cache-Control max-age when it sends one (products:
//     60 s), else users/reviews 30 s, inventory/orders 5 s, recommendations
//     60 s; orders keyed per caller.
//   PEER_CACHE=http: RESTDataSource's stock behaviour: only what
//     Cache-Control allows (here: products).
//   PEER_CACHE=off: nothing is cached across requests.
const CACHE_MODE = process.env.PEER_CACHE ?? 'rust';
const BATCH = 100;

const env = (name) => {
  const value = process.env[`BFF_UPSTREAM_${name}`];
  if (!value) throw new Error(`BFF_UPSTREAM_${name} is not set`);
  return value;
};
const list = (ids) => ids.map(encodeURIComponent).join(',');
const chunks = (items) => {
  const out = [];
  for (let i = 0; i < items.length; i += BATCH) out.push(items.slice(i, i + BATCH));
  return out;
};

class Service extends RESTDataSource {
  constructor(name, ttl, { cache, caller, requestId }) {
    super({ cache });
    this.baseURL = env(name);
    this.ttl = ttl;
    this.caller = caller;
    this.requestId = requestId;
  }

  // Identity headers only from the verified token, like the Rust gateway.
  willSendRequest(_path, request) {
    request.headers['x-request-id'] = this.requestId;
    if (this.caller) {
      request.headers['x-user-id'] = this.caller.sub;
      if (this.caller.roles.length) request.headers['x-user-roles'] = this.caller.roles.join(',');
    }
  }

  cacheOptionsFor(_url, response) {
    if (CACHE_MODE === 'off') return { ttl: -1 };
    if (CACHE_MODE === 'http' || response.headers.get('cache-control')) return undefined;
    return { ttl: this.ttl };
  }

  // GET that answers null for a 404 (unknown id).
  async getOpt(path) {
    try {
      return await this.get(path);
    } catch (err) {
      if (err?.extensions?.response?.status === 404) return null;
      throw err;
    }
  }
}

class Users extends Service {
  constructor(ctx) { super('USERS', 30, ctx); }
  byIds(ids) { return this.get(`/users?ids=${list(ids)}`); }
}

class Products extends Service {
  constructor(ctx) { super('PRODUCTS', 30, ctx); }
  byIds(ids) { return this.get(`/products?ids=${list(ids)}`); }
}

class Orders extends Service {
  constructor(ctx) { super('ORDERS', 5, ctx); }
  // Orders depend on who asks: one cache entry per caller.
  cacheKeyFor(url, request) {
    return `${super.cacheKeyFor(url, request)}#${this.caller?.sub ?? ''}`;
  }
  cacheOptionsFor(url, response) {
    if (!this.caller && CACHE_MODE === 'rust') return { ttl: -1 };
    return super.cacheOptionsFor(url, response);
  }
  byUsers(userIds, limit) { return this.get(`/orders?userIds=${list(userIds)}&limit=${limit}`); }
}

class Reviews extends Service {
  constructor(ctx) { super('REVIEWS', 30, ctx); }
  byProducts(ids, limit) { return this.get(`/reviews?productIds=${list(ids)}&limit=${limit}`); }
}

class Inventory extends Service {
  constructor(ctx) { super('INVENTORY', 5, ctx); }
  stock(sku) { return this.getOpt(`/stock/${encodeURIComponent(sku)}`); }
}

class Recommendations extends Service {
  constructor(ctx) { super('RECOMMENDATIONS', 60, ctx); }
  forUser(userId, limit) {
    return this.getOpt(`/recommendations/${encodeURIComponent(userId)}?limit=${limit}`);
  }
}

// Batch by id: one `?ids=` call per 100 keys; unknown ids resolve to null.
const byIdLoader = (fetch) =>
  new DataLoader(
    async (ids) => {
      const found = new Map();
      for (const items of await Promise.all(chunks([...ids]).map(fetch))) {
        for (const item of items) found.set(item.id, item);
      }
      return ids.map((id) => found.get(id) ?? null);
    },
    { maxBatchSize: BATCH },
  );

// Batch "the last `limit` items of each owner": keys are {id, limit}; keys
// with the same limit share calls (`?userIds=a,b&limit=N`), like the Rust
// loaders keyed by (id, limit).
const perOwnerLoader = (fetch, ownerField, newestFirst) =>
  new DataLoader(
    async (keys) => {
      const byLimit = new Map();
      for (const { id, limit } of keys) {
        if (!byLimit.has(limit)) byLimit.set(limit, []);
        byLimit.get(limit).push(id);
      }
      const out = new Map();
      await Promise.all(
        [...byLimit].map(async ([limit, ids]) => {
          const lists = new Map(ids.map((id) => [id, []]));
          for (const items of await Promise.all(chunks(ids).map((c) => fetch(c, limit)))) {
            for (const item of items) {
              const l = lists.get(item[ownerField]);
              if (l && l.length < limit) l.push(item);
            }
          }
          for (const [id, l] of lists) {
            if (newestFirst) l.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
            out.set(`${id}|${limit}`, l);
          }
        }),
      );
      return keys.map(({ id, limit }) => out.get(`${id}|${limit}`));
    },
    { maxBatchSize: BATCH, cacheKeyFn: ({ id, limit }) => `${id}|${limit}` },
  );

// No batch route: single calls, at most 8 in flight (as the Rust fan-out).
const fanOutLoader = (fetch, options = {}, concurrency = 8) =>
  new DataLoader(async (keys) => {
    const results = new Array(keys.length);
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const i = next++;
        results[i] = await fetch(keys[i]).catch((err) => err);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
    return results;
  }, options);

// Everything one GraphQL request needs: data sources share the server's
// cache; loaders live (and batch, and memoise) for this request only.
export function requestServices({ cache, caller, requestId }) {
  const ctx = { cache, caller, requestId };
  const users = new Users(ctx);
  const products = new Products(ctx);
  const orders = new Orders(ctx);
  const reviews = new Reviews(ctx);
  const inventory = new Inventory(ctx);
  const recommendations = new Recommendations(ctx);
  return {
    users: byIdLoader((ids) => users.byIds(ids)),
    products: byIdLoader((ids) => products.byIds(ids)),
    ordersByUser: perOwnerLoader((ids, limit) => orders.byUsers(ids, limit), 'userId', true),
    reviewsByProduct: perOwnerLoader((ids, limit) => reviews.byProducts(ids, limit), 'productId', true),
    stock: fanOutLoader((sku) => inventory.stock(sku)),
    recommendations: fanOutLoader(
      ({ id, limit }) => recommendations.forUser(id, limit).then((r) => r?.productIds ?? []),
      { cacheKeyFn: ({ id, limit }) => `${id}|${limit}` },
    ),
  };
}
