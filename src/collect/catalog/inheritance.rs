//! Koji's tag inheritance and package lists, resolved in memory.
//!
//! What a tag "contains" in Koji is not stored anywhere: the hub works it out on every call by
//! walking the tag's parents (`readFullInheritance`), merging their package lists
//! (`readPackageList`) and listing the tagged builds of the whole chain (`listTagged`). The
//! exporter reproduces those rules here, as pure functions over rows read once, so that the
//! numbers mean exactly what Koji shows and so that every rule has a unit test:
//!
//! - parents are visited depth first, in priority order (lowest first);
//! - a link back to a tag already on the current path (a loop) is skipped;
//! - an intransitive link is followed only from the starting tag itself;
//! - `maxdepth` limits how many levels beyond that parent the walk goes, and the limit carried
//!   down is the tighter of the inherited one (minus one per level) and the link's own;
//! - each link's `pkg_filter` is added to the filters of the path; a package inherited through
//!   that path must match all of them (Python `re.match` semantics: anchored at the start only);
//! - a tag reached again is visited again only when the earlier visit was more restricted
//!   (shallower depth, a filter, or `noconfig` where the new path has none), so it can appear
//!   twice in the chain, as it does in Koji;
//! - in the package list the nearest entry wins, blocked ones included, and a package counts
//!   only when its winning entry is not blocked.

use std::collections::{HashMap, HashSet};

use regex::Regex;

/// One current `tag_inheritance` row.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub parent: i32,
    pub priority: i32,
    pub maxdepth: Option<i32>,
    pub intransitive: bool,
    pub noconfig: bool,
    pub pkg_filter: Option<String>,
}

/// One step of a tag's resolved inheritance: an ancestor and the `pkg_filter` patterns (indexes
/// into [`Inheritance::filters`]) that packages inherited from it must all match.
#[derive(Debug, Clone, PartialEq)]
pub struct Ancestor {
    pub tag: i32,
    pub filters: Vec<usize>,
}

/// The parent links of every tag, and the distinct filter patterns among them.
#[derive(Debug, Default)]
pub struct Inheritance {
    links: HashMap<i32, Vec<Link>>,
    /// Filter patterns as written in the database, and their compiled form (None when the
    /// pattern is not a regex the exporter can compile: it then matches no package).
    pub filters: Vec<(String, Option<Regex>)>,
    filter_index: HashMap<String, usize>,
}

impl Inheritance {
    /// Builds the lookup from `(child tag, link)` rows in any order.
    pub fn new(rows: impl IntoIterator<Item = (i32, Link)>) -> Self {
        let mut inheritance = Inheritance::default();
        for (child, link) in rows {
            if let Some(pattern) = link.pkg_filter.as_deref().filter(|p| !p.is_empty())
                && !inheritance.filter_index.contains_key(pattern)
            {
                // Python's re.match anchors at the start of the name but not at its end.
                let compiled = Regex::new(&format!("^(?:{pattern})")).ok();
                if compiled.is_none() {
                    tracing::warn!(pattern, "a pkg_filter of tag inheritance does not compile; it matches no package");
                }
                inheritance.filter_index.insert(pattern.to_owned(), inheritance.filters.len());
                inheritance.filters.push((pattern.to_owned(), compiled));
            }
            inheritance.links.entry(child).or_default().push(link);
        }
        for links in inheritance.links.values_mut() {
            links.sort_by_key(|link| link.priority);
        }
        inheritance
    }

    /// The ancestors of `tag` in the order Koji's `readFullInheritance` lists them.
    pub fn ancestors(&self, tag: i32) -> Vec<Ancestor> {
        let mut walk = Walk { inheritance: self, path: Vec::new(), visits: HashMap::new(), out: Vec::new() };
        walk.descend(tag, None, false, &[]);
        walk.out
    }

    /// `tags` and every tag that inherits from one of them, directly or through others. Every
    /// link counts, whatever its depth limit or flags, so this is a superset of the tags whose
    /// resolved lists a change in `tags` can reach.
    pub fn with_descendants(&self, tags: &HashSet<i32>) -> HashSet<i32> {
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        for (child, links) in &self.links {
            for link in links {
                children.entry(link.parent).or_default().push(*child);
            }
        }
        let mut found = tags.clone();
        let mut todo: Vec<i32> = tags.iter().copied().collect();
        while let Some(tag) = todo.pop() {
            for child in children.get(&tag).map(Vec::as_slice).unwrap_or_default() {
                if found.insert(*child) {
                    todo.push(*child);
                }
            }
        }
        found
    }

    /// Whether `name` passes every filter in `filters`.
    pub fn passes(&self, filters: &[usize], name: &str) -> bool {
        filters.iter().all(|&index| self.filters[index].1.as_ref().is_some_and(|regex| regex.is_match(name)))
    }
}

/// How an earlier visit of a tag went, to decide whether a new path adds anything.
struct Visit {
    depth_left: Option<i32>,
    noconfig: bool,
    filtered: bool,
}

struct Walk<'a> {
    inheritance: &'a Inheritance,
    path: Vec<i32>,
    visits: HashMap<i32, Vec<Visit>>,
    out: Vec<Ancestor>,
}

impl Walk<'_> {
    fn descend(&mut self, tag: i32, depth_left: Option<i32>, noconfig: bool, filters: &[usize]) {
        if depth_left.is_some_and(|depth| depth < 1) {
            return;
        }
        self.path.push(tag);
        let at_start = self.path.len() == 1;
        // Once a link with noconfig is met, Koji keeps the flag for the later siblings too.
        let mut noconfig = noconfig;
        let links = self.inheritance.links.get(&tag).map(Vec::as_slice).unwrap_or_default();
        for link in links {
            if self.path.contains(&link.parent) {
                continue;
            }
            if link.intransitive && !at_start {
                continue;
            }
            let next_depth = match (link.maxdepth, depth_left) {
                (None, None) => None,
                (None, Some(left)) => Some(left - 1),
                (Some(own), None) => Some(own),
                (Some(own), Some(left)) => Some(own.min(left) - 1),
            };
            noconfig |= link.noconfig;
            let mut path_filters = filters.to_vec();
            if let Some(pattern) = link.pkg_filter.as_deref().filter(|p| !p.is_empty()) {
                path_filters.push(self.inheritance.filter_index[pattern]);
            }
            let earlier = self.visits.entry(link.parent).or_default();
            let covered = earlier.iter().any(|visit| {
                let deep_enough = match (visit.depth_left, next_depth) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(before), Some(now)) => before >= now,
                };
                // Sufficient: as deep, no filter, and not noconfig where this path has none.
                deep_enough && (noconfig || !visit.noconfig) && !visit.filtered
            });
            if covered {
                continue;
            }
            earlier.push(Visit { depth_left: next_depth, noconfig: link.noconfig, filtered: !path_filters.is_empty() });
            self.out.push(Ancestor { tag: link.parent, filters: path_filters.clone() });
            self.descend(link.parent, next_depth, noconfig, &path_filters);
        }
        self.path.pop();
    }
}

/// Where a package stands in one tag's resolved package list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Absent,
    Listed,
    Blocked,
}

/// Current package list rows per tag: (dense package index, blocked).
pub type PackageLists = HashMap<i32, Vec<(usize, bool)>>;

/// The resolved package list of `tag` over packages `0..package_names.len()`: its own rows,
/// then each ancestor's rows that pass the path's filters, the first entry found winning.
pub fn resolve_packages(
    inheritance: &Inheritance,
    lists: &PackageLists,
    package_names: &[String],
    tag: i32,
    ancestors: &[Ancestor],
) -> Vec<Entry> {
    let mut entries = vec![Entry::Absent; package_names.len()];
    let entry = |blocked: bool| if blocked { Entry::Blocked } else { Entry::Listed };
    for &(package, blocked) in lists.get(&tag).map(Vec::as_slice).unwrap_or_default() {
        entries[package] = entry(blocked);
    }
    for ancestor in ancestors {
        for &(package, blocked) in lists.get(&ancestor.tag).map(Vec::as_slice).unwrap_or_default() {
            if entries[package] == Entry::Absent && inheritance.passes(&ancestor.filters, &package_names[package]) {
                entries[package] = entry(blocked);
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(parent: i32, priority: i32) -> Link {
        Link { parent, priority, maxdepth: None, intransitive: false, noconfig: false, pkg_filter: None }
    }

    fn chain(inheritance: &Inheritance, tag: i32) -> Vec<i32> {
        inheritance.ancestors(tag).iter().map(|a| a.tag).collect()
    }

    #[test]
    fn parents_are_walked_depth_first_in_priority_order() {
        // 1 -> {3 (prio 20), 2 (prio 10)}; 2 -> 4; 3 -> 5
        let inheritance = Inheritance::new([(1, link(3, 20)), (1, link(2, 10)), (2, link(4, 0)), (3, link(5, 0))]);
        assert_eq!(chain(&inheritance, 1), [2, 4, 3, 5]);
        assert_eq!(chain(&inheritance, 5), Vec::<i32>::new());
    }

    #[test]
    fn descendants_follow_every_link_and_stop_at_loops() {
        // 1 <- 2 <- 3 (intransitive, depth-limited links count too); 4 <- 1 closes a loop; 5 alone.
        let mut limited = link(2, 0);
        limited.maxdepth = Some(0);
        limited.intransitive = true;
        let inheritance = Inheritance::new([(2, link(1, 0)), (3, limited), (1, link(4, 0)), (4, link(3, 0))]);
        let found = inheritance.with_descendants(&HashSet::from([1]));
        assert_eq!(found, HashSet::from([1, 2, 3, 4]));
        assert_eq!(inheritance.with_descendants(&HashSet::from([5])), HashSet::from([5]));
    }

    #[test]
    fn loops_are_skipped() {
        let inheritance = Inheritance::new([(1, link(2, 0)), (2, link(3, 0)), (3, link(1, 0))]);
        assert_eq!(chain(&inheritance, 1), [2, 3]);
        assert_eq!(chain(&inheritance, 3), [1, 2]);
    }

    #[test]
    fn maxdepth_counts_levels_beyond_the_parent_and_the_tighter_limit_wins() {
        // 1 -> 2 (maxdepth 1) -> 3 -> 4 -> 5
        let mut limited = link(2, 0);
        limited.maxdepth = Some(1);
        let inheritance = Inheritance::new([(1, limited.clone()), (2, link(3, 0)), (3, link(4, 0)), (4, link(5, 0))]);
        assert_eq!(chain(&inheritance, 1), [2, 3], "2 and one level beyond");
        limited.maxdepth = Some(0);
        let mut loose = link(4, 0);
        loose.maxdepth = Some(5);
        let inheritance = Inheritance::new([(1, limited), (2, link(3, 0)), (3, loose), (4, link(5, 0))]);
        assert_eq!(chain(&inheritance, 1), [2], "maxdepth 0: the parent only");
        assert_eq!(chain(&inheritance, 2), [3, 4, 5], "a deeper limit further down does not matter from 2");
    }

    #[test]
    fn intransitive_links_count_only_at_the_start() {
        let mut intransitive = link(3, 0);
        intransitive.intransitive = true;
        let inheritance = Inheritance::new([(1, link(2, 0)), (2, intransitive)]);
        assert_eq!(chain(&inheritance, 1), [2]);
        assert_eq!(chain(&inheritance, 2), [3]);
    }

    #[test]
    fn filters_accumulate_and_a_less_restricted_path_visits_again() {
        // 1 -> 2 (filter ^foo) -> 4 (filter bar$ never anchored at the end by Koji: "foo.*bar")
        // 1 -> 3 -> 4: a second, unfiltered path to 4 visits it again.
        let mut to_two = link(2, 0);
        to_two.pkg_filter = Some("foo".into());
        let mut two_to_four = link(4, 0);
        two_to_four.pkg_filter = Some(".*bar".into());
        let inheritance = Inheritance::new([(1, to_two), (1, link(3, 5)), (2, two_to_four), (3, link(4, 0))]);
        let ancestors = inheritance.ancestors(1);
        assert_eq!(ancestors.iter().map(|a| a.tag).collect::<Vec<_>>(), [2, 4, 3, 4]);
        assert_eq!(ancestors[1].filters.len(), 2);
        assert!(inheritance.passes(&ancestors[1].filters, "foo-bar"));
        assert!(inheritance.passes(&ancestors[1].filters, "foo-bar-extra"), "anchored at the start only");
        assert!(!inheritance.passes(&ancestors[1].filters, "foo"), "must match every filter");
        assert!(!inheritance.passes(&ancestors[1].filters, "xfoo-bar"));
        assert!(ancestors[3].filters.is_empty());

        // The other way round, an unfiltered first visit covers the filtered second one.
        let mut to_four = link(4, 0);
        to_four.pkg_filter = Some("foo".into());
        let inheritance = Inheritance::new([(1, link(4, 0)), (1, link(2, 1)), (2, to_four)]);
        assert_eq!(chain(&inheritance, 1), [4, 2]);
    }

    #[test]
    fn a_filter_that_does_not_compile_matches_nothing() {
        let mut bad = link(2, 0);
        bad.pkg_filter = Some("(?<=x)y[".into());
        let inheritance = Inheritance::new([(1, bad)]);
        let ancestors = inheritance.ancestors(1);
        assert!(!inheritance.passes(&ancestors[0].filters, "y"));
    }

    #[test]
    fn the_nearest_entry_wins_and_blocks_shadow_parents() {
        // packages: 0 bash, 1 kernel, 2 foo-lib, 3 zsh
        let names: Vec<String> = ["bash", "kernel", "foo-lib", "zsh"].map(String::from).to_vec();
        let mut to_three = link(3, 0);
        to_three.pkg_filter = Some("foo".into());
        let inheritance = Inheritance::new([(1, link(2, 0)), (2, to_three)]);
        let lists: PackageLists = HashMap::from([
            (1, vec![(1, true)]),                          // kernel blocked in the child
            (2, vec![(0, false), (1, false)]),             // bash, kernel listed in the parent
            (3, vec![(2, false), (3, false), (1, false)]), // only foo-lib passes the filter
        ]);
        let entries = resolve_packages(&inheritance, &lists, &names, 1, &inheritance.ancestors(1));
        assert_eq!(entries, [Entry::Listed, Entry::Blocked, Entry::Listed, Entry::Absent]);
    }
}
