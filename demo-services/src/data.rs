//! The demo shop's data, generated deterministically from a seed.
//!
//! Same seed, same data, on every machine and every run: nothing depends on
//! the wall clock (timestamps count from 2026-01-01T00:00:00Z). Ids are
//! predictable so tests, docs and the README can name them:
//!
//! | collection | ids | notes |
//! | --- | --- | --- |
//! | users | `u1` … `u2000` | `u1` has 8 orders and recommendations |
//! | products | `p1` … `p1000` | sku `SKU-000001` …; every 10th in EUR, every 25th in CHF |
//! | orders | `o1` … | 1 to 9 per user (5 on average), USD products only |
//! | reviews | `r1` … | 0 to 8 per product |
//!
//! Orders and reviews can be added at run time (`POST`), so they sit behind
//! a lock; everything else is immutable and read without locking.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Serialize;

/// The seed `cargo run` and the tests use.
pub const DEFAULT_SEED: u64 = 20_260_101;

const USERS: usize = 2_000;
const PRODUCTS: usize = 1_000;

const FIRST_NAMES: [&str; 20] = [
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Donald",
    "Hedy",
    "John",
    "Katherine",
    "Tim",
    "Sophie",
    "Guido",
    "Anita",
    "Niklaus",
];
const LAST_NAMES: [&str; 20] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Lamarr",
    "Backus",
    "Johnson",
    "Berners-Lee",
    "Wilson",
    "van Rossum",
    "Borg",
    "Wirth",
];
const CATEGORIES: [&str; 10] = [
    "books",
    "electronics",
    "garden",
    "kitchen",
    "music",
    "outdoor",
    "shoes",
    "sports",
    "toys",
    "travel",
];
const ADJECTIVES: [&str; 16] = [
    "Classic",
    "Compact",
    "Deluxe",
    "Eco",
    "Ergonomic",
    "Essential",
    "Handmade",
    "Lightweight",
    "Modern",
    "Portable",
    "Premium",
    "Rugged",
    "Smart",
    "Vintage",
    "Wireless",
    "Everyday",
];
const NOUNS: [&str; 16] = [
    "Backpack",
    "Blender",
    "Camera",
    "Chair",
    "Headphones",
    "Jacket",
    "Kettle",
    "Lamp",
    "Notebook",
    "Racket",
    "Sneakers",
    "Speaker",
    "Tent",
    "Toolkit",
    "Watch",
    "Yoga Mat",
];
const WAREHOUSES: [&str; 4] = ["AMS-1", "FRA-2", "NYC-1", "SFO-3"];
const STATUSES: [&str; 5] = ["PENDING", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"];
const CARRIERS: [&str; 3] = ["DHL", "UPS", "FedEx"];
const REVIEW_BODIES: [&str; 8] = [
    "Does exactly what it says. Would buy again.",
    "Solid build quality, arrived quickly.",
    "Good value for the price, though the manual could be clearer.",
    "Not what I expected: smaller than it looks in the pictures.",
    "Excellent. My second one, the first lasted years.",
    "Works fine, the colour is a bit off.",
    "Stopped working after a month; support replaced it without fuss.",
    "Great gift, everyone loved it.",
];

/// `GET /users/*` item.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub avatar_url: String,
    pub tier: String,
    pub created_at: String,
}

/// `GET /products/*` item.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub currency: String,
    pub category: String,
    pub image_url: String,
    pub thumbnail_url: String,
}

/// One line of an order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub product_id: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

/// How an order was paid.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub method: String,
    pub last4: String,
}

/// `GET /orders/*` item.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: String,
    pub user_id: String,
    pub status: String,
    pub items: Vec<OrderItem>,
    pub total_cents: i64,
    pub currency: String,
    pub created_at: String,
    pub payment: Payment,
}

/// `GET /reviews` item.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub id: String,
    pub product_id: String,
    pub user_id: String,
    pub rating: i64,
    pub body: String,
    pub created_at: String,
}

/// The legacy inventory answer, field names as the old system spells them.
#[derive(Debug, Clone, Serialize)]
pub struct Stock {
    #[serde(rename = "SKU")]
    pub sku: String,
    #[serde(rename = "QTY")]
    pub qty: i64,
    #[serde(rename = "WH")]
    pub wh: String,
    /// `YYYY-MM-DD HH:MM:SS`, UTC.
    #[serde(rename = "UPDATED")]
    pub updated: String,
}

/// `GET /shipments` item.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    pub order_id: String,
    pub carrier: String,
    pub status: String,
    pub eta: String,
}

/// Orders and reviews: the part that `POST` changes.
#[derive(Debug, Default)]
pub struct Mutable {
    pub orders: Vec<Arc<Order>>,
    pub order_index: HashMap<String, usize>,
    /// Order indexes per user, newest first.
    pub orders_by_user: HashMap<String, Vec<usize>>,
    /// `Idempotency-Key` → the order it made and a fingerprint of the
    /// request (user and items): a replay returns the same order, the same
    /// key with another request is refused (422).
    pub idempotency: HashMap<String, (usize, [u8; 32])>,
    pub reviews: Vec<Arc<Review>>,
    /// Review indexes per product, newest first.
    pub reviews_by_product: HashMap<String, Vec<usize>>,
    pub next_order: usize,
    pub next_review: usize,
    /// Logical clock for created items: always after the generated ones.
    pub clock: i64,
}

/// The whole shop.
#[derive(Debug)]
pub struct Dataset {
    pub users: Vec<Arc<User>>,
    pub user_index: HashMap<String, usize>,
    pub products: Vec<Arc<Product>>,
    pub product_index: HashMap<String, usize>,
    pub stock: HashMap<String, Arc<Stock>>,
    pub recommendations: HashMap<String, Vec<String>>,
    pub shipments: HashMap<String, Arc<Shipment>>,
    pub mutable: RwLock<Mutable>,
}

fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn rfc3339(minutes: i64) -> String {
    (epoch() + Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

impl Dataset {
    /// Generates the shop from `seed`.
    pub fn generate(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let tiers = ["free", "free", "free", "pro", "pro", "enterprise"];

        let users: Vec<Arc<User>> = (1..=USERS)
            .map(|n| {
                let first = FIRST_NAMES[(n * 7) % FIRST_NAMES.len()];
                let last = LAST_NAMES[(n * 13) % LAST_NAMES.len()];
                Arc::new(User {
                    id: format!("u{n}"),
                    name: format!("{first} {last}"),
                    email: format!(
                        "{}.{}{n}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase().replace(' ', "")
                    ),
                    avatar_url: format!("https://img.example.com/avatars/u{n}.png"),
                    tier: pick(&mut rng, &tiers).to_string(),
                    created_at: rfc3339(-(n as i64) * 600),
                })
            })
            .collect();

        let products: Vec<Arc<Product>> = (1..=PRODUCTS)
            .map(|n| {
                let adjective = pick(&mut rng, &ADJECTIVES);
                let noun = pick(&mut rng, &NOUNS);
                let category = CATEGORIES[n % CATEGORIES.len()];
                let currency = if n % 25 == 0 {
                    "CHF"
                } else if n % 10 == 0 {
                    "EUR"
                } else {
                    "USD"
                };
                let description = format!(
                    "The {adjective} {noun} is made for {category} lovers who want something that \
                     lasts. Model {n}, tested by our team, with a two-year warranty and free returns \
                     within 30 days."
                );
                Arc::new(Product {
                    id: format!("p{n}"),
                    sku: format!("SKU-{n:06}"),
                    name: format!("{adjective} {noun} {n}"),
                    description,
                    price_cents: rng.random_range(499..=249_999),
                    currency: currency.to_string(),
                    category: category.to_string(),
                    image_url: format!("https://img.example.com/products/p{n}.jpg"),
                    thumbnail_url: format!("https://img.example.com/products/p{n}_thumb.jpg"),
                })
            })
            .collect();

        let stock = products
            .iter()
            .map(|p| {
                let qty = if rng.random_range(0..10) == 0 {
                    0
                } else {
                    rng.random_range(1..=500)
                };
                let minutes = rng.random_range(0..60 * 24 * 30);
                let updated = (epoch() + Duration::minutes(minutes))
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string();
                let stock = Stock {
                    sku: p.sku.clone(),
                    qty,
                    wh: pick(&mut rng, &WAREHOUSES).to_string(),
                    updated,
                };
                (p.sku.clone(), Arc::new(stock))
            })
            .collect();

        let usd: Vec<usize> = (0..products.len())
            .filter(|&i| products[i].currency == "USD")
            .collect();
        let mut mutable = Mutable::default();
        let mut shipments = HashMap::new();
        let mut minute = 0i64;
        for (ui, user) in users.iter().enumerate() {
            let count = if ui == 0 { 8 } else { rng.random_range(1..=9) };
            for _ in 0..count {
                minute += rng.random_range(1..=30);
                let lines = rng.random_range(1..=4);
                let items: Vec<OrderItem> = (0..lines)
                    .map(|_| {
                        let p = &products[usd[rng.random_range(0..usd.len())]];
                        OrderItem {
                            product_id: p.id.clone(),
                            quantity: rng.random_range(1..=3),
                            unit_price_cents: p.price_cents,
                        }
                    })
                    .collect();
                let total = items.iter().map(|i| i.quantity * i.unit_price_cents).sum();
                mutable.next_order += 1;
                let id = format!("o{}", mutable.next_order);
                let status = pick(&mut rng, &STATUSES).to_string();
                if status == "SHIPPED" || status == "DELIVERED" {
                    let shipment = Shipment {
                        order_id: id.clone(),
                        carrier: pick(&mut rng, &CARRIERS).to_string(),
                        status: if status == "SHIPPED" {
                            "IN_TRANSIT"
                        } else {
                            "DELIVERED"
                        }
                        .to_string(),
                        eta: rfc3339(minute + 3 * 24 * 60),
                    };
                    shipments.insert(id.clone(), Arc::new(shipment));
                }
                let order = Order {
                    id,
                    user_id: user.id.clone(),
                    status,
                    items,
                    total_cents: total,
                    currency: "USD".to_string(),
                    created_at: rfc3339(minute),
                    payment: Payment {
                        method: if rng.random_range(0..3) == 0 {
                            "paypal"
                        } else {
                            "card"
                        }
                        .to_string(),
                        last4: format!("{:04}", rng.random_range(0..10_000)),
                    },
                };
                mutable.insert_order(order);
            }
        }
        for product in &products {
            let count = rng.random_range(0..=8);
            for _ in 0..count {
                minute += rng.random_range(1..=10);
                mutable.next_review += 1;
                let review = Review {
                    id: format!("r{}", mutable.next_review),
                    product_id: product.id.clone(),
                    user_id: format!("u{}", rng.random_range(1..=USERS)),
                    rating: [1, 2, 3, 4, 4, 5, 5, 5][rng.random_range(0..8)],
                    body: pick(&mut rng, &REVIEW_BODIES).to_string(),
                    created_at: rfc3339(minute),
                };
                mutable.insert_review(review);
            }
        }
        mutable.clock = minute;

        let recommendations = users
            .iter()
            .map(|u| {
                let count = rng.random_range(10..=20);
                let mut ids: Vec<String> = Vec::with_capacity(count);
                while ids.len() < count {
                    let id = format!("p{}", rng.random_range(1..=PRODUCTS));
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                (u.id.clone(), ids)
            })
            .collect();

        let user_index = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.clone(), i))
            .collect();
        let product_index = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        Self {
            users,
            user_index,
            products,
            product_index,
            stock,
            recommendations,
            shipments,
            mutable: RwLock::new(mutable),
        }
    }

    pub fn user(&self, id: &str) -> Option<&Arc<User>> {
        self.user_index.get(id).map(|&i| &self.users[i])
    }

    pub fn product(&self, id: &str) -> Option<&Arc<Product>> {
        self.product_index.get(id).map(|&i| &self.products[i])
    }
}

impl Mutable {
    /// Adds an order (newest first in its user's list).
    pub fn insert_order(&mut self, order: Order) -> usize {
        let index = self.orders.len();
        self.order_index.insert(order.id.clone(), index);
        self.orders_by_user
            .entry(order.user_id.clone())
            .or_default()
            .insert(0, index);
        self.orders.push(Arc::new(order));
        index
    }

    /// Adds a review (newest first in its product's list).
    pub fn insert_review(&mut self, review: Review) -> usize {
        let index = self.reviews.len();
        self.reviews_by_product
            .entry(review.product_id.clone())
            .or_default()
            .insert(0, index);
        self.reviews.push(Arc::new(review));
        index
    }

    /// The next timestamp for a created item.
    pub fn tick(&mut self) -> String {
        self.clock += 1;
        rfc3339(self.clock)
    }
}
