//! Feature fixtures (used by loader/tests/features.rs and others): the objects of
//! loader/tests/fixtures, private pin directories and temporary files that remove
//! themselves, and test runs through `bpftool prog run`.

use super::*;

/// A feature fixture, `loader/tests/fixtures/<name>.elf` (`make -C loader/tests/fixtures`).
pub fn fixture(name: &str) -> PathBuf {
    let path = repo_root()
        .join("loader/tests/fixtures")
        .join(format!("{name}.elf"));
    assert!(
        path.exists(),
        "{} is missing: build the fixtures with `make -C loader/tests/fixtures` (scripts/test.sh does this)",
        path.display()
    );
    path
}

/// A private pin directory under /sys/fs/bpf, unique per process and test. It is not
/// created here (the loader creates it); `Drop` removes it and everything in it, even
/// when the test fails.
pub struct PinDir {
    pub path: PathBuf,
}

impl PinDir {
    pub fn new(tag: &str) -> PinDir {
        require_root();
        ensure_bpffs();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        PinDir {
            path: PathBuf::from(format!(
                "/sys/fs/bpf/xdpf-{}-{id}-{tag}",
                std::process::id()
            )),
        }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn as_str(&self) -> &str {
        self.path.to_str().expect("utf-8 pin dir")
    }

    /// The names in the directory, sorted; empty when it does not exist.
    pub fn entries(&self) -> Vec<String> {
        dir_entries(&self.path)
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A file in the temporary directory, unique per process and test, removed on `Drop`.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn new(tag: &str, contents: &[u8]) -> TempFile {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let file = TempFile {
            path: std::env::temp_dir().join(format!("xdpf-{}-{id}-{tag}", std::process::id())),
        };
        std::fs::write(&file.path, contents)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", file.path.display()));
        file
    }

    pub fn as_str(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A test frame of `len` bytes (at least 14): broadcast destination MAC, a source MAC,
/// EtherType IPv4 (0x0800), then zeros, as in loader/tests/fixtures/README.md.
pub fn test_frame(len: usize) -> Vec<u8> {
    assert!(len >= 14, "an Ethernet header is 14 bytes");
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00]);
    frame.resize(len, 0);
    frame
}

/// `bpftool -j prog run pinned PIN data_in FRAME repeat 1`: the program's return value,
/// or bpftool's error text when the kernel refused the test run.
pub fn prog_run(pin: &Path, frame: &Path) -> Result<u64, String> {
    let output = run(
        "bpftool",
        &[
            "-j",
            "prog",
            "run",
            "pinned",
            pin.to_str().expect("utf-8 path"),
            "data_in",
            frame.to_str().expect("utf-8 path"),
            "repeat",
            "1",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let parsed: Option<serde_json::Value> = serde_json::from_str(stdout.trim()).ok();
    match parsed {
        Some(value) if output.status.success() => value["retval"]
            .as_u64()
            .ok_or_else(|| format!("no retval in {stdout}")),
        Some(value) if value.get("error").is_some() => {
            Err(value["error"].as_str().unwrap_or_default().to_string())
        }
        _ => Err(format!(
            "bpftool prog run failed ({}): {stdout} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}
