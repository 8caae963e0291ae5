//! The console transcripts in README.md and docs/*.md, checked against the real binaries
//! (issue 8, "Checked, not hoped").
//!
//! Every ```console block of the docs is a transcript: the line right above it is
//! `<!-- transcript: NAME -->` and NAME is a case in `transcripts/<doc>.rs` (one module
//! per doc). Each case runs the commands of its block (with the test's own interface,
//! namespaces and pin directory where the doc says veth1, xdp and /sys/fs/bpf), then both
//! the doc's text and the real output are normalised with the same masks (ids, fds,
//! ifindexes, pids, timings: whatever differs on every run) and compared line by line.
//! A doc line `...` or `[...]` matches any run of lines. A block that shows only
//! commands, no output, is a ```sh block, not a transcript.
//!
//! Cases that need no privilege run in a plain `cargo test`; the others are ignored
//! unless asked for (`scripts/test.sh`, as root).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

#[allow(unused_imports)]
use support::{path_str, repo_root, require_root, statswatch, xdp_object, xdploader, TestNet};

/// Tests for cases that need no privilege: `test_name => "case-name"`.
macro_rules! plain_transcripts {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                super::check($name);
            }
        )*
    };
}

/// Tests for cases that need root: ignored unless asked for, as the other kernel tests.
macro_rules! root_transcripts {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            #[ignore = "needs root: run scripts/test.sh"]
            fn $test() {
                super::check($name);
            }
        )*
    };
}

#[path = "transcripts/benchmarks.rs"]
mod benchmarks;
#[path = "transcripts/exercises.rs"]
mod exercises;
#[path = "transcripts/operations.rs"]
mod operations;
#[path = "transcripts/operations_stats.rs"]
mod operations_stats;
#[path = "transcripts/readme.rs"]
mod readme;
#[path = "transcripts/real_world_objects.rs"]
mod real_world_objects;
#[path = "transcripts/troubleshooting.rs"]
mod troubleshooting;
#[path = "transcripts/walkthrough.rs"]
mod walkthrough;

/// Every case of every doc.
fn all_cases() -> impl Iterator<Item = &'static Case> {
    [
        readme::CASES,
        benchmarks::CASES,
        exercises::CASES,
        operations::CASES,
        operations_stats::CASES,
        real_world_objects::CASES,
        troubleshooting::CASES,
        walkthrough::CASES,
    ]
    .into_iter()
    .flatten()
}

/// What a case needs to run.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Needs {
    Nothing,
    Root,
}

/// One marked transcript: where it is, what it needs, and how to produce it.
struct Case {
    name: &'static str,
    /// The file (relative to the repository root) that holds the block.
    doc: &'static str,
    needs: Needs,
    /// Compare the doc block only from its first line that starts with this (a block
    /// whose beginning the test cannot reproduce, such as start.sh's network setup).
    from: Option<&'static str>,
    /// Doc commands (`$ ...` lines, exactly) left out of the comparison, with their
    /// output and a directly following `$ echo $?`: they show machine-wide state.
    skip: &'static [&'static str],
    /// Mask the numbers of `N packets / N bytes` (counters of traffic the doc made by hand).
    mask_counters: bool,
    /// A mask of the case's own, applied to every line after the common ones (for
    /// output only this case has, such as MAC addresses or ping's round-trip times).
    mask: fn(&str) -> String,
    run: fn(&mut Session),
}

impl Case {
    /// The defaults, for `Case { name, doc, run, ..Case::BASE }`.
    #[allow(dead_code)]
    const BASE: Case = Case {
        name: "",
        doc: "",
        needs: Needs::Root,
        from: None,
        skip: &[],
        mask_counters: false,
        mask: no_mask,
        run: |_| {},
    };
}

/// The mask of a case that needs none beyond the common ones.
fn no_mask(line: &str) -> String {
    line.to_string()
}

/// The transcript being produced: `$ command` lines (as the doc writes them) and the
/// real output, plus the substitutions that map the test's names to the doc's.
struct Session {
    text: String,
    last_status: i32,
    /// (real, doc): applied to the real output before masking, longest first.
    names: Vec<(String, String)>,
}

impl Session {
    fn new() -> Session {
        Session {
            text: String::new(),
            last_status: 0,
            names: Vec::new(),
        }
    }

    fn name(&mut self, real: impl Into<String>, doc: impl Into<String>) {
        self.names.push((real.into(), doc.into()));
    }

    /// Runs `argv` from the repository root and records `shown` and its output.
    fn cmd(&mut self, shown: &str, argv: &[&str]) {
        let output = output_of(argv);
        self.record(shown, &output);
    }

    /// Runs `argv` inside the TestNet's XDP namespace.
    fn cmd_in(&mut self, net: &TestNet, shown: &str, argv: &[&str]) {
        self.cmd(shown, &strs(&with_netns(net, argv)));
    }

    /// `cmd` for a command that runs `ip link show` (alone or in a pipeline): to name a
    /// veth peer's namespace, ip asks the kernel about every name in /run/netns, and one
    /// that another test is deleting at that moment makes it print [`NETNS_RACE`] besides
    /// (or instead of) the real output. Such a run is tried again (bounded).
    fn ip(&mut self, shown: &str, argv: &[&str]) {
        let output = run_retrying(argv, |output| stderr_says(output, NETNS_RACE));
        self.record(shown, &output);
    }

    /// `ip` inside the TestNet's XDP namespace.
    fn ip_in(&mut self, net: &TestNet, shown: &str, argv: &[&str]) {
        self.ip(shown, &strs(&with_netns(net, argv)));
    }

    /// Records `shown` and a command's output (stdout, then stderr) and exit status.
    fn record(&mut self, shown: &str, output: &Output) {
        self.text.push_str(shown);
        self.text.push('\n');
        self.text.push_str(&String::from_utf8_lossy(&output.stdout));
        self.text.push_str(&String::from_utf8_lossy(&output.stderr));
        if !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        self.last_status = output.status.code().unwrap_or(-1);
    }

    fn echo_status(&mut self) {
        self.text
            .push_str(&format!("$ echo $?\n{}\n", self.last_status));
    }

    /// Records a line the doc shows without running anything for it (start.sh's trace
    /// of the command it runs).
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// The names of a TestNet mapped to the doc's: veth1/veth2 and /sys/fs/bpf.
    fn net_names(&mut self, net: &TestNet) {
        self.name(net.xdp_if.clone(), "veth1");
        self.name(net.sender_if.clone(), "veth2");
        self.name(net.pin_dir.display().to_string(), "/sys/fs/bpf");
    }

    fn real_text(&self) -> String {
        let mut names = self.names.clone();
        names.sort_by_key(|(real, _)| std::cmp::Reverse(real.len()));
        let mut text = self.text.clone();
        for (real, doc) in names {
            text = text.replace(&real, &doc);
        }
        text
    }
}

fn strs<S: AsRef<str>>(argv: &[S]) -> Vec<&str> {
    argv.iter().map(AsRef::as_ref).collect()
}

/// Runs `argv` from the repository root, whatever its exit status; panics only when it
/// cannot be started.
fn output_of(argv: &[&str]) -> Output {
    Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", argv[0]))
}

/// Runs `argv` without recording it (setup the doc does not show, or shows elsewhere);
/// it must succeed.
fn quietly(argv: &[&str]) {
    let output = output_of(argv);
    assert!(
        output.status.success(),
        "{} failed: {}{}",
        argv.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What `ip` prints on stderr when another test deletes its namespace while this `ip`
/// looks up the names of all of them (for `link-netns NAME`): machine-wide, not ours.
const NETNS_RACE: &str = "Error: Peer netns reference is invalid.";

fn stderr_says(output: &Output, words: &str) -> bool {
    String::from_utf8_lossy(&output.stderr)
        .to_lowercase()
        .contains(&words.to_lowercase())
}

/// Runs `argv` from the repository root again while `transient` says its run met another
/// process's doing, at most 200 times, 25 ms apart.
fn run_retrying(argv: &[&str], transient: impl Fn(&Output) -> bool) -> Output {
    let mut tries = 0;
    loop {
        let output = output_of(argv);
        tries += 1;
        if !transient(&output) || tries == 200 {
            return output;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// The TestNet's own version of `xdploader -file kern/xdp.elf -i veth1 ARGS`.
fn load_args<'a>(net: &'a TestNet, pin_dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut argv = vec![
        xdploader(),
        "-file",
        "kern/xdp.elf",
        "-i",
        &net.xdp_if,
        "-pin-path",
        pin_dir,
    ];
    argv.extend_from_slice(extra);
    argv
}

/// `xdploader -file kern/xdp.elf -i veth1 EXTRA` on the TestNet, unrecorded (what the
/// doc did before its block); it must succeed.
fn load_quietly(net: &TestNet, extra: &[&str]) {
    let output = net.load(extra);
    assert!(
        output.status.success(),
        "xdploader {} failed: {}{}",
        extra.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `argv` run inside the TestNet's XDP namespace.
fn with_netns<S: AsRef<str>>(net: &TestNet, argv: &[S]) -> Vec<String> {
    let mut all = vec![
        "nsenter".to_string(),
        format!("--net=/run/netns/{}", net.xdp_ns),
    ];
    all.extend(argv.iter().map(|arg| arg.as_ref().to_string()));
    all
}

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// (pid, a number unique in the process, `TAG-PID-NUMBER`): for names of a case's own.
fn unique(tag: &str) -> (u32, u32, String) {
    let pid = std::process::id();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    (pid, id, format!("{tag}-{pid}-{id}"))
}

/// A directory in the temporary directory, unique per process and case, removed (with
/// what is in it) on `Drop`. `new` makes it; `named` only names it, for a doc that makes
/// it with a command of its own.
struct TempDir {
    path: String,
}

impl TempDir {
    fn named(tag: &str) -> TempDir {
        let (_, _, name) = unique(&format!("xdpt{tag}"));
        TempDir {
            path: path_str(&std::env::temp_dir().join(name)).to_string(),
        }
    }

    fn new(tag: &str) -> TempDir {
        let dir = TempDir::named(tag);
        std::fs::create_dir(&dir.path)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.path));
        dir
    }

    fn as_str(&self) -> &str {
        &self.path
    }

    fn join(&self, name: &str) -> String {
        format!("{}/{name}", self.path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes the /tmp/xdploader-verifier-*.log files named in `output` (the loader saves
/// the verifier's log there when the kernel refuses a program).
fn remove_verifier_logs(output: &str) {
    for (at, _) in output.match_indices("/tmp/xdploader-verifier-") {
        let rest = &output[at..];
        if let Some(end) = rest.find(".log") {
            let _ = std::fs::remove_file(&rest[..end + 4]);
        }
    }
}

// ---------------------------------------------------------------------------
// Finding the marked blocks.
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Normalising.
// ---------------------------------------------------------------------------

/// Words after which a number differs on every run.
const VOLATILE_AFTER: &[&str] = &[
    "id ",
    "Fd ",
    "fd ",
    "ifindex ",
    "ifIndex ",
    "link ",
    "id:",
    "@if",
    "\"id\":",
    "\"link_id\":",
    "\"ifindex\":",
    "xdploader-",
];

/// Kernel addresses (`r1 = 0xffff888102b78000` in a verifier log: a map's address).
fn mask_kernel_addresses(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("0xffff") {
        let hex = rest[at + 2..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len() - at - 2);
        out.push_str(&rest[..at]);
        // Only a value loaded into a register (`(18) r1 = 0xffff...`, ld_imm64): register
        // bounds such as `r=0xfffffffffffffffe` are not addresses.
        if hex == 16 && rest[..at].ends_with(" = ") {
            out.push_str("0xN");
        } else {
            out.push_str(&rest[at..at + 2 + hex]);
        }
        rest = &rest[at + 2 + hex..];
    }
    out.push_str(rest);
    out
}

fn mask_line(line: &str, mask_counters: bool) -> String {
    // ping's round-trip summary (`rtt min/avg/max/mdev = 0.057/0.082/0.177/0.047 ms`):
    // timings, every one.
    if line.trim_start().starts_with("rtt min/avg/max/mdev = ") {
        return mask_digits(line);
    }
    let line = mask_kernel_addresses(line);
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prefix: String = chars[..i].iter().collect();
        // "veth1@if23": a number glued to a word counts when the word is a volatile one.
        let starts_number = c.is_ascii_digit()
            && (i == 0
                || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_')
                || VOLATILE_AFTER.iter().any(|word| prefix.ends_with(word)));
        if !starts_number {
            out.push(c);
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        // A decimal fraction belongs to the number.
        let mut k = j;
        if k + 1 < chars.len() && chars[k] == '.' && chars[k + 1].is_ascii_digit() {
            k += 1;
            while k < chars.len() && chars[k].is_ascii_digit() {
                k += 1;
            }
        }
        let suffix: String = chars[k..].iter().collect();
        // JSON keys as `jq .` prints them: `"id": 4006`.
        let key = prefix.trim_end();
        let volatile = VOLATILE_AFTER
            .iter()
            .any(|word| prefix.ends_with(word) || (word.ends_with(':') && key.ends_with(word)))
            // "24: veth1@if23", "138: percpu_array": ids and ifindexes at the start of a line.
            || (prefix.trim().is_empty() && suffix.starts_with(": "))
            // /tmp/xdploader-verifier-NAME-PID.log
            || (prefix.ends_with('-') && suffix.starts_with(".log"))
            // Timings.
            || suffix.starts_with(" ns")
            || suffix.starts_with(" ms")
            || suffix.starts_with("ms")
            || (mask_counters && (suffix.starts_with(" packets") || suffix.starts_with(" bytes")));
        if volatile {
            out.push('N');
        } else {
            out.extend(&chars[i..k]);
        }
        i = k;
    }
    out
}

/// -run's table: the last column (ns per run) is a timing.
fn mask_run_table(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() == 5
        && words[0].parse::<u32>().is_ok()
        && words[3].starts_with("XDP_")
        && words[4].parse::<u64>().is_ok()
    {
        // The column's padding depends on how many digits the timing had.
        let cut = line.trim_end().len() - words[4].len();
        return format!("{} N", line[..cut].trim_end());
    }
    line.to_string()
}

/// Every run of digits in `text` as N.
fn mask_digits(text: &str) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}

/// The number that follows `key` in `line` replaced by N (all of them), unless it is
/// one of `keep`.
fn mask_after(line: &str, key: &str, keep: &[&str]) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(key) {
        let start = at + key.len();
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
            .unwrap_or(tail.len());
        let number = &tail[..end];
        if end == 0 || keep.contains(&number) {
            out.push_str(number);
        } else {
            out.push('N');
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// statswatch's XDP_PASS line with its numbers masked, for a case whose network and the
/// doc's do not receive the same frames besides the doc's own traffic (the modules say
/// which).
fn mask_xdp_pass(line: &str) -> String {
    if line.trim_start().starts_with("XDP_PASS:") {
        return mask_digits(line);
    }
    line.to_string()
}

/// bpftool's ids beyond the common mask: a program's `map_ids`, the program ids that
/// `map dump` shows in a prog array's slots, and `loaded_at`.
fn mask_bpftool(line: &str) -> String {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    if let Some(at) = line.find("map_ids ") {
        let ids = line[at + 8..].split(',').map(|_| "N").collect::<Vec<_>>();
        return format!("{}map_ids {}", &line[..at], ids.join(","));
    }
    if let Some(rest) = trimmed.strip_prefix("loaded_at ") {
        let uid = rest.find("  ").map_or("", |at| &rest[at..]);
        return format!("{indent}loaded_at TIME{uid}");
    }
    if let Some(value) = trimmed.strip_prefix("\"value\": ") {
        if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) {
            return format!("{indent}\"value\": N");
        }
    }
    line.to_string()
}

fn normalise(text: &str, case: &Case) -> Vec<String> {
    text.lines()
        .map(|line| {
            (case.mask)(&mask_run_table(&mask_line(
                line.trim_end(),
                case.mask_counters,
            )))
        })
        .collect()
}

/// Drops the groups (a `$` line and its output) the case skips, and what precedes
/// `case.from`.
fn select(lines: Vec<String>, case: &Case, from_doc: bool) -> Vec<String> {
    let mut lines = lines;
    if let (Some(from), true) = (case.from, from_doc) {
        let start = lines
            .iter()
            .position(|line| line.starts_with(from))
            .unwrap_or_else(|| panic!("transcript {}: no line starts with {from}", case.name));
        lines.drain(..start);
    }
    let mut kept = Vec::new();
    let mut skipping = false;
    let mut skipped_last = false;
    for line in lines {
        if line.starts_with("$ ") {
            if case.skip.contains(&line.as_str()) {
                skipping = true;
                skipped_last = true;
                continue;
            }
            skipping = skipped_last && line == "$ echo $?";
            skipped_last = false;
            if skipping {
                continue;
            }
        }
        if !skipping {
            kept.push(line);
        }
    }
    kept
}

// ---------------------------------------------------------------------------
// Comparing.
// ---------------------------------------------------------------------------

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

fn check(name: &str) {
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

// ---------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// The Vagrantfile.
// ---------------------------------------------------------------------------

#[test]
fn vagrantfile_is_valid_ruby() {
    let vagrantfile: PathBuf = repo_root().join("Vagrantfile");
    let output = Command::new("ruby")
        .arg("-c")
        .arg(&vagrantfile)
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run ruby ({error}): install it with scripts/install-deps.sh (sudo)")
        });
    assert!(
        output.status.success(),
        "ruby -c Vagrantfile failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn vagrantfile_provisions_with_install_deps() {
    let text = std::fs::read_to_string(repo_root().join("Vagrantfile")).expect("read Vagrantfile");
    assert!(
        text.lines().any(|line| {
            let line = line.trim();
            !line.starts_with('#') && line.contains("scripts/install-deps.sh")
        }),
        "the Vagrantfile's provisioning must run scripts/install-deps.sh"
    );
    assert!(
        text.contains("config.vm.provision"),
        "the Vagrantfile must provision the VM"
    );
}
