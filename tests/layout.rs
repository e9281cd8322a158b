//! The layout shows the architecture, and stays that way: `src/` is grouped by
//! responsibility, the groups import each other in one direction only (no
//! cycles; nothing imports the shell; `http`, `session`, `access` and `config`
//! never reach the OIDC layer), and no file grows past about 600 lines.

// Test code fails loudly by design; the no-panic rule is for `src/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The group a file belongs to: its folder under `src/`, or its own name.
fn group(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap();
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

/// The groups a file's code names (`crate::<group>`), ignoring comments and
/// its test module.
fn imports(text: &str) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    code.split("crate::")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let from = group(&src, &file);
        if from == "lib" {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        let entry = graph.entry(from.clone()).or_default();
        entry.extend(imports(&text).into_iter().filter(|to| *to != from));
    }
    graph
}

/// Depth-first search: panics naming the first import cycle found.
fn visit<'g>(
    node: &'g str,
    graph: &'g BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<&'g str>,
    done: &mut BTreeSet<&'g str>,
) {
    if let Some(at) = path.iter().position(|n| *n == node) {
        let cycle = path.get(at..).unwrap_or_default().join(" -> ");
        panic!("import cycle: {cycle} -> {node}");
    }
    if done.contains(node) {
        return;
    }
    path.push(node);
    for next in graph.get(node).into_iter().flatten() {
        visit(next, graph, path, done);
    }
    path.pop();
    done.insert(node);
}

#[test]
fn groups_import_each_other_in_one_direction() {
    let graph = graph();
    for expected in ["access", "config", "http", "oidc", "session", "shell"] {
        assert!(graph.contains_key(expected), "src/{expected}/ is missing");
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
    for (from, to) in &graph {
        assert!(!to.contains("shell"), "{from} imports the shell");
        if ["http", "session", "access", "config"].contains(&from.as_str()) {
            assert!(!to.contains("oidc"), "{from} imports oidc");
            assert!(!to.contains("flow"), "{from} imports flow");
        }
    }
}

#[test]
fn no_file_is_longer_than_about_600_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = fs::read_to_string(file).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these: {long:?}");
}
