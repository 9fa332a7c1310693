//! `gatesim import`: an Envoy bootstrap becomes a scenario that validates
//! and runs, with every Envoy field it maps and a warning for each it does not.

use std::fs;

use crate::util::{gatesim, read, repo};

const FRONT: &str = "scenarios/envoy/front-proxy.yaml";

#[test]
fn the_envoy_example_imports_validates_and_runs() {
    let out = gatesim(&["import", FRONT, "--rps", "1500"], &[]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Routes with Envoy's route timeout, per-try timeout, retry_on, back-off
    // and previous_hosts; the cluster's thresholds and outlier detection.
    for expected in [
        r#"Route(prefix: "/api/users", to: "users""#,
        r#"total_timeout: "2s", timeout: "300ms""#,
        "retries: (max: 2, on: [Http5xx, Reset, ConnectFailure], backoff: Envoy(), other_host: true)",
        "thresholds: (max_connections: 100, max_pending_requests: 50, retry_budget: (budget_percent: 20.0, min_retry_concurrency: 3))",
        r#"outlier_detection: (consecutive_5xx: 5, interval: "10s", base_ejection_time: "30s", max_ejection_percent: 50.0)"#,
        // A cluster without circuit_breakers still has Envoy's default ones.
        r#"Route(prefix: "/api/orders", to: "orders-lb",
                      policy: (total_timeout: "1s", thresholds: () /* Envoy's defaults"#,
        r#"LoadBalancer(name: "orders-lb", targets: ["orders"], balance: RoundRobin, health_check: Some((interval: "5s", timeout: "1s", unhealthy_after: 3, healthy_after: 2))"#,
        r#"Service(name: "users", replicas: 3"#,
        "balance: LeastRequest(choice_count: 2)",
        r#"Service(name: "orders", replicas: 2"#,
        r#"RateLimit(scope: Global, limit: 4000, per: "1s", algorithm: TokenBucket(burst: 400))"#,
        "load: Poisson(rps: 1500)",
        "// default:",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    // What the example sets and gatesim does not model is told, once each.
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("not imported")).collect();
    assert_eq!(warnings.len(), 4, "{stderr}");
    for field in ["cluster users.connect_timeout", "cluster users.type", "cluster orders.connect_timeout"] {
        assert!(stderr.contains(field), "{field} in {stderr}");
    }
    // The scenario runs as it is.
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("front.ron");
    fs::write(&file, stdout.as_bytes()).unwrap();
    let run = gatesim(&["run", file.to_str().unwrap(), "--out", tmp.path().join("o").to_str().unwrap(), "-q"], &[]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    // Same input, same bytes.
    assert_eq!(gatesim(&["import", FRONT, "--rps", "1500"], &[]).stdout, out.stdout);
}

/// `gatesim import` of an Envoy bootstrap given as text: it must succeed;
/// (stdout, stderr).
fn import_ok(text: &str) -> (String, String) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("envoy.yaml");
    fs::write(&file, text).unwrap();
    let out = gatesim(&["import", file.to_str().unwrap()], &[]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    (stdout.into_owned(), stderr.into_owned())
}

#[test]
fn fields_it_does_not_model_are_listed_as_warnings() {
    let text = read(&repo().join(FRONT)).replace(
        "    connect_timeout: 0.25s\n    type: STRICT_DNS\n    lb_policy: LEAST_REQUEST",
        "    connect_timeout: 0.25s\n    type: STRICT_DNS\n    lb_policy: MAGLEV\n    dns_refresh_rate: 5s",
    );
    let (_, stderr) = import_ok(&text);
    assert!(stderr.contains("cluster users.dns_refresh_rate: not imported"), "{stderr}");
    assert!(stderr.contains("lb_policy MAGLEV is not modelled"), "{stderr}");
    // A route matching headers too is told, and Envoy's local rate limit
    // without filter_enabled / filter_enforced is off (0% by default).
    let text = read(&repo().join(FRONT)).replace(
        r#"- match: { prefix: "/api/orders" }"#,
        r#"- match: { prefix: "/api/orders", headers: [{name: x-canary}] }"#,
    );
    let text: String = text.lines().take_while(|l| !l.contains("filter_enabled")).collect::<Vec<_>>().join("\n")
        + "\n"
        + &text.lines().skip_while(|l| !l.contains("- name: envoy.filters.http.router")).collect::<Vec<_>>().join("\n");
    let (stdout, stderr) = import_ok(&text);
    assert!(stderr.contains("route match.headers: not imported"), "{stderr}");
    assert!(stderr.contains("default to 0% of requests: the limit is off"), "{stderr}");
    assert!(!stdout.contains("RateLimit("), "{stdout}");
}

#[test]
fn envoy_fields_read_past_are_warned_and_valid_envoy_values_import() {
    let text = read(&repo().join(FRONT))
        // A HIGH-priority entry first: the DEFAULT one is the one imported.
        .replace(
            "      thresholds:\n      - priority: DEFAULT\n",
            "      thresholds:\n      - priority: HIGH\n        max_connections: 7\n      - priority: DEFAULT\n        track_remaining: true\n",
        )
        // Envoy: a route timeout of 0s disables it.
        .replace("timeout: 2s\n", "timeout: 0s\n")
        .replace(
            "                    - name: envoy.retry_host_predicates.previous_hosts\n",
            "                    - name: envoy.retry_host_predicates.omit_canary_hosts\n                    - name: envoy.retry_host_predicates.previous_hosts\n",
        )
        .replace(
            "      max_ejection_percent: 50\n",
            "      max_ejection_percent: 50\n      enforcing_consecutive_5xx: 30\n      always_eject_one_host: { value: true }\n",
        )
        .replacen("    circuit_breakers:\n", "    circuit_breakers:\n      per_host_thresholds:\n      - max_connections: 10\n", 1)
        .replacen(
            "    circuit_breakers:\n",
            "    common_lb_config:\n      healthy_panic_threshold: { value: 35 }\n      zone_aware_lb_config:\n        \
             fail_traffic_on_panic: true\n        min_cluster_size: 6\n    circuit_breakers:\n",
            1,
        )
        // A second route to the users cluster.
        .replace(
            "              - match: { prefix: \"/api/orders\" }\n",
            "              - match: { prefix: \"/v2/users\" }\n                route: { cluster: users }\n              - match: { prefix: \"/api/orders\" }\n",
        );
    let (stdout, stderr) = import_ok(&text);
    for warning in [
        "circuit_breakers: the HIGH priority thresholds are not imported",
        "circuit_breakers.track_remaining: not imported",
        "retry_host_predicate envoy.retry_host_predicates.omit_canary_hosts: not imported",
        "enforcing_consecutive_5xx: 30% imported as 100%",
        "circuit_breakers.per_host_thresholds: not imported",
        "zone_aware_lb_config.min_cluster_size: not imported",
    ] {
        assert!(stderr.contains(warning), "{warning} in {stderr}");
    }
    assert_eq!(stderr.matches("track_remaining").count(), 1, "each field is told once: {stderr}");
    assert!(stdout.contains("thresholds: (max_connections: 100, max_pending_requests: 50"), "{stdout}");
    assert!(!stdout.contains("max_connections: 7"), "{stdout}");
    assert!(stdout.contains("enforcing_consecutive_5xx: 100"), "{stdout}");
    assert!(stdout.contains("always_eject_one_host: true"), "{stdout}");
    // Envoy's panic threshold, set on users, its default 50% on orders.
    assert_eq!(stdout.matches("healthy_panic_threshold: 35.0").count(), 2, "{stdout}");
    assert!(stdout.contains("healthy_panic_threshold: 50.0"), "{stdout}");
    // Envoy's fail_traffic_on_panic, set on users only.
    assert_eq!(stdout.matches("fail_traffic_on_panic: true").count(), 2, "{stdout}");
    // Both routes to the users cluster share its breakers and detector.
    assert_eq!(stdout.matches(r#"cluster: "users""#).count(), 2, "{stdout}");
    assert!(!stderr.contains("routes use it"), "no warning left for a shared cluster: {stderr}");
    assert!(stdout.contains(r#"policy: (timeout: "300ms""#), "no total timeout: {stdout}");
    // What it wrote validates.
    let tmp = tempfile::tempdir().expect("temp dir");
    let ron = tmp.path().join("envoy.ron");
    fs::write(&ron, stdout.as_bytes()).unwrap();
    let v = gatesim(&["validate", ron.to_str().unwrap()], &[]);
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stderr));
}

#[test]
fn bad_envoy_files_exit_2_and_write_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let cases = [
        ("not-yaml.yaml", "static_resources: [unclosed", "not a YAML document"),
        ("empty.yaml", "", "no static_resources"),
        ("dynamic.yaml", "dynamic_resources: {}\n", "no static_resources"),
        (
            "missing-cluster.yaml",
            "static_resources:\n  listeners:\n  - name: l\n    filter_chains:\n    - filters:\n      - name: envoy.filters.network.http_connection_manager\n        typed_config:\n          route_config:\n            virtual_hosts:\n            - routes:\n              - match: { prefix: \"/\" }\n                route: { cluster: nowhere }\n  clusters: []\n",
            "names cluster nowhere",
        ),
        // 100,000 nested lists took minutes to parse (quadratic in depth).
        ("deep.yaml", deep.as_str(), "nested more than 64 levels deep"),
    ];
    for (name, text, message) in cases {
        let file = tmp.path().join(name);
        fs::write(&file, text).unwrap();
        let dest = tmp.path().join(format!("{name}.ron"));
        let out = gatesim(&["import", file.to_str().unwrap(), "--out", dest.to_str().unwrap()], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(message), "{name}: {stderr}");
        assert!(!dest.exists(), "{name}: nothing is written");
    }
}

#[test]
fn envoy_zero_timeouts_mean_none_and_quoted_brackets_are_text() {
    // Envoy: per_try_timeout 0s and a route timeout 0s are both "none";
    // brackets inside quoted strings (escaped quotes included) are text,
    // not nesting.
    let quoted: String = (0..70).map(|i| format!("# note {i}\n")).collect();
    let text = read(&repo().join(FRONT))
        .replace("timeout: 2s\n", "timeout: 0s\n")
        .replace("per_try_timeout: 0.3s", "per_try_timeout: 0s")
        .replace("  clusters:\n", &format!("{quoted}  clusters:\n"))
        .replace("stat_prefix: ingress_http", &format!("stat_prefix: \"{}\"", "say \\\"hi\\\" [".repeat(70)));
    let (stdout, _) = import_ok(&text);
    let users = stdout.lines().skip_while(|l| !l.contains(r#"Route(prefix: "/api/users""#)).nth(1).unwrap();
    assert!(users.contains("policy: (retries:"), "no total and no per-try timeout: {users}");
}

/// Envoy sends a failover priority no traffic while priority 0 is healthy,
/// and weights skew the split: neither is modelled, so the failover hosts
/// are left out (not counted as capacity) and both are told. A virtual
/// host's retry policy applies to its routes that set none.
#[test]
fn envoy_failover_priorities_and_weights_are_told_and_virtual_host_retries_apply() {
    let text = read(&repo().join(FRONT))
        .replace(
            "        - endpoint: { address: { socket_address: { address: orders-2, port_value: 80 } } }\n",
            "        - endpoint: { address: { socket_address: { address: orders-2, port_value: 80 } } }\n          load_balancing_weight: 5\n      - priority: 1\n        lb_endpoints:\n        - endpoint: { address: { socket_address: { address: orders-3, port_value: 80 } } }\n",
        )
        .replace(
            "              domains: [\"*\"]\n",
            "              domains: [\"*\"]\n              retry_policy: { retry_on: 5xx, num_retries: 4 }\n",
        );
    assert!(text.contains("priority: 1") && text.contains("num_retries: 4"), "the fixture changed");
    let (stdout, stderr) = import_ok(&text);
    assert!(stderr.contains("1 endpoints at priority 1 left out"), "{stderr}");
    assert!(stderr.contains("load_balancing_weight not imported"), "{stderr}");
    assert!(stdout.contains(r#"Service(name: "orders", replicas: 2"#), "orders-3 is failover only: {stdout}");
    // /api/orders sets no retry policy: the virtual host's (4 retries) applies.
    assert!(stdout.contains("retries: (max: 4"), "{stdout}");
    assert!(!stderr.contains("virtual host backend.retry_policy: not imported"), "{stderr}");
}

/// Envoy's adaptive concurrency filter in front of the router.
const ADAPTIVE_FILTER: &str = r#"          - name: envoy.filters.http.adaptive_concurrency
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.adaptive_concurrency.v3.AdaptiveConcurrency
              gradient_controller_config:
                sample_aggregate_percentile: { value: 90 }
                concurrency_limit_params:
                  max_concurrency_limit: 200
                  concurrency_update_interval: 0.1s
                min_rtt_calc_params:
                  interval: 30s
                  request_count: 40
                  jitter: { value: 10 }
                  min_concurrency: 5
                  buffer: { value: 20 }
              concurrency_limit_exceeded_status: { code: 429 }
"#;

#[test]
fn envoys_adaptive_concurrency_filter_becomes_the_gateways_own_limit() {
    let router = "          - name: envoy.filters.http.router\n";
    let text = read(&repo().join(FRONT)).replace(router, &format!("{ADAPTIVE_FILTER}{router}"));
    let (stdout, stderr) = import_ok(&text);
    // Every field, percents as fractions, on the gateway: the filter sits in
    // the proxy's own chain, one limit per instance over all its requests.
    let expected = "adaptive_concurrency: (sample_aggregate_percentile: 0.9, max_concurrency_limit: 200, \
        concurrency_update_interval: \"100ms\", min_rtt_calc_interval: \"30s\", request_count: 40, \
        min_concurrency: 5, jitter: 0.1, buffer: 0.2)";
    assert!(stdout.contains(expected), "{stdout}");
    assert!(!stderr.contains("adaptive_concurrency is not imported"), "{stderr}");
    assert!(stderr.contains("concurrency_limit_exceeded_status 429: imported as 503"), "{stderr}");
    let tmp = tempfile::tempdir().expect("temp dir");
    let ron = tmp.path().join("envoy.ron");
    fs::write(&ron, stdout.as_bytes()).unwrap();
    let v = gatesim(&["validate", ron.to_str().unwrap()], &[]);
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stderr));
    // Switched off (a pass-through filter), it is not imported, and told.
    let off = ADAPTIVE_FILTER.replace(
        "              concurrency_limit_exceeded_status: { code: 429 }\n",
        "              enabled: { default_value: false, runtime_key: ac.enabled }\n",
    );
    let (stdout, stderr) = import_ok(&read(&repo().join(FRONT)).replace(router, &format!("{off}{router}")));
    assert!(!stdout.contains("adaptive_concurrency"), "{stdout}");
    assert!(stderr.contains("enabled.default_value is false"), "{stderr}");
}

/// The example with `/api/orders` split 90/10 between `orders` and a
/// canary cluster (and a cluster of weight 0, which gets no traffic).
fn with_canary(canary_extra: &str) -> String {
    read(&repo().join(FRONT)).replace(
        "                route:\n                  cluster: orders\n",
        "                route:\n                  weighted_clusters:\n                    clusters:\n                    \
         - name: orders\n                      weight: 90\n                    - name: orders-canary\n                      \
         weight: { value: 10 }\n                    - name: dark\n                      weight: 0\n",
    ) + "  - name: orders-canary\n    load_assignment:\n      cluster_name: orders-canary\n      endpoints:\n      \
         - lb_endpoints:\n        - endpoint: { address: { socket_address: { address: canary-1, port_value: 80 } } }\n"
        + canary_extra
}

#[test]
fn envoys_weighted_clusters_become_a_split_route() {
    let (stdout, stderr) = import_ok(&with_canary(""));
    // The health-checked cluster through its balancer, the canary direct.
    assert!(
        stdout.contains(r#"split: [(to: "orders-lb", weight: 90), (to: "orders-canary", weight: 10)]"#),
        "{stdout}"
    );
    assert!(!stderr.contains("left out") && !stderr.contains("differ"), "{stderr}");
    let tmp = tempfile::tempdir().expect("temp dir");
    let ron = tmp.path().join("envoy.ron");
    fs::write(&ron, stdout.as_bytes()).unwrap();
    let v = gatesim(&["validate", ron.to_str().unwrap()], &[]);
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stderr));
    // A canary with its own circuit breakers: one policy for the split, told.
    let (_, stderr) = import_ok(&with_canary("    circuit_breakers:\n      thresholds:\n      - max_connections: 5\n"));
    assert!(stderr.contains("differ in circuit breakers or outlier detection"), "{stderr}");
}
