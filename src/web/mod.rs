//! Serving HTTP safely: the exporter-toolkit web configuration file (TLS, basic
//! authentication) and a listener that bounds what a hostile client can hold.
//!
//! `file` parses and checks the YAML file, `tls` builds the TLS configuration from it, `auth`
//! verifies passwords, `security` keeps the configuration in force and re-reads it when its
//! files change, `guard` is the request middleware, and `server` accepts connections with
//! limits on header size and header read time. `crate::http` stays the routes alone.

pub mod auth;
pub mod file;
pub mod guard;
pub mod security;
pub mod server;
pub mod tls;

pub use security::Security;
pub use server::{Limits, serve};
