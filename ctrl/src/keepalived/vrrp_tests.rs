//! keepalived's `vrrp_instance` (with `global_defs` and `garp_group`) in, fnatd's `[[vrrp]]` (or
//! the refusal, with its line) out.

use super::to_fnat_toml;
use super::vrrp::fnat_name;

fn toml(text: &str) -> String {
    match to_fnat_toml(text) {
        Ok(t) => t,
        Err(e) => panic!("refused: {e}\n{text}"),
    }
}

fn err(text: &str) -> String {
    match to_fnat_toml(text) {
        Ok(t) => panic!("converted:\n{t}"),
        Err(e) => e.to_string(),
    }
}

/// What every instance needs, after the statements under test.
const NEEDS: &str = "interface eth0\nvirtual_router_id 51\nvirtual_ipaddress {\n10.0.0.100\n}";

/// `vrrp_instance VI_1` (line 1) with `body` from line 2, then what it needs.
fn vi(body: &str) -> String {
    format!("vrrp_instance VI_1 {{\n{body}\n{NEEDS}\n}}\n")
}

/// The `[[vrrp]]` tables of the output, each its fields without the header line.
fn tables(text: &str) -> Vec<String> {
    toml(text)
        .split("[[vrrp]]\n")
        .skip(1)
        .map(|t| t.split("\n\n").next().unwrap_or_default().trim_end().to_owned())
        .collect()
}

/// The one `[[vrrp]]` table of the output.
fn table(text: &str) -> String {
    let all = tables(text);
    assert_eq!(all.len(), 1, "{all:#?}");
    all[0].clone()
}

/// The value of `key` in the one table.
fn value(text: &str, key: &str) -> Option<String> {
    let t = table(text);
    t.lines().find_map(|l| l.strip_prefix(&format!("{key} = ")).map(str::to_owned))
}

/// The comments above the one table, but for the first (the `vrrp_instance` it came from) and
/// the two every instance gets (its port names, and VRRPv3 when keepalived's default is 2).
fn notes(text: &str) -> Vec<String> {
    let out = toml(text);
    let head = out.split("[[vrrp]]\n").next().unwrap_or_default();
    head.lines()
        .filter_map(|l| l.strip_prefix("# "))
        .skip(2)
        .filter(|l| !l.starts_with("port and track_ports") && !l.starts_with("fnatd speaks VRRPv3 only: keepalived"))
        .map(str::to_owned)
        .collect()
}

// ---- What becomes of each keyword ----

#[test]
fn a_vrrp_instance_becomes_a_vrrp_table_with_every_field() {
    let text = r#"vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.1
    nopreempt
    preempt_delay 2.5
    virtual_ipaddress {
        10.0.0.100/24 dev eth0 label eth0:1
        10.0.0.101
    }
    virtual_ipaddress_excluded {
        10.1.0.10/24 brd + dev eth1 scope global no_track
    }
    unicast_peer {
        10.0.0.5
        10.0.0.6
    }
    track_interface {
        eth1
        dmz0
    }
    notify_master "/usr/local/bin/ha master"
    notify_backup /usr/local/bin/backup.sh
    notify_fault "/usr/local/bin/ha   fault"
    garp_master_repeat 3
}
"#;
    assert_eq!(
        toml(text),
        r#"# Converted from keepalived.conf by fnatctl --from-keepalived.

# keepalived.conf line 1: vrrp_instance VI_1
# port and track_ports are keepalived's interface names: each must name one of fnatd's [[port]] tables (port: one with [port.kernel])
# state MASTER (line 2) is not used: fnatd elects by priority, as keepalived does after startup
# fnatd speaks VRRPv3 only: keepalived peers need vrrp_version 3 (keepalived's default is 2)
# virtual_ipaddress_excluded (line 13): fnatd's advertisements carry these addresses too
[[vrrp]]
name = "VI_1"
port = "eth0"
vrid = 51
priority = 150
advert_interval_cs = 10
preempt = false
preempt_delay_ms = 2500
addresses = ["10.0.0.100", "10.0.0.101", "10.1.0.10"]
unicast_peers = ["10.0.0.5", "10.0.0.6"]
track_ports = ["eth0", "eth1", "dmz0"]
notify_master = "/usr/local/bin/ha master"
notify_backup = "/usr/local/bin/backup.sh"
notify_fault = "/usr/local/bin/ha fault"
garp_repeat = 3
"#
    );
}

#[test]
fn keepalived_defaults_are_written_out() {
    assert_eq!(
        table(&vi("")),
        "name = \"VI_1\"\nport = \"eth0\"\nvrid = 51\npriority = 100\nadvert_interval_cs = 100\npreempt = true\n\
         preempt_delay_ms = 0\naddresses = [\"10.0.0.100\"]\ntrack_ports = [\"eth0\"]\ngarp_repeat = 5"
    );
    assert_eq!(notes(&vi("")), Vec::<String>::new());
}

#[test]
fn advert_int_is_rounded_to_centiseconds_within_fnatds_range() {
    for (v, cs) in [("1", "100"), ("0.01", "1"), ("0.015", "2"), ("0.0149", "1"), ("2.5", "250"), ("40.95", "4095")] {
        assert_eq!(value(&vi(&format!("advert_int {v}")), "advert_interval_cs").as_deref(), Some(cs), "{v}");
    }
    for v in ["0", "0.005", "40.96", "300"] {
        assert_eq!(
            err(&vi(&format!("advert_int {v}"))),
            format!("line 2: advert_int {v} is out of range (fnatd takes 0.01 to 40.95 seconds)")
        );
    }
    assert_eq!(err(&vi("advert_int 1s")), "line 2: advert_int '1s' is not a number of seconds");
    assert_eq!(err(&vi("advert_int")), "line 2: advert_int needs a value");
}

#[test]
fn preemption_and_its_delay() {
    assert_eq!(value(&vi("nopreempt"), "preempt").as_deref(), Some("false"));
    assert_eq!(value(&vi("nopreempt\npreempt"), "preempt").as_deref(), Some("true"));
    assert_eq!(value(&vi("preempt\nnopreempt"), "preempt").as_deref(), Some("false"));
    for (v, ms) in [("0", "0"), ("2.5", "2500"), ("300", "300000"), ("0.0005", "1"), ("1000", "1000000")] {
        assert_eq!(value(&vi(&format!("preempt_delay {v}")), "preempt_delay_ms").as_deref(), Some(ms), "{v}");
    }
    assert_eq!(
        err(&vi("preempt_delay 1000.5")),
        "line 2: preempt_delay 1000.5 is out of range (keepalived takes 0 to 1000 seconds)"
    );
    assert_eq!(err(&vi("nopreempt yes")), "line 2: nopreempt takes no value");
}

#[test]
fn priority_and_virtual_router_id_are_one_to_255() {
    assert_eq!(value(&vi("priority 255"), "priority").as_deref(), Some("255"));
    assert_eq!(value(&vi("priority 1"), "priority").as_deref(), Some("1"));
    assert_eq!(err(&vi("priority 0")), "line 2: priority 0 is out of range (1 to 255)");
    assert_eq!(err(&vi("priority 256")), "line 2: priority 256 is out of range (1 to 255)");
    let vrid = |n: &str| {
        format!("vrrp_instance V {{\nvirtual_router_id {n}\ninterface eth0\nvirtual_ipaddress {{\n10.0.0.1\n}}\n}}")
    };
    assert_eq!(value(&vrid("255"), "vrid").as_deref(), Some("255"));
    assert_eq!(err(&vrid("0")), "line 2: virtual_router_id 0 is out of range (1 to 255)");
    assert_eq!(err(&vrid("x")), "line 2: virtual_router_id 'x' is not a whole number");
}

#[test]
fn the_initial_state_is_noted_not_used() {
    assert_eq!(
        notes(&vi("state BACKUP")),
        ["state BACKUP (line 2) is not used: fnatd elects by priority, as keepalived does after startup"]
    );
    assert_eq!(
        notes(&vi("state MASTER\npriority 255")),
        ["state MASTER (line 2) is not used: fnatd elects by priority, as keepalived does after startup; \
             priority 255 is the address owner's, MASTER at once"]
    );
    assert_eq!(err(&vi("state EQUAL")), "line 2: state 'EQUAL' is not MASTER or BACKUP");
}

#[test]
fn names_fnatd_refuses_are_made_its_own_and_the_original_is_noted() {
    assert_eq!(fnat_name("VI_1").as_deref(), Some("VI_1"));
    assert_eq!(fnat_name("web vip#1").as_deref(), Some("web_vip_1"));
    assert_eq!(fnat_name("vi.é-1").as_deref(), Some("vi._-1"));
    assert_eq!(fnat_name(&"x".repeat(40)).as_deref(), Some("x".repeat(32).as_str()));
    assert_eq!(fnat_name(""), None);
    let text = format!("vrrp_instance \"front end/1\" {{\n{NEEDS}\n}}\n");
    let out = toml(&text);
    assert!(out.contains("# keepalived.conf line 1: vrrp_instance front end/1\n"), "{out}");
    assert!(
        out.contains("# fnatd names it 'front_end_1' (letters, digits, '_', '-' and '.', at most 32 of them)\n"),
        "{out}"
    );
    assert_eq!(value(&text, "name").as_deref(), Some("\"front_end_1\""));
    // A control character in the name is escaped in the comment, which stays on its line.
    let out = toml(&format!("vrrp_instance \"a\\nb\" {{\n{NEEDS}\n}}\n"));
    assert!(out.contains("# keepalived.conf line 1: vrrp_instance a\\nb\n"), "{out}");
    assert!(out.contains("name = \"a_b\"\n"), "{out}");
}

#[test]
fn addresses_lose_their_prefix_and_options_and_excluded_ones_are_appended() {
    let text = vi("virtual_ipaddress_excluded {\n10.1.0.10/24 dev eth1\n}\n\
                   virtual_ipaddress {\n10.0.0.101/32 brd 10.0.0.255 dev eth0 scope global label eth0:1 \
                   peer 10.0.0.9 home -nodad mngtmpaddr noprefixroute autojoin no_track preferred_lft forever \
                   track_group G\n}");
    assert_eq!(value(&text, "addresses").as_deref(), Some("[\"10.1.0.10\", \"10.0.0.101\", \"10.0.0.100\"]"));
    assert_eq!(notes(&text), ["virtual_ipaddress_excluded (line 2): fnatd's advertisements carry these addresses too"]);
}

#[test]
fn unicast_peers_track_interfaces_and_the_source_address() {
    let text = vi("unicast_src_ip 10.0.0.2\nunicast_peer {\n10.0.0.5\n}\n\
                   track_interface {\neth1 weight -20\neth2 weight 0\neth0\neth1\n}");
    assert_eq!(value(&text, "unicast_peers").as_deref(), Some("[\"10.0.0.5\"]"));
    assert_eq!(value(&text, "track_ports").as_deref(), Some("[\"eth0\", \"eth1\", \"eth2\"]"));
    assert_eq!(
        notes(&text),
        [
            "unicast_src_ip 10.0.0.2 (line 2): fnatd advertises from the port's first address",
            "track_interface eth1 weight -20 (line 7): fnatd puts the instance in FAULT when eth1 is down; it \
             does not change the priority",
        ]
    );
    assert_eq!(
        notes(&vi("mcast_src_ip 10.0.0.2")),
        ["mcast_src_ip 10.0.0.2 (line 2): fnatd advertises from the port's first address"]
    );
    // The instance's own interface is tracked, as keepalived does, unless dont_track_primary.
    assert_eq!(value(&vi("dont_track_primary"), "track_ports"), None);
    assert_eq!(
        value(&vi("dont_track_primary\ntrack_interface {\neth1 weight 10 noreverse\n}"), "track_ports").as_deref(),
        Some("[\"eth1\"]")
    );
}

#[test]
fn notify_scripts_are_written_as_one_command() {
    let text = vi("notify_fault \"/bin/ha fault\"\nnotify_master /bin/m");
    assert_eq!(value(&text, "notify_master").as_deref(), Some("\"/bin/m\""));
    assert_eq!(value(&text, "notify_fault").as_deref(), Some("\"/bin/ha fault\""));
    assert_eq!(value(&text, "notify_backup"), None);
}

#[test]
fn gratuitous_arps_take_the_instances_then_global_defs_settings() {
    assert_eq!(value(&vi("garp_master_repeat 1"), "garp_repeat").as_deref(), Some("1"));
    let global = "global_defs {\nvrrp_garp_master_repeat 2\nvrrp_garp_interval 0.25\nvrrp_garp_master_delay 0\n}\n";
    let text = format!("{global}{}", vi(""));
    assert_eq!(value(&text, "garp_repeat").as_deref(), Some("2"));
    assert_eq!(value(&text, "garp_interval_ms").as_deref(), Some("250"));
    assert_eq!(notes(&text), ["garp_interval_ms: global_defs' vrrp_garp_interval (line 3)"]);
    assert_eq!(value(&format!("{global}{}", vi("garp_master_repeat 7")), "garp_repeat").as_deref(), Some("7"));
    // keepalived's second set of gratuitous ARPs has no counterpart: a comment.
    assert_eq!(
        notes(&vi("garp_master_delay 10")),
        ["garp_master_delay 10 (line 2): fnatd sends no second set of gratuitous ARPs; its garp_repeat of them \
          go garp_interval_ms apart"]
    );
    assert_eq!(
        notes(&format!("global_defs {{\nvrrp_garp_master_delay 5\n}}\n{}", vi(""))),
        ["garp_master_delay 5 (line 2): fnatd sends no second set of gratuitous ARPs; its garp_repeat of them go \
          garp_interval_ms apart"]
    );
    // A garp_group's interval is its interfaces', before global_defs'.
    let groups = "garp_group {\ngarp_interval 0.002\ngna_interval 0.001\ninterface eth0\n}\n\
                  garp_group {\ngarp_interval 1\ninterfaces {\neth1\n}\n}\n";
    let text = format!("global_defs {{\nvrrp_garp_interval 0.5\n}}\n{groups}{}", vi(""));
    assert_eq!(value(&text, "garp_interval_ms").as_deref(), Some("2"));
    assert_eq!(notes(&text), ["garp_interval_ms: the garp_interval of the garp_group on line 4"]);
    let on_eth2 = format!(
        "{groups}vrrp_instance V {{\ninterface eth2\nvirtual_router_id 1\nvirtual_ipaddress {{\n10.0.0.1\n}}\n}}"
    );
    assert_eq!(value(&on_eth2, "garp_interval_ms"), None);
    assert_eq!(value(&vi("garp_master_refresh 0"), "garp_repeat").as_deref(), Some("5"));
}

#[test]
fn the_vrrp_version_is_noted_unless_3() {
    let with_global = |g: &str, body: &str| format!("global_defs {{\n{g}\n}}\n{}", vi(body));
    let count = |text: &str| toml(text).matches("VRRPv3").count();
    assert_eq!(count(&with_global("vrrp_version 3", "")), 0);
    assert_eq!(count(&with_global("vrrp_version 2", "version 3")), 0);
    assert_eq!(
        notes(&with_global("vrrp_version 2", "")),
        ["global_defs' vrrp_version 2 (line 2): fnatd speaks VRRPv3 only, so keepalived peers need vrrp_version 3"]
    );
    assert_eq!(
        notes(&with_global("vrrp_version 3", "version 2")),
        ["version 2 (line 5): fnatd speaks VRRPv3 only, so keepalived peers need vrrp_version 3"]
    );
    // keepalived's default is 2.
    assert!(
        toml(&vi(""))
            .contains("# fnatd speaks VRRPv3 only: keepalived peers need vrrp_version 3 (keepalived's default is 2)\n")
    );
    assert_eq!(err(&with_global("vrrp_version 4", "")), "line 2: vrrp_version '4' is not 2 or 3");
    assert_eq!(err(&vi("version 1")), "line 2: version '1' is not 2 or 3");
}

#[test]
fn authentication_is_skipped_with_a_comment() {
    assert_eq!(
        notes(&vi("authentication {\nauth_type PASS\nauth_pass s3cret\n}")),
        ["authentication (line 2) is skipped: VRRPv3 has none (RFC 5798), and keepalived ignores it with version 3"]
    );
}

#[test]
fn keepalived_workings_without_effect_on_fnatd_are_skipped() {
    let text =
        vi("accept\ndebug 2\nskip_check_adv_addr\npromote_secondaries\nlinkbeat_use_polling\nkernel_rx_buf_size");
    assert_eq!(table(&text), table(&vi("")));
}

#[test]
fn vrrp_tables_come_before_the_services_in_the_files_order() {
    let text = format!(
        "virtual_server 10.0.0.100 80 {{\n}}\n{}vrrp_instance VI_2 {{\ninterface eth1\nvirtual_router_id 52\n\
         virtual_ipaddress {{\n10.1.0.10\n}}\n}}\n",
        vi("")
    );
    let out = toml(&text);
    let at = |s: &str| out.find(s).unwrap_or_else(|| panic!("{s} in {out}"));
    assert!(at("name = \"VI_1\"") < at("name = \"VI_2\"") && at("name = \"VI_2\"") < at("[[service]]"), "{out}");
    // The same virtual_router_id on another interface is another virtual router.
    let twice =
        format!("{}vrrp_instance VI_2 {{\ninterface eth1\n{}\n}}\n", vi(""), &NEEDS["interface eth0\n".len()..]);
    assert_eq!(tables(&twice).len(), 2);
}

// ---- Refusals ----

/// Why a `vrrp_sync_group` is refused.
const SYNC_GROUP: &str = "vrrp_sync_group (fnatd's instances fail over each on its own: addresses that must move \
                          together go in one vrrp_instance) is not supported yet";

#[test]
fn every_vrrp_refusal_names_its_line() {
    let in_vi = |body: &str| err(&vi(body));
    let global = |g: &str| err(&format!("global_defs {{\n{g}\n}}\n{}", vi("")));
    let second = |header: &str, body: &str| err(&format!("{}{header} {{\n{body}\n}}", vi("")));
    let mut cases: Vec<(String, String)> = vec![
        (err("x\nvrrp_sync_group G {\n  group {\n    VI_1\n  }\n}"), format!("line 2: {SYNC_GROUP}")),
        (second("vrrp_sync_group G", ""), format!("line 9: {SYNC_GROUP}")),
        (
            in_vi("notify \"/bin/notify.sh\""),
            "line 2: notify (one script for every state, with keepalived's arguments: use notify_master, \
             notify_backup and notify_fault) is not supported yet"
                .into(),
        ),
        (in_vi("notify_master /bin/m.sh root"), "line 2: notify_master with a user is not supported yet".into()),
        (
            in_vi("notify_backup \"/bin/b 'x y'\""),
            "line 2: notify_backup with quotes or backslashes in the command (fnatd splits it at whitespace) is \
             not supported yet"
                .into(),
        ),
        (in_vi("notify_fault \"\""), "line 2: notify_fault needs a command".into()),
        (
            in_vi("virtual_ipaddress {\n10.0.0.7\n2001:db8::7/64\n}"),
            "line 4: IPv6 (virtual_ipaddress 2001:db8::7) is not supported yet".into(),
        ),
        (
            in_vi("virtual_ipaddress_excluded {\nfe80::1\n}"),
            "line 3: IPv6 (virtual_ipaddress_excluded fe80::1) is not supported yet".into(),
        ),
        (in_vi("virtual_ipaddress {\n10.0.0.7 dev eth0 use_vmac\n}"), "line 3: use_vmac is not supported yet".into()),
        (
            in_vi("virtual_ipaddress {\n10.0.0.7 frob\n}"),
            "line 3: 'frob' is not an option of an address in virtual_ipaddress".into(),
        ),
        (in_vi("virtual_ipaddress {\n10.0.0.7 dev\n}"), "line 3: dev needs a value".into()),
        (in_vi("virtual_ipaddress {\n10.0.0.7/33\n}"), "line 3: the prefix length 33 is out of range (0 to 32)".into()),
        (
            in_vi("virtual_ipaddress {\n10.0.0.300\n}"),
            "line 3: virtual_ipaddress '10.0.0.300' is not an IPv4 address".into(),
        ),
        (
            in_vi("virtual_ipaddress {\n224.0.0.18\n}"),
            "line 3: 224.0.0.18 in virtual_ipaddress is not a unicast address".into(),
        ),
        (in_vi("virtual_ipaddress {\n10.0.0.100/24\n}"), "line 8: 10.0.0.100 is listed twice (first on line 3)".into()),
        (in_vi("virtual_ipaddress 10.0.0.7"), "line 2: virtual_ipaddress needs a block of addresses".into()),
        (
            in_vi("unicast_peer {\n10.0.0.5 min_ttl 250\n}"),
            "line 3: unicast_peer with min_ttl or max_ttl is not supported yet".into(),
        ),
        (
            in_vi("unicast_peer {\n2001:db8::5\n}"),
            "line 3: IPv6 (unicast_peer 2001:db8::5) is not supported yet".into(),
        ),
        (
            in_vi("unicast_peer {\n10.0.0.5\n10.0.0.5\n}"),
            "line 4: unicast_peer 10.0.0.5 is listed twice (first on line 3)".into(),
        ),
        (
            in_vi("unicast_peer {\n255.255.255.255\n}"),
            "line 3: unicast_peer 255.255.255.255 is not a unicast address".into(),
        ),
        (in_vi("unicast_src_ip fe80::2"), "line 2: IPv6 (unicast_src_ip fe80::2) is not supported yet".into()),
        (
            in_vi("track_interface {\neth1 weight 10 reverse\n}"),
            "line 3: track_interface with reverse is not supported yet".into(),
        ),
        (
            in_vi("track_interface {\neth1 weight 300\n}"),
            "line 3: weight '300' is not a whole number from -253 to 253".into(),
        ),
        (
            in_vi("track_interface {\neth1 heavy\n}"),
            "line 3: track_interface eth1 takes weight N [reverse], not 'heavy'".into(),
        ),
        (in_vi("garp_master_repeat 0"), "line 2: garp_master_repeat 0 is out of range (1 to 100)".into()),
        (
            in_vi("garp_master_refresh 60"),
            "line 2: garp_master_refresh (gratuitous ARPs while MASTER) is not supported yet".into(),
        ),
        (
            global("vrrp_garp_master_refresh 60"),
            "line 2: vrrp_garp_master_refresh (gratuitous ARPs while MASTER) is not supported yet".into(),
        ),
        (
            global("vrrp_garp_interval 61"),
            "line 2: vrrp_garp_interval 61 is out of range (fnatd takes 0 to 60 seconds)".into(),
        ),
        (
            global("vrrp_mcast_group4 224.0.0.19"),
            "line 2: vrrp_mcast_group4 other than 224.0.0.18 is not supported yet".into(),
        ),
        (
            err(&format!("garp_group {{\ngarp_interval 1\nfrob\n}}\n{}", vi(""))),
            "line 3: unknown keyword 'frob' in garp_group".into(),
        ),
        (in_vi("frobnicate 1"), "line 2: unknown keyword 'frobnicate' in vrrp_instance".into()),
        (in_vi("@lb1 priority 200"), "line 2: the conditional line '@lb1' is not supported yet".into()),
        (in_vi("priority ${PRIO}"), "line 2: parameter substitution ('${PRIO}') is not supported yet".into()),
        (in_vi("interface eth0 eth1"), "line 2: interface takes one value, not 2".into()),
        (err("vrrp_instance {\n}"), "line 1: vrrp_instance takes a name".into()),
        (err("vrrp_instance A B {\n}"), "line 1: vrrp_instance takes a name".into()),
        (err("vrrp_instance \"\" {\n}"), "line 1: vrrp_instance takes a name".into()),
        (err("vrrp_instance VI_1"), "line 1: vrrp_instance VI_1 needs a block".into()),
        (
            err("vrrp_instance VI_1 {\nvirtual_router_id 1\nvirtual_ipaddress {\n10.0.0.1\n}\n}"),
            "line 1: vrrp_instance VI_1 without interface (fnatd's instance advertises on one port) is not \
             supported yet"
                .into(),
        ),
        (
            err("vrrp_instance VI_1 {\ninterface eth0\nvirtual_ipaddress {\n10.0.0.1\n}\n}"),
            "line 1: vrrp_instance VI_1 needs virtual_router_id".into(),
        ),
        (
            err("vrrp_instance VI_1 {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n}\n}"),
            "line 1: vrrp_instance VI_1 needs an address in virtual_ipaddress (fnatd's instance has at least one)"
                .into(),
        ),
        (second("vrrp_instance VI_1", NEEDS), "line 9: vrrp_instance VI_1 is defined twice (first on line 1)".into()),
        (
            second("vrrp_instance \"VI 1\"", "interface eth1\nvirtual_router_id 2\nvirtual_ipaddress {\n10.0.0.2\n}"),
            "line 9: vrrp_instance VI 1 is named 'VI_1' in fnatd, as is vrrp_instance VI_1 on line 1".into(),
        ),
        (
            second("vrrp_instance VI_2", NEEDS),
            "line 9: virtual_router_id 51 on interface eth0 is also vrrp_instance VI_1's (line 1)".into(),
        ),
        (
            err(&format!("{}vrrp_instance VI_2 {{\n{NEEDS}\n", vi("track_script {\nchk\n}"))),
            "line 11: this '{' is never closed".into(),
        ),
    ];
    for k in [
        "track_script",
        "track_file",
        "track_process",
        "track_bfd",
        "use_vmac",
        "vmac_xmit_base",
        "smtp_alert",
        "virtual_routes",
        "virtual_rules",
        "notify_stop",
        "no_accept",
        "strict_mode",
        "garp_lower_prio_delay",
        "garp_lower_prio_repeat",
        "garp_master_refresh_repeat",
        "lower_prio_no_advert",
        "native_ipv6",
        "use_ipvlan",
        "unicast_ttl",
    ] {
        cases.push((in_vi(&format!("{k} x")), format!("line 2: {k} is not supported yet")));
    }
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn global_vrrp_settings_are_not_read_without_an_instance() {
    let text = "global_defs {\nvrrp_version 7\nvrrp_mcast_group4 224.0.0.19\n}\ngarp_group {\nfrob\n}\n";
    assert_eq!(toml(text), "# Converted from keepalived.conf by fnatctl --from-keepalived.\n");
}

#[test]
fn of_two_refusals_the_earlier_line_is_named() {
    let bad_vs = "virtual_server 10.0.0.100 80 {\n    lb_kind FNAT\n}\n";
    let bad_vi = "vrrp_instance VI_1 {\n    use_vmac\n}\n";
    assert_eq!(err(&format!("{bad_vs}{bad_vi}")), "line 2: lb_kind FNAT is not supported yet");
    assert_eq!(err(&format!("{bad_vi}{bad_vs}")), "line 2: use_vmac is not supported yet");
    assert_eq!(err(&format!("{bad_vi}global_defs {{\nvrrp_version 9\n}}\n")), "line 2: use_vmac is not supported yet");
    assert_eq!(err(&format!("global_defs {{\nvrrp_version 9\n}}\n{bad_vi}")), "line 2: vrrp_version '9' is not 2 or 3");
}
