//! The live view on a real pseudo-terminal: redrawn in place, and Ctrl-C restores the
//! terminal.

use super::*;

const SHOW_CURSOR: &str = "\x1b[?25h";
const HIDE_CURSOR: &str = "\x1b[?25l";

/// The child of `parent` whose command name is `name`, from /proc/<pid>/stat.
fn child_named(parent: u32, name: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1;
            let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent && comm == name).then_some(pid)
        })
}

/// `statswatch -watch` inside `script`, which gives it a real pseudo-terminal.
struct Terminal {
    script: Running,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    fn start(pin: &Path) -> Terminal {
        let command = format!(
            "exec {} -watch -interval 0.2 -file {}",
            statswatch(),
            path_str(pin)
        );
        let mut script = Running::spawn(
            Command::new("script")
                .args(["-q", "-e", "-f", "-c", &command, "/dev/null"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let output = byte_collector(script.child.stdout.take().expect("stdout"));
        Terminal { script, output }
    }

    fn text(&self) -> String {
        collected(&self.output)
    }

    /// The statswatch process: the child of `script` (its shell exec'd statswatch).
    fn statswatch_pid(&self) -> u32 {
        let parent = self.script.pid();
        let mut found = None;
        assert!(
            wait_for(Duration::from_secs(5), || {
                found = child_named(parent, "statswatch");
                found.is_some()
            }),
            "statswatch did not start under script"
        );
        found.expect("pid")
    }

    /// Waits until `frames` frames have been drawn (each redraw moves up over 7 lines).
    fn wait_for_redraws(&self, redraws: usize) {
        assert!(
            wait_for(Duration::from_secs(5), || count_matches(
                &self.text(),
                "\x1b[7A"
            ) >= redraws),
            "no {redraws} redraws in:\n{:?}",
            self.text()
        );
    }

    fn finish(mut self) -> (ExitStatus, String) {
        let status = self.script.wait_for_exit(Duration::from_secs(5));
        // The collector thread reads until the pty's output is closed.
        std::thread::sleep(Duration::from_millis(100));
        (status, self.text())
    }
}

/// The end of a long output, for failure messages.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(1500);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Whether a frame of the live view shows `packets` under XDP_PASS.
fn shows_pass_packets(output: &str, packets: u64) -> bool {
    output.split('\n').any(|line| {
        let mut words = line
            .split_whitespace()
            .skip_while(|word| *word != "XDP_PASS");
        words.next().is_some() && words.next().and_then(|n| n.parse::<u64>().ok()) == Some(packets)
    })
}

fn assert_redrawn_in_place_and_restored(status: ExitStatus, output: &str) {
    assert!(
        status.success(),
        "exit 0 after the signal: {status}\n{:?}",
        tail(output)
    );
    assert!(
        output.starts_with(HIDE_CURSOR),
        "cursor hidden first: {:?}",
        tail(output)
    );
    assert_eq!(
        count_matches(output, "Found map stats_map"),
        1,
        "{:?}",
        tail(output)
    );
    let frames = count_matches(output, "stats_map (id ");
    assert!(frames >= 4, "{:?}", tail(output));
    // Every frame after the first moves up over the last one: drawn in place, not appended.
    assert_eq!(
        count_matches(output, "\x1b[7A"),
        frames - 1,
        "{:?}",
        tail(output)
    );
    assert_eq!(
        count_matches(output, "\x1b[2K"),
        frames * 7,
        "{:?}",
        tail(output)
    );
    assert_eq!(count_matches(output, SHOW_CURSOR), 1, "{:?}", tail(output));
    let tail = &output[output.rfind("stats_map (id ").expect("a frame")..];
    assert!(
        tail.trim_end().ends_with(SHOW_CURSOR),
        "the cursor is shown again at the very end: {tail:?}"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn the_terminal_view_redraws_in_place_and_ctrl_c_restores_the_terminal() {
    require_root();
    let net = TestNet::new();
    net.load_ok();
    let pin = net.pin("stats_map");

    // SIGINT sent to the process.
    let terminal = Terminal::start(&pin);
    let pid = terminal.statswatch_pid();
    terminal.wait_for_redraws(3);
    net.send_udp(5, 10);
    assert!(
        wait_for(Duration::from_secs(5), || shows_pass_packets(
            &terminal.text(),
            5
        )),
        "the live view shows the 5 datagrams: {:?}",
        tail(&terminal.text())
    );
    send_signal(pid, "INT");
    let (status, output) = terminal.finish();
    assert_redrawn_in_place_and_restored(status, &output);

    // Ctrl-C typed at the terminal: the pty's line discipline sends SIGINT.
    let mut terminal = Terminal::start(&pin);
    terminal.statswatch_pid();
    terminal.wait_for_redraws(3);
    terminal
        .script
        .stdin()
        .write_all(b"\x03")
        .expect("type Ctrl-C");
    terminal.script.stdin().flush().expect("flush");
    let (status, output) = terminal.finish();
    assert_redrawn_in_place_and_restored(status, &output);

    // Into a pipe: plain blocks appended, no terminal sequences at all.
    let output = statswatch_with(
        &[
            "-watch",
            "-interval",
            "0.1",
            "-count",
            "3",
            "-file",
            path_str(&pin),
        ],
        false,
    );
    assert!(!output.contains('\x1b'), "{output:?}");
    assert_eq!(count_matches(&output, "stats_map (id "), 3, "{output}");
    assert_eq!(output.lines().count(), 1 + 3 * 7, "{output}");
}
