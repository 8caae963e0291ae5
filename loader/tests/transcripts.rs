//! The console transcripts in README.md and docs/*.md, checked against the real binaries
//! (issue 8, "Checked, not hoped").
//!
//! Every ```console block of the docs is a transcript: the line right above it is
//! `<!-- transcript: NAME -->` and NAME is a case in `transcripts/<doc>.rs` (one module
//! per doc; the longer docs keep their cases in `transcripts/<doc>/cases.rs`). The
//! harness is in `transcripts/harness/`. Each case runs the commands of its block (with the test's own interface,
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

#[path = "transcripts/harness/compare.rs"]
mod compare;
#[path = "transcripts/harness/normalise.rs"]
mod normalise;

use compare::check;
use normalise::{mask_after, mask_bpftool, mask_digits, mask_xdp_pass, normalise, select};

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
#[path = "transcripts/how_it_works.rs"]
mod how_it_works;
#[path = "transcripts/operations.rs"]
mod operations;
#[path = "transcripts/operations_stats.rs"]
mod operations_stats;
#[path = "transcripts/readme.rs"]
mod readme;
#[path = "transcripts/real_world_objects.rs"]
mod real_world_objects;
#[path = "transcripts/tracing.rs"]
mod tracing;
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
        how_it_works::CASES,
        operations::CASES,
        operations_stats::CASES,
        real_world_objects::CASES,
        tracing::CASES,
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

// Finding the marked blocks.

// Normalising.

// Comparing.

// The tests.

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
