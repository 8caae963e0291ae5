//! -status and -detach, checked against what `ip -j link` and `bpftool -j` see.

use super::*;

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn detach_takes_it_all_off_or_keeps_the_counters() {
    let ops = Ops::new();
    let interface = ops.xdp_if.clone();

    ops.load_ok();
    let (_, entry) = ops.attached().expect("attached");
    let (progs, mut maps) = ids_of_load(entry, &ops.pin("jmp_map"));
    maps.push(pinned_map_id(&ops.pin("if_redirect")));
    maps.sort();
    maps.dedup();
    assert_eq!(progs.len(), 3, "{progs:?}");
    assert_eq!(maps.len(), 4, "{maps:?}");

    let out = ok(ops.loader(&["-detach", "-i", &interface]));
    assert!(
        out.lines().any(|line| line
            == format!(
                "Detached xdp_skeleton (id {entry}, generic (skb) mode, netlink) from {interface}"
            )),
        "{out}"
    );
    for name in ["jmp_map", "stats_map", "if_redirect"] {
        let pin = ops.pin(name);
        assert!(
            out.lines()
                .any(|line| line == format!("Removed pin {}", pin.display())),
            "{out}"
        );
        assert!(!pin.exists(), "{} removed", pin.display());
    }
    assert_eq!(ops.attached(), None, "ip link: nothing attached");
    assert_eq!(ops.pins(), Vec::<String>::new(), "no pins left");
    assert!(
        wait_for(SETTLE, || all_gone(&progs, &maps)),
        "programs {progs:?} and maps {maps:?} are freed"
    );

    // -keep-maps: the program goes, the three pins (and the counters) stay.
    ops.load_ok();
    let stats_id = pinned_map_id(&ops.pin("stats_map"));
    let counts = send_and_count(&ops, 7);
    assert_eq!(counts[XDP_PASS].0, 7);
    ok(ops.loader(&["-detach", "-i", &interface, "-keep-maps"]));
    assert_eq!(ops.attached(), None);
    assert_eq!(ops.pins(), ["if_redirect", "jmp_map", "stats_map"]);
    assert_eq!(pinned_map_id(&ops.pin("stats_map")), stats_id);
    assert_eq!(
        bpftool_counts(&ops.pin("stats_map")),
        counts,
        "the counters stay"
    );

    // Nothing attached: said, exit 0.
    let out = ok(ops.loader(&["-detach", "-i", &interface]));
    assert_eq!(out.trim(), format!("Nothing attached to {interface}"));
    assert_eq!(ops.pins(), ["if_redirect", "jmp_map", "stats_map"]);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn status_matches_what_ip_and_bpftool_see() {
    let ops = Ops::new();
    let interface = ops.xdp_if.clone();
    let ifindex = ops.ifindex(&interface);

    let status = |ops: &Ops| -> serde_json::Value {
        let document = json(&ok(ops.loader(&["-status", "-i", &interface, "-json"])));
        let interfaces = document["interfaces"].as_array().expect("interfaces");
        assert_eq!(interfaces.len(), 1, "{document}");
        interfaces[0].clone()
    };

    // Nothing attached.
    let entry = status(&ops);
    assert_eq!(entry["interface"], interface.as_str());
    assert_eq!(entry["ifindex"].as_u64(), Some(ifindex));
    assert!(entry["attached"].is_null(), "{entry}");

    // Through netlink, generic mode.
    ops.load_ok();
    let (mode, id) = ops.attached().expect("attached");
    assert_eq!(mode, XDP_ATTACHED_SKB);
    let entry = status(&ops);
    let attached = &entry["attached"];
    assert_eq!(attached["id"].as_u64(), Some(id), "{entry}");
    assert_eq!(attached["name"], "xdp_skeleton");
    assert_eq!(attached["mode"], "generic");
    assert_eq!(attached["method"], "netlink");
    assert!(attached["link_id"].is_null());

    let slots: Vec<(u64, u64)> = entry["tail_calls"]
        .as_array()
        .expect("tail_calls")
        .iter()
        .map(|slot| {
            assert_eq!(slot["map"], "jmp_map");
            assert_eq!(
                slot["program"],
                prog_name(slot["program_id"].as_u64().unwrap()).as_str()
            );
            (
                slot["slot"].as_u64().expect("slot"),
                slot["program_id"].as_u64().expect("program id"),
            )
        })
        .collect();
    let mut bpftool_slots = prog_array_slots(&ops.pin("jmp_map"));
    bpftool_slots.sort();
    let mut sorted = slots.clone();
    sorted.sort();
    assert_eq!(
        sorted, bpftool_slots,
        "slots as bpftool map dump shows them"
    );
    assert_eq!(
        sorted.iter().map(|(slot, _)| *slot).collect::<Vec<_>>(),
        [1, 2]
    );

    let maps = entry["maps"].as_array().expect("maps");
    let mut map_ids: Vec<u64> = maps.iter().map(|map| map["id"].as_u64().unwrap()).collect();
    map_ids.sort();
    let mut expected = prog_map_ids(id);
    expected.sort();
    assert!(
        expected.iter().all(|id| map_ids.contains(id)),
        "every map of the entry program: {expected:?} in {map_ids:?}"
    );
    for map in maps {
        let shown = bpftool_json(&["map", "show", "id", &map["id"].to_string()]);
        assert_eq!(map["name"], shown["name"], "{map}");
        let pins: Vec<&str> = map["pins"]
            .as_array()
            .expect("pins")
            .iter()
            .map(|pin| pin.as_str().unwrap())
            .collect();
        let name = map["name"].as_str().unwrap();
        if ["jmp_map", "stats_map", "if_redirect"].contains(&name) {
            let expected_pin = ops.pin(name).display().to_string();
            assert_eq!(pins, [expected_pin.as_str()], "{map}");
        } else {
            assert!(pins.is_empty(), "{map}");
        }
        for pin in pins {
            assert_eq!(
                pinned_map_id(Path::new(pin)),
                map["id"].as_u64().unwrap(),
                "{pin}"
            );
        }
    }

    // The text form says the same in words.
    let text = ok(ops.loader(&["-status", "-i", &interface]));
    assert!(
        text.lines().next().is_some_and(|line| line
            == format!(
                "{interface} (ifindex {ifindex}): xdp_skeleton (id {id}), generic mode, attached via netlink"
            )),
        "{text}"
    );
    for (slot, program) in &slots {
        assert!(
            text.contains(&format!("jmp_map[{slot}] = "))
                && text.contains(&format!("(id {program})")),
            "{text}"
        );
    }

    // Through a BPF link, native mode.
    ok(ops.loader(&["-detach", "-i", &interface]));
    ok(ops.load(&["-link", "-mode", "drv"]));
    let (mode, id) = ops.attached().expect("attached");
    assert_eq!(mode, XDP_ATTACHED_DRV);
    let link_pin = ops.pin(&format!("link_{interface}"));
    let link_id = fdinfo_value(&pinned_link_fdinfo(&link_pin), "link_id");
    assert!(xdp_links().contains(&(link_id, id)), "{:?}", xdp_links());
    let entry = status(&ops);
    let attached = &entry["attached"];
    assert_eq!(attached["id"].as_u64(), Some(id), "{entry}");
    assert_eq!(attached["mode"], "drv");
    assert_eq!(attached["method"], "link");
    assert_eq!(attached["link_id"].as_u64(), Some(link_id));
    assert_eq!(
        attached["link_pins"],
        serde_json::json!([link_pin.display().to_string()])
    );
    let text = ok(ops.loader(&["-status", "-i", &interface]));
    assert!(
        text.contains(&format!("drv mode, attached via BPF link {link_id}")),
        "{text}"
    );
    ok(ops.loader(&["-detach", "-i", &interface]));
    assert_eq!(ops.pins(), Vec::<String>::new());
}
