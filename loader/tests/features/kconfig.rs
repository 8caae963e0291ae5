//! `.kconfig` externs: laid out, filled in from the running kernel and frozen as
//! libbpf does (the same bytes as `bpftool prog loadall` gives), and read by the
//! program as the kernel's own values; one the kernel lacks is refused before anything
//! is created.

use super::*;

/// The value bytes of key 0 of the array pinned at `pin`.
pub(super) fn value_bytes(pin: &Path) -> Vec<u8> {
    let shown = bpftool_json(&[
        "map",
        "lookup",
        "pinned",
        path_str(pin),
        "key",
        "0",
        "0",
        "0",
        "0",
    ]);
    shown["value"]
        .as_array()
        .expect("a value")
        .iter()
        .map(|byte| {
            u8::from_str_radix(byte.as_str().expect("hex").trim_start_matches("0x"), 16)
                .expect("hex byte")
        })
        .collect()
}

pub(super) fn u64_at(bytes: &[u8], index: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[index * 8..index * 8 + 8]);
    u64::from_le_bytes(word)
}

/// The kernel's configuration as the test reads it itself (zcat, not our reader).
fn config_value(option: &str) -> Option<String> {
    let text = run_ok(
        "sh",
        &[
            "-c",
            "zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r)",
        ],
    );
    let prefix = format!("{option}=");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map(str::to_string)
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn kconfig_externs_get_the_running_kernels_values_as_bpftool_gives_them() {
    let _lock = kernel_lock();
    let ours = PinDir::new("kconfig-ours");
    load_only_ok("kconfig_values", &ours);
    // bpftool (libbpf 1.1) loads the same object; its .kconfig map holds the same bytes.
    let theirs = PinDir::new("kconfig-bpftool");
    let their_maps = PinDir::new("kconfig-bpftool-maps");
    run_ok(
        "bpftool",
        &[
            "prog",
            "loadall",
            path_str(&fixture("kconfig_values")),
            theirs.as_str(),
            "pinmaps",
            their_maps.as_str(),
        ],
    );
    let kconfig = value_bytes(&ours.join("kconfig_kconfig"));
    assert_eq!(
        kconfig,
        value_bytes(&their_maps.join("kconfig_kconfig")),
        "as libbpf lays them out"
    );
    let shown = bpftool_json(&[
        "map",
        "show",
        "pinned",
        path_str(&ours.join("kconfig_kconfig")),
    ]);
    assert_eq!(shown["frozen"], 1, "{shown}");
    // BPF_F_RDONLY_PROG | BPF_F_MMAPABLE, as libbpf creates it.
    assert_eq!(shown["flags"], 0x480, "{shown}");

    // The program reads them: run it once and look at what it copied into .bss.
    let frame = TempFile::new("kconfig-frame", &test_frame(64));
    assert_eq!(prog_run(&ours.join("kconfig_values"), &frame.path), Ok(2));
    let bss = value_bytes(&ours.join("kconfig__bss"));
    let release = run_ok("uname", &["-r"]);
    let numbers: Vec<u64> = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|part| part.parse().expect("a number"))
        .collect();
    let version = (numbers[0] << 16) + (numbers[1] << 8) + numbers[2].min(255);
    let tristate = |option: &str| match config_value(option).as_deref() {
        Some("y") => 1,
        Some("m") => 2,
        _ => 0,
    };
    let hz: u64 = config_value("CONFIG_HZ")
        .expect("CONFIG_HZ")
        .parse()
        .expect("a number");
    let seen: Vec<u64> = (0..6).map(|index| u64_at(&bss, index)).collect();
    assert_eq!(
        seen,
        [
            version,
            u64::from(config_value("CONFIG_BPF_SYSCALL").as_deref() == Some("y")),
            tristate("CONFIG_VETH"),
            hz,
            0, // the weak option no kernel sets
            1, // this kernel has bpf_get_attach_cookie (5.15 and later)
        ]
    );
    let localversion = config_value("CONFIG_LOCALVERSION").expect("CONFIG_LOCALVERSION");
    let expected = localversion.trim_matches('"');
    let copied = &bss[48..64];
    let end = copied.iter().position(|&b| b == 0).unwrap_or(copied.len());
    assert_eq!(
        String::from_utf8_lossy(&copied[..end]),
        &expected[..expected.len().min(15)]
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_kconfig_extern_the_kernel_lacks_is_one_sentence_and_nothing_is_created() {
    let _lock = kernel_lock();
    let ours = PinDir::new("kconfig-missing");
    let output = load_only("fault_kconfig_missing", &ours);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    assert_eq!(stderr.lines().count(), 1, "one sentence:\n{stderr}");
    for words in [
        "CONFIG_XDP_SKELETON_NO_SUCH_OPTION",
        "does not set it",
        "__weak",
    ] {
        assert!(stderr.contains(words), "{words:?} in {stderr}");
    }
    assert!(dir_entries(&ours.path).is_empty(), "nothing pinned");
    let maps = bpftool_json(&["map", "show"]);
    assert!(
        !maps.to_string().contains("fault_k"),
        "no map of the object was left: {maps}"
    );
}

#[test]
fn dump_lists_each_kconfig_extern_where_libbpf_puts_it() {
    let output = run(
        xdploader(),
        &["-file", path_str(&fixture("kconfig_values")), "-dump"],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    // By alignment (4 first), then size, then name: libbpf's order.
    let listed: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.contains("(__kconfig externs, read-only)"))
        .skip(1)
        .take_while(|line| line.starts_with("\t\t"))
        .map(str::trim)
        .collect();
    assert_eq!(
        listed,
        [
            "CONFIG_HZ at byte 0, 4B, signed integer",
            "CONFIG_VETH at byte 4, 4B, tristate",
            "LINUX_KERNEL_VERSION at byte 8, 4B, unsigned integer",
            "CONFIG_BPF_SYSCALL at byte 12, 1B, bool",
            "CONFIG_XDP_SKELETON_NO_SUCH_OPTION at byte 13, 1B, bool, __weak",
            "LINUX_HAS_BPF_COOKIE at byte 14, 1B, bool",
            "CONFIG_LOCALVERSION at byte 15, 16B, string",
        ],
        "{stdout}"
    );
}
