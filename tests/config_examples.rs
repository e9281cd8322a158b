//! Every example in `filter-config/` loads in the filter, and every invalid
//! example is refused with the field and problem `invalid/expected.json` names.
//! (Schema validation of the same files is in the Node suite, with ajv.)

// Test code fails loudly by design; the no-panic rule is for `src/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tinyauth_wasm::config::Config;

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("filter-config")
        .join(sub)
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_loads() {
    let examples: Vec<PathBuf> = json_files(&dir(""))
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|name| name != "schema.json"))
        .collect();
    assert!(examples.len() >= 3, "examples found: {examples:?}");
    for path in examples {
        let bytes = fs::read(&path).unwrap();
        if let Err(err) = Config::from_json(&bytes) {
            panic!("{} does not load: {err}", path.display());
        }
    }
}

#[test]
fn every_invalid_example_is_refused_as_expected() {
    let expected: BTreeMap<String, Value> =
        serde_json::from_slice(&fs::read(dir("invalid").join("expected.json")).unwrap()).unwrap();
    let files: Vec<PathBuf> = json_files(&dir("invalid"))
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|name| name != "expected.json"))
        .collect();
    assert_eq!(
        files.len(),
        expected.len(),
        "every invalid example needs an entry in expected.json, and vice versa"
    );
    for path in files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let want = expected
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in expected.json"));
        let err = Config::from_json(&fs::read(&path).unwrap())
            .expect_err(&format!("{name} must be refused"));
        assert_eq!(err.field, want["field"].as_str().unwrap(), "{name}: {err}");
        assert!(
            err.problem.contains(want["problem"].as_str().unwrap()),
            "{name}: `{err}` should mention {}",
            want["problem"]
        );
    }
}
