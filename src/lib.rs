//! koji-exporter: Prometheus metrics for the Koji build system, read straight from Koji's
//! PostgreSQL database (usually a replica), read-only.
//!
//! The modules form layers, and each imports only from the layers below it (ARCHITECTURE.md
//! has the map; a test checks it). From the bottom: Koji's vocabulary (`koji`), the metric
//! descriptions (`metrics`), name filters (`names`), lossy text (`lossy`) and the statements
//! (`sql`); then `config` (what the user can set); `schema` (which Koji it is talking to) and
//! `db` (how the exporter connects, and why it cannot write); `collect` (one scrape's data, a
//! module per family); `exposition` (data to Prometheus text, pure) and `report` (history for
//! a DBA); `web` (TLS, authentication, the listener) and `http` (routes); `startup` (the
//! configuration turned into running parts); `cli` and the binary on top.

pub mod cli;
pub mod collect;
pub mod config;
pub mod db;
pub mod exposition;
pub mod http;
pub mod koji;
pub mod lossy;
pub mod metrics;
pub mod names;
pub mod report;
pub mod schema;
pub mod sql;
pub mod startup;
pub mod telemetry;
pub mod web;
