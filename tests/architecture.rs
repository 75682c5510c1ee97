//! The shape of the code, checked like behaviour: no source file reaches itself again
//! through the modules it names, and the lower layers name nothing above them.
//!
//! A file names a module when a path in it starts `crate::`, `super::` or `self::`, or
//! when a `use` starts with one of the file's own child modules. `mod` declarations
//! are not counted: a parent owns its children, it does not depend on them. A module's
//! unit tests are not counted either.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module of the crate by path (`web::keys`), with its file.
fn modules() -> BTreeMap<Vec<String>, PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .filter(|file| !file.ends_with("main.rs"))
        .map(|file| {
            let relative = file.strip_prefix(&root).unwrap().with_extension("");
            let mut path: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if path.last().is_some_and(|last| last == "mod" || last == "lib") {
                path.pop();
            }
            (path, file)
        })
        .collect()
}

/// The paths that start at `at` in `text`, as identifiers: `a::b::{c, d::e}` gives
/// a::b::c and a::b::d::e (`self` in braces is the path before them; `as` is dropped).
fn paths_at(text: &str, at: usize) -> Vec<Vec<String>> {
    fn tree(rest: &str, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
        let mut path = prefix.to_vec();
        let mut used = 0;
        loop {
            let here = &rest[used..];
            let skipped = here.len() - here.trim_start().len();
            used += skipped;
            let here = &rest[used..];
            if let Some(group) = here.strip_prefix('{') {
                let mut inside = 1;
                loop {
                    inside += tree(&group[inside - 1..], &path, out);
                    let after = &group[inside - 1..];
                    let after_trimmed = after.trim_start();
                    inside += after.len() - after_trimmed.len();
                    match after_trimmed.chars().next() {
                        Some(',') => inside += 1,
                        Some('}') => return used + inside + 1,
                        _ => return used + inside,
                    }
                }
            }
            let end = here
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(here.len());
            if end == 0 {
                break;
            }
            let segment = &here[..end];
            used += end;
            if segment != "self" {
                path.push(segment.to_owned());
            }
            match rest[used..].strip_prefix("::") {
                Some(_) => used += 2,
                None => break,
            }
        }
        let here = &rest[used..];
        if let Some(alias) = here.trim_start().strip_prefix("as ") {
            let name = alias.trim_start();
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(name.len());
            used += here.len() - alias.len() + (alias.len() - name.len()) + end;
        }
        out.push(path);
        used
    }
    let mut out = Vec::new();
    tree(&text[at..], &[], &mut out);
    out
}

/// Strips comments (`//…` to the line's end), so prose naming a module is not an edge,
/// and the unit tests at a file's end (`#[cfg(test)] mod tests`), whose `super` is the
/// file itself and which are no part of the structure.
fn code_of(source: &str) -> String {
    let end = source.find("#[cfg(test)]\nmod ").unwrap_or(source.len());
    source[..end]
        .lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules each module names, resolved to the deepest module that exists.
fn edges(modules: &BTreeMap<Vec<String>, PathBuf>) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let resolve = |mut path: Vec<String>| {
        while !path.is_empty() && !modules.contains_key(&path) {
            path.pop();
        }
        path
    };
    let mut graph = BTreeMap::new();
    for (module, file) in modules {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
        let own = |name: &str| {
            let mut child = module.clone();
            child.push(name.to_owned());
            child
        };
        let mut named = BTreeSet::new();
        for (prefix, base) in [
            ("crate::", Vec::new()),
            ("super::", parent.clone()),
            ("self::", module.clone()),
        ] {
            for (at, _) in code.match_indices(prefix) {
                let before = code[..at].chars().last();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                for mut rest in paths_at(&code, at + prefix.len()) {
                    let mut target = base.clone();
                    while rest.first().is_some_and(|segment| segment == "super") {
                        rest.remove(0);
                        target.pop();
                    }
                    target.extend(rest);
                    named.insert(resolve(target));
                }
            }
        }
        for line in code.lines() {
            let line = line.trim_start();
            let Some(rest) = line
                .strip_prefix("pub use ")
                .or_else(|| line.strip_prefix("pub(crate) use "))
                .or_else(|| line.strip_prefix("use "))
            else {
                continue;
            };
            for first in paths_at(rest, 0) {
                if let Some(head) = first.first()
                    && modules.contains_key(&own(head))
                {
                    let mut target = module.clone();
                    target.extend(first);
                    named.insert(resolve(target));
                }
            }
        }
        named.remove(module);
        graph.insert(module.clone(), named);
    }
    graph
}

/// A cycle through `start`, if the graph has one.
fn cycle(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|seen| seen == node) {
            let mut names: Vec<String> = stack[at..].iter().map(|m| name(m)).collect();
            names.push(name(node));
            return Some(names);
        }
        if !done.insert(node.clone()) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, stack, done) {
                return Some(found);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(found) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(found);
        }
    }
    None
}

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

#[test]
fn no_module_reaches_itself_again_through_the_modules_it_names() {
    let graph = edges(&modules());
    assert!(graph.len() > 20, "the walk found the source files");
    if let Some(cycle) = cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_lower_layers_name_nothing_above_them() {
    let graph = edges(&modules());
    let layer = |module: &Vec<String>| module.first().cloned().unwrap_or_default();
    let below: [(&str, &[&str]); 4] = [
        (
            "domain",
            &["db", "web", "api", "usage", "service", "cli", "startup", "config"],
        ),
        ("db", &["web", "api", "service", "cli", "startup"]),
        (
            "error",
            &[
                "domain", "db", "web", "api", "usage", "service", "cli", "startup", "config",
            ],
        ),
        (
            "telemetry",
            &[
                "domain", "db", "web", "api", "usage", "service", "cli", "startup", "config", "error",
            ],
        ),
    ];
    for (module, named) in &graph {
        for (lower, forbidden) in below {
            if layer(module) != lower {
                continue;
            }
            for target in named {
                assert!(
                    !forbidden.contains(&layer(target).as_str()),
                    "{} names {}",
                    name(module),
                    name(target)
                );
            }
        }
    }
}

#[test]
fn the_checker_finds_a_cycle_it_is_shown() {
    let module = |name: &str| vec![name.to_owned()];
    let mut graph = BTreeMap::new();
    graph.insert(module("a"), BTreeSet::from([module("b")]));
    graph.insert(module("b"), BTreeSet::from([module("c")]));
    graph.insert(module("c"), BTreeSet::from([module("a")]));
    assert_eq!(cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    graph.insert(module("c"), BTreeSet::new());
    assert_eq!(cycle(&graph), None);
    assert_eq!(
        paths_at("web::{self, keys::{a, b as c}, state::AppState};", 0),
        [
            vec!["web"],
            vec!["web", "keys", "a"],
            vec!["web", "keys", "b"],
            vec!["web", "state", "AppState"]
        ]
    );
    assert_eq!(paths_at("db::keys::find(conn)", 0), [vec!["db", "keys", "find"]]);
}
