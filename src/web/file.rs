//! The web configuration file (`--web.config.file`), in the YAML format of Prometheus'
//! exporter-toolkit, so that one file can serve this exporter and the Go ones next to it.
//!
//! Parsing is strict: an unknown key is an error naming the key, and an exporter-toolkit
//! setting this exporter does not implement is refused by name rather than silently ignored
//! (a TLS or authentication setting that does nothing is worse than a start-up error).
//! Every problem is one line that names the file, the key and the fix. Password hashes are
//! masked in `Debug` and in [`WebFile::describe`], which `check-config` prints.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// exporter-toolkit settings that are recognised but not implemented here, with the fix.
const UNSUPPORTED: [(&str, &str); 11] = [
    ("tls_server_config.cert", "put the certificate in a file and use cert_file"),
    ("tls_server_config.key", "put the key in a file and use key_file"),
    ("tls_server_config.client_ca", "put the CA certificates in a file and use client_ca_file"),
    ("tls_server_config.client_allowed_sans", "remove it; any certificate the client CA signed is accepted"),
    ("tls_server_config.cipher_suites", "remove it; the TLS library's safe defaults are used"),
    ("tls_server_config.curve_preferences", "remove it; the TLS library's safe defaults are used"),
    ("tls_server_config.prefer_server_cipher_suites", "remove it; the TLS library's safe defaults are used"),
    ("http_server_config.headers", "set security headers in a reverse proxy"),
    ("http_server_config.http2", "remove it; the exporter speaks HTTP/1.1"),
    ("rate_limit", "remove it; web.max_requests caps concurrent requests"),
    ("http_server_config", "remove it"),
];

/// The file as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebFile {
    #[serde(default)]
    pub tls_server_config: Option<TlsSettings>,
    /// User name → bcrypt hash. Empty: no authentication.
    #[serde(default)]
    pub basic_auth_users: Option<BTreeMap<String, PasswordHash>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_auth_type: Option<String>,
    pub client_ca_file: Option<PathBuf>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
}

/// A bcrypt hash: not the password, but enough to attack it offline, so it never prints.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

/// How a client certificate is treated, in exporter-toolkit's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `NoClientCert` (the default).
    None,
    /// `VerifyClientCertIfGiven`.
    VerifyIfGiven,
    /// `RequireAndVerifyClientCert`.
    Require,
}

/// TLS protocol versions the exporter can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// TLS settings after validation, paths resolved against the file's directory.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsPlan {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_auth: ClientAuth,
    pub client_ca_file: Option<PathBuf>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
}

/// A problem with the web configuration file, already phrased as one line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct WebFileError(pub String);

impl WebFileError {
    fn at(file: &Path, key: &str, problem: impl fmt::Display, fix: impl fmt::Display) -> Self {
        Self(format!("web config file {}: `{key}` {problem}; {fix}", file.display()))
    }
}

/// Reads and checks the file; TLS material is loaded separately (see `tls`).
pub fn read(file: &Path) -> Result<WebFile, WebFileError> {
    let text = std::fs::read_to_string(file).map_err(|error| {
        WebFileError(format!(
            "web config file {} cannot be read ({error}); give --web.config.file an existing YAML file",
            file.display()
        ))
    })?;
    parse(file, &text)
}

/// Parses the text of the file named `file` (the name is used in messages and to resolve paths).
pub fn parse(file: &Path, text: &str) -> Result<WebFile, WebFileError> {
    if text.trim().is_empty() {
        return Ok(WebFile::default());
    }
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|error| {
        WebFileError(format!(
            "web config file {} is not valid YAML ({}); fix its syntax",
            file.display(),
            one_line(&error)
        ))
    })?;
    if value.is_null() {
        return Ok(WebFile::default());
    }
    for (key, fix) in UNSUPPORTED {
        if lookup(&value, key).is_some() {
            return Err(WebFileError::at(
                file,
                key,
                "is an exporter-toolkit setting this exporter does not implement",
                fix,
            ));
        }
    }
    let parsed: WebFile = serde_yaml::from_value(value).map_err(|error| {
        WebFileError(format!(
            "web config file {}: {}; remove the key or correct its spelling (README.md, \"The web configuration file\", lists the keys)",
            file.display(),
            one_line(&error)
        ))
    })?;
    parsed.check(file)?;
    Ok(parsed)
}

fn lookup<'v>(value: &'v serde_yaml::Value, dotted: &str) -> Option<&'v serde_yaml::Value> {
    dotted.split('.').try_fold(value, |node, key| node.get(key))
}

fn one_line(error: &impl fmt::Display) -> String {
    error.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

impl WebFile {
    fn check(&self, file: &Path) -> Result<(), WebFileError> {
        if let Some(tls) = &self.tls_server_config {
            tls_plan(file, tls)?;
        }
        for (user, hash) in self.users() {
            if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
                return Err(WebFileError::at(
                    file,
                    "basic_auth_users",
                    format!("has the user name {user:?}, which basic authentication cannot carry"),
                    "use a non-empty name without ':' or control characters",
                ));
            }
            if hash.0.parse::<bcrypt::HashParts>().is_err() {
                return Err(WebFileError::at(
                    file,
                    &format!("basic_auth_users.{user}"),
                    "is not a bcrypt hash",
                    "make one with `htpasswd -nBC 10 USER` and paste the part after the colon",
                ));
            }
        }
        Ok(())
    }

    /// The configured users; empty when authentication is off.
    pub fn users(&self) -> impl Iterator<Item = (&String, &PasswordHash)> {
        self.basic_auth_users.iter().flatten()
    }

    /// The TLS plan, when TLS is configured.
    pub fn tls(&self, file: &Path) -> Result<Option<TlsPlan>, WebFileError> {
        self.tls_server_config.as_ref().map(|tls| tls_plan(file, tls)).transpose()
    }

    /// A summary for `check-config`: paths and user names, never the hashes.
    pub fn describe(&self, file: &Path) -> String {
        let mut lines = vec![format!("web config file: {}", file.display())];
        match self.tls(file) {
            Ok(Some(plan)) => {
                lines.push(format!("  tls: cert_file = {}", plan.cert_file.display()));
                lines.push(format!("  tls: key_file = {}", plan.key_file.display()));
                lines.push(format!("  tls: client_auth_type = {:?}", plan.client_auth));
                if let Some(ca) = &plan.client_ca_file {
                    lines.push(format!("  tls: client_ca_file = {}", ca.display()));
                }
                lines.push(format!("  tls: versions = {:?} to {:?}", plan.min_version, plan.max_version));
            }
            Ok(None) => lines.push("  tls: off (plain HTTP)".to_owned()),
            Err(error) => lines.push(format!("  tls: invalid ({error})")),
        }
        let users: Vec<String> = self.users().map(|(user, _)| format!("{user} = ********")).collect();
        if users.is_empty() {
            lines.push("  basic_auth_users: none (no authentication)".to_owned());
        } else {
            lines.push(format!("  basic_auth_users: {}", users.join(", ")));
        }
        lines.into_iter().map(|line| format!("# {line}\n")).collect()
    }
}

fn tls_plan(file: &Path, tls: &TlsSettings) -> Result<TlsPlan, WebFileError> {
    let base = file.parent().unwrap_or(Path::new("."));
    let resolve = |path: &PathBuf| if path.is_absolute() { path.clone() } else { base.join(path) };
    let required = |key: &str, value: &Option<PathBuf>| {
        value.as_ref().map(resolve).ok_or_else(|| {
            WebFileError::at(
                file,
                &format!("tls_server_config.{key}"),
                "is missing",
                "TLS needs both cert_file and key_file",
            )
        })
    };
    let cert_file = required("cert_file", &tls.cert_file)?;
    let key_file = required("key_file", &tls.key_file)?;
    let client_auth = match tls.client_auth_type.as_deref().unwrap_or("") {
        "" | "NoClientCert" => ClientAuth::None,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::Require,
        other @ ("RequestClientCert" | "RequireAnyClientCert") => {
            return Err(WebFileError::at(
                file,
                "tls_server_config.client_auth_type",
                format!("{other} accepts client certificates nobody verified, which this exporter refuses"),
                "use VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file",
            ));
        }
        other => {
            return Err(WebFileError::at(
                file,
                "tls_server_config.client_auth_type",
                format!("{other:?} is not a client authentication type"),
                "use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert",
            ));
        }
    };
    let client_ca_file = tls.client_ca_file.as_ref().map(resolve);
    match (client_auth, &client_ca_file) {
        (ClientAuth::None, Some(_)) => {
            return Err(WebFileError::at(
                file,
                "tls_server_config.client_ca_file",
                "is set while client_auth_type does not verify client certificates",
                "set client_auth_type to RequireAndVerifyClientCert (or VerifyClientCertIfGiven), or remove client_ca_file",
            ));
        }
        (ClientAuth::VerifyIfGiven | ClientAuth::Require, None) => {
            return Err(WebFileError::at(
                file,
                "tls_server_config.client_auth_type",
                "verifies client certificates but client_ca_file is missing",
                "set client_ca_file to the CA that signs your Prometheus servers' certificates",
            ));
        }
        _ => {}
    }
    let version = |key: &str, value: &Option<String>, default: TlsVersion| match value.as_deref() {
        None | Some("") => Ok(default),
        Some("TLS12") => Ok(TlsVersion::Tls12),
        Some("TLS13") => Ok(TlsVersion::Tls13),
        Some(old @ ("TLS10" | "TLS11")) => Err(WebFileError::at(
            file,
            &format!("tls_server_config.{key}"),
            format!("{old} is an obsolete protocol the exporter does not offer"),
            "use TLS12 or TLS13",
        )),
        Some(other) => Err(WebFileError::at(
            file,
            &format!("tls_server_config.{key}"),
            format!("{other:?} is not a TLS version"),
            "use TLS12 or TLS13",
        )),
    };
    let min_version = version("min_version", &tls.min_version, TlsVersion::Tls12)?;
    let max_version = version("max_version", &tls.max_version, TlsVersion::Tls13)?;
    if min_version > max_version {
        return Err(WebFileError::at(
            file,
            "tls_server_config.min_version",
            "is above max_version",
            "lower min_version or raise max_version",
        ));
    }
    Ok(TlsPlan { cert_file, key_file, client_auth, client_ca_file, min_version, max_version })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$10$/MqJgiQrGTFj6VJAYaRpf.m3PEitvXN.yh6xDzDiqLc2MRnu14NjW";

    fn parse_text(text: &str) -> Result<WebFile, String> {
        parse(Path::new("/etc/koji-exporter/web.yml"), text).map_err(|error| error.0)
    }

    #[test]
    fn a_full_file_parses_and_paths_resolve_next_to_it() {
        let text = format!(
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: /abs/tls.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS13\nbasic_auth_users:\n  prometheus: {HASH}\n"
        );
        let file = parse_text(&text).unwrap();
        let plan = file.tls(Path::new("/etc/koji-exporter/web.yml")).unwrap().unwrap();
        assert_eq!(plan.cert_file, Path::new("/etc/koji-exporter/tls.crt"));
        assert_eq!(plan.key_file, Path::new("/abs/tls.key"));
        assert_eq!(plan.client_auth, ClientAuth::Require);
        assert_eq!(plan.min_version, TlsVersion::Tls13);
        assert_eq!(file.users().count(), 1);
        let described = file.describe(Path::new("/etc/koji-exporter/web.yml"));
        assert!(!described.contains(HASH) && !described.contains("$2y$"), "{described}");
        assert!(described.contains("prometheus = ********"), "{described}");
        assert!(!format!("{file:?}").contains("$2y$"));
    }

    #[test]
    fn empty_files_mean_plain_http_without_authentication() {
        for text in ["", "\n", "# nothing\n", "{}", "basic_auth_users:\n"] {
            let file = parse_text(text).unwrap();
            assert_eq!(file.users().count(), 0, "{text:?}");
            assert!(file.tls_server_config.is_none(), "{text:?}");
        }
    }

    #[test]
    fn every_mistake_is_one_line_naming_the_key() {
        let cases = [
            ("tls_server_config:\n  cert_fle: a\n", "cert_fle"),
            ("tls_server_confg: {}\n", "tls_server_confg"),
            ("tls_server_config:\n  cert_file: a\n", "tls_server_config.key_file"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n", "min_version"),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
                "min_version",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n",
                "client_auth_type",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
                "client_ca_file",
            ),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n", "client_ca_file"),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
                "cipher_suites",
            ),
            ("rate_limit:\n  interval: 1s\n", "rate_limit"),
            ("http_server_config:\n  http2: false\n", "http2"),
            ("basic_auth_users:\n  alice: plaintext\n", "basic_auth_users.alice"),
            ("basic_auth_users:\n  \"a:b\": x\n", "basic_auth_users"),
            ("basic_auth_users: [1, 2\n", "YAML"),
        ];
        for (text, key) in cases {
            let error = parse_text(text).unwrap_err();
            assert!(error.contains(key), "{text:?} should name {key}: {error}");
            assert!(!error.contains('\n'), "{error}");
            assert!(error.starts_with("web config file /etc/koji-exporter/web.yml"), "{error}");
        }
    }
}
