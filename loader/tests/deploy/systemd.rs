//! deploy/systemd: the units verified by `systemd-analyze verify`, and read (their Exec
//! lines with the variables of the environment file) for the process tests.

use super::*;

pub const UNITS: [&str; 2] = ["xdp-skeleton.service", "xdp-skeleton-exporter.service"];

fn systemd_dir() -> PathBuf {
    deploy_dir().join("systemd")
}

/// The `[Service]` settings of a unit: each key's values in order (a key may repeat).
pub fn service_settings(unit: &str) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(systemd_dir().join(unit)).expect("read the unit");
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut section = "";
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            section = line;
            continue;
        }
        assert!(!line.ends_with('\\'), "{unit}: no continued lines: {line}");
        if section == "[Service]" {
            let (key, value) = line.split_once('=').expect("key=value");
            settings
                .entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
    }
    settings
}

/// One Exec setting of a unit (it must be there once).
pub fn exec_line(unit: &str, key: &str) -> String {
    let settings = service_settings(unit);
    let values = settings
        .get(key)
        .unwrap_or_else(|| panic!("{unit} has no {key}"));
    assert_eq!(values.len(), 1, "{unit}: one {key}");
    values[0].clone()
}

/// deploy/systemd/xdp-skeleton.env, the example /etc/default/xdp-skeleton, as a map.
pub fn environment_file() -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(systemd_dir().join("xdp-skeleton.env")).expect("read the env");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line.split_once('=').expect("KEY=VALUE");
            assert!(
                !value.contains(['"', '\'', '$', ' ']),
                "plain values only: {line}"
            );
            (key.to_string(), value.to_string())
        })
        .collect()
}

/// systemd's reading of an Exec line without quotes or prefixes (which the units do not
/// use): words split at whitespace, then `${VAR}` replaced inside a word by VAR's value
/// as it is, and a word that is `$VAR` alone split into the words of its value.
pub fn expand_systemd(line: &str, env: &BTreeMap<String, String>) -> Vec<String> {
    assert!(
        !line.contains(['"', '\'', '\\', ';']) && !line.starts_with(['-', '@', '+', '!', ':']),
        "the units' Exec lines are plain words: {line}"
    );
    let mut argv = Vec::new();
    for word in line.split_whitespace() {
        if let Some(name) = word.strip_prefix('$').filter(|name| !name.starts_with('{')) {
            let value = env
                .get(name)
                .unwrap_or_else(|| panic!("${name} is not set"));
            argv.extend(value.split_whitespace().map(str::to_string));
            continue;
        }
        let mut out = String::new();
        let mut rest = word;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let (name, tail) = rest[at + 2..].split_once('}').expect("${VAR}");
            out.push_str(
                env.get(name)
                    .unwrap_or_else(|| panic!("${name} is not set")),
            );
            rest = tail;
        }
        out.push_str(rest);
        argv.push(out);
    }
    argv
}

/// The units' paths mapped to this checkout's binaries.
pub fn local_unit_path(arg: &str) -> String {
    match arg {
        "/usr/local/bin/xdploader" => xdploader().to_string(),
        "/usr/local/bin/statswatch" => statswatch().to_string(),
        other => other.to_string(),
    }
}

#[test]
fn systemd_expansion_follows_the_unit_rules() {
    let env = BTreeMap::from([("A".to_string(), "x y".to_string())]);
    assert_eq!(expand_systemd("/bin/p ${A}", &env), ["/bin/p", "x y"]);
    assert_eq!(expand_systemd("/bin/p $A", &env), ["/bin/p", "x", "y"]);
    assert_eq!(
        expand_systemd("/bin/p -i=${A}!", &env),
        ["/bin/p", "-i=x y!"]
    );
}

/// A directory tree standing for `/`, removed on `Drop`.
struct FakeRoot {
    path: PathBuf,
}

impl Drop for FakeRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `systemd-analyze verify --root=ROOT` on both units, installed as the docs say in a
/// fake root: the units in ROOT/etc/systemd/system, the environment file at
/// ROOT/etc/default/xdp-skeleton, the binaries under test at ROOT/usr/local/bin (verify
/// checks that each Exec binary exists and is executable), the object at its place, and
/// a copy of this machine's /usr/lib/systemd/system for the units ours name
/// (multi-user.target, network-online.target, sysinit.target ...). The units
/// themselves are verified unchanged.
fn verify_installed(edit: impl Fn(&Path)) -> Output {
    let root = FakeRoot {
        path: std::env::temp_dir().join(format!(
            "xdp-systemd-{}-{}",
            std::process::id(),
            std::thread::current()
                .name()
                .unwrap_or("test")
                .replace("::", "-")
        )),
    };
    let _ = std::fs::remove_dir_all(&root.path);
    let mkdir = |relative: &str| {
        let dir = root.path.join(relative);
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    };
    let units = mkdir("etc/systemd/system");
    for unit in UNITS {
        std::fs::copy(systemd_dir().join(unit), units.join(unit)).expect("copy the unit");
    }
    std::fs::copy(
        systemd_dir().join("xdp-skeleton.env"),
        mkdir("etc/default").join("xdp-skeleton"),
    )
    .expect("copy the environment file");
    let bin = mkdir("usr/local/bin");
    std::fs::copy(xdploader(), bin.join("xdploader")).expect("copy xdploader");
    std::fs::copy(statswatch(), bin.join("statswatch")).expect("copy statswatch");
    std::fs::copy(
        xdp_object(),
        mkdir("usr/local/lib/xdp-skeleton").join("xdp.elf"),
    )
    .expect("copy the object");
    let system = Path::new("/usr/lib/systemd/system");
    assert!(
        system.is_dir(),
        "no /usr/lib/systemd/system: install systemd (scripts/install-deps.sh)"
    );
    let copied = run(
        "cp",
        &["-R", path_str(system), path_str(&mkdir("usr/lib/systemd"))],
    );
    assert!(copied.status.success(), "cp: {}", describe(&copied));
    edit(&root.path);
    let root_arg = format!("--root={}", root.path.display());
    let mut args = vec!["verify", root_arg.as_str()];
    args.extend(UNITS);
    run("systemd-analyze", &args)
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let output = verify_installed(|_| {});
    eprintln!("{}", describe(&output));
    assert!(output.status.success(), "{}", describe(&output));
    // Warnings (an unknown key, a missing unit) leave the exit status 0: none allowed.
    assert!(
        output.stdout.is_empty() && output.stderr.is_empty(),
        "systemd-analyze verify said something: {}",
        describe(&output)
    );
}

#[test]
fn systemd_analyze_verify_notices_a_missing_binary() {
    // The check above is worth what it refuses: an Exec binary that is not there.
    let output = verify_installed(|root| {
        std::fs::remove_file(root.join("usr/local/bin/statswatch")).expect("remove");
    });
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("/usr/local/bin/statswatch"),
        "{}",
        describe(&output)
    );
}

#[test]
fn the_units_use_the_documented_paths_and_variables() {
    let env = environment_file();
    for unit in UNITS {
        let settings = service_settings(unit);
        assert_eq!(
            settings["EnvironmentFile"],
            ["/etc/default/xdp-skeleton"],
            "{unit}"
        );
        for (key, values) in &settings {
            if !key.starts_with("Exec") {
                continue;
            }
            for line in values {
                let argv = expand_systemd(line, &env);
                assert!(
                    argv[0].starts_with("/usr/local/bin/"),
                    "{unit} {key}: {line}"
                );
            }
        }
    }
    assert_eq!(
        env["XDP_OBJECT"], "/usr/local/lib/xdp-skeleton/xdp.elf",
        "where the docs install the object"
    );
    // reload is the atomic swap: it must run the very command start runs.
    assert_eq!(
        exec_line(UNITS[0], "ExecStart"),
        exec_line(UNITS[0], "ExecReload")
    );
    assert!(exec_line(UNITS[0], "ExecStart").contains(" -link "));
    assert!(exec_line(UNITS[0], "ExecStop").contains(" -detach "));
}

#[test]
fn the_units_pass_flags_the_binaries_take() {
    let env = environment_file();
    let mut checked = 0;
    for unit in UNITS {
        for (key, values) in service_settings(unit) {
            if !key.starts_with("Exec") {
                continue;
            }
            for line in values {
                let argv = expand_systemd(&line, &env);
                let local: Vec<String> = std::iter::once(local_unit_path(&argv[0]))
                    .chain(argv[1..].iter().cloned())
                    .collect();
                assert_parser_accepts(&local, &format!("{unit} {key}"));
                checked += 1;
            }
        }
    }
    assert!(checked >= 3);
}
