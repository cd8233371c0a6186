//! Which names get series: whole-name patterns to include and to exclude.
//!
//! Both the catalog family (tags, packages) and the tasks family (the `tag` label) cut their
//! series by name with the same rule, so it lives here, below both of them and below the
//! configuration that checks the patterns.

use regex::Regex;

/// A configured name pattern, anchored so that it must match the whole name.
pub fn whole_name_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

/// Names to export: whole-name patterns to include (empty: all) and to exclude.
#[derive(Debug, Default, Clone)]
pub struct NameFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl NameFilter {
    /// Patterns were checked by the configuration; one that still fails is ignored.
    pub fn new(include: &[String], exclude: &[String]) -> Self {
        let compile = |list: &[String]| list.iter().filter_map(|p| whole_name_regex(p).ok()).collect();
        Self { include: compile(include), exclude: compile(exclude) }
    }

    pub fn keeps(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
            && !self.exclude.iter().any(|r| r.is_match(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names() {
        let filter = NameFilter::new(&["f4[0-9]".into(), "epel.*".into()], &["epel8".into()]);
        assert!(filter.keeps("f42"));
        assert!(!filter.keeps("f42-build"), "anchored at both ends");
        assert!(filter.keeps("epel9"));
        assert!(!filter.keeps("epel8"));
        assert!(NameFilter::default().keeps("anything"));
    }
}
