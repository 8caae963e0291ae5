//! `statswatch -prometheus` given bad input: its port taken, a map of another kind, the
//! pin removed and put back while it runs, slow clients, a hundred scrapes at once; and
//! the flags it cannot be combined with.

use super::prometheus::{http, in_netns, loaded_with, scraped_counts, Exporter};
use super::*;

use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};

/// What `statswatch ARGS` says on stderr, without its "statswatch: " prefix.
fn statswatch_refusal(args: &[&str]) -> (i32, String) {
    let output = Command::new(statswatch())
        .args(args)
        .output()
        .expect("statswatch");
    let text = String::from_utf8_lossy(&output.stderr);
    let line = text
        .trim_end()
        .trim_start_matches("statswatch: ")
        .to_string();
    (output.status.code().unwrap_or(-1), line)
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_taken_port_is_one_sentence_and_exit_4() {
    require_root();
    let net = TestNet::new();
    let pin = net.pin("stats_map");
    let first = Exporter::start(&net, &["-file", path_str(&pin)]);
    let listen = format!("127.0.0.1:{}", first.port);
    let output = net.in_xdp_ns(
        statswatch(),
        &["-prometheus", &listen, "-file", path_str(&pin)],
    );
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("statswatch: cannot listen on {listen}: something else listens there already (another statswatch -prometheus?); stop it or pass another port with -prometheus\n")
    );
    // The first one goes on serving (503: nothing is loaded in this test).
    assert_eq!(first.get("/metrics").status, 503);
    first.stop();
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_wrong_map_and_a_missing_pin_are_503_until_the_pin_is_back() {
    require_root();
    let net = loaded_with(9, 50);
    let pin = net.pin("stats_map");

    // A map of another kind: started anyway, 503 with the sentence statswatch says.
    let wrong = net.pin("not_percpu");
    run_ok(
        "bpftool",
        &[
            "map",
            "create",
            path_str(&wrong),
            "type",
            "array",
            "key",
            "4",
            "value",
            "16",
            "entries",
            "5",
            "name",
            "not_percpu",
        ],
    );
    let (code, sentence) = statswatch_refusal(&["-file", path_str(&wrong)]);
    assert_eq!(code, 2, "{sentence}");
    let exporter = Exporter::start(&net, &["-file", path_str(&wrong)]);
    let refused = exporter.get("/metrics");
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(refused.body, format!("{sentence}\n"));
    assert!(
        exporter
            .stderr
            .recv_timeout(Duration::from_secs(5))
            .is_ok_and(|line| line.starts_with(&format!("statswatch: {sentence}"))),
        "the exporter says why on stderr"
    );
    exporter.stop();

    // The pin removed under a running exporter, then pinned again: 503, then 200 with
    // the counters the map kept meanwhile.
    let exporter = Exporter::start(&net, &["-file", path_str(&pin)]);
    let before = exporter.get("/metrics");
    assert_eq!(before.status, 200);
    let map_id = json(&run_ok(
        "bpftool",
        &["-j", "map", "show", "pinned", path_str(&pin)],
    ))["id"]
        .as_u64()
        .expect("map id");
    std::fs::remove_file(&pin).expect("remove the pin");
    let gone = exporter.get("/metrics");
    assert_eq!(gone.status, 503);
    let (_, missing) = statswatch_refusal(&["-file", path_str(&pin)]);
    assert_eq!(gone.body, format!("{missing}\n"));
    run_ok(
        "bpftool",
        &["map", "pin", "id", &map_id.to_string(), path_str(&pin)],
    );
    let back = exporter.get("/metrics");
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(scraped_counts(&back.body), scraped_counts(&before.body));
    assert_eq!(scraped_counts(&back.body), bpftool_counts(&pin));
    let notices: Vec<String> = exporter.stderr.try_iter().collect();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(
        notices[1].contains("again; /metrics answers 200"),
        "{notices:?}"
    );

    // A reload (xdploader again, reusing the pinned stats_map) keeps the counters: the
    // next frames add to them.
    net.load_ok();
    net.send_udp(4, 50);
    let (packets, bytes) = scraped_counts(&back.body)[XDP_PASS];
    let frame = 50 + UDP_FRAME_OVERHEAD;
    assert!(
        wait_for(Duration::from_secs(5), || {
            let now = exporter.get("/metrics");
            now.status == 200
                && scraped_counts(&now.body)[XDP_PASS] == (packets + 4, bytes + 4 * frame)
        }),
        "the counters did not go on from {packets} after the reload: {:?}",
        exporter.get("/metrics")
    );
    assert_eq!(
        scraped_counts(&exporter.get("/metrics").body),
        bpftool_counts(&pin)
    );
    exporter.stop();
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn slow_clients_do_not_block_scrapes_and_a_hundred_at_once_stay_bounded() {
    require_root();
    let net = loaded_with(5, 30);
    let pin = net.pin("stats_map");
    let exporter = Exporter::start(&net, &["-file", path_str(&pin)]);
    let port = exporter.port;
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    // Warm up: the first scrapes allocate what every later one reuses.
    for _ in 0..20 {
        assert_eq!(exporter.get("/metrics").status, 200);
    }
    let rss_before = exporter.rss_kib();

    // One client that sends nothing, one that stops half-way through its request line.
    let (silent, partial) = in_netns(&net.xdp_ns, || {
        let silent = TcpStream::connect(addr).expect("connect");
        let mut partial = TcpStream::connect(addr).expect("connect");
        partial.write_all(b"GET /metr").expect("half a request");
        (silent, partial)
    });
    let start = Instant::now();
    let scrape = exporter.get("/metrics");
    assert_eq!(scrape.status, 200);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "a scrape waited {:?} behind the slow clients",
        start.elapsed()
    );

    // A hundred scrapes at once, three times: every one answered, memory bounded.
    let expected = bpftool_counts(&pin);
    for _ in 0..3 {
        let statuses: Vec<(u16, Vec<(u64, u64)>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..100)
                .map(|_| {
                    let ns = net.xdp_ns.as_str();
                    scope.spawn(move || {
                        in_netns(ns, || {
                            let response = http(port, "GET", "/metrics", None);
                            (response.status, scraped_counts(&response.body))
                        })
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().expect("a scraping thread"))
                .collect()
        });
        assert!(
            statuses
                .iter()
                .all(|(status, counts)| *status == 200 && *counts == expected),
            "not every scrape was answered with bpftool's counts"
        );
    }
    let rss_after = exporter.rss_kib();
    assert!(
        rss_after < rss_before + 8 * 1024,
        "the exporter's RSS grew from {rss_before} KiB to {rss_after} KiB"
    );

    // The slow clients were cut off after the deadline (5 s), not served forever.
    for mut stream in [silent, partial] {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        assert!(rest.is_empty(), "a slow client got {rest:?}");
    }
    // A client that sends nothing does not hold up SIGTERM either.
    let _lingering = in_netns(&net.xdp_ns, || TcpStream::connect(addr).expect("connect"));
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    exporter.stop();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "SIGTERM took {:?} with a silent client connected",
        start.elapsed()
    );
}

#[test]
fn prometheus_does_not_combine_with_the_other_views() {
    for other in [
        &["-watch"][..],
        &["-exceptions"],
        &["-json"],
        &["-count", "2"],
    ] {
        let mut args = vec!["-prometheus", "9435"];
        args.extend_from_slice(other);
        let output = Command::new(statswatch())
            .args(&args)
            .output()
            .expect("statswatch");
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            describe(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("cannot be used with"),
            "{args:?}: {}",
            describe(&output)
        );
    }
    let output = Command::new(statswatch())
        .args(["-prometheus", "host.example:80"])
        .output()
        .expect("statswatch");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
}
