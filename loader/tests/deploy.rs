//! deploy/ checked (issue 14): the Kubernetes manifests against the API's schemas and
//! against each other, the Dockerfile linted and kept to build_release's commands, the
//! systemd units verified by systemd-analyze, and the commands that the DaemonSet and
//! the units run, run as processes on a private veth pair (root).
//!
//! The checkers come from PyPI, pinned, in a virtual environment that
//! scripts/deploy-tools.sh makes (scripts/test.sh and .ci/run call it): where it is
//! missing, these tests fail and say so. No cluster and no Docker engine are needed,
//! and none is used: what a kubelet or `docker build` would do is not tested here.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
#[allow(unused_imports)]
use support::*;

#[path = "deploy/image.rs"]
mod image;
#[path = "deploy/manifests.rs"]
mod manifests;
#[path = "deploy/processes.rs"]
mod processes;
#[path = "deploy/systemd.rs"]
mod systemd;

/// `BINARY --help`'s output.
fn help_of(binary: &str) -> String {
    let output = run(binary, &["--help"]);
    assert!(
        output.status.success(),
        "{binary} --help: {}",
        describe(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether the binary at `argv[0]` takes the arguments after it, by its own parser:
/// they are passed with `--help` after them, which clap reaches only once every
/// argument before it is known and its value valid (an unknown flag or a bad -mode
/// exits 1 first). Each flag must also be in the help text.
fn assert_parser_accepts(argv: &[String], context: &str) {
    let help = help_of(&argv[0]);
    let mut args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    for flag in args.iter().filter(|arg| arg.starts_with('-')) {
        // clap writes long flags as --file (Go-style -file is the same) and short
        // ones as "-i, --interface".
        assert!(
            help.contains(&format!("-{flag}")) || help.contains(&format!("{flag}, ")),
            "{context}: {flag} is not in {} --help",
            argv[0]
        );
    }
    args.push("--help");
    let output = run(&argv[0], &args);
    assert!(
        output.status.success(),
        "{context}: {} does not take {:?}: {}",
        argv[0],
        &argv[1..],
        describe(&output)
    );
}

fn deploy_dir() -> PathBuf {
    repo_root().join("deploy")
}

/// The virtual environment of scripts/deploy-tools.sh: `bin/NAME` in it.
fn tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("XDP_DEPLOY_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/deploy-tools"));
    let path = dir.join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/deploy-tools.sh (scripts/test.sh and .ci/run do)",
        path.display()
    );
    path
}

/// Runs `program` with `args`; panics only when it cannot be started.
fn run_path(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()))
}

/// Every `.yaml` file under deploy/kubernetes, sorted, as paths.
fn manifest_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).expect("read deploy/kubernetes");
        for entry in entries.map(|entry| entry.expect("directory entry")) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "yaml") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&deploy_dir().join("kubernetes"), &mut files);
    files.sort();
    files
}

/// The documents of a YAML file, as JSON values.
fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not YAML: {error}", path.display()))
        .iter()
        .map(to_json)
        .collect()
}

/// The one document of `deploy/kubernetes/<relative>`.
fn manifest(relative: &str) -> Value {
    let path = deploy_dir().join("kubernetes").join(relative);
    let mut documents = yaml_documents(&path);
    assert_eq!(documents.len(), 1, "{relative} holds one resource");
    documents.remove(0)
}

fn to_json(yaml: &yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match yaml {
        Yaml::Real(text) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Yaml::Integer(number) => Value::from(*number),
        Yaml::String(text) => Value::from(text.as_str()),
        Yaml::Boolean(flag) => Value::from(*flag),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let key = match key {
                        Yaml::String(text) => text.clone(),
                        other => panic!("a mapping key that is not a string: {other:?}"),
                    };
                    (key, to_json(value))
                })
                .collect(),
        ),
        Yaml::Null => Value::Null,
        Yaml::Alias(_) | Yaml::BadValue => panic!("unexpected YAML node: {yaml:?}"),
    }
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
}

/// A container of a pod template, by list ("initContainers" or "containers") and name.
fn container<'a>(daemonset: &'a Value, list: &str, name: &str) -> &'a Value {
    daemonset["spec"]["template"]["spec"][list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}"))
        .iter()
        .find(|container| container["name"] == name)
        .unwrap_or_else(|| panic!("no {list} entry called {name}"))
}

/// A container's command and args, one list (the argv a kubelet starts).
fn argv_of(container: &Value) -> Vec<String> {
    ["command", "args"]
        .iter()
        .filter_map(|key| container[*key].as_array())
        .flatten()
        .map(|arg| text(arg).to_string())
        .collect()
}

/// A container's environment, with each configMapKeyRef read from `configmap` (the
/// only kind of reference the manifests use).
fn env_of(container: &Value, configmap: &Value) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = text(&var["name"]).to_string();
        let value = if let Some(value) = var["value"].as_str() {
            value.to_string()
        } else {
            let reference = &var["valueFrom"]["configMapKeyRef"];
            assert_eq!(
                reference["name"], configmap["metadata"]["name"],
                "{name} comes from the ConfigMap"
            );
            text(&configmap["data"][text(&reference["key"])]).to_string()
        };
        env.insert(name, value);
    }
    env
}

/// The argv of a DaemonSet's container as its pod on `net` would run it: $(VAR) expanded
/// from the ConfigMap with the TestNet's interface and pin directory in place of the
/// ConfigMap's; the image's paths kept (a chroot's; [`local_path`] maps them to ours).
fn pod_argv(net: &TestNet, file: &str, list: &str, name: &str) -> Vec<String> {
    let mut configmap = manifest("configmap.yaml");
    configmap["data"]["interfaces"] = Value::from(net.xdp_if.as_str());
    configmap["data"]["pin-path"] = Value::from(path_str(&net.pin_dir));
    let daemonset = manifest(file);
    let container = container(&daemonset, list, name);
    let env = env_of(container, &configmap);
    argv_of(container)
        .iter()
        .map(|arg| expand_kubernetes(arg, &env))
        .collect()
}

/// A checker's exit and everything it printed.
fn checked(output: &Output) -> (bool, String) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Kubernetes' expansion of command and args: `$(VAR)` is VAR's value when the
/// container defines VAR, else left as written; `$$` is one `$`.
fn expand_kubernetes(arg: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(reference) = after
            .strip_prefix('(')
            .and_then(|inner| inner.split_once(')'))
            .filter(|(name, _)| env.contains_key(*name))
        {
            out.push_str(&env[reference.0]);
            rest = reference.1;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The image's paths (deploy/Dockerfile puts everything in /xdp) mapped to this
/// checkout's: the binaries under test and kern/xdp.elf.
fn local_path(arg: &str) -> String {
    match arg {
        "/xdp/xdploader" => xdploader().to_string(),
        "/xdp/statswatch" => statswatch().to_string(),
        "/xdp/xdp.elf" => xdp_object().display().to_string(),
        other => {
            assert!(
                !other.starts_with("/xdp/"),
                "{other}: not a file deploy/Dockerfile puts in the image"
            );
            other.to_string()
        }
    }
}

#[test]
fn kubernetes_expansion_follows_the_api_rules() {
    let env = BTreeMap::from([("A".to_string(), "x,y".to_string())]);
    assert_eq!(expand_kubernetes("$(A)", &env), "x,y");
    assert_eq!(expand_kubernetes("-i=$(A)!", &env), "-i=x,y!");
    assert_eq!(expand_kubernetes("$$(A)", &env), "$(A)");
    assert_eq!(expand_kubernetes("$(B)", &env), "$(B)");
    assert_eq!(expand_kubernetes("a$b", &env), "a$b");
}

#[test]
fn interfaces_from_a_file_as_the_pre_stop_hook_reads_them() {
    let missing = run(
        xdploader(),
        &["-detach", "-i", "@/nonexistent/detach-on-stop"],
    );
    assert_eq!(missing.status.code(), Some(1), "{}", describe(&missing));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("cannot read the interface list /nonexistent/detach-on-stop"),
        "{stderr}"
    );
    // An empty file: the hook's way of keeping the program.
    let empty = TempFile::new("detach-on-stop-empty", b"\n");
    let output = run(
        xdploader(),
        &["-detach", "-i", &format!("@{}", empty.as_str())],
    );
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("Nothing to detach"),
        "{}",
        describe(&output)
    );
    // To attach, a file that names nothing is a usage error, not "nothing to do".
    let output = run(
        xdploader(),
        &[
            "-file",
            "kern/xdp.elf",
            "-i",
            &format!("@{}", empty.as_str()),
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("names no interface"),
        "{}",
        describe(&output)
    );
}
