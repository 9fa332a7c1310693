//! Gateway routing: longest prefix wins, unknown paths are 404, a route
//! timeout shorter than the service shows as `timeout`, service `errors`
//! show as `error` in the right proportion.

use crate::util::{node, run_text};

/// Binomial check: `count` out of `n` is within 4.5 standard deviations of `p`.
fn assert_share(what: &str, count: u64, n: u64, p: f64) {
    let expected = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (count as f64 - expected).abs() <= 4.5 * sd.max(1.0),
        "{what}: {count} of {n}, expected {expected:.0} +- {:.0} (p = {p})",
        4.5 * sd
    );
}

const ROUTED: &str = r#"Scenario(name: "routing", seed: 3, duration: "20s", warmup: "1s",
    nodes: [
        Clients(name: "c", target: "gw", load: Poisson(rps: 2000), policy: (timeout: "1s"),
                mix: [(weight: 4, path: "/api/users/7"),      // "/api/users" beats "/api"
                      (weight: 3, path: "/api/orders/1"),     // only "/api" matches
                      (weight: 2, path: "/v1/users/7"),       // versioned route
                      (weight: 1, path: "/static/logo.png")]), // no route: 404
        Gateway(name: "gw", workers: 64, queue: 100, overhead: Const("0.1ms"),
                routes: [Route(prefix: "/api", to: "generic", policy: (timeout: "1s")),
                         Route(prefix: "/api/users", to: "users", policy: (timeout: "1s")),
                         Route(prefix: "/v1/users", to: "users-v1", policy: (timeout: "1s"))]),
        Service(name: "generic", workers: 32, queue: 100, work: Exp(mean: "1ms")),
        Service(name: "users", workers: 32, queue: 100, work: Exp(mean: "1ms")),
        Service(name: "users-v1", workers: 32, queue: 100, work: Exp(mean: "1ms")),
    ])"#;

#[test]
fn longest_prefix_wins_and_unknown_paths_are_not_found() {
    let s = run_text(ROUTED);
    let total = s.requests.total;
    let (users, generic, v1) = (node(&s, "users"), node(&s, "generic"), node(&s, "users-v1"));
    assert_share("users", users.arrivals, total, 0.4);
    assert_share("generic", generic.arrivals, total, 0.3);
    assert_share("users-v1", v1.arrivals, total, 0.2);
    assert_share("not_found", s.requests.not_found, total, 0.1);
    // Every request is one of those four: nothing is routed twice or lost
    // (up to the few requests that straddle the warm-up's end).
    let routed = users.arrivals + generic.arrivals + v1.arrivals + s.requests.not_found;
    assert!(routed.abs_diff(total) <= 10, "routed {routed} of {total}");
    assert_eq!(s.requests.ok + s.requests.not_found + s.requests.unfinished, total);
    // Per-route statistics are keyed by prefix.
    let route = |p: &str| &s.routes.0.iter().find(|(k, _)| k == p).expect("route listed").1;
    assert!(route("/api/users").requests.ok.abs_diff(users.completed) <= 5);
    assert!(route("/api").requests.ok.abs_diff(generic.completed) <= 5);
}

#[test]
fn a_route_timeout_shorter_than_the_service_times_out() {
    let text = r#"Scenario(name: "t", seed: 1, duration: "10s",
        nodes: [
            Clients(name: "c", target: "gw", load: Poisson(rps: 200), mix: [(path: "/slow"), (path: "/fast")],
                    policy: (timeout: "1s")),
            Gateway(name: "gw", workers: 64, queue: 100,
                    routes: [Route(prefix: "/slow", to: "slow", policy: (timeout: "5ms")),
                             Route(prefix: "/fast", to: "fast", policy: (timeout: "50ms"))]),
            Service(name: "slow", workers: 64, queue: 100, work: Const("10ms")),
            Service(name: "fast", workers: 64, queue: 100, work: Const("1ms")),
        ])"#;
    let s = run_text(text);
    let route = |p: &str| &s.routes.0.iter().find(|(k, _)| k == p).expect("route").1;
    let slow = &route("/slow").requests;
    let fast = &route("/fast").requests;
    assert!(slow.total > 800, "{slow:?}");
    assert_eq!(slow.timeout, slow.total, "every /slow request times out at the gateway");
    assert_eq!(fast.ok, fast.total, "/fast is never late");
    // The client sees the gateway's 504 as a timeout, the rest as ok.
    assert_eq!(s.requests.timeout, slow.total);
    assert_eq!(s.requests.ok, fast.total);
    // The timed-out work still ran to completion at the service.
    let svc = node(&s, "slow");
    assert_eq!(svc.outcomes.ok, svc.completed);
    assert!(svc.completed + 5 >= slow.total, "service finished {} of {}", svc.completed, slow.total);
}

#[test]
fn service_errors_show_in_the_right_proportion() {
    let text = r#"Scenario(name: "e", seed: 9, duration: "30s",
        nodes: [
            Clients(name: "c", target: "svc", load: Poisson(rps: 1000), mix: [(path: "/")], policy: (timeout: "1s")),
            Service(name: "svc", workers: 16, queue: 100, work: Exp(mean: "1ms"), errors: 0.07),
        ])"#;
    let s = run_text(text);
    let finished = s.requests.total - s.requests.unfinished;
    assert_share("error", s.requests.error, finished, 0.07);
    assert_eq!(s.requests.error + s.requests.ok, finished);
}

#[test]
fn errors_deep_in_the_call_graph_reach_the_client_as_errors() {
    // users fails 20%; orders calls users; the client reaches orders via the
    // gateway: 20% of requests fail, as errors, and orders itself did no wrong.
    let text = r#"Scenario(name: "deep", seed: 4, duration: "30s",
        nodes: [
            Clients(name: "c", target: "gw", load: Poisson(rps: 800), mix: [(path: "/orders")], policy: (timeout: "2s")),
            Gateway(name: "gw", workers: 64, queue: 100, routes: [Route(prefix: "/orders", to: "orders", policy: (timeout: "1s"))]),
            Service(name: "orders", workers: 32, queue: 100, work: Exp(mean: "1ms"),
                    calls: [Call(to: "users", policy: (timeout: "500ms"))]),
            Service(name: "users", workers: 32, queue: 100, work: Exp(mean: "1ms"), errors: 0.2),
        ])"#;
    let s = run_text(text);
    let finished = s.requests.total - s.requests.unfinished;
    assert_share("error", s.requests.error, finished, 0.2);
    assert_eq!(node(&s, "users").outcomes.error, node(&s, "orders").outcomes.error);
}

/// A gateway splitting "/api" over three services by weight, as Envoy's
/// `weighted_clusters`; `canary_errors` is the third one's error rate.
fn split(canary_errors: f64) -> String {
    format!(
        r#"Scenario(name: "split", seed: 5, duration: "30s", warmup: "1s", network: (latency: Const("0ms")),
        nodes: [
            Clients(name: "c", target: "gw", load: Poisson(rps: 2000), mix: [(path: "/api/x")], policy: (timeout: "5s")),
            Gateway(name: "gw", workers: 1000, queue: 0,
                    routes: [Route(prefix: "/api", split: [(to: "a", weight: 70), (to: "b", weight: 20), (to: "canary", weight: 10)],
                                   policy: (timeout: "1s", retries: (max: 2, backoff: Constant("1ms"))))]),
            Service(name: "a", workers: 50, queue: 1000, work: Exp(mean: "2ms")),
            Service(name: "b", workers: 50, queue: 1000, work: Exp(mean: "2ms")),
            Service(name: "canary", workers: 50, queue: 1000, work: Exp(mean: "2ms"), errors: {canary_errors}),
        ])"#
    )
}

#[test]
fn a_split_route_sends_each_target_its_weights_share() {
    let s = run_text(&split(0.0));
    let arrivals = |n: &str| node(&s, n).arrivals;
    let all = arrivals("a") + arrivals("b") + arrivals("canary");
    assert_eq!(all, node(&s, "gw").arrivals, "every request goes to exactly one target");
    assert_share("a", arrivals("a"), all, 0.7);
    assert_share("b", arrivals("b"), all, 0.2);
    assert_share("canary", arrivals("canary"), all, 0.1);
}

#[test]
fn a_split_routes_retries_stay_on_the_target_drawn() {
    // Envoy picks the weighted cluster once per request: a canary that
    // always fails fails its 10% after all three tries (a redraw per retry
    // would leave 0.1^3), and takes three attempts for each of them.
    let s = run_text(&split(1.0));
    let r = &s.requests;
    assert_share("failed (the canary's share)", r.error, r.total - r.unfinished, 0.1);
    let per_failure = node(&s, "canary").arrivals as f64 / r.error as f64;
    assert!((per_failure - 3.0).abs() < 0.01, "{per_failure} attempts at the canary per failed request");
}
