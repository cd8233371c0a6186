//! Every statement the exporter sends, loaded from the files in `sql/`.
//!
//! A family's file holds several statements, each introduced by a `-- name: <name>` line; the
//! text up to the next such line is the statement. Keeping SQL in files lets a DBA review the
//! whole read surface of the exporter in one folder. Lookups are by name and a missing name is
//! a programming error that the integration tests catch, so [`statement`] panics on it
//! instead of threading an error that can never happen at run time.

/// The family files, compiled into the binary.
const FILES: [(&str, &str); 7] = [
    ("custom", include_str!("../sql/custom.sql")),
    ("schema", include_str!("../sql/schema.sql")),
    ("session", include_str!("../sql/session.sql")),
    ("hosts", include_str!("../sql/hosts.sql")),
    ("tasks", include_str!("../sql/tasks.sql")),
    ("catalog", include_str!("../sql/catalog.sql")),
    ("report", include_str!("../sql/report.sql")),
];

/// The statement called `name` in the file of `family`.
pub fn statement(family: &str, name: &str) -> &'static str {
    let text = FILES
        .iter()
        .find(|(file, _)| *file == family)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("no sql/{family}.sql"));
    find(text, name).unwrap_or_else(|| panic!("no statement {name:?} in sql/{family}.sql"))
}

/// Every `(family, name)` pair, for tests that check each statement against the schema.
pub fn all() -> Vec<(&'static str, &'static str)> {
    FILES.iter().flat_map(|(family, text)| names(text).map(move |name| (*family, name))).collect()
}

fn names(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines().filter_map(|line| line.strip_prefix("-- name:")).map(str::trim)
}

fn find(text: &'static str, name: &str) -> Option<&'static str> {
    let mut statement_start = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let line_name = line.strip_prefix("-- name:").map(str::trim);
        match (statement_start, line_name) {
            (None, Some(found)) if found == name => statement_start = Some(offset + line.len()),
            (Some(start), Some(_)) => return Some(text[start..offset].trim()),
            _ => {}
        }
        offset += line.len();
    }
    statement_start.map(|start| text[start..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_split_on_name_lines() {
        let text =
            "-- header\n-- name: one_more\nselect 0\n-- name: one\nselect 1\n\n-- name: two\n-- a comment\nselect 2\n";
        assert_eq!(find(text, "one"), Some("select 1"));
        assert_eq!(find(text, "one_more"), Some("select 0"));
        assert_eq!(find(text, "two"), Some("-- a comment\nselect 2"));
        assert_eq!(find(text, "three"), None);
        assert_eq!(names(text).collect::<Vec<_>>(), ["one_more", "one", "two"]);
    }

    #[test]
    fn every_statement_is_a_single_select() {
        for (family, name) in all() {
            let sql = statement(family, name).to_lowercase();
            let body: String = sql.lines().filter(|line| !line.trim_start().starts_with("--")).collect();
            assert!(
                body.trim_start().starts_with("select") || body.trim_start().starts_with("with"),
                "{family}/{name}"
            );
            assert!(!body.trim_end().trim_end_matches(';').contains(';'), "{family}/{name} holds several statements");
        }
    }
}
