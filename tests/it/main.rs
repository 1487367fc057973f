//! The one integration-test binary: every suite talks HTTP to real servers.
#![allow(clippy::unwrap_used)]

mod harness;
mod test_cluster;
mod test_redis;

mod admin;
mod attacks;
mod auth;
mod compose;
mod config;
mod cost;
mod demo_services;
mod disconnect;
mod edge;
mod idempotency;
mod instances;
mod loyalty;
mod mobile;
mod playground;
mod redis_cluster;
mod redis_tls;
mod reload;
mod runner;
mod shared_cache;
mod shed;
mod slow_clients;
mod telemetry;
mod tls;
mod upstream;
mod web;
