//! The one integration-test binary: every suite talks HTTP to real servers.
#![allow(clippy::unwrap_used)]

mod harness;

mod admin;
mod auth;
mod compose;
mod config;
mod cost;
mod demo_services;
mod edge;
mod mobile;
mod runner;
mod telemetry;
mod upstream;
mod web;
