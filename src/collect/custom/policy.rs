//! Which functions a site metric may call. A site query runs in a read-only transaction, but a
//! read-only transaction does not stop a function from acting outside it (a dblink connection,
//! a server file, a signal to another backend, a session lock or setting that outlives the
//! transaction, a transaction id). So functions are judged by name and by what `pg_proc` says:
//!
//! - a deny list of known side effects, whatever their declared volatility;
//! - volatile functions are refused, except a short list of harmless ones;
//! - functions of extensions that are not marked trusted are refused.
//!
//! Stable and immutable functions outside these lists are trusted by their declaration: the
//! body of a function is not inspected (the session check after the site metrics is the
//! defence against one that lies, see [`super::verify_session`]).

/// Name patterns of functions with effects outside the transaction: `prefix*`, `*part*` or an
/// exact name.
const DENIED: [&str; 24] = [
    "dblink*",
    "lo_*",
    "pg_file_*",
    "*advisory*",
    "set_config",
    "setseed",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "txid_current",
    "pg_current_xact_id",
    "nextval",
    "setval",
    "pg_notify",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_logfile_rotate",
    "pg_stat_reset*",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_*",
    "pg_switch_wal",
    "pg_create_*",
    "pg_drop_replication_slot",
    "pg_replication_origin_*",
];

/// Volatile functions that only read (the clock, random numbers, sizes, replication state) or
/// wait (cut by the statement timeout).
const HARMLESS_VOLATILE: [&str; 18] = [
    "random",
    "clock_timestamp",
    "timeofday",
    "gen_random_uuid",
    "pg_sleep",
    "pg_sleep_for",
    "pg_sleep_until",
    "pg_is_in_recovery",
    "pg_last_xact_replay_timestamp",
    "pg_current_wal_lsn",
    "pg_last_wal_receive_lsn",
    "pg_last_wal_replay_lsn",
    "pg_database_size",
    "pg_relation_size",
    "pg_total_relation_size",
    "pg_table_size",
    "pg_indexes_size",
    "pg_lock_status",
];

/// True when `name` is on the deny list.
pub fn denied(name: &str) -> bool {
    let name = name.to_lowercase();
    DENIED.iter().any(|pattern| match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(inner), _) => name.contains(inner.trim_end_matches('*')),
        (None, Some(prefix)) => name.starts_with(prefix),
        (None, None) => name == *pattern,
    })
}

/// What `pg_proc` (and the extension catalog) says about one function a query calls.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FunctionFacts {
    /// How the query names it: `name()` or an operator symbol.
    pub called_as: String,
    pub schema: String,
    pub name: String,
    /// `i`mmutable, `s`table or `v`olatile.
    pub volatility: String,
    pub extension: Option<String>,
    /// The extension's control file marks it trusted; None when unknown.
    pub trusted: Option<bool>,
}

/// Why a function may not be called, or None when it may.
pub fn refusal(facts: &FunctionFacts) -> Option<String> {
    let called = if facts.called_as.ends_with("()") {
        format!("{}.{}()", facts.schema, facts.name)
    } else {
        format!("operator {} ({}.{}())", facts.called_as, facts.schema, facts.name)
    };
    if denied(&facts.name) {
        return Some(format!("it calls {called}, which acts outside the read-only transaction"));
    }
    if let Some(extension) = &facts.extension
        && facts.trusted != Some(true)
    {
        return Some(format!("it calls {called} of extension {extension}, which is not a trusted extension"));
    }
    let harmless = facts.schema == "pg_catalog" && HARMLESS_VOLATILE.contains(&facts.name.as_str());
    if facts.volatility == "v" && !harmless {
        return Some(format!("it calls {called}, which is volatile (it may change something)"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(name: &str, volatility: &str, extension: Option<(&str, bool)>) -> FunctionFacts {
        FunctionFacts {
            called_as: format!("{name}()"),
            schema: if extension.is_some() { "public".into() } else { "pg_catalog".into() },
            name: name.into(),
            volatility: volatility.into(),
            extension: extension.map(|(e, _)| e.to_owned()),
            trusted: extension.map(|(_, t)| t),
        }
    }

    #[test]
    fn side_effects_are_refused_whatever_their_volatility() {
        for name in
            ["dblink_exec", "lo_export", "pg_file_write", "pg_try_advisory_xact_lock", "txid_current", "set_config"]
        {
            assert!(denied(name), "{name}");
            assert!(refusal(&facts(name, "s", None)).is_some(), "{name}");
        }
        assert!(
            refusal(&facts("pg_terminate_backend", "v", None)).unwrap().contains("pg_catalog.pg_terminate_backend()")
        );
        assert!(refusal(&facts("my_volatile", "v", None)).unwrap().contains("volatile"));
        assert!(refusal(&facts("similarity", "i", Some(("pg_trgm", true)))).is_none());
        assert!(refusal(&facts("crypt", "i", Some(("adminpack", false)))).unwrap().contains("not a trusted"));
        for name in ["random", "clock_timestamp", "pg_sleep", "now", "count", "lower"] {
            let volatility = if matches!(name, "now" | "count" | "lower") { "s" } else { "v" };
            assert_eq!(refusal(&facts(name, volatility, None)), None, "{name}");
            assert!(!denied(name), "{name}");
        }
    }
}
