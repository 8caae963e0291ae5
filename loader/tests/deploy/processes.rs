//! The commands of the DaemonSets and of the systemd units, read from the files and run
//! as processes (root) on a TestNet: its interface for the ConfigMap's interfaces, its
//! pin directory for the pin path, this checkout's binaries and kern/xdp.elf for the
//! image's. Each runs in the TestNet's XDP namespace, as a pod with hostNetwork runs
//! in the node's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::systemd::{environment_file, exec_line, expand_systemd, local_unit_path, UNITS};
use super::*;

const SETTLE: Duration = Duration::from_secs(10);

/// The argv of a container of a DaemonSet file, as its pod on the TestNet would run
/// it: $(VAR) expanded from the ConfigMap with the TestNet's interface and pin
/// directory in place of the ConfigMap's, the image's paths mapped to this checkout's.
fn pod_command(net: &TestNet, file: &str, list: &str, name: &str) -> Vec<String> {
    pod_argv(net, file, list, name)
        .iter()
        .map(|arg| local_path(arg))
        .collect()
}

/// The argv of a unit's Exec line with the environment file's values, the TestNet's in
/// place of the interfaces and pin path, this checkout's binaries and object.
/// [`unit_command_bare`] with the unit's capabilities alone.
fn unit_command(net: &TestNet, unit: &str, key: &str) -> Vec<String> {
    with_capabilities(&unit_capabilities(unit), unit_command_bare(net, unit, key))
}

fn unit_command_bare(net: &TestNet, unit: &str, key: &str) -> Vec<String> {
    let mut env = environment_file();
    env.insert("XDP_INTERFACES".into(), net.xdp_if.clone());
    env.insert("XDP_PIN_PATH".into(), path_str(&net.pin_dir).into());
    env.insert("XDP_OBJECT".into(), xdp_object().display().to_string());
    let argv = expand_systemd(&exec_line(unit, key), &env);
    std::iter::once(local_unit_path(&argv[0]))
        .chain(argv[1..].iter().cloned())
        .collect()
}

/// `argv` under `setpriv` with only `capabilities` (names as in `CAP_BPF` or `BPF`) in
/// its bounding set, so that root's program starts with those alone, and no new
/// privileges: what a container's `capabilities: {drop: [ALL], add: [...]}` or a
/// unit's `CapabilityBoundingSet=` and `NoNewPrivileges=yes` give it.
fn with_capabilities(capabilities: &[String], argv: Vec<String>) -> Vec<String> {
    let set: Vec<String> = capabilities
        .iter()
        .map(|name| format!("+{}", name.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    let mut all = vec![
        "setpriv".to_string(),
        "--no-new-privs".to_string(),
        format!("--bounding-set=-all,{}", set.join(",")),
        "--inh-caps=-all".to_string(),
    ];
    all.extend(argv);
    all
}

/// A container's `securityContext.capabilities.add` (after a `drop: [ALL]`).
fn container_capabilities(file: &str, list: &str, name: &str) -> Vec<String> {
    let daemonset = manifest(file);
    let security = &container(&daemonset, list, name)["securityContext"];
    assert_eq!(
        security["capabilities"]["drop"][0], "ALL",
        "{name} drops ALL"
    );
    security["capabilities"]["add"]
        .as_array()
        .expect("capabilities.add")
        .iter()
        .map(|cap| text(cap).to_string())
        .collect()
}

/// A unit's `CapabilityBoundingSet=`, which must come with `NoNewPrivileges=yes`.
fn unit_capabilities(unit: &str) -> Vec<String> {
    let settings = super::systemd::service_settings(unit);
    assert_eq!(settings["NoNewPrivileges"], ["yes"], "{unit}");
    settings["CapabilityBoundingSet"][0]
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Runs `argv` in the TestNet's XDP namespace to the end; it must succeed.
fn run_in_ns(net: &TestNet, argv: &[String], what: &str) -> String {
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    let output = net.in_xdp_ns(&argv[0], &args);
    assert!(
        output.status.success(),
        "{what} ({argv:?}): {}",
        describe(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The pinned link's ids from its fdinfo: (link id, prog id).
fn link_ids(pin: &Path) -> (u64, u64) {
    use std::os::fd::AsRawFd;
    let fd = sys::obj::obj_get(pin).expect("open the pinned link");
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .expect("the link's fdinfo");
    let value = |key: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    (value("link_id:"), value("prog_id:"))
}

/// What an attach through a pinned link left: the program on the interface (as `ip -j
/// link` sees it) is the one in the link pinned at link_<if>. Returns (link id, prog id).
fn attached_through_link(net: &TestNet) -> (u64, u64) {
    let (_, prog) = net.attached().expect("a program on the interface");
    let link = net.pin(&format!("link_{}", net.xdp_if));
    let (link_id, link_prog) = link_ids(&link);
    assert_eq!(
        prog, link_prog,
        "the interface runs the pinned link's program"
    );
    for pin in ["stats_map", "jmp_map", "if_redirect"] {
        assert!(net.pin(pin).exists(), "{pin} pinned");
    }
    (link_id, prog)
}

/// What a detach must leave: no program, no pin, the program freed.
fn nothing_left(net: &TestNet, prog: u64) {
    assert_eq!(net.attached(), None, "nothing attached");
    assert_eq!(
        dir_entries(&net.pin_dir),
        Vec::<String>::new(),
        "no pins left"
    );
    assert!(
        wait_for(SETTLE, || !prog_exists(prog)),
        "program {prog} freed"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn daemonset_commands_load_roll_over_and_detach() {
    // One at a time: `ip -j link` on a TestNet can fail while another test deletes its
    // namespace ("Peer netns reference is invalid").
    let _one_at_a_time = kernel_lock();
    let net = TestNet::new();
    // The pod's init container attaches through a pinned link.
    let load = pod_command(&net, "daemonset.yaml", "initContainers", "load");
    run_in_ns(&net, &load, "the init container");
    // The pod's processes are gone (its init container exited, and in a rollout the
    // whole pod stops, with no hook): the program stays.
    let (link, first) = attached_through_link(&net);
    net.send_udp(25, 16);
    let stats = net.pin("stats_map");
    assert!(wait_for(SETTLE, || bpftool_counts(&stats)[2].0 >= 25));
    // The next pod (a new image, a restart) runs the same init container: the program in
    // the same link is replaced in one step, and the counters go on.
    let out = run_in_ns(&net, &load, "the next pod's init container");
    assert!(
        out.contains("in the BPF link on"),
        "an in-place update: {out}"
    );
    let (same_link, second) = attached_through_link(&net);
    assert_eq!(same_link, link, "the same link");
    assert_ne!(second, first, "a new program");
    assert!(
        wait_for(SETTLE, || !prog_exists(first)),
        "the old one freed"
    );
    assert!(bpftool_counts(&stats)[2].0 >= 25, "the counters kept");
    // The old pod's preStop hook, with the ConfigMap's detach-on-stop as it ships
    // (empty): the program stays, as a rollout needs.
    let detach_on_stop = TempFile::new("detach-on-stop", b"");
    let hook = pre_stop_command(&net, &detach_on_stop);
    let out = run_in_ns(&net, &hook, "the preStop hook, detach-on-stop empty");
    assert!(out.contains("Nothing to detach"), "{out}");
    assert_eq!(attached_through_link(&net).1, second, "still attached");
    // With detach-on-stop naming the interface (taking XDP off the cluster): the pod's
    // hook takes it off and removes every pin.
    std::fs::write(&detach_on_stop.path, format!("{}\n", net.xdp_if)).expect("write");
    run_in_ns(&net, &hook, "the preStop hook, detach-on-stop set");
    nothing_left(&net, second);
    // The detach DaemonSet's init container on a node where it is already off (or run
    // twice): not an error.
    let detach = pod_command(&net, "detach/daemonset.yaml", "initContainers", "detach");
    let out = run_in_ns(&net, &detach, "the detach init container");
    assert!(out.contains("Nothing attached"), "{out}");
}

/// The exporter's preStop hook as its pod on the TestNet runs it: with the exporter's
/// capabilities, `file` for the ConfigMap's detach-on-stop, the TestNet's pin directory.
fn pre_stop_command(net: &TestNet, file: &TempFile) -> Vec<String> {
    let daemonset = manifest("daemonset.yaml");
    let configmap = manifest("configmap.yaml");
    let mount = super::manifests::config_mount(&daemonset);
    let argv = super::manifests::pre_stop(&daemonset)
        .iter()
        .map(|arg| {
            if arg == &format!("@{mount}/detach-on-stop") {
                format!("@{}", path_str(&file.path))
            } else if arg == text(&configmap["data"]["pin-path"]) {
                path_str(&net.pin_dir).to_string()
            } else {
                local_path(arg)
            }
        })
        .collect();
    with_capabilities(
        &container_capabilities("daemonset.yaml", "containers", "exporter"),
        argv,
    )
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn systemd_unit_commands_start_reload_and_stop() {
    // One at a time: `ip -j link` on a TestNet can fail while another test deletes its
    // namespace ("Peer netns reference is invalid").
    let _one_at_a_time = kernel_lock();
    let net = TestNet::new();
    let unit = UNITS[0];
    run_in_ns(&net, &unit_command(&net, unit, "ExecStart"), "ExecStart");
    let (link, first) = attached_through_link(&net);
    let out = run_in_ns(&net, &unit_command(&net, unit, "ExecReload"), "ExecReload");
    assert!(
        out.contains("in the BPF link on"),
        "an in-place update: {out}"
    );
    let (same_link, second) = attached_through_link(&net);
    assert_eq!(same_link, link);
    assert_ne!(second, first);
    run_in_ns(&net, &unit_command(&net, unit, "ExecStop"), "ExecStop");
    nothing_left(&net, second);
}

/// A process started in the TestNet's XDP namespace, killed on `Drop` if still running.
struct Running {
    child: Child,
}

impl Running {
    fn start(net: &TestNet, argv: &[String]) -> Running {
        // nsenter and setpriv exec the program: the child's pid is the exporter's.
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", net.xdp_ns))
            .args(argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nsenter");
        Running { child }
    }

    /// SIGTERM, as a kubelet or systemd sends, then the exit status within `limit`.
    fn terminate(mut self, limit: Duration) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        run_ok("kill", &["-TERM", &pid]);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let mut err = String::new();
                if let Some(mut stderr) = self.child.stderr.take() {
                    let _ = stderr.read_to_string(&mut err);
                }
                return (status.code(), err);
            }
            assert!(
                start.elapsed() < limit,
                "still running {limit:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `path` from `address` inside the TestNet's XDP namespace: (status line, body).
fn http_get(net: &TestNet, address: &str, path: &str) -> Option<(String, String)> {
    let netns = std::fs::File::open(format!("/run/netns/{}", net.xdp_ns)).expect("the netns");
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
                let mut stream = TcpStream::connect(address).ok()?;
                stream.set_read_timeout(Some(SETTLE)).ok()?;
                let request =
                    format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
                stream.write_all(request.as_bytes()).ok()?;
                let mut response = String::new();
                stream.read_to_string(&mut response).ok()?;
                let (head, body) = response.split_once("\r\n\r\n")?;
                Some((head.lines().next()?.to_string(), body.to_string()))
            })
            .join()
            .expect("the HTTP thread")
    })
}

/// Waits for the exporter at `address` to answer /metrics and checks the XDP_PASS
/// packets it reports against what was sent.
fn check_metrics(net: &TestNet, address: &str, sent: u64) {
    let mut last = None;
    let answered = wait_for(SETTLE, || {
        last = http_get(net, address, "/metrics");
        last.is_some()
    });
    assert!(answered, "no answer on {address} within {SETTLE:?}");
    let (status, body) = last.expect("an answer");
    assert!(status.contains(" 200 "), "{status}\n{body}");
    let pass: Vec<&str> = body
        .lines()
        .filter(|line| {
            line.starts_with("xdp_action_packets_total{") && line.contains("action=\"XDP_PASS\"")
        })
        .collect();
    assert_eq!(pass.len(), 1, "one XDP_PASS series:\n{body}");
    // `name{labels} value [timestamp]`
    let value: f64 = pass[0]
        .rsplit_once('}')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .expect("a sample value");
    assert!(
        value >= sent as f64,
        "XDP_PASS {value} < {sent} sent:\n{body}"
    );
    for metric in [
        "xdp_action_bytes_total",
        "xdp_program_info",
        "xdp_scrape_duration_seconds",
    ] {
        assert!(body.contains(metric), "{metric} missing:\n{body}");
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn daemonset_exporter_serves_metrics_and_stops_on_sigterm() {
    // One at a time: `ip -j link` on a TestNet can fail while another test deletes its
    // namespace ("Peer netns reference is invalid").
    let _one_at_a_time = kernel_lock();
    let net = TestNet::new();
    run_in_ns(
        &net,
        &pod_command(&net, "daemonset.yaml", "initContainers", "load"),
        "the init container",
    );
    let (_, prog) = attached_through_link(&net);
    net.send_udp(7, 16);
    let daemonset = manifest("daemonset.yaml");
    let exporter = with_capabilities(
        &container_capabilities("daemonset.yaml", "containers", "exporter"),
        pod_command(&net, "daemonset.yaml", "containers", "exporter"),
    );
    // 0.0.0.0:PORT in the pod: inside the TestNet's namespace, its loopback answers.
    let port = container(&daemonset, "containers", "exporter")["ports"][0]["containerPort"]
        .as_u64()
        .expect("containerPort");
    let running = Running::start(&net, &exporter);
    check_metrics(&net, &format!("127.0.0.1:{port}"), 7);
    let grace = daemonset["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    let (code, err) = running.terminate(Duration::from_secs(grace));
    assert_eq!(code, Some(0), "exit status after SIGTERM; stderr: {err}");
    // The exporter does not own the program.
    assert_eq!(attached_through_link(&net).1, prog);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn systemd_exporter_serves_metrics_and_stops_on_sigterm() {
    // One at a time: `ip -j link` on a TestNet can fail while another test deletes its
    // namespace ("Peer netns reference is invalid").
    let _one_at_a_time = kernel_lock();
    let net = TestNet::new();
    run_in_ns(
        &net,
        &unit_command(&net, UNITS[0], "ExecStart"),
        "ExecStart",
    );
    let (_, prog) = attached_through_link(&net);
    net.send_udp(7, 16);
    let address = environment_file()["XDP_METRICS_ADDRESS"].clone();
    let running = Running::start(&net, &unit_command(&net, UNITS[1], "ExecStart"));
    check_metrics(&net, &address, 7);
    let (code, err) = running.terminate(SETTLE);
    assert_eq!(code, Some(0), "exit status after SIGTERM; stderr: {err}");
    assert_eq!(attached_through_link(&net).1, prog);
    run_in_ns(&net, &unit_command(&net, UNITS[0], "ExecStop"), "ExecStop");
    nothing_left(&net, prog);
}
