//! koji-exporter: Prometheus metrics for the Koji build system, read straight from Koji's
//! PostgreSQL database (usually a replica), read-only.
//!
//! Reading order: `config` (what the user can set) → `db` (how the exporter connects, and why
//! it cannot write) → `schema` (which Koji it is talking to) → `collect` (one scrape's data,
//! from the SQL in `sql/`) → `exposition` (data to Prometheus text, pure) → `http` (routes)
//! → `web` (TLS, authentication, the listener). `report` reads the same tables over a time
//! window for `koji-exporter report`.
//! ARCHITECTURE.md has the map and the invariants.

pub mod cli;
pub mod collect;
pub mod config;
pub mod custom;
pub mod db;
pub mod exposition;
pub mod http;
pub mod lossy;
pub mod report;
pub mod schema;
pub mod sql;
pub mod telemetry;
pub mod web;
