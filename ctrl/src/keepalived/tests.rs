//! keepalived.conf in, fnatd's TOML (or the refusal, with its line) out.

use super::lexer::{Stmt, Token, statements, tokens};
use super::{KeepalivedError, to_fnat_toml};

const HEADER: &str = "# Converted from keepalived.conf by fnatctl --from-keepalived.\n";

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

/// `virtual_server 10.0.0.100 80` (line 1) with `body` from line 2.
fn vs(body: &str) -> String {
    format!("virtual_server 10.0.0.100 80 {{\n{body}\n}}\n")
}

/// The `[[check]]` tables of the output, without their header line.
fn checks(text: &str) -> Vec<String> {
    let out = toml(text);
    out.split("\n[[check]]\n")
        .skip(1)
        .map(|t| t.split("\n\n").next().unwrap_or_default().trim_end().to_owned())
        .collect()
}

/// The one check of the output, its lines after the service's key.
fn only_check(text: &str) -> String {
    let all = checks(text);
    assert_eq!(all.len(), 1, "{all:#?}");
    all[0].lines().skip(3).collect::<Vec<_>>().join("\n")
}

/// The real-server tables of the output, unindented, without their header line.
fn real_servers(text: &str) -> Vec<String> {
    let out = toml(text);
    out.split("\n  [[service.real_server]]\n")
        .skip(1)
        .map(|t| t.split("\n\n").next().unwrap_or_default().lines().map(str::trim).collect::<Vec<_>>().join("\n"))
        .collect()
}

fn word(line: usize, w: &str) -> Token {
    Token::Word(line, w.to_owned())
}

// ---- The lexer ----

#[test]
fn words_braces_quotes_and_comments_keep_their_lines() {
    let text = "! a comment\nvirtual_server 10.0.0.1 80{ # another\n  path \"/a b\"c 'x # y' !gone\r\n}\n\"\"\nq \"a\\\"b\\\\c\\td\"\n";
    assert_eq!(
        tokens(text).unwrap(),
        [
            word(2, "virtual_server"),
            word(2, "10.0.0.1"),
            word(2, "80"),
            Token::Open(2),
            word(3, "path"),
            word(3, "/a bc"),
            word(3, "x # y"),
            Token::Close(4),
            word(5, ""),
            word(6, "q"),
            word(6, "a\"b\\c\td"),
        ]
    );
    assert_eq!(tokens("a#b c\n  d!e").unwrap(), [word(1, "a"), word(2, "d")]);
    assert_eq!(tokens("").unwrap(), []);
}

#[test]
fn a_statement_is_its_line_and_the_block_after_it() {
    let text = "real_server 10.1.0.1 80\n{\n  weight 2\n  TCP_CHECK { connect_port 81 }\n  inhibit_on_failure\n}\nnext";
    let stmt = |line, keyword: &str, args: &[&str], block| Stmt {
        line,
        keyword: keyword.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        block,
    };
    assert_eq!(
        statements(text).unwrap(),
        [
            stmt(
                1,
                "real_server",
                &["10.1.0.1", "80"],
                Some(vec![
                    stmt(3, "weight", &["2"], None),
                    stmt(4, "TCP_CHECK", &[], Some(vec![stmt(4, "connect_port", &["81"], None)])),
                    stmt(5, "inhibit_on_failure", &[], None),
                ]),
            ),
            stmt(7, "next", &[], None),
        ]
    );
}

#[test]
fn open_quotes_and_unbalanced_braces_are_refused_with_their_line() {
    assert_eq!(err("a {\n b {\n }\n"), "line 1: this '{' is never closed");
    assert_eq!(err("a {\n}\n}\n"), "line 3: '}' without a '{' to close");
    assert_eq!(err("a\n{\n}\n{ b }"), "line 4: '{' without a keyword before it");
    assert_eq!(err("x\nnotify \"/bin/a\n"), "line 2: a quoted string is not closed on its line");
    assert_eq!(err("x \"\\x41\""), "line 1: the escape '\\x' in a quoted string is not supported yet");
    assert_eq!(err("x \\\n y"), "line 1: a line continued with '\\' is not supported yet");
    let deep = "a {\n".repeat(40);
    assert_eq!(err(&deep), "line 33: blocks nested deeper than 32");
    let e = to_fnat_toml("a {").unwrap_err();
    assert_eq!((e.line(), &e), (1, &KeepalivedError::Syntax { line: 1, problem: "this '{' is never closed".into() }));
}

// ---- What is skipped ----

#[test]
fn an_empty_file_gives_the_header_alone() {
    assert_eq!(toml(""), HEADER);
    assert_eq!(toml("! nothing but comments\n# here\n\n"), HEADER);
}

/// `vrrp_instance` and `vrrp_sync_group` have tests of their own (`vrrp_tests`).
#[test]
fn the_other_top_level_blocks_are_skipped() {
    let text = r#"
global_defs {
    notification_email { ops@example.com }
    router_id LVS_A
    lvs_sync_daemon eth0 VI_1
}
static_ipaddress {
    192.168.1.1/24 dev eth0 scope global
}
static_routes {
    10.0.0.0/8 via 192.168.1.254
}
vrrp_script chk {
    script "/bin/check { not a block }"
    weight -20
}
garp_group {
    garp_interval 0.01
    interface eth0
}
SSL {
    ca /etc/ssl/ca.pem
}
net_namespace blue
linkbeat_use_polling
"#;
    assert_eq!(toml(text), HEADER);
}

// ---- Services and real servers ----

#[test]
fn a_virtual_server_becomes_a_service_with_its_real_servers() {
    let text = "\
virtual_server 10.0.0.100 80 {
    lb_algo wrr
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    real_server 10.1.0.11 8080 {
        weight 3
        uthreshold 100
        lthreshold 10
    }
    real_server 10.1.0.12 {
    }
    real_server 10.1.0.13 8080
}
";
    assert_eq!(
        toml(text),
        format!(
            "{HEADER}
# keepalived.conf line 1: virtual_server 10.0.0.100 80
[[service]]
protocol = \"tcp\"
vip = \"10.0.0.100\"
port = 80
scheduler = \"wrr\"
persistent = 300
netmask = \"255.255.255.0\"

  [[service.real_server]]
  address = \"10.1.0.11\"
  port = 8080
  weight = 3
  forward = \"nat\"
  upper_threshold = 100
  lower_threshold = 10

  [[service.real_server]]
  address = \"10.1.0.12\"
  port = 80
  weight = 1
  forward = \"nat\"

  [[service.real_server]]
  address = \"10.1.0.13\"
  port = 8080
  weight = 1
  forward = \"nat\"
"
        )
    );
}

#[test]
fn protocol_scheduler_and_persistence_map_as_ipvsadm_names_them() {
    let out = toml(&vs("protocol udp\nlvs_sched sh\nsh-port\nsh-fallback off\nflag-3\npersistence_timeout"));
    assert!(
        out.contains(
            "protocol = \"udp\"\nvip = \"10.0.0.100\"\nport = 80\nscheduler = \"sh\"\n\
             scheduler_flags = [\"sh-port\", \"flag-3\"]\npersistent = 360\n"
        ),
        "{out}"
    );
    for s in ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"] {
        assert!(toml(&vs(&format!("lb_algo {s}"))).contains(&format!("\nscheduler = \"{s}\"\n")), "{s}");
    }
    // No lb_algo: fnatd's default, wlc, is IPVS's (keepalived sets none).
    assert!(!toml(&vs("")).contains("scheduler"));
    assert!(toml(&vs("ip_family inet\nprotocol TCP")).contains("protocol = \"tcp\"\n"));
}

#[test]
fn lb_kind_sets_every_real_servers_forward_and_a_real_server_may_override_it() {
    let text = vs("lb_kind DR\nreal_server 10.1.0.11 80 {\n}\nreal_server 10.1.0.12 {\n  lvs_method TUN\n}\n\
                   real_server 10.1.0.13 8080 {\n  lb_kind NAT\n}");
    let rs = real_servers(&text);
    let forward: Vec<&str> = rs.iter().filter_map(|r| r.lines().find(|l| l.starts_with("forward"))).collect();
    assert_eq!(forward, ["forward = \"dr\"", "forward = \"tun\"", "forward = \"nat\""]);
    assert!(toml(&vs("lvs_method dr\nreal_server 10.1.0.11 80")).contains("forward = \"dr\""));
    assert!(toml(&vs("real_server 10.1.0.11 80")).contains("forward = \"nat\""), "keepalived's default is NAT");
}

#[test]
fn a_fwmark_service_names_its_mark_and_its_dr_servers_keep_the_packets_port() {
    let text = "\
virtual_server fwmark 7 {
    lb_kind DR
    protocol TCP
    real_server 10.1.0.31 443 {
        TCP_CHECK {
        }
    }
    real_server 10.1.0.32 443 {
        TCP_CHECK {
        }
    }
}
virtual_server fwmark 8 {
    real_server 10.1.0.41 8080 {
    }
    real_server 10.1.0.42 {
    }
}
";
    let out = toml(text);
    assert!(
        out.contains(
            "# keepalived.conf line 1: virtual_server fwmark 7\n\
             # The traffic of fwmark 7 is marked by fnatd's [[fwmark]] rules (or fnatctl --add-mark), no longer by iptables.\n\
             [[service]]\nfwmark = 7\n\n  [[service.real_server]]\n  address = \"10.1.0.31\"\n  port = 0\n"
        ),
        "{out}"
    );
    assert_eq!(
        checks(text),
        ["fwmark = 7\ntype = \"tcp\"\ncheck_port = 443\ninterval = 60.0\ntimeout = 5.0\nretries = 1\n\
          retry_delay = 1.0\nrise = 1\nfall = 1"]
    );
    // NAT maps to the real server's port, or keeps the packet's without one.
    let ports: Vec<String> = real_servers(text)
        .iter()
        .map(|r| r.lines().filter(|l| l.starts_with("port") || l.starts_with("forward")).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        ports,
        [
            "port = 0 forward = \"dr\"",
            "port = 0 forward = \"dr\"",
            "port = 8080 forward = \"nat\"",
            "port = 0 forward = \"nat\""
        ]
    );
}

#[test]
fn a_virtual_server_of_every_port_is_persistent_and_its_real_servers_keep_the_port() {
    let text = "virtual_server 10.0.0.100 {\n  persistence_timeout 600\n  lb_kind DR\n\
                real_server 10.1.0.11 22 {\n    TCP_CHECK {\n    }\n  }\n}\n";
    let out = toml(text);
    assert!(out.contains("vip = \"10.0.0.100\"\nport = 0\npersistent = 600\n"), "{out}");
    assert!(out.contains("  address = \"10.1.0.11\"\n  port = 0\n"), "{out}");
    assert!(only_check(text).starts_with("type = \"tcp\"\ncheck_port = 22\n"));
    assert_eq!(
        err("virtual_server 10.0.0.100 {\n}\n"),
        "line 1: virtual_server 10.0.0.100 (every port) needs persistence_timeout"
    );
    assert_eq!(
        err("virtual_server 10.0.0.100 0 {\n  persistence_timeout 60\n  real_server 10.1.0.11 22\n}\n"),
        "line 3: real_server port 22 in a virtual_server of every port with lb_kind NAT: fnatd keeps each \
         connection's port (leave the port out)"
    );
    assert_eq!(
        err(
            "virtual_server 10.0.0.100 0 {\n  persistence_timeout 60\n  real_server 10.1.0.11 {\n    TCP_CHECK\n  }\n}\n"
        ),
        "line 4: TCP_CHECK of a real server without a port needs connect_port"
    );
}

// ---- Checks ----

#[test]
fn keepalived_defaults_are_written_out_for_every_checker() {
    let check = |checker: &str| only_check(&vs(&format!("real_server 10.1.0.11 80 {{\n{checker}\n}}")));
    let timing = |t: &str, r: u32, d: &str| {
        format!("interval = 60.0\ntimeout = {t}\nretries = {r}\nretry_delay = {d}\nrise = 1\nfall = 1")
    };
    assert_eq!(check("TCP_CHECK"), format!("type = \"tcp\"\n{}", timing("5.0", 1, "1.0")));
    assert_eq!(
        check("HTTP_GET {\nurl {\npath /\n}\n}"),
        format!("type = \"http\"\n{}\npath = \"/\"", timing("5.0", 1, "3.0"))
    );
    assert_eq!(
        check("SSL_GET {\nurl {\npath /\n}\n}"),
        format!("type = \"https\"\n{}\npath = \"/\"", timing("5.0", 1, "3.0"))
    );
    assert_eq!(check("UDP_CHECK {\n}"), format!("type = \"udp\"\n{}", timing("5.0", 1, "1.0")));
    assert_eq!(check("DNS_CHECK {\n}"), format!("type = \"dns\"\n{}\nquery_type = \"SOA\"", timing("5.0", 3, "60.0")));
    assert_eq!(check("PING_CHECK {\n}"), format!("type = \"icmp\"\n{}", timing("5.0", 1, "1.0")));
    assert_eq!(
        check("MISC_CHECK {\nmisc_path /bin/true\n}"),
        format!("type = \"misc\"\n{}\ncommand = \"/bin/true\"", timing("60.0", 0, "1.0"))
    );
}

#[test]
fn a_virtual_servers_settings_are_its_real_servers_defaults_and_theirs_their_checkers() {
    let text = vs("delay_loop 10
connect_timeout 4
retry 2
delay_before_retry 0.5
virtualhost vs.example.com
inhibit_on_failure
real_server 10.1.0.11 80 {
  HTTP_GET {
    url {
      path /
    }
  }
}
real_server 10.1.0.12 80 {
  delay_loop 20
  virtualhost rs.example.com
  inhibit_on_failure off
  HTTP_GET {
    connect_timeout 1.5
    url {
      path /
    }
  }
}
real_server 10.1.0.13 80 {
  retry 0
  HTTP_GET {
    virtualhost checker.example.com
    nb_get_retry 5
    delay_loop 30
    url {
      path /
      virtualhost url.example.com
    }
  }
}");
    let all: Vec<String> = checks(&text).iter().map(|c| c.lines().skip(4).collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(
        all,
        [
            "type = \"http\" interval = 10.0 timeout = 4.0 retries = 2 retry_delay = 0.5 rise = 1 fall = 1 \
             inhibit_on_failure = true path = \"/\" host = \"vs.example.com\"",
            "type = \"http\" interval = 20.0 timeout = 1.5 retries = 2 retry_delay = 0.5 rise = 1 fall = 1 \
             path = \"/\" host = \"rs.example.com\"",
            "type = \"http\" interval = 30.0 timeout = 4.0 retries = 5 retry_delay = 0.5 rise = 1 fall = 1 \
             inhibit_on_failure = true path = \"/\" host = \"url.example.com\"",
        ]
    );
}

#[test]
fn one_check_for_the_service_when_every_real_server_has_the_same_else_one_per_real_server() {
    let same = vs("real_server 10.1.0.11 80 {\n TCP_CHECK {\n connect_port 81\n }\n}\n\
                   real_server 10.1.0.12 80 {\n TCP_CHECK {\n connect_port 81\n }\n}");
    assert_eq!(checks(&same).len(), 1);
    assert!(!checks(&same)[0].contains("real_server"));
    assert!(checks(&same)[0].contains("\ncheck_port = 81\n"));
    // The same checker on each real server's own port is the same check.
    let own_ports = vs("real_server 10.1.0.11 8080 {\n TCP_CHECK\n}\nreal_server 10.1.0.12 8081 {\n TCP_CHECK\n}");
    assert_eq!(checks(&own_ports).len(), 1);
    let one_unchecked = vs("real_server 10.1.0.11 80 {\n TCP_CHECK\n}\nreal_server 10.1.0.12 80 {\n}");
    let c = checks(&one_unchecked);
    assert_eq!(c.len(), 1);
    assert!(c[0].contains("\nreal_server = \"10.1.0.11:80\"\n"));
    let different =
        vs("real_server 10.1.0.11 80 {\n TCP_CHECK\n}\nreal_server 10.1.0.12 80 {\n TCP_CHECK {\n retry 3\n }\n}");
    let c = checks(&different);
    assert_eq!(c.len(), 2);
    assert!(c[0].contains("\nreal_server = \"10.1.0.11:80\"\n") && c[0].contains("\nretries = 1\n"));
    assert!(c[1].contains("\nreal_server = \"10.1.0.12:80\"\n") && c[1].contains("\nretries = 3\n"));
    assert!(checks(&vs("real_server 10.1.0.11 80 {\n}")).is_empty(), "no checker, no check");
}

#[test]
fn http_checks_take_the_url_status_codes_and_digest() {
    let text = vs("real_server 10.1.0.11 80 {
  HTTP_GET {
    url {
      path /health?full=1
      digest 9B3A0C85A887A256D6939DA88AABD8CD
      status_code 204 200-202
      status_code 201
    }
    connect_port 80
  }
}");
    assert_eq!(
        only_check(&text).lines().skip(7).collect::<Vec<_>>(),
        ["path = \"/health?full=1\"", "status = [200, 201, 202, 204]", "digest = \"9b3a0c85a887a256d6939da88aabd8cd\""]
    );
    assert!(!only_check(&text).contains("check_port"), "connect_port is the real server's port");
}

#[test]
fn a_udp_payload_is_keepaliveds_hex_as_text() {
    let check = |payload: &str| {
        only_check(&vs(&format!("protocol UDP\nreal_server 10.1.0.11 80 {{\nUDP_CHECK {{\n{payload}\n}}\n}}")))
            .lines()
            .skip(7)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(check("payload 70696e67\nrequire_reply"), "payload = \"ping\"\nrequire_reply = true");
    // Free format: pairs from the start of each word, an odd last digit a byte of its own.
    assert_eq!(check("payload 4 14 243"), "payload = \"\\u0004\\u0014$\\u0003\"");
    assert_eq!(check("payload 0a09 5C22"), "payload = \"\\n\\t\\\\\\\"\"");
}

#[test]
fn dns_and_misc_checks() {
    let check = |c: &str| {
        only_check(&vs(&format!("real_server 10.1.0.11 80 {{\n{c}\n}}"))).lines().skip(7).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(
        check("DNS_CHECK {\ntype aaaa\nname www.example.com\n}"),
        "name = \"www.example.com\"\nquery_type = \"AAAA\""
    );
    assert_eq!(
        check("MISC_CHECK {\nmisc_path \"/usr/bin/check  --host 10.1.0.11\"\nmisc_dynamic\n}"),
        "command = \"/usr/bin/check --host 10.1.0.11\"\ndynamic = true"
    );
    assert!(
        only_check(&vs("delay_loop 20\nreal_server 10.1.0.11 80 {\nMISC_CHECK {\nmisc_path /bin/true\n}\n}"))
            .contains("\ntimeout = 20.0\n")
    );
}

#[test]
fn strings_are_escaped_for_toml() {
    let text = vs(r#"real_server 10.1.0.11 80 {
  HTTP_GET {
    url {
      path "/q\"a\\b"
    }
  }
}"#);
    assert!(only_check(&text).ends_with("\npath = \"/q\\\"a\\\\b\""), "{}", only_check(&text));
}

// ---- Refusals ----

#[test]
fn every_refusal_names_its_line() {
    let in_vs = |body: &str| err(&vs(body));
    let in_rs = |body: &str| err(&vs(&format!("real_server 10.1.0.11 80 {{\n{body}\n}}")));
    let cases: Vec<(String, &str)> = vec![
        (err("include /etc/keepalived/lvs.conf"), "line 1: include is not supported yet"),
        (err("x\nvirtual_server_group web {\n}"), "line 2: virtual_server_group is not supported yet"),
        (err("virtual_server group web {\n}"), "line 1: virtual_server_group is not supported yet"),
        (err("$VIP=10.0.0.1"), "line 1: parameter definition ($NAME=VALUE) is not supported yet"),
        (err("@main virtual_server 10.0.0.1 80 {\n}"), "line 1: the conditional line '@main' is not supported yet"),
        (in_vs("virtualhost ${HOST}"), "line 2: parameter substitution ('${HOST}') is not supported yet"),
        (
            err("virtual_server 2001:db8::1 80 {\n}"),
            "line 1: IPv6 (virtual_server address 2001:db8::1) is not supported yet",
        ),
        (in_vs("lb_algo ovf\nlb_algo twos"), "line 3: lb_algo twos is not supported yet"),
        (in_vs("protocol SCTP"), "line 2: protocol SCTP is not supported yet"),
        (in_vs("lb_kind FNAT"), "line 2: lb_kind FNAT is not supported yet"),
        (in_vs("lvs_method TUN type gue port 6080"), "line 2: lvs_method TUN with a tunnel type is not supported yet"),
        (in_vs("alpha"), "line 2: alpha is not supported yet"),
        (in_vs("omega"), "line 2: omega is not supported yet"),
        (in_vs("ha_suspend"), "line 2: ha_suspend is not supported yet"),
        (in_vs("ops"), "line 2: ops is not supported yet"),
        (in_vs("persistence_engine sip"), "line 2: persistence_engine is not supported yet"),
        (in_vs("sorry_server_inhibit"), "line 2: sorry_server_inhibit is not supported yet"),
        (in_vs("smtp_alert yes"), "line 2: smtp_alert is not supported yet"),
        (in_vs("ip_family inet6"), "line 2: ip_family inet6 is not supported yet"),
        (in_vs("quorum_up /bin/up.sh nobody"), "line 2: quorum_up with a user is not supported yet"),
        (in_vs("frobnicate 1"), "line 2: unknown keyword 'frobnicate' in virtual_server"),
        (in_rs("SMTP_CHECK {\n}"), "line 3: SMTP_CHECK is not supported yet"),
        (in_rs("BFD_CHECK {\n}"), "line 3: BFD_CHECK is not supported yet"),
        (in_rs("FILE_CHECK {\n}"), "line 3: FILE_CHECK is not supported yet"),
        (
            in_rs("TCP_CHECK\nPING_CHECK"),
            "line 4: a second checker for one real server (TCP_CHECK on line 3) is not supported yet",
        ),
        (in_rs("notify_up /bin/up.sh root"), "line 3: notify_up with a user is not supported yet"),
        (
            in_rs("notify_up \"/bin/up.sh 'a b'\""),
            "line 3: notify_up with quotes or backslashes in the command (fnatd splits it at whitespace) is not \
             supported yet",
        ),
        (in_rs("notify_down \" \""), "line 3: notify_down needs a command"),
        (
            in_rs("notify_down /bin/down.sh"),
            "line 3: notify_down on a real server without a checker is not supported yet",
        ),
        (in_rs("warmup 5"), "line 3: warmup is not supported yet"),
        (in_rs("weight 1 2"), "line 3: weight takes one value, not 2"),
        (in_rs("TCP_CHECK {\nbindto 10.1.0.1\n}"), "line 4: bindto is not supported yet"),
        (in_rs("TCP_CHECK {\nbind_port 5000\n}"), "line 4: bind_port is not supported yet"),
        (in_rs("TCP_CHECK {\nconnect_ip 10.1.0.2\n}"), "line 4: connect_ip is not supported yet"),
        (in_rs("TCP_CHECK {\npath /\n}"), "line 4: unknown keyword 'path' in TCP_CHECK"),
        (in_rs("HTTP_GET {\n}"), "line 3: HTTP_GET needs a url block with a path"),
        (in_rs("HTTP_GET {\nurl {\n}\n}"), "line 4: url needs a path"),
        (
            in_rs("HTTP_GET {\nurl {\npath /a\n}\nurl {\npath /b\n}\n}"),
            "line 7: a second url in HTTP_GET is not supported yet",
        ),
        (in_rs("SSL_GET {\nurl {\npath /\nregex ok\n}\n}"), "line 6: regex is not supported yet"),
        (in_rs("SSL_GET {\nenable_sni\n}"), "line 4: enable_sni is not supported yet"),
        (
            in_rs("UDP_CHECK {\npayload ping\n}"),
            "line 4: payload 'ping' is not hex digits (keepalived's payload is hex)",
        ),
        (in_rs("UDP_CHECK {\npayload ff\n}"), "line 4: a payload whose bytes are not UTF-8 text is not supported yet"),
        (
            in_rs("UDP_CHECK {\nrequire_reply 706f6e67\n}"),
            "line 4: require_reply with the reply's bytes is not supported yet",
        ),
        (in_rs("UDP_CHECK {\nmin_reply_length 4\n}"), "line 4: min_reply_length is not supported yet"),
        (in_rs("DNS_CHECK {\ntype PTR\n}"), "line 4: type 'PTR' is not A, NS, CNAME, SOA, MX, TXT or AAAA"),
        (in_rs("PING_CHECK {\nconnect_port 80\n}"), "line 4: connect_port in PING_CHECK is not supported yet"),
        (in_rs("MISC_CHECK {\n}"), "line 3: MISC_CHECK needs misc_path"),
        (in_rs("MISC_CHECK {\nmisc_path /bin/a\nuser nobody\n}"), "line 5: user in MISC_CHECK is not supported yet"),
        (
            in_rs("MISC_CHECK {\nmisc_path \"/bin/a 'b c'\"\n}"),
            "line 4: misc_path with quotes or backslashes in the command (fnatd splits it at whitespace) is not \
             supported yet",
        ),
        (
            in_rs("MISC_CHECK {\nmisc_path /bin/a b\n}"),
            "line 4: misc_path with a user, or a command with arguments not in quotes is not supported yet",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn service_wide_settings_need_one_checker_for_every_real_server() {
    let different = vs("sorry_server 10.1.0.99 8080\nquorum 2\n\
                        real_server 10.1.0.11 80 {\nTCP_CHECK\n}\nreal_server 10.1.0.12 80 {\nPING_CHECK\n}");
    assert_eq!(
        err(&different),
        "line 2: sorry_server/quorum with different checkers per real server is not supported yet"
    );
    let unchecked = vs("real_server 10.1.0.11 80 {\n}\nhysteresis 1");
    assert_eq!(err(&unchecked), "line 4: sorry_server/quorum without a checker is not supported yet");
    let notify = vs("quorum_down /bin/down.sh\nreal_server 10.1.0.11 80 {\nnotify_up /bin/up.sh\nTCP_CHECK\n}");
    assert_eq!(
        err(&notify),
        "line 2: sorry_server/quorum with notify_up/notify_down on a real server is not supported yet"
    );
    // A sorry server's port defaults to the service's.
    let ok = vs("sorry_server 10.1.0.99\nreal_server 10.1.0.11 80 {\nTCP_CHECK\n}");
    assert!(only_check(&ok).ends_with("\nsorry_server = \"10.1.0.99:80\""));
}

#[test]
fn dr_and_tun_real_servers_keep_the_services_port() {
    assert_eq!(
        err(&vs("lb_kind TUN\nreal_server 10.1.0.11 8080 {\n}")),
        "line 3: lb_kind TUN with a port mapping: DR and TUN real servers keep the service's port"
    );
    assert_eq!(
        err(&vs("real_server 10.1.0.11 8080 {\nlvs_method DR\n}")),
        "line 2: lb_kind DR with a port mapping: DR and TUN real servers keep the service's port"
    );
}

#[test]
fn values_fnatd_would_refuse_are_refused_here() {
    let in_vs = |body: &str| err(&vs(body));
    let in_rs = |body: &str| err(&vs(&format!("real_server 10.1.0.11 80 {{\n{body}\n}}")));
    let in_check = |body: &str| in_rs(&format!("TCP_CHECK {{\n{body}\n}}"));
    let long_name = format!("line 4: name '{}.com' is not a DNS name", "a".repeat(64));
    let cases: Vec<(String, &str)> = vec![
        (in_vs("delay_loop 0"), "line 2: delay_loop 0 is out of range (fnatd takes 0.1 to 3600 seconds)"),
        (in_vs("delay_loop 3601"), "line 2: delay_loop 3601 is out of range (fnatd takes 0.1 to 3600 seconds)"),
        (in_vs("delay_loop -1"), "line 2: delay_loop '-1' is not a number of seconds"),
        (in_vs("delay_loop inf"), "line 2: delay_loop 'inf' is not a number of seconds"),
        (in_vs("delay_loop"), "line 2: delay_loop needs a value"),
        (
            in_check("connect_timeout 301"),
            "line 4: connect_timeout 301 is out of range (fnatd takes 0.1 to 300 seconds)",
        ),
        (in_check("retry 101"), "line 4: retry 101 is out of range (0 to 100)"),
        (
            in_check("delay_before_retry 0"),
            "line 4: delay_before_retry 0 is out of range (fnatd takes 0.1 to 3600 seconds)",
        ),
        (in_check("connect_port 0"), "line 4: connect_port 0 is out of range (1 to 65535)"),
        (in_rs("weight 65536"), "line 3: weight 65536 is out of range (0 to 65535)"),
        (in_rs("weight -1"), "line 3: weight '-1' is not a whole number"),
        (in_rs("uthreshold 10\nlthreshold 11"), "line 2: lower threshold 11 is higher than upper threshold 10"),
        (
            in_rs("inhibit_on_failure maybe"),
            "line 3: inhibit_on_failure takes no value or one of on, off, true, false, yes, no, not 'maybe'",
        ),
        (in_rs("weight 2 {\n}"), "line 3: weight takes no block"),
        (in_rs("HTTP_GET {\nurl {\npath health\n}\n}"), "line 5: path 'health' is not a path starting with '/'"),
        (
            in_rs("HTTP_GET {\nurl {\npath /\nstatus_code 600\n}\n}"),
            "line 6: status_code '600' is not a status from 100 to 599 or a range of them like 200-299",
        ),
        (
            in_rs("HTTP_GET {\nurl {\npath /\nstatus_code 299-200\n}\n}"),
            "line 6: status_code '299-200' is not a status from 100 to 599 or a range of them like 200-299",
        ),
        (
            in_rs("HTTP_GET {\nurl {\npath /\ndigest 9b3a\n}\n}"),
            "line 6: digest '9b3a' is not an MD5 digest (32 hex digits)",
        ),
        (
            in_rs(&format!("UDP_CHECK {{\npayload {}\n}}", "41".repeat(1401))),
            "line 4: payload of 1401 bytes is longer than fnatd's 1400",
        ),
        (in_rs(&format!("DNS_CHECK {{\nname {}.com\n}}", "a".repeat(64))), &long_name),
        (
            in_rs("MISC_CHECK {\nmisc_path /bin/a\nmisc_timeout 301\n}"),
            "line 5: misc_timeout 301 is out of range (fnatd takes 0.1 to 300 seconds)",
        ),
        (
            in_vs("delay_loop 600\nreal_server 10.1.0.11 80 {\nMISC_CHECK {\nmisc_path /bin/a\n}\n}"),
            "line 4: MISC_CHECK without misc_timeout times out after delay_loop (600 s), above fnatd's 300 seconds: \
             set misc_timeout",
        ),
        (in_vs("persistence_timeout 0"), "line 2: persistence_timeout 0 is out of range (1 to 2678400)"),
        (
            in_vs("persistence_granularity 255.0.255.0\npersistence_timeout 60"),
            "line 2: persistence_granularity '255.0.255.0' is not a netmask like 255.255.255.0",
        ),
        (in_vs("persistence_granularity 255.255.255.0"), "line 2: persistence_granularity needs persistence_timeout"),
        (
            in_vs("lb_algo fastest"),
            "line 2: lb_algo 'fastest' is not a scheduler (rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh)",
        ),
        (in_vs("lb_algo rr\nmh-port"), "line 3: mh-port is a flag of the mh scheduler, not of rr"),
        (in_vs("sh-port"), "line 2: sh-port is a flag of the sh scheduler, not of wlc"),
        (in_vs("lb_kind PF"), "line 2: lb_kind 'PF' is not NAT, DR or TUN"),
        (in_vs("protocol ICMP"), "line 2: protocol 'ICMP' is not TCP or UDP"),
        (in_vs("quorum 0"), "line 2: quorum 0 is out of range (1 to 4294967295)"),
        (err("virtual_server 127.0.0.1 80 {\n}"), "line 1: virtual address 127.0.0.1 is not a unicast address"),
        (err("virtual_server 10.0.0.1 65536 {\n}"), "line 1: port 65536 is out of range (0 to 65535)"),
        (
            err("virtual_server 10.0.0.300 80 {\n}"),
            "line 1: virtual_server address '10.0.0.300' is not an IPv4 address",
        ),
        (err("virtual_server fwmark 0 {\n}"), "line 1: fwmark 0 is out of range (1 to 4294967295)"),
        (
            err("virtual_server 10.0.0.1 80 443 {\n}"),
            "line 1: virtual_server takes an address and a port, fwmark N, or group NAME",
        ),
        (err(&vs("real_server 224.0.0.1 80")), "line 2: real server address 224.0.0.1 is not a unicast address"),
        (
            in_vs("sorry_server 255.255.255.255 80"),
            "line 2: real server address 255.255.255.255 is not a unicast address",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn a_service_or_real_server_written_twice_is_refused() {
    assert_eq!(
        err("virtual_server fwmark 3 {\nprotocol UDP\n}\nvirtual_server fwmark 3 {\n}\n"),
        "line 4: virtual_server fwmark 3 is defined twice (first on line 1)"
    );
    assert_eq!(
        err("virtual_server 10.0.0.1 80 {\n}\nvirtual_server 10.0.0.1 80 {\n}\n"),
        "line 3: virtual_server 10.0.0.1 80 is defined twice (first on line 1)"
    );
    assert!(toml("virtual_server 10.0.0.1 80 {\n}\nvirtual_server 10.0.0.1 80 {\nprotocol UDP\n}\n").contains("udp"));
    assert_eq!(
        err(&vs("real_server 10.1.0.11 80\nreal_server 10.1.0.11 80")),
        "line 3: real_server 10.1.0.11:80 is listed twice (first on line 2)"
    );
    assert_eq!(
        err("virtual_server fwmark 1 {\nlb_kind DR\nreal_server 10.1.0.11 80\nreal_server 10.1.0.11 443\n}\n"),
        "line 4: real_server 10.1.0.11 443 is the same real server in fnatd as the one on line 3: 10.1.0.11:0, the \
         connection keeping its port"
    );
}
