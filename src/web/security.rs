//! The web configuration in force, re-read when its files change.
//!
//! exporter-toolkit re-reads its file on every request so that rotated certificates need no
//! restart. Here every new connection and every request looks at the modification time and
//! size of the file and of the certificate, key and CA files it names (a few `stat` calls), and
//! re-reads everything only when one of them changed. A change is applied only when the new
//! files are complete and valid by the same rules as at start, and only when it keeps every
//! protection in force: a file that would turn TLS or authentication off, or ask less of client
//! certificates, is refused with one WARN line per change, because a file rewritten in place is
//! seen empty or cut short for a moment (`: > web.yml`, a configuration management tool) and
//! such a moment must not serve plain HTTP without a password. A deliberate downgrade needs a
//! restart. A file that became invalid is logged once and the last valid configuration stays
//! in force. At start-up there is no previous configuration, so an invalid file stops the
//! exporter instead.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use tokio_rustls::TlsAcceptor;

use super::auth::Users;
use super::file::{self, ClientAuth, WebFile, WebFileError};
use super::tls;

/// Modification time and size of a file; None when it cannot be read.
type Stamp = Option<(SystemTime, u64)>;

/// What the web configuration asks for right now.
pub struct Active {
    /// None: plain HTTP.
    pub tls: Option<TlsAcceptor>,
    /// None: no authentication.
    pub users: Option<Arc<Users>>,
    /// What TLS asks of client certificates (`None` too without TLS).
    pub client_auth: ClientAuth,
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
    /// Stamps of a reload that failed or was refused, so that it is reported once and not
    /// retried per request.
    failed: Mutex<Option<Vec<Stamp>>>,
}

impl Security {
    /// No file: plain HTTP, no authentication.
    pub fn open() -> Self {
        let active =
            Active { tls: None, users: None, client_auth: ClientAuth::None, watched: Vec::new(), stamps: Vec::new() };
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
        if stamps == active.stamps || self.failed.lock().is_ok_and(|failed| failed.as_ref() == Some(&stamps)) {
            return active;
        }
        let refuse = |warning: bool, error: &dyn std::fmt::Display| {
            if let Ok(mut failed) = self.failed.lock() {
                *failed = Some(stamps.clone());
            }
            if warning {
                tracing::warn!(file = %file.display(), %error, "web config file change refused; the previous configuration stays in force (restart the exporter to apply it deliberately)");
            } else {
                tracing::error!(%error, "web config file changed but cannot be used; the previous configuration stays in force");
            }
            Arc::clone(&active)
        };
        match build(file) {
            Ok(fresh) if let Some(lost) = downgrade(&active, &fresh) => refuse(true, &lost),
            Err(error) => refuse(false, &error),
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
        }
    }
}

/// What `fresh` would take away from `active`, if anything.
fn downgrade(active: &Active, fresh: &Active) -> Option<String> {
    let strength = |auth: ClientAuth| match auth {
        ClientAuth::None => 0,
        ClientAuth::VerifyIfGiven => 1,
        ClientAuth::Require => 2,
    };
    if active.tls.is_some() && fresh.tls.is_none() {
        Some("it would turn TLS off (tls_server_config is missing or empty)".to_owned())
    } else if active.users.is_some() && fresh.users.is_none() {
        Some("it would turn basic authentication off (basic_auth_users is missing or empty)".to_owned())
    } else if strength(fresh.client_auth) < strength(active.client_auth) {
        Some(format!("it would weaken client_auth_type from {:?} to {:?}", active.client_auth, fresh.client_auth))
    } else {
        None
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
    let client_auth = plan.as_ref().map_or(ClientAuth::None, |plan| plan.client_auth);
    Ok(Active { tls, users, client_auth, watched, stamps })
}

fn stamp(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}
