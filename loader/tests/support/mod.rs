//! Kernel test support: a private pair of network namespaces joined by a veth pair,
//! the binaries under test, and readers for what the kernel holds.
//!
//! Every name is unique per process and test, so tests run in parallel; `Drop`
//! removes every namespace, interface and pin a test made, even when it fails.

#![allow(dead_code)]

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{sched_setaffinity, setns, CloneFlags, CpuSet};
use nix::unistd::Pid;

mod fixtures;
mod net;
mod readers;

// Each test binary uses a part of these.
#[allow(unused_imports)]
pub use fixtures::*;
#[allow(unused_imports)]
pub use net::*;
#[allow(unused_imports)]
pub use readers::*;

static KERNEL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the tests that hold it one at a time within this test binary: for tests that
/// compare kernel-wide lists (every program, every map), which another test of the
/// same binary would change under them. Needs root.
pub fn kernel_lock() -> std::sync::MutexGuard<'static, ()> {
    require_root();
    KERNEL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A path the tests made themselves, as a `&str` for a command line.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A finished command's exit status and output, for an assertion message.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// Fails the test unless it runs as root; kernel tests are `#[ignore]`d and only run when
/// asked for (scripts/test.sh), so a missing privilege is an error, never a pass.
pub fn require_root() {
    if !nix::unistd::geteuid().is_root() {
        panic!(
            "kernel tests need root: run scripts/test.sh as root or as a user with sudo (XDP_KERNEL_TESTS={})",
            std::env::var("XDP_KERNEL_TESTS").unwrap_or_default()
        );
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("loader/ has a parent")
        .to_path_buf()
}

/// kern/xdp.elf, which `make -C kern` builds.
pub fn xdp_object() -> PathBuf {
    let path = repo_root().join("kern/xdp.elf");
    assert!(
        path.exists(),
        "{} is missing: build it first with `make -C kern` (scripts/test.sh does this)",
        path.display()
    );
    path
}

pub fn xdploader() -> &'static str {
    env!("CARGO_BIN_EXE_xdploader")
}

pub fn statswatch() -> &'static str {
    env!("CARGO_BIN_EXE_statswatch")
}

/// target/release/NAME: the binaries scripts/demo.sh runs and the image holds, which
/// scripts/test.sh builds statically before the tests (build_release in scripts/lib.sh).
pub fn release_binary(name: &str) -> String {
    // CARGO_BIN_EXE_xdploader is target/<profile>/xdploader; release sits beside it.
    let target = Path::new(xdploader())
        .parent()
        .and_then(Path::parent)
        .expect("the target directory");
    let path = target.join("release").join(name);
    assert!(
        path.exists(),
        "{} is missing: scripts/test.sh builds it (build_release in scripts/lib.sh)",
        path.display()
    );
    path_str(&path).to_string()
}

/// Runs a command and returns its output; panics only if it cannot be started.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"))
}

/// Runs a command that must succeed and returns its stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let output = run(program, args);
    assert!(
        output.status.success(),
        "{program} {} failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

/// Polls `condition` every 20 ms for at most `limit`.
pub fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}
