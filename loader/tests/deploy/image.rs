//! The image's file system without an image (no Docker engine here): the directories
//! and files that deploy/Dockerfile's builder stage puts in /rootfs, made from this
//! checkout's release binaries (scripts/test.sh builds them as build_release does, and
//! kernel.rs checks that they are static), then the DaemonSet's commands run in a
//! chroot of it (root). No shell, no libc, no loader in there: what runs is what the
//! FROM scratch image could run. The node's bpffs and lock directory are bind-mounted
//! as the DaemonSet's hostPath volumes are.

use super::*;

/// A directory standing for the image's `/`, removed on `Drop`.
struct ImageRoot {
    path: PathBuf,
}

impl Drop for ImageRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The builder stage's `mkdir -p /rootfs/...` directories and `cp SOURCES... /rootfs/xdp/`
/// files, read from deploy/Dockerfile, made under a new directory.
fn image_root() -> ImageRoot {
    let dockerfile =
        std::fs::read_to_string(deploy_dir().join("Dockerfile")).expect("read the Dockerfile");
    let words = |prefix: &str| -> Vec<String> {
        let line = dockerfile
            .lines()
            .map(|line| {
                line.trim()
                    .trim_start_matches("&& ")
                    .trim_end_matches(" \\")
            })
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in deploy/Dockerfile"));
        line[prefix.len()..]
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let root = ImageRoot {
        path: std::env::temp_dir().join(format!("xdp-image-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&root.path);
    let inside = |path: &str| root.path.join(path.trim_start_matches("/rootfs/"));
    for dir in words("mkdir -p ") {
        std::fs::create_dir_all(inside(&dir)).expect("mkdir");
    }
    let files = words("cp ");
    let (destination, sources) = files.split_last().expect("cp SOURCES DEST");
    for source in sources {
        let local = match source.strip_prefix("target/release/") {
            Some(name) => PathBuf::from(release_binary(name)),
            None => repo_root().join(source),
        };
        let name = Path::new(source).file_name().expect("a file name");
        std::fs::copy(&local, inside(destination).join(name))
            .unwrap_or_else(|error| panic!("copy {}: {error}", local.display()));
    }
    for dir in ["bin", "lib", "usr", "etc"] {
        assert!(
            !root.path.join(dir).exists(),
            "/{dir} in a FROM scratch image"
        );
    }
    root
}

/// Runs `argv` chrooted in `root`, in the TestNet's network namespace, with /proc, the
/// namespace's own sysfs, the node's bpffs at /sys/fs/bpf and its /run/xdploader.
fn in_image(net: &TestNet, root: &ImageRoot, argv: &[String]) -> Output {
    let r = path_str(&root.path);
    std::fs::create_dir_all("/run/xdploader").expect("the lock directory");
    // The mounts are made by the test's shell, outside the image, as a container runtime
    // makes them; the command itself runs in the chroot with nothing but the image.
    let script = format!(
        "set -e; mount --make-rprivate /; mkdir -p {r}/proc {r}/sys {r}/run/xdploader; \
         mount -t proc proc {r}/proc; mount -t sysfs sysfs {r}/sys; \
         mount --bind /sys/fs/bpf {r}/sys/fs/bpf; mount --bind /run/xdploader {r}/run/xdploader; \
         exec chroot {r} \"$@\""
    );
    let mut args = vec![
        format!("--net=/run/netns/{}", net.xdp_ns),
        "unshare".to_string(),
        "-m".to_string(),
        "sh".to_string(),
        "-c".to_string(),
        script,
        "sh".to_string(),
    ];
    args.extend(argv.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run("nsenter", &args)
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn the_image_root_runs_the_daemonset_commands_without_a_shell() {
    let _one_at_a_time = kernel_lock();
    let net = TestNet::new();
    let root = image_root();
    let load = pod_argv(&net, "daemonset.yaml", "initContainers", "load");
    let output = in_image(&net, &root, &load);
    assert!(output.status.success(), "load: {}", describe(&output));
    let (_, first) = net.attached().expect("attached");
    assert!(
        net.pin(&format!("link_{}", net.xdp_if)).exists(),
        "the link pinned"
    );
    // The next pod's init container: an in-place update.
    let output = in_image(&net, &root, &load);
    assert!(output.status.success(), "reload: {}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("in the BPF link on"), "{stdout}");
    let (_, second) = net.attached().expect("attached");
    assert_ne!(first, second);
    // The exporter's binary reads the counters there (its -prometheus flag aside).
    let pin_path = path_str(&net.pin_dir).to_string();
    let stats = vec![
        "/xdp/statswatch".to_string(),
        "-pin-path".to_string(),
        pin_path,
    ];
    let output = in_image(&net, &root, &stats);
    assert!(output.status.success(), "statswatch: {}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("XDP_PASS"));
    let detach = pod_argv(&net, "detach/daemonset.yaml", "initContainers", "detach");
    let output = in_image(&net, &root, &detach);
    assert!(output.status.success(), "detach: {}", describe(&output));
    assert_eq!(net.attached(), None);
    assert_eq!(dir_entries(&net.pin_dir), Vec::<String>::new());
}
