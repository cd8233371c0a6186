//! The web configuration in force, re-read when its files change.
//!
//! exporter-toolkit re-reads its file on every request so that rotated certificates need no
//! restart. Here every new connection and every request looks at the modification time and
//! size of the file and of the certificate, key and CA files it names (a few `stat` calls), and
//! re-reads everything only when one of them changed. A file that became invalid is logged once
//! and the last valid configuration stays in force: a half-written certificate during rotation
//! must not turn the exporter into an open or a dead endpoint. At start-up there is no previous
//! configuration, so an invalid file stops the exporter instead.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use tokio_rustls::TlsAcceptor;

use super::auth::Users;
use super::file::{self, WebFile, WebFileError};
use super::tls;

/// Modification time and size of a file; None when it cannot be read.
type Stamp = Option<(SystemTime, u64)>;

/// What the web configuration asks for right now.
pub struct Active {
    /// None: plain HTTP.
    pub tls: Option<TlsAcceptor>,
    /// None: no authentication.
    pub users: Option<Arc<Users>>,
    watched: Vec<PathBuf>,
    stamps: Vec<Stamp>,
}

impl std::fmt::Debug for Active {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Active")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users)
            .field("watched", &self.watched)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security").field("file", &self.file).finish_non_exhaustive()
    }
}

/// The web configuration file and its last valid contents.
pub struct Security {
    file: Option<PathBuf>,
    active: RwLock<Arc<Active>>,
    /// Stamps of a reload that failed, so that it is reported once, not per request.
    failed: Mutex<Option<Vec<Stamp>>>,
}

impl Security {
    /// No file: plain HTTP, no authentication.
    pub fn open() -> Self {
        let active = Active { tls: None, users: None, watched: Vec::new(), stamps: Vec::new() };
        Self { file: None, active: RwLock::new(Arc::new(active)), failed: Mutex::new(None) }
    }

    /// Reads the file and everything it names; any problem is an error (start-up).
    pub fn load(file: Option<&Path>) -> Result<Self, WebFileError> {
        let Some(file) = file else { return Ok(Self::open()) };
        let active = build(file)?;
        Ok(Self { file: Some(file.to_owned()), active: RwLock::new(Arc::new(active)), failed: Mutex::new(None) })
    }

    /// The configuration in force, re-read first if one of its files changed.
    pub fn current(&self) -> Arc<Active> {
        let active =
            self.active.read().map(|active| Arc::clone(&active)).unwrap_or_else(|p| Arc::clone(&p.into_inner()));
        let Some(file) = &self.file else { return active };
        let stamps: Vec<Stamp> = active.watched.iter().map(|path| stamp(path)).collect();
        if stamps == active.stamps {
            return active;
        }
        match build(file) {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                if let Ok(mut slot) = self.active.write() {
                    *slot = Arc::clone(&fresh);
                }
                if let Ok(mut failed) = self.failed.lock() {
                    *failed = None;
                }
                tracing::info!(file = %file.display(), "web config file re-read");
                fresh
            }
            Err(error) => {
                let first_time =
                    self.failed.lock().is_ok_and(|mut failed| failed.replace(stamps.clone()) != Some(stamps));
                if first_time {
                    tracing::error!(%error, "web config file changed but cannot be used; the previous configuration stays in force");
                }
                active
            }
        }
    }
}

fn build(file: &Path) -> Result<Active, WebFileError> {
    // Stamps are taken before reading, so a change while reading triggers another reload.
    let before = stamp(file);
    let parsed: WebFile = file::read(file)?;
    let plan = parsed.tls(file)?;
    let mut watched = vec![file.to_owned()];
    if let Some(plan) = &plan {
        watched.extend([plan.cert_file.clone(), plan.key_file.clone()]);
        watched.extend(plan.client_ca_file.clone());
    }
    let mut stamps: Vec<Stamp> = watched.iter().map(|path| stamp(path)).collect();
    stamps[0] = before;
    let tls = plan.as_ref().map(tls::acceptor).transpose()?;
    let users: std::collections::BTreeMap<_, _> =
        parsed.users().map(|(user, hash)| (user.clone(), hash.clone())).collect();
    let users = (!users.is_empty()).then(|| Arc::new(Users::new(users)));
    Ok(Active { tls, users, watched, stamps })
}

fn stamp(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}
