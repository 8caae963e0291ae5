//! The manifests and the Dockerfile, without running anything they describe: schemas,
//! agreement between the files, the flags they pass, the image's build commands.

use super::*;

/// The Kubernetes versions the manifests are checked against: the newest that
/// kubernetes-validate bundles, and an older one still in wide use.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.37", "1.29"];

/// Kinds that kubernetes-validate has no schema for, and how they are checked instead.
const NOT_BUILT_IN: [(&str, &str); 2] = [
    (
        "ServiceMonitor",
        "servicemonitor_passes_its_crd_schema, against the CRD's own schema",
    ),
    (
        "Kustomization",
        "kustomizations_list_every_manifest (kustomize is a Go program, not in a registry here)",
    ),
];

fn kind_of(path: &Path) -> String {
    let documents = yaml_documents(path);
    assert_eq!(
        documents.len(),
        1,
        "{}: one resource per file",
        path.display()
    );
    text(&documents[0]["kind"]).to_string()
}

/// kubernetes-validate --strict (unknown fields are errors) on `files`: its output and
/// whether it succeeded.
fn kubernetes_validate(version: &str, files: &[&str]) -> (bool, String) {
    let mut args = vec!["--strict", "-k", version];
    args.extend_from_slice(files);
    checked(&run_path(&tool("kubernetes-validate"), &args))
}

#[test]
fn manifests_pass_the_kubernetes_api_schemas() {
    let files: Vec<PathBuf> = manifest_files()
        .into_iter()
        .filter(|path| {
            let kind = kind_of(path);
            !NOT_BUILT_IN.iter().any(|(name, _)| *name == kind)
        })
        .collect();
    assert!(files.len() >= 5, "the built-in kinds: {files:?}");
    let names: Vec<&str> = files.iter().map(|path| path_str(path)).collect();
    for version in KUBERNETES_VERSIONS {
        let (ok, output) = kubernetes_validate(version, &names);
        eprintln!("{output}");
        let lines: Vec<&str> = output.lines().collect();
        assert!(ok, "kubernetes-validate -k {version} failed:\n{output}");
        assert_eq!(
            lines.len(),
            files.len(),
            "one line per file, no warning:\n{output}"
        );
        for (line, file) in lines.iter().zip(&names) {
            assert!(
                line.starts_with(&format!("INFO {file} passed")),
                "{file} not validated against {version}: {line}"
            );
        }
    }
}

#[test]
fn the_validator_refuses_an_unknown_field() {
    // The check above is worth what the validator refuses: a misspelt field must fail.
    let daemonset = std::fs::read_to_string(deploy_dir().join("kubernetes/daemonset.yaml"))
        .expect("read daemonset.yaml");
    let misspelt = daemonset.replacen("hostNetwork:", "hostNetwrk:", 1);
    assert_ne!(misspelt, daemonset);
    let file = TempFile::new("daemonset.yaml", misspelt.as_bytes());
    let (ok, output) = kubernetes_validate(KUBERNETES_VERSIONS[0], &[file.as_str()]);
    assert!(!ok, "a misspelt field passed:\n{output}");
    assert!(output.contains("'hostNetwrk' was unexpected"), "{output}");
}

fn validate_crd(files: &[&str]) -> (bool, String) {
    let script = repo_root().join("loader/tests/deploy/validate_crd.py");
    let schema = repo_root().join("loader/tests/deploy/servicemonitor-v1.schema.json");
    let mut args = vec![path_str(&script), path_str(&schema)];
    args.extend_from_slice(files);
    checked(&run_path(&tool("python"), &args))
}

#[test]
fn servicemonitor_passes_its_crd_schema() {
    let file = deploy_dir().join("kubernetes/servicemonitor.yaml");
    let (ok, output) = validate_crd(&[path_str(&file)]);
    eprintln!("{output}");
    assert!(ok, "{output}");
    assert_eq!(output.lines().count(), 1, "{output}");
    assert!(output.starts_with("OK "), "{output}");
    // And the same check refuses what the API server would.
    let original = std::fs::read_to_string(&file).expect("read servicemonitor.yaml");
    let misspelt = original.replacen("scrapeTimeout:", "scrapeTimout:", 1);
    let bad = TempFile::new("servicemonitor.yaml", misspelt.as_bytes());
    let (ok, output) = validate_crd(&[bad.as_str()]);
    assert!(
        !ok && output.contains("'scrapeTimout' was unexpected"),
        "{output}"
    );
}

#[test]
fn every_kind_without_a_bundled_schema_is_checked_another_way() {
    for path in manifest_files() {
        let kind = kind_of(&path);
        let built_in = !kind.contains('.') && kind != "ServiceMonitor" && kind != "Kustomization";
        assert!(
            built_in || NOT_BUILT_IN.iter().any(|(name, _)| *name == kind),
            "{}: kind {kind} has no check",
            path.display()
        );
    }
}

#[test]
fn kustomizations_list_every_manifest() {
    for path in manifest_files() {
        if path
            .file_name()
            .is_some_and(|name| name != "kustomization.yaml")
        {
            continue;
        }
        let kustomization = &yaml_documents(&path)[0];
        assert_eq!(kustomization["kind"], "Kustomization");
        let dir = path.parent().expect("a directory");
        let mut listed: Vec<String> = kustomization["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .map(|name| text(name).to_string())
            .collect();
        listed.sort();
        let mut present: Vec<String> = dir_entries(dir)
            .into_iter()
            .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
            .collect();
        present.sort();
        assert_eq!(listed, present, "{}", path.display());
    }
}

#[test]
fn names_ports_and_labels_agree() {
    let daemonset = manifest("daemonset.yaml");
    let service = manifest("service.yaml");
    let monitor = manifest("servicemonitor.yaml");
    let namespace = manifest("namespace.yaml");
    let ns = &namespace["metadata"]["name"];
    for resource in [
        &daemonset,
        &service,
        &monitor,
        &manifest("configmap.yaml"),
        &manifest("detach/daemonset.yaml"),
    ] {
        assert_eq!(
            &resource["metadata"]["namespace"], ns,
            "{}",
            resource["kind"]
        );
    }
    // The exporter's port: named metrics in the pod, the Service and the ServiceMonitor,
    // the same number in the pod, its argument, the Service and the annotations.
    let exporter = container(&daemonset, "containers", "exporter");
    let port = &exporter["ports"][0];
    assert_eq!(port["name"], "metrics");
    let number = port["containerPort"].as_u64().expect("containerPort");
    assert!(
        argv_of(exporter).contains(&format!("0.0.0.0:{number}")),
        "the exporter listens on the container port"
    );
    let service_port = &service["spec"]["ports"][0];
    assert_eq!(service_port["name"], "metrics");
    assert_eq!(service_port["targetPort"], "metrics");
    assert_eq!(service_port["port"].as_u64(), Some(number));
    assert_eq!(service["spec"]["clusterIP"], "None", "headless");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    let annotations = &daemonset["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(
        annotations["prometheus.io/port"],
        number.to_string().as_str()
    );
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(exporter[probe]["httpGet"]["port"], "metrics", "{probe}");
        assert_eq!(exporter[probe]["httpGet"]["path"], "/metrics", "{probe}");
        assert_eq!(
            exporter[probe]["httpGet"]["path"], annotations["prometheus.io/path"],
            "{probe}"
        );
    }
    // Selectors: the DaemonSet's own, the Service's (only the exporter pods, not the
    // detach DaemonSet's) and the ServiceMonitor's (the Service).
    let pod_labels = daemonset["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .expect("pod labels");
    let matches = |selector: &Value, labels: &serde_json::Map<String, Value>| {
        selector
            .as_object()
            .expect("a selector")
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
    };
    assert!(matches(
        &daemonset["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
    assert!(matches(&service["spec"]["selector"], pod_labels));
    let detach = manifest("detach/daemonset.yaml");
    let detach_labels = detach["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .expect("labels");
    assert!(!matches(&service["spec"]["selector"], detach_labels));
    assert!(!matches(
        &daemonset["spec"]["selector"]["matchLabels"],
        detach_labels
    ));
    let service_labels = service["metadata"]["labels"].as_object().expect("labels");
    assert!(matches(
        &monitor["spec"]["selector"]["matchLabels"],
        service_labels
    ));
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"][0], *ns,
        "the ServiceMonitor looks in the namespace"
    );
}

/// A container's preStop exec hook, as written (Kubernetes does not expand hooks).
fn hook_of(container: &Value) -> Option<Vec<String>> {
    let command = container["lifecycle"]["preStop"]["exec"]["command"].as_array()?;
    Some(command.iter().map(|arg| text(arg).to_string()).collect())
}

/// The exporter's preStop hook.
pub(super) fn pre_stop(daemonset: &Value) -> Vec<String> {
    hook_of(container(daemonset, "containers", "exporter"))
        .expect("the exporter has a preStop exec hook")
}

/// Where the DaemonSet mounts the ConfigMap's files in the exporter container.
pub(super) fn config_mount(daemonset: &Value) -> String {
    let spec = &daemonset["spec"]["template"]["spec"];
    let volume = spec["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|volume| volume["configMap"]["name"] == "xdp-skeleton")
        .expect("the ConfigMap as a volume");
    let mount = container(daemonset, "containers", "exporter")["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|mount| mount["name"] == volume["name"])
        .expect("the ConfigMap volume mounted in the exporter");
    text(&mount["mountPath"]).to_string()
}

#[test]
fn the_daemonset_keeps_the_program_when_a_pod_stops_unless_told_to_detach() {
    // docs/operations.md, "Rolling out a new object": the program is attached through a
    // pinned BPF link; the one hook, the exporter's preStop, detaches only the interfaces
    // the ConfigMap's detach-on-stop names, none by default.
    let daemonset = manifest("daemonset.yaml");
    let configmap = manifest("configmap.yaml");
    let load = argv_of(container(&daemonset, "initContainers", "load"));
    assert!(load.iter().any(|arg| arg == "-link"), "{load:?}");
    let spec = &daemonset["spec"]["template"]["spec"];
    for list in ["initContainers", "containers"] {
        for container in spec[list].as_array().expect("containers") {
            if container["name"] != "exporter" {
                assert!(container["lifecycle"].is_null(), "{}", container["name"]);
            }
        }
    }
    assert_eq!(configmap["data"]["detach-on-stop"], "", "keep by default");
    let hook = pre_stop(&daemonset);
    let detach_file = format!("@{}/detach-on-stop", config_mount(&daemonset));
    assert_eq!(
        hook,
        [
            "/xdp/xdploader",
            "-detach",
            "-i",
            detach_file.as_str(),
            "-pin-path",
            text(&configmap["data"]["pin-path"]),
        ],
        "the hook reads the ConfigMap's file and uses its pin path"
    );
    assert!(
        hook.iter().all(|arg| !arg.contains("$(")),
        "hooks are not expanded"
    );
    let exporter = container(&daemonset, "containers", "exporter");
    let caps = &exporter["securityContext"]["capabilities"]["add"];
    assert!(
        caps.as_array()
            .expect("caps")
            .iter()
            .any(|cap| cap == "NET_ADMIN"),
        "the detach needs CAP_NET_ADMIN"
    );
    let bpffs = exporter["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|mount| mount["mountPath"] == "/sys/fs/bpf")
        .expect("bpffs mounted");
    assert!(
        bpffs["readOnly"].is_null(),
        "the detach removes pins: {bpffs}"
    );
    let strategy = &daemonset["spec"]["updateStrategy"];
    assert_eq!(strategy["type"], "RollingUpdate");
    assert_eq!(strategy["rollingUpdate"]["maxUnavailable"], 1);
    assert_eq!(strategy["rollingUpdate"]["maxSurge"], 0);
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["tolerations"][0]["operator"], "Exists");
    let volume = &spec["volumes"][0];
    assert_eq!(volume["hostPath"]["path"], "/sys/fs/bpf");
}

/// Each container of our image in every manifest: (file, container, argv with $(VAR)
/// expanded from the ConfigMap).
fn image_commands() -> Vec<(String, String, Vec<String>)> {
    let configmap = manifest("configmap.yaml");
    let mut commands = Vec::new();
    for path in manifest_files() {
        let document = &yaml_documents(&path)[0];
        if document["kind"] != "DaemonSet" {
            continue;
        }

        let spec = &document["spec"]["template"]["spec"];
        for list in ["initContainers", "containers"] {
            for container in spec[list].as_array().into_iter().flatten() {
                if !text(&container["image"]).contains("xdp-skeleton") {
                    continue;
                }
                let env = env_of(container, &configmap);
                let argv: Vec<String> = argv_of(container)
                    .iter()
                    .map(|arg| expand_kubernetes(arg, &env))
                    .collect();
                assert!(
                    argv.iter().all(|arg| !arg.contains("$(")),
                    "{argv:?}: every $(VAR) has a value"
                );
                commands.push((
                    path.display().to_string(),
                    text(&container["name"]).to_string(),
                    argv,
                ));
                if let Some(hook) = hook_of(container) {
                    commands.push((
                        path.display().to_string(),
                        format!("{} preStop", text(&container["name"])),
                        hook,
                    ));
                }
            }
        }
    }
    commands
}

/// [`assert_parser_accepts`] on an argv of the image, its paths mapped to ours.
fn assert_image_argv_accepted(argv: &[String], context: &str) {
    let local: Vec<String> = argv.iter().map(|arg| local_path(arg)).collect();
    assert_parser_accepts(&local, context);
}

#[test]
fn the_manifests_pass_flags_the_binaries_take() {
    let commands = image_commands();
    assert!(commands.len() >= 3, "{commands:?}");
    for (file, name, argv) in commands {
        if argv[0] == "/xdp/statswatch" {
            continue; // exporter_flags_in_the_manifests_are_taken
        }
        assert_image_argv_accepted(&argv, &format!("{file}, container {name}"));
    }
}

#[test]
fn exporter_flags_in_the_manifests_are_taken() {
    let exporters: Vec<_> = image_commands()
        .into_iter()
        .filter(|(_, _, argv)| argv[0] == "/xdp/statswatch")
        .collect();
    assert!(!exporters.is_empty());
    for (file, name, argv) in exporters {
        assert_image_argv_accepted(&argv, &format!("{file}, container {name}"));
    }
}

// The Dockerfile.

fn dockerfile() -> String {
    std::fs::read_to_string(deploy_dir().join("Dockerfile")).expect("read deploy/Dockerfile")
}

#[test]
fn dockerfile_passes_hadolint() {
    let path = deploy_dir().join("Dockerfile");
    let output = run_path(&tool("hadolint"), &["--no-color", path_str(&path)]);
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(output.status.success(), "hadolint: {}", describe(&output));
    assert!(output.stdout.is_empty(), "hadolint: {}", describe(&output));
}

#[test]
fn dockerfile_builds_as_build_release_does() {
    // scripts/lib.sh's build_release: `"$CARGO" rustc --release "$@" -p loader --bin
    // "$bin" -- -C target-feature=+crt-static`; the image's RUN must pass the same.
    let lib = std::fs::read_to_string(repo_root().join("scripts/lib.sh")).expect("lib.sh");
    assert!(
        lib.contains("rustc --release \"$@\" -p loader --bin \"$bin\" \\\n            -- -C target-feature=+crt-static"),
        "build_release changed: update deploy/Dockerfile and this test"
    );
    let dockerfile = dockerfile();
    for bin in ["xdploader", "statswatch"] {
        let line = format!(
            "cargo rustc --locked --release -p loader --bin {bin} -- -C target-feature=+crt-static"
        );
        assert!(
            dockerfile.contains(&line),
            "deploy/Dockerfile lacks: {line}"
        );
    }
    assert!(dockerfile.contains("make -C kern all"));
}

#[test]
fn the_final_image_needs_no_shell() {
    let dockerfile = dockerfile();
    let (_, last_stage) = dockerfile
        .rsplit_once("\nFROM ")
        .expect("a multi-stage Dockerfile");
    assert!(
        last_stage.starts_with("scratch"),
        "the final stage is FROM scratch: {last_stage}"
    );
    for line in last_stage.lines().map(str::trim) {
        assert!(!line.starts_with("RUN"), "a RUN needs a shell: {line}");
        for instruction in ["CMD", "ENTRYPOINT"] {
            if let Some(rest) = line.strip_prefix(instruction) {
                assert!(
                    rest.trim_start().starts_with('['),
                    "{instruction} in shell form needs /bin/sh: {line}"
                );
            }
        }
    }
    // What the manifests run from the image is what the builder puts in /xdp.
    for (_, _, argv) in image_commands() {
        for arg in argv.iter().filter(|arg| arg.starts_with("/xdp/")) {
            let name = arg.trim_start_matches("/xdp/");
            assert!(
                dockerfile.contains(&format!("target/release/{name}"))
                    || dockerfile.contains(&format!("kern/{name}")),
                "{arg} is not copied into the image"
            );
        }
    }
}
