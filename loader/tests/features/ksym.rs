//! `__ksym` externs: kfuncs and kernel variables by BTF id, typeless symbols by their
//! /proc/kallsyms address, `__weak` ones the kernel lacks as 0; the kernel gets the same
//! instructions from `-load-only` as from `bpftool prog loadall` (the same tags), and the
//! programs, run, see the kernel's values.

use super::kconfig::{u64_at, value_bytes};
use super::program_types::load_as_bpftool_does;
use super::*;

/// Word `index` of the `.bss` array pinned at `pin`, as bpftool reads it.
fn bss_word(pin: &Path, index: usize) -> u64 {
    u64_at(&value_bytes(pin), index)
}

/// `name`'s address in /proc/kallsyms, read by the test itself.
fn kallsyms_address(name: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/kallsyms")
        .expect("/proc/kallsyms")
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let address = fields.next()?;
            let _kind = fields.next()?;
            (fields.next()? == name).then(|| u64::from_str_radix(address, 16).ok())?
        })
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn kfuncs_and_a_typeless_symbol_load_as_bpftool_loads_them_and_run() {
    let _lock = kernel_lock();
    let ours = load_as_bpftool_does("ksym_kfuncs");
    // bpf_dynptr_from_xdp and bpf_dynptr_size ran: the dynptr is the frame's size.
    let frame = TempFile::new("ksym-frame", &test_frame(64));
    assert_eq!(prog_run(&ours.join("ksym_prog"), &frame.path), Ok(XDP_PASS));
    let expected = kallsyms_address("bpf_prog_put").expect("bpf_prog_put in /proc/kallsyms");
    assert_eq!(
        bss_word(&ours.join("ksym_kfu_bss"), 0),
        expected,
        "the address the program saw is /proc/kallsyms's"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn weak_externs_the_kernel_lacks_are_zero_and_their_calls_never_run() {
    let _lock = kernel_lock();
    let ours = load_as_bpftool_does("ksym_weak");
    let frame = TempFile::new("ksym-weak-frame", &test_frame(64));
    assert_eq!(prog_run(&ours.join("ksym_weak"), &frame.path), Ok(XDP_PASS));
    let bss = ours.join("ksym_wea_bss");
    let seen: Vec<u64> = (0..4).map(|index| bss_word(&bss, index)).collect();
    // The kfunc the kernel has has an address; the __weak ones are 0, the call skipped.
    assert_eq!(seen, [1, 0, 0, 0]);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn typed_kernel_variables_get_their_btf_ids_as_bpftool_gives_them() {
    let _lock = kernel_lock();
    if kallsyms_address("runqueues").is_some() {
        // CONFIG_KALLSYMS_ALL: the kernel finds the variables; the program reads them.
        let ours = load_as_bpftool_does("ksym_vars");
        let frame = TempFile::new("ksym-vars-frame", &test_frame(64));
        assert_eq!(prog_run(&ours.join("ksym_vars"), &frame.path), Ok(XDP_PASS));
        let bss = ours.join("ksym_var_bss");
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(bss_word(&bss, 0), 0, "CPU 0's struct rq says cpu 0");
        let second = if cpus > 1 { 1 } else { u64::MAX };
        assert_eq!(bss_word(&bss, 1), second, "CPU 1's says 1");
        assert_eq!(bss_word(&bss, 2), 1, "bpf_this_cpu_ptr gave a pointer");
        return;
    }
    // Without it (this VM's kernel), the kernel looks the name of the VAR whose BTF id it
    // was given up in kallsyms and refuses both loaders the same way: the name in the
    // log is the one our BTF id stands for.
    let refusal = "ldimm64 failed to find the address for kernel symbol 'runqueues'";
    let ours = PinDir::new("ksym-vars-ours");
    let output = load_only("ksym_vars", &ours);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(refusal),
        "{}",
        describe(&output)
    );
    assert!(dir_entries(&ours.path).is_empty(), "nothing pinned");
    let theirs = PinDir::new("ksym-vars-bpftool");
    let output = run(
        "bpftool",
        &[
            "-d",
            "prog",
            "loadall",
            path_str(&fixture("ksym_vars")),
            theirs.as_str(),
        ],
    );
    assert!(!output.status.success(), "bpftool is refused too");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(refusal),
        "{}",
        describe(&output)
    );
}

#[test]
fn dump_says_what_each_ksym_resolved_to() {
    let output = run(
        xdploader(),
        &["-file", path_str(&fixture("ksym_weak")), "-dump"],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let listed: Vec<&str> = stdout
        .lines()
        .skip_while(|line| *line != "Kernel symbols (__ksym):")
        .skip(1)
        .take_while(|line| line.starts_with('\t'))
        .map(str::trim)
        .collect();
    assert_eq!(listed.len(), 3, "{stdout}");
    assert!(
        listed[0].starts_with("bpf_dynptr_size: kfunc -> vmlinux BTF id "),
        "{stdout}"
    );
    assert_eq!(
        &listed[1..],
        [
            "xdp_skeleton_no_such_kfunc: kfunc, __weak -> not in this kernel: 0",
            "xdp_skeleton_no_such_var: kernel variable, __weak -> not in this kernel: 0",
        ]
    );
    for relocation in [
        "-> address of kfunc bpf_dynptr_size",
        "-> kfunc xdp_skeleton_no_such_kfunc",
        "-> kernel variable xdp_skeleton_no_such_var",
    ] {
        assert!(stdout.contains(relocation), "{relocation:?} in {stdout}");
    }
}
