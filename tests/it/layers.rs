//! The module map of ARCHITECTURE.md ("Layers") held against the code's own imports: every
//! module of `src/` sits in one layer of the map, imports only from layers below its own (never
//! from another module of its own layer) and nothing its `never` line forbids, and no files
//! import each other in a circle. Also: README's metric tables list exactly the families that
//! `src/metrics.rs` describes.
//!
//! Imports are read as text: `use` items and paths written inline (`crate::db::error_text`),
//! with `super::` and `self::` resolved against the file's module, comments and string
//! literals left out, and each file's unit tests (`#[cfg(test)] mod tests`, at the end of the
//! file) not counted. A path names the longest module it starts with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::repo_path;

/// Modules of `src/`, by path (`collect::tasks::row`), with their file.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if prefix.is_empty() && name == "bin" {
                    continue;
                }
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let mut module = prefix.to_vec();
                if !(name == "mod" || (prefix.is_empty() && name == "lib")) {
                    module.push(name);
                }
                let relative = path.strip_prefix(repo_path("")).unwrap().to_string_lossy().into_owned();
                out.insert(module.join("::"), relative);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&repo_path("src"), &[], &mut out);
    out
}

/// The code without comments and string literals, which mention paths without importing them.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for next in chars.by_ref() {
                    if next == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut previous = ' ';
                for next in chars.by_ref() {
                    if previous == '*' && next == '/' {
                        break;
                    }
                    previous = next;
                }
            }
            '"' => {
                let mut escaped = false;
                for next in chars.by_ref() {
                    if next == '"' && !escaped {
                        break;
                    }
                    escaped = next == '\\' && !escaped;
                }
                out.push_str("\"\"");
            }
            // A char literal such as '"' or '{'; lifetimes ('a) have no closing quote nearby.
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                let literal_length = if rest.starts_with('\\') { rest.find('\'').map(|i| i + 1) } else { None }
                    .or_else(|| (rest.chars().nth(1) == Some('\'')).then_some(2));
                match literal_length {
                    Some(length) => {
                        for _ in 0..length {
                            chars.next();
                        }
                        out.push_str("' '");
                    }
                    None => out.push(c),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path the code names from the crate: `crate::a::b`, `super::x`, `self::y`, the groups
/// of `use crate::{a, b::{c, d}}`, and in the binary `koji_exporter::...`; each as segments
/// from the crate root.
fn referenced_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    let roots = ["crate::", "super::", "self::", "koji_exporter::"];
    let mut i = 0;
    while i < code.len() {
        let boundary =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':');
        let root = roots.iter().find(|root| boundary && code[i..].starts_with(**root));
        let Some(root) = root else {
            i += 1;
            continue;
        };
        let base: Vec<String> = match *root {
            "crate::" | "koji_exporter::" => Vec::new(),
            "self::" => module.to_vec(),
            _ => {
                // `super::super::x` climbs once per `super::`.
                let mut base = module.to_vec();
                let mut j = i;
                while code[j..].starts_with("super::") {
                    base.pop();
                    j += "super::".len();
                }
                i = j - root.len();
                base
            }
        };
        i += root.len();
        let (tree, used) = use_tree(&code[i..]);
        for tail in tree {
            let mut path = base.clone();
            path.extend(tail);
            paths.push(path);
        }
        i += used.max(1);
    }
    paths
}

/// The paths of a use tree that starts at `text` (`a::b`, `a::{b, c::d}`), and its length.
fn use_tree(text: &str) -> (Vec<Vec<String>>, usize) {
    let mut segments = Vec::new();
    let mut i = 0;
    loop {
        let rest = &text[i..];
        if let Some(inner) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = inner
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(inner.len(), |(index, _)| index);
            let mut paths = Vec::new();
            for item in split_top_level(&inner[..end]) {
                let item = item.trim();
                if item.is_empty() || item == "self" {
                    paths.push(segments.clone());
                    continue;
                }
                for tail in use_tree(item).0 {
                    let mut path = segments.clone();
                    path.extend(tail);
                    paths.push(path);
                }
            }
            return (paths, i + 1 + end + 1);
        }
        let length = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        if length == 0 {
            return (vec![segments], i);
        }
        segments.push(rest[..length].to_owned());
        i += length;
        if text[i..].starts_with("::") {
            i += 2;
        } else {
            return (vec![segments], i);
        }
    }
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (index, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
}

/// The text of ARCHITECTURE.md's fenced block of kind `kind` (```kind ... ```).
fn architecture_block(kind: &str) -> String {
    let text = std::fs::read_to_string(repo_path("ARCHITECTURE.md")).unwrap();
    let block =
        text.split(&format!("```{kind}\n")).nth(1).unwrap_or_else(|| panic!("ARCHITECTURE.md has no ```{kind} block"));
    block.split("```").next().unwrap().to_owned()
}

/// The layers of ARCHITECTURE.md, top first: each line of the `layers` block lists the modules
/// of one layer.
fn layers() -> Vec<Vec<String>> {
    architecture_block("layers")
        .lines()
        .map(|line| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The `never` block: `module: other other ...`, imports that are refused although downward.
fn never() -> Vec<(String, Vec<String>)> {
    architecture_block("never")
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(module, refused)| (module.trim().to_owned(), refused.split_whitespace().map(str::to_owned).collect()))
        .collect()
}

fn covers(entry: &str, module: &str) -> bool {
    module == entry || module.starts_with(&format!("{entry}::"))
}

/// The map entry a module belongs to (the longest listed prefix) and its height (0 = bottom).
fn place(module: &str, layers: &[Vec<String>]) -> Option<(String, usize)> {
    let mut best: Option<(String, usize)> = None;
    for (index, layer) in layers.iter().enumerate() {
        for entry in layer {
            if covers(entry, module) && best.as_ref().is_none_or(|(found, _)| entry.len() > found.len()) {
                best = Some((entry.clone(), layers.len() - 1 - index));
            }
        }
    }
    best
}

/// File-level import graph: module -> modules it imports. A parent's `mod child;` is not an
/// import; its `use self::child::X` is.
fn graph(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let tests = regex::Regex::new(r"#\[cfg\(test\)\]\s*(pub(\(crate\))?\s+)?mod tests").unwrap();
    for (module, file) in modules {
        let text = std::fs::read_to_string(repo_path(file)).unwrap();
        let code = code_only(tests.split(&text).next().unwrap_or(&text));
        let segments: Vec<String> =
            if module.is_empty() { Vec::new() } else { module.split("::").map(str::to_owned).collect() };
        let targets = edges.entry(module.clone()).or_default();
        for path in referenced_paths(&code, &segments) {
            // The longest prefix of the path that is a module.
            let target =
                (0..=path.len()).rev().map(|n| path[..n].join("::")).find(|prefix| modules.contains_key(prefix));
            if let Some(target) = target
                && target != *module
                && !target.is_empty()
            {
                targets.insert(target);
            }
        }
    }
    edges
}

#[test]
fn modules_import_only_from_the_layers_below_and_never_in_a_circle() {
    let modules = modules();
    let layers = layers();
    let mut problems = Vec::new();
    let mut placed = BTreeMap::new();
    for module in modules.keys().filter(|module| !module.is_empty()) {
        match place(module, &layers) {
            Some(found) => {
                placed.insert(module.clone(), found);
            }
            None => problems.push(format!("{module} ({}) is in no layer of ARCHITECTURE.md", modules[module])),
        }
    }
    let edges = graph(&modules);
    for (module, refused) in never() {
        for (from, targets) in edges.iter().filter(|(from, _)| covers(&module, from)) {
            for to in targets.iter().filter(|to| refused.iter().any(|entry| covers(entry, to))) {
                problems.push(format!("{from} ({}) imports {to}, which its `never` line forbids", modules[from]));
            }
        }
    }
    assert!(
        edges.values().map(BTreeSet::len).sum::<usize>() > 40,
        "the import reader found too few imports: {edges:?}"
    );
    for (from, targets) in &edges {
        let Some((from_entry, from_height)) = placed.get(from) else { continue };
        for to in targets {
            let Some((to_entry, to_height)) = placed.get(to) else { continue };
            if from_entry == to_entry {
                continue;
            }
            if to_height >= from_height {
                let how = if to_height == from_height { "a module of its own layer" } else { "a layer above it" };
                problems.push(format!("{from} ({}) imports {to}, {how}", modules[from]));
            }
        }
    }
    // Circles: a depth-first search that meets a module still on its path.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        circles: &mut Vec<String>,
    ) {
        if let Some(start) = path.iter().position(|on_path| on_path == node) {
            circles.push(format!("{} -> {node}", path[start..].join(" -> ")));
            return;
        }
        if !done.insert(node.to_owned()) {
            return;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done, circles);
        }
        path.pop();
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        visit(module, &edges, &mut Vec::new(), &mut done, &mut circles);
    }
    problems.extend(circles.into_iter().map(|circle| format!("import circle: {circle}")));
    assert!(problems.is_empty(), "the module map does not hold:\n{}", problems.join("\n"));
}

#[test]
fn the_import_reader_sees_groups_super_and_inline_paths() {
    let code = code_only(
        "use crate::{db::{self, Database}, koji::task::FREE};\nuse super::row::TaskRow; // crate::report\nlet x = crate::sql::statement(\"crate::http\");\n",
    );
    let module = vec!["collect".to_owned(), "tasks".to_owned()];
    let paths: Vec<String> = referenced_paths(&code, &module).iter().map(|path| path.join("::")).collect();
    assert_eq!(paths, ["db", "db::Database", "koji::task::FREE", "collect::row::TaskRow", "sql::statement"]);
}

/// The metric names README's tables list (a counter as it is scraped, with `_total`).
fn readme_metric_names() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let section = text.split("\n## Metrics\n").nth(1).expect("README has a Metrics section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
        .filter(|name| name.starts_with("koji_"))
        .collect()
}

#[test]
fn readme_lists_every_built_in_metric_and_nothing_else() {
    use koji_exporter::metrics::{ALL, Kind};
    let described: BTreeSet<String> = ALL
        .iter()
        .map(|d| if d.kind == Kind::Counter { format!("{}_total", d.name) } else { d.name.to_owned() })
        .collect();
    let listed = readme_metric_names();
    let undocumented: Vec<_> = described.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&described).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "README's metric tables and src/metrics.rs disagree: described but not in README {undocumented:?}; in README but not described {unknown:?}"
    );
}
