//! The shape of the loader crate (issue 12), checked: data flows one way (a module of
//! loader/src uses only the modules lib.rs's doc comment allows it), no source or test
//! file grows past 600 lines, and the files and loader paths docs/architecture.md names
//! exist. Reads the sources as text; needs nothing else.

use std::path::{Path, PathBuf};

/// Each top-level module of loader/src and the others it may use (lib.rs's doc comment).
const ALLOWED: &[(&str, &[&str])] = &[
    ("vocab", &[]),
    ("explain", &["vocab"]),
    ("error", &["explain", "vocab"]),
    ("lock", &["error"]),
    ("timings", &[]),
    ("cli", &["error"]),
    ("dump", &["vocab", "explain", "error", "lock", "timings"]),
    ("load", &["vocab", "explain", "error", "lock", "timings"]),
    (
        "attach",
        &["vocab", "explain", "error", "lock", "timings", "load"],
    ),
    (
        "run",
        &["vocab", "explain", "error", "lock", "timings", "load"],
    ),
    (
        "trace",
        &["vocab", "explain", "error", "lock", "timings", "load"],
    ),
    ("stats", &["vocab", "explain", "error", "lock", "timings"]),
    (
        "export",
        &[
            "vocab", "explain", "error", "lock", "timings", "stats", "attach",
        ],
    ),
];

/// The longest a file of loader/src or loader/tests may grow; past it, split it by subject.
const MAX_LINES: usize = 600;

fn loader_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|error| {
            panic!("cannot list {}: {error}", dir.display());
        });
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The top-level module a file of loader/src belongs to (`load` for load/maps.rs), or
/// `None` for lib.rs and the binaries.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "bin" => None,
        name => Some(name.trim_end_matches(".rs").to_string()),
    }
}

/// The modules `crate::` paths name on the code lines (not comments) of `text`, with
/// their line numbers. The crate root's re-exports stand for the module they come from.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let module = match name.as_str() {
                "ExitKind" | "LoadError" => "error".to_string(),
                _ => name,
            };
            found.push((number + 1, module));
            rest = after;
        }
    }
    found
}

#[test]
fn no_module_uses_a_stage_after_it_or_one_it_is_not_allowed() {
    let src = loader_dir().join("src");
    let mut wrong = Vec::new();
    for file in rust_files(&src) {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let allowed = ALLOWED
            .iter()
            .find(|(name, _)| *name == module)
            .map(|(_, allowed)| *allowed)
            .unwrap_or_else(|| {
                panic!(
                    "{module} (from {}) is not in ALLOWED: add it to lib.rs's doc comment and here",
                    file.display()
                )
            });
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for (line, used) in crate_paths(&text) {
            if used != module && !allowed.contains(&used.as_str()) {
                wrong.push(format!("{}:{line}: {module} uses {used}", file.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "modules using what lib.rs's doc comment does not allow them:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_source_or_test_file_is_over_600_lines() {
    let mut long = Vec::new();
    for dir in ["src", "tests"] {
        for file in rust_files(&loader_dir().join(dir)) {
            let lines = std::fs::read_to_string(&file)
                .expect("a readable source file")
                .lines()
                .count();
            if lines > MAX_LINES {
                long.push(format!("{}: {lines} lines", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines; split them by subject:\n{}",
        long.join("\n")
    );
}

/// The loader's top-level modules, the first segment of a path docs/architecture.md names.
const MODULES: &[&str] = &[
    "dump", "load", "attach", "run", "trace", "stats", "export", "vocab", "explain", "error",
    "lock", "timings", "cli",
];

/// Whether `text` defines `name` (a function, type, constant, static or module).
fn defines(text: &str, name: &str) -> bool {
    [
        "fn", "struct", "enum", "const", "static", "type", "trait", "mod",
    ]
    .iter()
    .any(|kind| {
        text.match_indices(&format!("{kind} {name}"))
            .any(|(at, found)| {
                !text[at + found.len()..]
                    .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            })
    })
}

/// The file of loader/src that holds module `path` (`load::maps`), if there is one.
fn module_file(src: &Path, path: &[&str]) -> Option<PathBuf> {
    let joined = path.join("/");
    [format!("{joined}.rs"), format!("{joined}/mod.rs")]
        .into_iter()
        .map(|file| src.join(file))
        .find(|file| file.is_file())
}

#[test]
fn every_file_and_loader_path_architecture_md_names_exists() {
    let repo = loader_dir().join("..");
    let doc = std::fs::read_to_string(repo.join("docs/architecture.md")).expect("the doc");
    let src = loader_dir().join("src");
    let mut missing = Vec::new();
    let words = doc
        .split(|c: char| c == '`' || c.is_whitespace() || "(),;".contains(c))
        .map(|word| word.trim_matches(|c: char| "[]\"':.".contains(c)))
        .filter(|word| !word.is_empty());
    for word in words {
        let tops = ["elf/", "sys/", "loader/", "kern/", "scripts/", "docs/"];
        if tops.iter().any(|top| word.starts_with(top)) && !word.contains('*') {
            if !repo.join(word).exists() {
                missing.push(format!("{word}: no such file or directory"));
            }
            continue;
        }
        let segments: Vec<&str> = word.split("::").collect();
        if segments.len() < 2 || !MODULES.contains(&segments[0]) {
            continue;
        }
        // The longest run of segments that is a file; what follows is an item in it.
        let Some((file, at)) = (1..segments.len())
            .rev()
            .find_map(|end| module_file(&src, &segments[..end]).map(|file| (file, end)))
        else {
            missing.push(format!("{word}: no module file"));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        if !defines(&text, segments[at]) {
            missing.push(format!(
                "{word}: {} defines no {}",
                file.display(),
                segments[at]
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/architecture.md names what does not exist:\n{}",
        missing.join("\n")
    );
}
