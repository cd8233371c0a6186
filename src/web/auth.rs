//! HTTP basic authentication against bcrypt hashes, with the verifications cached.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10), which a scraper sending the
//! same credentials every few seconds should not pay each time. A successful verification
//! stores a SHA-256 digest of (a per-process random key, user, hash, password); the next request
//! with the same credentials is a digest look-up. Failures are not cached (the set would grow
//! with every guess); they pay bcrypt each time. Those checks are bounded on their own: at most
//! half the cores' worth ([`bcrypt_slots`]) run at once, and a check that cannot start within
//! [`BCRYPT_WAIT`] is refused as busy, so that guesses can neither take every core nor hold the
//! request cap's slots (authentication runs before the cap). A cached credential is a look-up
//! that never waits behind them. An unknown user is checked against a dummy hash so that timing
//! does not tell which users exist. The cache lives with the user list, so a changed file
//! starts an empty one.

use std::collections::{BTreeMap, HashSet};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::file::PasswordHash;

/// Longest a password check waits for a bcrypt slot before it is refused as busy.
pub const BCRYPT_WAIT: Duration = Duration::from_secs(1);

/// Half the cores, at least one: guesses never take every core.
pub fn bcrypt_slots() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get() / 2).max(1)
}

/// The outcome of a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied,
    /// Too many uncached checks are running or waiting; try again.
    Busy,
}

/// Cached successful verifications kept at most; the set is emptied when it is full.
const CACHE_LIMIT: usize = 1024;
/// A bcrypt hash (cost 10, as `htpasswd -nBC 10` makes) of a random password, verified for
/// unknown users so that they cost as much as known ones.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let password: [u8; 16] = rand::random();
    bcrypt::hash(password, 10).unwrap_or_default()
});

/// The users of the web configuration file and what was already verified for them.
pub struct Users {
    users: BTreeMap<String, PasswordHash>,
    key: [u8; 32],
    verified: Mutex<HashSet<[u8; 32]>>,
    /// bcrypt verifications that may run at once.
    slots: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").field("names", &self.users.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl Users {
    pub fn new(users: BTreeMap<String, PasswordHash>) -> Self {
        Self {
            users,
            key: rand::random(),
            verified: Mutex::new(HashSet::new()),
            slots: tokio::sync::Semaphore::new(bcrypt_slots()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether the request carries the password of a configured user.
    pub async fn allows(&self, headers: &HeaderMap) -> bool {
        self.check(headers).await == Verdict::Allowed
    }

    /// Whether the request carries the password of a configured user, or the check is busy.
    pub async fn check(&self, headers: &HeaderMap) -> Verdict {
        let Some((user, password)) = credentials(headers) else { return Verdict::Denied };
        self.verify(&user, &password).await
    }

    pub async fn verify(&self, user: &str, password: &str) -> Verdict {
        let (hash, known) = match self.users.get(user) {
            Some(hash) => (hash.0.clone(), true),
            None => (DUMMY_HASH.clone(), false),
        };
        let digest = self.digest(user, &hash, password);
        if known && self.verified.lock().is_ok_and(|cache| cache.contains(&digest)) {
            return Verdict::Allowed;
        }
        let Ok(Ok(_slot)) = tokio::time::timeout(BCRYPT_WAIT, self.slots.acquire()).await else {
            return Verdict::Busy;
        };
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        if matches && known {
            if let Ok(mut cache) = self.verified.lock() {
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(digest);
            }
            return Verdict::Allowed;
        }
        Verdict::Denied
    }

    fn digest(&self, user: &str, hash: &str, password: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.key);
        for part in [user, hash, password] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.finalize().into()
    }
}

/// User and password of an `Authorization: Basic` header.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(password: &str) -> Users {
        let hash = bcrypt::hash(password, 4).unwrap();
        Users::new(BTreeMap::from([("prometheus".to_owned(), PasswordHash(hash))]))
    }

    fn basic(user_password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_password);
        headers.insert("authorization", format!("Basic {encoded}").parse().unwrap());
        headers
    }

    #[test]
    fn the_dummy_hash_is_a_real_bcrypt_hash_of_cost_10() {
        assert_eq!(bcrypt::verify("x", DUMMY_HASH.as_str()).ok(), Some(false));
        assert!(DUMMY_HASH.starts_with("$2b$10$"), "{}", *DUMMY_HASH);
    }

    #[tokio::test]
    async fn right_password_passes_and_is_then_served_from_the_cache() {
        let users = users("s3cret");
        assert!(users.allows(&basic("prometheus:s3cret")).await);
        assert_eq!(users.verified.lock().unwrap().len(), 1);
        // A cached digest is honoured even for a hash bcrypt would now reject, which shows the
        // second request did not run bcrypt.
        let digest = users.digest("prometheus", &users.users["prometheus"].0, "s3cret");
        assert!(users.verified.lock().unwrap().contains(&digest));
        assert!(users.allows(&basic("prometheus:s3cret")).await);
    }

    #[tokio::test]
    async fn wrong_or_missing_credentials_fail_and_are_not_cached() {
        let users = users("s3cret");
        for headers in [basic("prometheus:wrong"), basic("nobody:s3cret"), basic("prometheus"), HeaderMap::new()] {
            assert!(!users.allows(&headers).await, "{headers:?}");
        }
        let mut bearer = HeaderMap::new();
        bearer.insert("authorization", "Bearer abc".parse().unwrap());
        assert!(!users.allows(&bearer).await);
        let mut garbage = HeaderMap::new();
        garbage.insert("authorization", "Basic !!!notbase64".parse().unwrap());
        assert!(!users.allows(&garbage).await);
        assert!(users.verified.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_password_containing_a_colon_works() {
        let users = users("a:b:c");
        assert!(users.allows(&basic("prometheus:a:b:c")).await);
    }
}
