//! `statswatch -prometheus`: the exporter runs inside the test's XDP namespace (so its
//! loopback and its interfaces are the test's own) and is scraped there by a plain HTTP
//! GET from the test, by promtool, and by a real Prometheus server; the values are
//! compared exactly with bpftool's. Bad input is in `prometheus_faults.rs`.

use super::*;

use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::PathBuf;

/// How long one HTTP exchange with the exporter may take.
const HTTP_LIMIT: Duration = Duration::from_secs(10);

/// Runs `work` on a thread inside the network namespace `ns` (the rest of the test
/// stays where it is).
pub fn in_netns<T: Send>(ns: &str, work: impl FnOnce() -> T + Send) -> T {
    let netns = std::fs::File::open(format!("/run/netns/{ns}")).expect("open the namespace");
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .expect("setns into the test namespace");
                work()
            })
            .join()
            .expect("the thread in the namespace")
    })
}

/// A response: status, headers (lower-case names), body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port` from the current thread's namespace.
pub fn http(port: u16, method: &str, path: &str, accept: Option<&str>) -> Response {
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let mut stream =
        TcpStream::connect_timeout(&addr.into(), HTTP_LIMIT).expect("connect to the exporter");
    stream.set_read_timeout(Some(HTTP_LIMIT)).expect("timeout");
    stream.set_write_timeout(Some(HTTP_LIMIT)).expect("timeout");
    let accept = accept.map_or(String::new(), |accept| format!("Accept: {accept}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{accept}Connection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8(raw).expect("a UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `statswatch -prometheus 127.0.0.1:0 ARGS` running in the XDP namespace.
pub struct Exporter {
    pub process: Running,
    pub port: u16,
    pub ns: String,
    pub stderr: Receiver<String>,
}

impl Exporter {
    pub fn start(net: &TestNet, args: &[&str]) -> Exporter {
        Exporter::start_on(net, "127.0.0.1:0", args)
    }

    pub fn start_on(net: &TestNet, listen: &str, args: &[&str]) -> Exporter {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/run/netns/{}", net.xdp_ns))
            .arg(statswatch())
            .args(["-prometheus", listen])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut process = Running::spawn(&mut command);
        let stdout = line_channel(process.child.stdout.take().expect("stdout"));
        let stderr = line_channel(process.child.stderr.take().expect("stderr"));
        let line = stdout
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                let errors: Vec<String> = stderr.try_iter().collect();
                panic!("the exporter did not say where it serves: {errors:?}")
            });
        let port = line
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Exporter {
            process,
            port,
            ns: net.xdp_ns.clone(),
            stderr,
        }
    }

    /// One request from inside the namespace.
    pub fn request(&self, method: &str, path: &str, accept: Option<&str>) -> Response {
        let port = self.port;
        in_netns(&self.ns, || http(port, method, path, accept))
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, None)
    }

    /// The exporter's resident memory in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.pid()))
            .expect("the exporter's /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// SIGTERM, which must end it with exit 0 soon.
    pub fn stop(self) {
        self.stop_with("TERM");
    }

    /// `signal` (INT is Ctrl-C), which must end it with exit 0 soon.
    pub fn stop_with(mut self, signal: &str) {
        send_signal(self.process.pid(), signal);
        let status = self.process.wait_for_exit(Duration::from_secs(5));
        assert!(
            status.success(),
            "SIG{signal} ends the exporter with 0: {status}"
        );
    }
}

/// The value of the sample `series` (`name{labels}`) in an exposition text.
pub fn metric(body: &str, series: &str) -> u64 {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{body}"))
}

pub const ACTIONS: [&str; 5] = [
    "XDP_ABORTED",
    "XDP_DROP",
    "XDP_PASS",
    "XDP_TX",
    "XDP_REDIRECT",
];

/// The (packets, bytes) of each action in an exposition text, in key order.
pub fn scraped_counts(body: &str) -> Vec<(u64, u64)> {
    ACTIONS
        .iter()
        .map(|action| {
            let labels = format!("{{action=\"{action}\",map=\"stats_map\"}}");
            (
                metric(body, &format!("xdp_action_packets_total{labels}")),
                metric(body, &format!("xdp_action_bytes_total{labels}")),
            )
        })
        .collect()
}

/// A loaded program that has counted `packets` UDP datagrams of `payload` bytes.
pub fn loaded_with(packets: u64, payload: u64) -> TestNet {
    let net = TestNet::new();
    net.load_ok();
    net.send_udp(packets as usize, payload as usize);
    let pin = net.pin("stats_map");
    assert!(
        wait_for(Duration::from_secs(5), || bpftool_counts(&pin)[XDP_PASS].0
            >= packets),
        "the datagrams did not arrive: {:?}",
        bpftool_counts(&pin)
    );
    net
}

/// Pipes `text` into `promtool check metrics`, which must accept it.
fn promtool_accepts(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (scripts/install-deps.sh installs the prometheus package)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let output = child.wait_with_output().expect("promtool");
    assert!(
        output.status.success(),
        "promtool check metrics refused the text:\n{}\n{text}",
        describe(&output)
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_scrape_equals_bpftool_in_both_formats_and_promtool_accepts_it() {
    require_root();
    const PACKETS: u64 = 23;
    const PAYLOAD: u64 = 60;
    let net = loaded_with(PACKETS, PAYLOAD);
    let pin = net.pin("stats_map");
    let exporter = Exporter::start(&net, &["-file", path_str(&pin)]);

    let text = exporter.get("/metrics");
    assert_eq!(text.status, 200, "{text:?}");
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let expected = bpftool_counts(&pin);
    assert_eq!(
        expected[XDP_PASS],
        (PACKETS, PACKETS * (PAYLOAD + UDP_FRAME_OVERHEAD))
    );
    assert_eq!(scraped_counts(&text.body), expected, "{}", text.body);
    promtool_accepts(&text.body);

    // The program on the test's interface, as ip link reports it.
    let (mode, prog_id) = net.attached().expect("a program on the interface");
    let mode = match mode {
        1 => "drv",
        2 => "generic",
        _ => "offload",
    };
    let info = format!(
        "xdp_program_info{{ifname=\"{}\",prog_id=\"{prog_id}\",prog_name=\"xdp_skeleton\",mode=\"{mode}\"}} 1",
        net.xdp_if
    );
    assert!(
        text.body.lines().any(|line| line == info),
        "{info} in\n{}",
        text.body
    );
    assert!(text.body.contains("\nxdp_scrape_duration_seconds "));

    let openmetrics = exporter.request(
        "GET",
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    );
    assert_eq!(openmetrics.status, 200);
    assert_eq!(
        openmetrics.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(
        openmetrics.body.ends_with("\n# EOF\n"),
        "{}",
        openmetrics.body
    );
    assert!(openmetrics
        .body
        .contains("# TYPE xdp_action_packets counter\n"));
    assert_eq!(scraped_counts(&openmetrics.body), expected);

    // The other pages.
    let index = exporter.get("/");
    assert_eq!(index.status, 200);
    assert!(index.body.contains("/metrics"), "{index:?}");
    assert_eq!(exporter.get("/nothing").status, 404);
    let post = exporter.request("POST", "/metrics", None);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let head = exporter.request("HEAD", "/metrics", None);
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    exporter.stop();

    // -percpu: a series per possible CPU, which add up to bpftool's sums.
    let exporter = Exporter::start(&net, &["-file", path_str(&pin), "-percpu"]);
    let percpu = exporter.get("/metrics");
    assert_eq!(percpu.status, 200);
    let pass: Vec<u64> = percpu
        .body
        .lines()
        .filter(|line| line.starts_with("xdp_action_packets_total{action=\"XDP_PASS\",cpu=\""))
        .map(|line| {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .expect("a value")
        })
        .collect();
    let cpus = std::fs::read_to_string("/sys/devices/system/cpu/possible").expect("possible");
    assert!(!pass.is_empty());
    assert!(
        cpus.trim().ends_with(&(pass.len() - 1).to_string()),
        "{cpus} vs {pass:?}"
    );
    assert_eq!(pass.iter().sum::<u64>(), PACKETS);
    promtool_accepts(&percpu.body);
    exporter.stop();

    // -m: the map found by name in the pin directory, at each scrape.
    let pin_dir = path_str(&net.pin_dir);
    let exporter = Exporter::start(&net, &["-m", "stats_map", "-pin-path", pin_dir]);
    let by_name = exporter.get("/metrics");
    assert_eq!(by_name.status, 200, "{by_name:?}");
    assert_eq!(scraped_counts(&by_name.body), expected);
    exporter.stop();
}

/// A Prometheus server of the test's own, in the XDP namespace, with its temporary
/// directory; killed and removed when dropped.
struct Prometheus {
    process: Option<Running>,
    dir: PathBuf,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // Killed and reaped first, so that nothing writes into the directory as it goes.
        drop(self.process.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    fn start(net: &TestNet, target_port: u16) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "xdpt-prometheus-{}-{}",
            std::process::id(),
            net.xdp_if
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("the temporary directory");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: xdp\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus.yml");
        // Its own namespace is fresh: any port is free there, 9090 included.
        let port = 19090;
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/run/netns/{}", net.xdp_ns))
            .arg("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("prometheus.log")).expect("the log file"),
            ));
        let process = Running::spawn(&mut command);
        Prometheus {
            process: Some(process),
            dir,
            port,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_real_prometheus_scrapes_the_exact_counters() {
    require_root();
    const PACKETS: u64 = 17;
    let net = loaded_with(PACKETS, 40);
    let pin = net.pin("stats_map");
    let exporter = Exporter::start(&net, &["-file", path_str(&pin)]);
    let expected = bpftool_counts(&pin);
    let server = Prometheus::start(&net, exporter.port);
    let query = "/api/v1/query?query=xdp_action_packets_total%7Baction%3D%22XDP_PASS%22%7D";
    let port = server.port;
    let mut last = String::new();
    let found = wait_for(Duration::from_secs(60), || {
        let answer = in_netns(&net.xdp_ns, || {
            let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
            // Not up yet: try again.
            TcpStream::connect_timeout(&addr.into(), Duration::from_secs(1))
                .ok()
                .map(|_| http(port, "GET", query, None))
        });
        let Some(answer) = answer else {
            return false;
        };
        last = answer.body.clone();
        let Ok(value) = serde_json::from_str::<Value>(&answer.body) else {
            return false;
        };
        value["data"]["result"][0]["value"][1].as_str() == Some(&expected[XDP_PASS].0.to_string())
    });
    assert!(
        found,
        "Prometheus did not report XDP_PASS = {} within 60 s; last answer: {last}\nits log:\n{}",
        expected[XDP_PASS].0,
        server.log()
    );
    let labels: Value =
        serde_json::from_str::<Value>(&last).expect("JSON")["data"]["result"][0]["metric"].clone();
    assert_eq!(labels["map"], "stats_map", "{last}");
    assert_eq!(labels["job"], "xdp", "{last}");
    // Every query docs/operations.md gives is one this Prometheus evaluates (a typo, or
    // a join it refuses as many-to-many, is an error answer, not "success").
    for query in documented_queries() {
        let path = format!("/api/v1/query?query={}", url_encode(&query));
        let answer = in_netns(&net.xdp_ns, || http(port, "GET", &path, None));
        let value: Value = serde_json::from_str(&answer.body).unwrap_or_default();
        assert_eq!(
            value["status"], "success",
            "docs/operations.md's query {query:?}: {}",
            answer.body
        );
    }
    drop(server);
    exporter.stop();
}

/// The PromQL expressions of docs/operations.md's ```promql blocks: a block's first line
/// starts one, and so does each line that begins with a letter; lines that begin with a
/// space or an operator go on the one before.
fn documented_queries() -> Vec<String> {
    let doc = std::fs::read_to_string(repo_root().join("docs/operations.md")).expect("the doc");
    let mut queries: Vec<String> = Vec::new();
    let mut in_block = false;
    let mut block_start = false;
    for line in doc.lines() {
        match (in_block, line.trim_end()) {
            (false, "```promql") => (in_block, block_start) = (true, true),
            (true, "```") => in_block = false,
            (true, "") => {}
            (true, text) if block_start || text.starts_with(|c: char| c.is_ascii_alphabetic()) => {
                block_start = false;
                queries.push(text.trim().to_string())
            }
            (true, text) => {
                let last = queries.last_mut().expect("a query before its continuation");
                last.push(' ');
                last.push_str(text.trim());
            }
            _ => {}
        }
    }
    assert!(queries.len() >= 8, "{queries:?}");
    queries
}

/// `text` for a URL's query string: everything but letters and digits percent-encoded.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn each_scrape_is_one_batch_lookup_and_ctrl_c_stops_it() {
    require_root();
    const SCRAPES: usize = 5;
    let net = loaded_with(3, 20);
    let pin = net.pin("stats_map");
    let exporter = Exporter::start(&net, &["-file", path_str(&pin)]);
    // Traced from now on, every thread (the scrapes run on the serving threads).
    let trace = TempFile::new("prometheus-strace", b"");
    let pid = exporter.process.pid().to_string();
    let strace = Running::spawn(Command::new("strace").args([
        "-f",
        "-qq",
        "-e",
        "trace=bpf",
        "-o",
        trace.as_str(),
        "-p",
        &pid,
    ]));
    // strace has attached once a scrape's bpf calls show in its output.
    let traced = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(10), || {
            exporter.get("/metrics");
            traced(&trace.path).contains("BPF_MAP_LOOKUP_BATCH")
        }),
        "strace did not attach to the exporter"
    );
    std::thread::sleep(Duration::from_millis(200));
    let before = count_matches(&traced(&trace.path), "BPF_MAP_LOOKUP_BATCH");
    for _ in 0..SCRAPES {
        assert_eq!(exporter.get("/metrics").status, 200);
    }
    std::thread::sleep(Duration::from_millis(200));
    let text = traced(&trace.path);
    assert_eq!(
        count_matches(&text, "BPF_MAP_LOOKUP_BATCH") - before,
        SCRAPES,
        "one batch lookup per scrape:\n{text}"
    );
    assert_eq!(count_matches(&text, "BPF_MAP_LOOKUP_ELEM"), 0, "{text}");
    // The tracer goes (and the exporter with it detached), then Ctrl-C ends the exporter.
    drop(strace);
    assert_eq!(exporter.get("/metrics").status, 200);
    exporter.stop_with("INT");
}
