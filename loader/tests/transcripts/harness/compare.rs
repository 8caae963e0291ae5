//! A case against its doc: the marked ```console blocks found in README.md and docs/*.md,
//! each case run and compared with its block line by line (`...` matching any lines),
//! and the checks that every block is a case, every case is marked, and the masks hide
//! what changes between runs.

use super::*;

struct Block {
    doc: String,
    /// 1-based line number of the marker.
    line: usize,
    name: String,
    text: String,
}

const DOCS: &[&str] = &[
    "README.md",
    "docs/architecture.md",
    "docs/benchmarks.md",
    "docs/exercises.md",
    "docs/fuzzing.md",
    "docs/how-it-works.md",
    "docs/operations.md",
    "docs/real-world-objects.md",
    "docs/tracing.md",
    "docs/troubleshooting.md",
    "docs/walkthrough.md",
];

fn doc_files() -> Vec<String> {
    let mut files: Vec<String> = vec!["README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(repo_root().join("docs"))
        .expect("read docs/")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn marked_blocks() -> Vec<Block> {
    let mut blocks = Vec::new();
    for doc in doc_files() {
        let text = std::fs::read_to_string(repo_root().join(&doc)).expect("read doc");
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let Some(name) = line
                .trim()
                .strip_prefix("<!-- transcript:")
                .and_then(|rest| rest.strip_suffix("-->"))
            else {
                continue;
            };
            assert_eq!(
                lines.get(index + 1).map(|next| next.trim()),
                Some("```console"),
                "{doc}:{}: a transcript marker must be right above a ```console block",
                index + 1
            );
            let body: Vec<&str> = lines[index + 2..]
                .iter()
                .take_while(|body| body.trim() != "```")
                .copied()
                .collect();
            blocks.push(Block {
                doc: doc.clone(),
                line: index + 1,
                name: name.trim().to_string(),
                text: body.join("\n") + "\n",
            });
        }
    }
    blocks
}

fn case(name: &str) -> &'static Case {
    all_cases()
        .find(|case| case.name == name)
        .unwrap_or_else(|| panic!("no transcript case called {name}"))
}

fn block(name: &str) -> Block {
    let mut found: Vec<Block> = marked_blocks()
        .into_iter()
        .filter(|block| block.name == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "transcript {name} must be marked exactly once (<!-- transcript: {name} --> above a ```console block)"
    );
    found.remove(0)
}

fn is_elision(line: &str) -> bool {
    matches!(line.trim(), "..." | "[...]")
}

/// Does `doc` (with `...` lines matching any run of lines) match `real`?
fn matches(doc: &[String], real: &[String]) -> bool {
    // memo[i][j]: doc[i..] matches real[j..].
    let mut memo = vec![vec![false; real.len() + 1]; doc.len() + 1];
    memo[doc.len()][real.len()] = true;
    for i in (0..doc.len()).rev() {
        for j in (0..=real.len()).rev() {
            memo[i][j] = if is_elision(&doc[i]) {
                memo[i + 1][j] || (j < real.len() && memo[i][j + 1])
            } else {
                j < real.len() && doc[i] == real[j] && memo[i + 1][j + 1]
            };
        }
    }
    memo[0][0]
}

/// A unified-diff-like listing (longest common subsequence; `...` lines shown as doc-only).
fn diff(doc: &[String], real: &[String]) -> String {
    let (n, m) = (doc.len(), real.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if doc[i] == real[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < n || j < m {
        if i < n && j < m && doc[i] == real[j] {
            out.push_str(&format!("  {}\n", doc[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", real[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", doc[i]));
            i += 1;
        }
    }
    out
}

pub(crate) fn check(name: &str) {
    let case = case(name);
    if case.needs == Needs::Root {
        require_root();
    }
    let block = block(name);
    assert_eq!(
        block.doc, case.doc,
        "transcript {name} is marked in {} but its case says {}",
        block.doc, case.doc
    );
    let mut session = Session::new();
    (case.run)(&mut session);
    let doc = select(normalise(&block.text, case), case, true);
    let real = select(normalise(&session.real_text(), case), case, false);
    assert!(
        matches(&doc, &real),
        "transcript {name} ({}:{}, the ```console block under `<!-- transcript: {name} -->`) \
         no longer matches what the binaries print: update the doc with the real output \
         (ids, fds, pids, ifindexes and timings are masked as N; `...` matches any lines).\n\
         --- {} (normalised)\n+++ real output (normalised)\n{}",
        block.doc,
        block.line,
        block.doc,
        diff(&doc, &real)
    );
}

#[test]
fn every_marker_names_a_known_case_and_every_case_is_marked() {
    let blocks = marked_blocks();
    for block in &blocks {
        assert!(
            all_cases().any(|case| case.name == block.name),
            "{}:{}: transcript {} has no case in loader/tests/transcripts/",
            block.doc,
            block.line,
            block.name
        );
    }
    for case in all_cases() {
        let marked: Vec<&Block> = blocks.iter().filter(|b| b.name == case.name).collect();
        assert_eq!(
            marked.len(),
            1,
            "transcript {} must be marked exactly once, in {}",
            case.name,
            case.doc
        );
    }
    // Every doc this test reads is one the project has.
    for doc in DOCS {
        assert!(repo_root().join(doc).exists(), "{doc} is missing");
    }
}

/// The ```console blocks of `doc` with no transcript marker right above them:
/// (1-based line of the block, its first line).
fn unmarked_console_blocks(doc: &str) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(repo_root().join(doc)).expect("read doc");
    let lines: Vec<&str> = text.lines().collect();
    let mut unmarked = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if line.trim() != "```console" {
            continue;
        }
        let marked = index > 0 && lines[index - 1].trim().starts_with("<!-- transcript:");
        if !marked {
            let first = lines.get(index + 1).copied().unwrap_or_default();
            unmarked.push((index + 1, first.trim().to_string()));
        }
    }
    unmarked
}

#[test]
fn every_console_block_is_a_checked_transcript() {
    let mut unmarked = String::new();
    for doc in doc_files() {
        for (line, first) in unmarked_console_blocks(&doc) {
            unmarked.push_str(&format!("\n  {doc}:{line}: {first}"));
        }
    }
    assert!(
        unmarked.is_empty(),
        "these ```console blocks are not checked: mark each with `<!-- transcript: NAME -->` \
         and a case in loader/tests/transcripts/<doc>.rs, or, when a block shows only \
         commands and no output, make it a ```sh block:{unmarked}"
    );
}

#[test]
fn masking_hides_what_changes_between_runs() {
    let plain = all_cases()
        .find(|case| !case.mask_counters)
        .expect("a case");
    let lines = |text: &str| normalise(text, plain);
    assert_eq!(
        lines("Inserting program xdp_skeleton_1 (fd 7) into slot 1 of jmp_map"),
        lines("Inserting program xdp_skeleton_1 (fd 12) into slot 1 of jmp_map")
    );
    assert_eq!(
        lines("--- verifier log (8 lines; the whole log is in /tmp/xdploader-verifier-no_bounds-19899.log) ---"),
        lines("--- verifier log (8 lines; the whole log is in /tmp/xdploader-verifier-no_bounds-4.log) ---")
    );
    assert_eq!(
        lines("3: veth1@if23: <BROADCAST"),
        lines("7: veth1@if6: <BROADCAST")
    );
    assert_eq!(lines("    \"id\": 4006,"), lines("    \"id\": 12,"));
    assert_eq!(
        lines("rtt min/avg/max/mdev = 0.057/0.082/0.177/0.047 ms"),
        lines("rtt min/avg/max/mdev = 0.031/0.1/1.2/0.2 ms")
    );
    assert_eq!(
        lines("veth1 (ifindex 40): xdp_skeleton (id 4033), drv mode, attached via BPF link 112"),
        lines("veth1 (ifindex 7): xdp_skeleton (id 1), drv mode, attached via BPF link 9")
    );
    // What is not volatile still counts.
    assert_ne!(
        lines("    XDP_PASS:     4 packets / 205 bytes"),
        lines("    XDP_PASS:     5 packets / 205 bytes")
    );
    assert_ne!(
        lines("Inserted program xdp_skeleton_1 into slot 1 of jmp_map"),
        lines("Inserted program xdp_skeleton_1 into slot 2 of jmp_map")
    );
    assert_eq!(
        lines("4: (18) r1 = 0xffff888102b78000       ; R1=map_ptr(map=counts,ks=4,vs=8)"),
        lines("4: (18) r1 = 0xffff8881043d9800       ; R1=map_ptr(map=counts,ks=4,vs=8)")
    );
    // Register bounds are not addresses.
    assert_ne!(
        lines("R1=pkt(off=64,r=0xfffffffffffffffe)"),
        lines("R1=pkt(off=64,r=0xfffffffffffffffd)")
    );
    let doc = vec!["a".to_string(), "...".to_string(), "d".to_string()];
    let real: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
    assert!(matches(&doc, &real));
    assert!(!matches(&doc, &real[..3]));
}
