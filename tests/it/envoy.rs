//! Envoy's overload protection, checked against closed forms and Envoy's
//! documented behaviour: cluster circuit-breaker thresholds (a caller's
//! connection pool is an M/M/c/K system), retry overflow, cancellation
//! of work nobody waits for, and gRPC deadline propagation.

use gatesim::metrics::summary::{RefusalSummary, RefusedBy};

use crate::util::{mean_ci95, node, run_seeded, run_text};

/// Poisson arrivals calling a service through an Envoy-style pool.
fn pooled(rps: f64, thresholds: &str, retries: &str, service: &str, duration_s: u32, warmup_s: u32) -> String {
    format!(
        r#"Scenario(name: "pooled", seed: 1, duration: "{duration_s}s", warmup: "{warmup_s}s",
            network: (latency: Const("0ms")),
            nodes: [
                Clients(name: "arrivals", target: "station", load: Poisson(rps: {rps}), mix: [(path: "/")],
                        policy: (thresholds: {thresholds}{retries})),
                Service(name: "station", workers: 1000, queue: 0, {service}),
            ])"#
    )
}

/// M/M/c/K: probability that an arrival finds the system full.
fn mmck_blocking(a: f64, c: u32, k: u32) -> (f64, f64) {
    // p_n proportional to a^n/n! for n <= c, a^c/c! (a/c)^(n-c) above.
    let mut weights = Vec::with_capacity(k as usize + 1);
    let mut w = 1.0;
    for n in 0..=k {
        if n > 0 {
            w *= a / f64::from(n.min(c));
        }
        weights.push(w);
    }
    let total: f64 = weights.iter().sum();
    let p: Vec<f64> = weights.iter().map(|w| w / total).collect();
    let blocking = p[k as usize];
    let l: f64 = p.iter().enumerate().map(|(n, p)| n as f64 * p).sum();
    (blocking, l)
}

#[test]
fn a_connection_pool_with_pending_requests_is_an_mmck_queue() {
    // max_connections c = 4, max_pending_requests 4: K = 8 in the system.
    // lambda 1500/s, S = 2 ms: a = 3 erlangs.
    let (lambda, c, k) = (1500.0, 4, 8);
    let (expected_block, l) = mmck_blocking(lambda * 2e-3, c, k);
    // Little: W = L / (lambda (1 - P_K)), the time of an admitted request.
    let expected_w_ms = l / (lambda * (1.0 - expected_block)) * 1e3;
    let text =
        pooled(lambda, "(max_connections: 4, max_pending_requests: 4)", "", r#"work: Exp(mean: "2ms")"#, 220, 20);
    let (mut block, mut w) = (Vec::new(), Vec::new());
    for seed in 1..=10 {
        let s = run_seeded(&text, seed);
        block.push(s.requests.rejected as f64 / s.requests.total as f64);
        w.push(s.latency_ms.mean);
        let t = &s.thresholds[0];
        assert!(t.pending_peak <= 4, "pending never exceeds max_pending_requests: {}", t.pending_peak);
        assert!(t.upstream_rq_pending_overflow > 0 && t.upstream_cx_overflow > t.upstream_rq_pending_overflow);
    }
    for (name, expected, xs) in [("blocking", expected_block, &block), ("W ms", expected_w_ms, &w)] {
        let (mean, se, half) = mean_ci95(xs);
        eprintln!("M/M/4/8 {name}: expected {expected:.5}, measured {mean:.5} +- {half:.5}");
        assert!((mean - expected).abs() / expected < 0.02, "{name}: {mean} vs {expected}");
        assert!((mean - expected).abs() < 4.0 * se, "{name}: {mean} vs {expected} (se {se})");
    }
}

#[test]
fn max_requests_fails_at_once_and_is_counted_as_pending_overflow() {
    // max_requests 2 under max_connections: nothing ever waits (Envoy's
    // HTTP/2 case), so the pool is M/M/2/2 and blocks as Erlang B.
    let a: f64 = 1000.0 * 2e-3;
    let erlang_b = (1..=2).fold(1.0, |b, k| a * b / (f64::from(k) + a * b));
    let text = pooled(1000.0, "(max_requests: 2)", "", r#"work: Exp(mean: "2ms")"#, 120, 0);
    let s = run_text(&text);
    let t = &s.thresholds[0];
    assert_eq!(t.pending_peak, 0, "max_requests never queues");
    assert_eq!(t.upstream_rq_pending_overflow, s.requests.rejected, "every overflow is a 503 to the client");
    let measured = s.requests.rejected as f64 / s.requests.total as f64;
    assert!((measured - erlang_b).abs() < 0.01, "blocking {measured} vs Erlang B {erlang_b}");
}

#[test]
fn retries_over_max_retries_are_not_sent() {
    // Every answer fails; the client wants 3 retries each, but Envoy's
    // default max_retries of 3 caps retries outstanding at once. With one
    // worker's worth of slow failures, most retries overflow.
    let service = r#"work: Const("10ms"), errors: 1.0"#;
    let capped = run_text(&pooled(400.0, "()", ", retries: (max: 3)", service, 20, 0));
    let t = &capped.thresholds[0];
    assert!(t.upstream_rq_retry_overflow > 0);
    // Every failed request either used all 3 retries or had one refused.
    let wanted = capped.requests.total * 3;
    assert!(capped.attempts.retries + t.upstream_rq_retry_overflow <= wanted);
    // At most 3 retries in flight: 10 ms each, so at most 300 retries a second.
    assert!(capped.attempts.retries as f64 <= 300.0 * 20.0 * 1.01, "{} retries", capped.attempts.retries);
    // A budget of 100% of active requests allows far more.
    let budget = r#"(retry_budget: (budget_percent: 100.0, min_retry_concurrency: 3))"#;
    let generous = run_text(&pooled(400.0, budget, ", retries: (max: 3)", service, 20, 0));
    assert!(generous.attempts.retries > 2 * capped.attempts.retries);
    // With max_retries 0 no retry is ever sent, and each failure counts once.
    let none = run_text(&pooled(400.0, "(max_retries: 0)", ", retries: (max: 3)", service, 20, 0));
    assert_eq!(none.attempts.retries, 0);
    assert_eq!(none.thresholds[0].upstream_rq_retry_overflow, none.requests.error, "one overflow per failed request");
}

/// A timeout inversion: the client gives up after 400 ms, the gateway's
/// route would try three times 500 ms each against a service that takes
/// 2 s. `propagate_cancel`/`propagate_deadline` as set by `extra` on both.
fn inversion(extra: &str) -> String {
    format!(
        r#"Scenario(name: "inversion", seed: 1, duration: "20s", warmup: "2s",
        nodes: [
            Clients(name: "c", target: "gw", load: Poisson(rps: 100), mix: [(path: "/")],
                    policy: (timeout: "400ms", {extra})),
            Gateway(name: "gw", workers: 1000, queue: 1000,
                    routes: [Route(prefix: "/", to: "s", policy: (timeout: "500ms", retries: (max: 2), {extra}))]),
            Service(name: "s", workers: 10000, queue: 0, work: Const("2s")),
        ])"#
    )
}

/// Service calls per client request.
fn calls_per_request(s: &gatesim::metrics::Summary) -> f64 {
    node(s, "s").arrivals as f64 / node(s, "c").arrivals as f64
}

#[test]
fn a_caller_giving_up_cancels_the_calls_made_on_its_behalf() {
    // Without cancellation (the old behaviour, `propagate_cancel: false`)
    // the gateway goes on retrying for a client that left: 3 calls each.
    let detached = run_text(&inversion("propagate_cancel: false"));
    assert!((calls_per_request(&detached) - 3.0).abs() < 0.02, "{}", calls_per_request(&detached));
    // By default the client's reset reaches the gateway, which cancels its
    // call and its pending retries: one service call per request.
    let cancelled = run_text(&inversion(""));
    assert!((calls_per_request(&cancelled) - 1.0).abs() < 0.01, "{}", calls_per_request(&cancelled));
    let gw = node(&cancelled, "gw");
    assert!(gw.cancelled > 0 && gw.cancelled <= gw.outcomes.timeout, "{gw:?}");
    assert_eq!(gw.wasted, 0, "nothing is answered to a client that left");
    // The client sees the same either way: its own timeout.
    assert_eq!(cancelled.requests.timeout, detached.requests.timeout);
}

#[test]
fn a_propagated_deadline_stops_retries_nobody_waits_for() {
    // gRPC semantics without cancellation: the gateway's attempt times out
    // with the client's deadline, and a retry past it is never sent.
    let s = run_text(&inversion("propagate_cancel: false, propagate_deadline: true"));
    assert!((calls_per_request(&s) - 1.0).abs() < 0.01, "{}", calls_per_request(&s));
    assert_eq!(node(&s, "gw").attempts.retries, 0);
}

#[test]
fn a_server_skips_queued_work_whose_deadline_has_passed() {
    // One worker, 10 ms a request, 150 requests a second: the queue grows
    // without bound. With deadlines, work queued past its 200 ms deadline
    // is skipped (`expired`), so whatever starts finishes within 210 ms.
    let text = |extra: &str| {
        format!(
            r#"Scenario(name: "overload", seed: 4, duration: "30s", warmup: "2s", network: (latency: Const("0ms")),
            nodes: [Clients(name: "c", target: "s", load: Poisson(rps: 150), mix: [(path: "/")],
                            policy: (timeout: "200ms", propagate_cancel: false{extra})),
                    Service(name: "s", workers: 1, queue: 100000, work: Const("10ms"))])"#
        )
    };
    let plain = run_text(&text(""));
    let s_plain = node(&plain, "s");
    assert_eq!(s_plain.expired, 0);
    assert!(s_plain.latency_ms.max > 5000.0, "without deadlines the queue grows: {:?}", s_plain.latency_ms);
    let with = run_text(&text(", propagate_deadline: true"));
    let s = node(&with, "s");
    assert!(s.expired > 1000, "{s:?}");
    assert!(s.latency_ms.max <= 210.0, "work starts before its deadline: {:?}", s.latency_ms);
    // Skipping dead work serves more clients in time.
    assert!(with.success_rate > plain.success_rate + 0.2, "{} vs {}", with.success_rate, plain.success_rate);
}

/// A gateway route to `s` with `policy` in front of `service`, clients
/// that wait 5 s, and `faults`.
fn routed(policy: &str, service: &str, faults: &str) -> String {
    format!(
        r#"Scenario(name: "routed", seed: 2, duration: "20s", warmup: "2s", network: (latency: Const("0ms")),
        nodes: [
            Clients(name: "c", target: "gw", load: Poisson(rps: 200), mix: [(path: "/")], policy: (timeout: "5s")),
            Gateway(name: "gw", workers: 1000, queue: 1000, routes: [Route(prefix: "/", to: "s", policy: ({policy}))]),
            {service},
        ],
        faults: [{faults}])"#
    )
}

#[test]
fn a_total_timeout_bounds_the_call_retries_and_back_off_included() {
    // A hung service: per try 100 ms, five retries 50 ms apart take 850 ms;
    // Envoy's route timeout of 300 ms ends the call at 300 ms.
    let service = r#"Service(name: "s", workers: 1000, queue: 0, work: Const("1ms"))"#;
    let hang = r#"Fault(target: "s", at: "0s", duration: "20s", kind: Hang)"#;
    let policy = r#"timeout: "100ms", retries: (max: 5, backoff: Constant("50ms"))"#;
    let plain = run_text(&routed(policy, service, hang));
    let bounded = run_text(&routed(&format!(r#"{policy}, total_timeout: "300ms""#), service, hang));
    let route = |s: &gatesim::metrics::Summary| s.routes.0[0].1.failure_latency_ms.clone();
    assert_eq!(route(&plain).max, 850.0, "6 tries of 100 ms and 5 back-offs of 50 ms");
    assert_eq!(route(&bounded).max, 300.0, "the route answers 504 at its total timeout");
    // Tries at 0 and 150 ms; the next back-off ends at the total timeout: one retry.
    let gw = node(&bounded, "gw");
    assert!((gw.attempts.retries as f64 / gw.attempts.total as f64 - 0.5).abs() < 0.01, "{:?}", gw.attempts);
}

#[test]
fn other_host_retries_never_return_to_the_instance_that_failed() {
    // One of three replicas is down; one retry. Picked at random, the retry
    // lands on the dead replica again a third of the time, so 1/9 of
    // requests fail; with Envoy's previous_hosts predicate none do.
    let service = r#"Service(name: "s", replicas: 3, workers: 100, queue: 100, work: Const("1ms"), balance: Random)"#;
    let crash = r#"Fault(target: "s#0", at: "0s", duration: "20s", kind: Crash)"#;
    let same = run_text(&routed(r#"timeout: "1s", retries: (max: 1)"#, service, crash));
    let failed = same.requests.unavailable as f64 / same.requests.total as f64;
    assert!((failed - 1.0 / 9.0).abs() < 0.01, "{failed}");
    let other = run_text(&routed(r#"timeout: "1s", retries: (max: 1, other_host: true)"#, service, crash));
    assert_eq!(other.requests.unavailable, 0);
    assert_eq!(other.success_rate, 1.0);
}

#[test]
fn envoy_retry_on_classes_and_back_off_parse_and_act() {
    let erroring = r#"Service(name: "s", workers: 100, queue: 100, work: Const("1ms"), errors: 1.0)"#;
    // gateway-error is 502/503/504: a plain 500 is not retried...
    let policy = r#"timeout: "1s", retries: (max: 2, on: [GatewayError], backoff: Envoy())"#;
    let gateway = run_text(&routed(policy, erroring, ""));
    assert_eq!(node(&gateway, "gw").attempts.retries, 0);
    // ...5xx retries it, with Envoy's back-off (0-25 ms, then 0-50 ms).
    let policy = r#"timeout: "1s", retries: (max: 2, on: [Http5xx], backoff: Envoy(base: "25ms"))"#;
    let any = run_text(&routed(policy, erroring, ""));
    let gw = node(&any, "gw");
    assert!((gw.attempts.retries as f64 / gw.attempts.total as f64 - 2.0 / 3.0).abs() < 0.01, "{:?}", gw.attempts);
    // Three 1 ms tries and two back-offs, uniform in [0, 25) and [0, 50) ms
    // (Envoy's backoff_strategy.cc; its docs' older [0, 75) is not what it does).
    let failed = &any.routes.0[0].1.failure_latency_ms;
    assert!(failed.max < 3.0 + 25.0 + 50.0 && (failed.mean - (3.0 + 12.5 + 25.0)).abs() < 2.0, "{failed:?}");
}

/// Envoy retries an upstream's overloaded 503 under `5xx` and
/// `gateway-error` (router docs: "Envoy retries requests when
/// x-envoy-overloaded is present"), but never its own local overflow.
#[test]
fn envoy_classes_retry_a_callees_overloaded_503_but_not_the_callers_own_overflow() {
    // s has one worker and no queue: at 200/s of 2 ms work, about 30% of
    // the requests find it busy and are answered 503 (Rejected).
    let full = r#"Service(name: "s", workers: 1, queue: 0, work: Exp(mean: "2ms"))"#;
    for class in ["Http5xx", "GatewayError"] {
        let policy = format!(r#"timeout: "1s", retries: (max: 1, on: [{class}], backoff: Envoy())"#);
        let s = run_text(&routed(&policy, full, ""));
        let (gw, svc) = (node(&s, "gw"), node(&s, "s"));
        assert!(svc.outcomes.rejected > 500, "{class}: {:?}", svc.outcomes);
        // Every first attempt answered 503 is retried once.
        let firsts = gw.attempts.total - gw.attempts.retries;
        assert!(gw.attempts.retries > 500 && gw.attempts.retries < firsts / 2, "{class}: {:?}", gw.attempts);
    }
    // The gateway's own pool (one connection, nobody may wait) refuses
    // attempts locally while s has room for everything: never retried.
    let roomy = r#"Service(name: "s", workers: 100, queue: 100, work: Exp(mean: "2ms"))"#;
    let policy = r#"timeout: "1s", retries: (max: 1, on: [Http5xx], backoff: Envoy()),
        thresholds: (max_connections: 1, max_pending_requests: 0)"#;
    let s = run_text(&routed(policy, roomy, ""));
    assert!(s.requests.rejected > 500, "{:?}", s.requests);
    assert_eq!(node(&s, "gw").attempts.retries, 0);
}

/// Envoy starts the per-try timeout when a connection is ready
/// (`UpstreamRequest::onPoolReady`); the route timeout bounds the wait.
#[test]
fn the_per_try_timeout_starts_with_the_connection_not_while_pending() {
    // One connection, 20 ms a request, 40/s: an M/D/1 queue at 80% whose
    // waits (mean 40 ms) often pass the 50 ms per-try timeout.
    let service = r#"Service(name: "s", workers: 100, queue: 100, work: Const("20ms"))"#;
    let pooled = r#"timeout: "50ms", thresholds: (max_connections: 1, max_pending_requests: 1000)"#;
    let text = routed(pooled, service, "").replace("rps: 200", "rps: 40");
    let s = run_text(&text);
    assert_eq!(s.requests.timeout, 0, "no try lasts 50 ms once it has its connection");
    assert!(s.latency_ms.p99 > 100.0, "the waits are long: {:?}", s.latency_ms);
    // The route's total timeout still ends a wait.
    let s = run_text(&text.replace(r#"timeout: "50ms","#, r#"timeout: "50ms", total_timeout: "100ms","#));
    assert!(s.requests.timeout > 0, "{:?}", s.requests);
    assert_eq!(s.routes.0[0].1.failure_latency_ms.max, 100.0);
}

/// (ejected at, back at) per ejection of `instance` by outlier detection.
fn ejections(s: &gatesim::metrics::Summary, instance: &str) -> Vec<(f64, Option<f64>)> {
    let mut out: Vec<(f64, Option<f64>)> = Vec::new();
    for e in s.ejections.iter().filter(|e| e.outlier_detection && e.instance == instance) {
        if e.ejected {
            out.push((e.at_s, None));
        } else {
            out.last_mut().expect("a return follows an ejection").1 = Some(e.at_s);
        }
    }
    out
}

#[test]
fn outlier_detection_ejects_for_base_time_times_the_ejections() {
    // s#1 answers 500 to everything from 20 s: five in a row eject it for
    // 10 s, then 20 s, then 30 s (base_ejection_time x the ejections).
    let service = r#"Service(name: "s", replicas: 3, workers: 100, queue: 100, work: Const("2ms"))"#;
    let errors = r#"Fault(target: "s#1", at: "20s", duration: "100s", kind: Errors(rate: 1.0))"#;
    let policy = r#"timeout: "500ms", outlier_detection: (base_ejection_time: "10s", max_ejection_percent: 50.0)"#;
    let s = run_text(&routed(policy, service, errors).replace(r#"duration: "20s""#, r#"duration: "120s""#));
    let e = ejections(&s, "s#1");
    assert!(e.len() >= 3, "{e:?}");
    for (k, (at, back)) in e.iter().take(3).enumerate() {
        let lasted = back.expect("back before the end") - at;
        assert!((lasted - 10.0 * (k + 1) as f64).abs() < 1e-6, "ejection {k} lasted {lasted} s");
    }
    // Ejected within five of its requests (a third of 200/s: about 25 ms).
    assert!(e[0].0 >= 20.0 && e[0].0 < 20.2, "{e:?}");
    // No other replica is ever ejected, and the clients barely notice.
    assert!(s.ejections.iter().all(|x| x.instance == "s#1"));
    assert!(s.success_rate > 0.999, "{}", s.success_rate);
}

#[test]
fn outlier_detection_never_ejects_more_than_max_ejection_percent() {
    // Every replica fails. At Envoy's default 10%, one of three (33%) may
    // not be ejected at all (Envoy 1.27+)...
    let service = r#"Service(name: "s", replicas: 3, workers: 100, queue: 100, work: Const("2ms"), errors: 1.0)"#;
    let s = run_text(&routed(r#"timeout: "500ms", outlier_detection: ()"#, service, ""));
    assert!(s.ejections.is_empty(), "{:?}", s.ejections);
    // ...unless always_eject_one_host lets one (and only one) go at a time.
    let policy = r#"timeout: "500ms", outlier_detection: (always_eject_one_host: true)"#;
    let s = run_text(&routed(policy, service, ""));
    let mut out = 0i32;
    for e in &s.ejections {
        out += if e.ejected { 1 } else { -1 };
        assert!(out <= 1, "{} ejected at {}", out, e.at_s);
    }
    assert!(!s.ejections.is_empty());
}

#[test]
fn success_rate_outlier_detection_ejects_the_host_that_stands_out() {
    // Five replicas; one fails 30% of its requests (never five in a row for
    // long, and consecutive_5xx is off). At each 10 s interval it stands out
    // against the others' 100% and is ejected, at an interval boundary
    // (one of five is 20%: over Envoy's default max_ejection_percent).
    let service = r#"Service(name: "s", replicas: 5, workers: 100, queue: 100, work: Const("2ms"))"#;
    let errors = r#"Fault(target: "s#3", at: "0s", duration: "20s", kind: Errors(rate: 0.3))"#;
    let policy = r#"timeout: "500ms", outlier_detection: (enforcing_consecutive_5xx: 0, max_ejection_percent: 20.0)"#;
    let s = run_text(&routed(policy, service, errors));
    let e = ejections(&s, "s#3");
    assert_eq!(e.len(), 1, "{:?}", s.ejections);
    assert!((e[0].0 - 10.0).abs() < 1e-9, "ejected at the first sweep: {e:?}");
    assert!(s.ejections.iter().all(|x| x.instance == "s#3"));
}

#[test]
fn adaptive_concurrency_keeps_admitted_latency_near_the_baseline_at_3x_overload() {
    // Ten workers of 10 ms (exponential): 1000 requests a second at most.
    let text = |rps: u32, extra: &str| {
        format!(
            r#"Scenario(name: "overload", seed: 1, duration: "60s", warmup: "10s", network: (latency: Const("0ms")),
            nodes: [Clients(name: "c", target: "s", load: Poisson(rps: {rps}), mix: [(path: "/")], policy: (timeout: "5s"{extra})),
                    Service(name: "s", workers: 10, queue: 100000, work: Exp(mean: "10ms"))])"#
        )
    };
    let baseline = run_text(&text(300, "")).latency_ms.p99;
    // Three times what it can serve: without a limit the queue melts down...
    let open = run_text(&text(3000, ""));
    assert!(open.goodput_rps < 100.0, "{}", open.goodput_rps);
    // ...a small fixed limit under-admits, a large one lets latency double...
    let small = run_text(&text(3000, ", bulkhead: (max_concurrent: 5)"));
    assert!(small.goodput_rps < 600.0, "{}", small.goodput_rps);
    let large = run_text(&text(3000, ", bulkhead: (max_concurrent: 60)"));
    assert!(large.latency_ms.p99 > 2.0 * baseline, "{} vs {baseline}", large.latency_ms.p99);
    // ...while the gradient controller admits nearly all the service can do
    // and keeps the p99 of what it admits within 2x the no-load p99.
    let adaptive = run_text(&text(3000, ", adaptive_concurrency: ()"));
    assert!(adaptive.goodput_rps > 900.0, "{}", adaptive.goodput_rps);
    assert!(adaptive.latency_ms.p99 < 2.0 * baseline, "{} vs {baseline}", adaptive.latency_ms.p99);
    // No retries and a queue that never fills: each rejected request is one
    // attempt the caller's own limit refused.
    let limit =
        RefusalSummary { at: "c -> s".into(), by: RefusedBy::AdaptiveLimit, rejected: adaptive.requests.rejected };
    assert_eq!(adaptive.refusals, [limit]);
}

#[test]
fn adaptive_concurrency_in_the_gateways_own_chain_limits_every_request_through_it() {
    // The same service at three times its capacity behind a gateway whose
    // workers never run out. Envoy's filter in the gateway's own chain is
    // one limit per gateway instance on everything it forwards, timed from
    // the request's arrival to the answer.
    let text = |rps: u32, adaptive: &str| {
        format!(
            r#"Scenario(name: "overload", seed: 1, duration: "60s", warmup: "10s", network: (latency: Const("0ms")),
            nodes: [Clients(name: "c", target: "gw", load: Poisson(rps: {rps}), mix: [(path: "/")], policy: (timeout: "5s")),
                    Gateway(name: "gw", workers: 100000, queue: 0{adaptive},
                            routes: [Route(prefix: "/", to: "s", policy: (timeout: "5s"))]),
                    Service(name: "s", workers: 10, queue: 100000, work: Exp(mean: "10ms"))])"#
        )
    };
    let baseline = run_text(&text(300, "")).latency_ms.p99;
    let open = run_text(&text(3000, ""));
    assert!(open.goodput_rps < 100.0, "no limit: the queue melts down: {}", open.goodput_rps);
    let limited = run_text(&text(3000, ", adaptive_concurrency: ()"));
    assert!(limited.goodput_rps > 900.0, "{}", limited.goodput_rps);
    assert!(limited.latency_ms.p99 < 2.0 * baseline, "{} vs {baseline}", limited.latency_ms.p99);
    // The service never refuses (its queue never fills); every rejected
    // answer is the gateway's own limit, named so.
    let at_gateway = node(&limited, "gw").outcomes.rejected;
    assert!(at_gateway as f64 > 0.6 * limited.requests.total as f64, "{:?}", limited.requests);
    let inbound = RefusalSummary { at: "gw".into(), by: RefusedBy::InboundLimit, rejected: at_gateway };
    assert_eq!(limited.refusals, [inbound]);
}

/// A gateway of 20 workers before a service holding each request 10 ms
/// (2000 requests a second), and four clients of 1000/s, one per class of
/// Stripe's four; `gateway` is the gateway's fields after its name.
fn four_classes(name: &str, client_timeout: &str, gateway: &str) -> String {
    let client = |client: &str, method: &str, priority: &str| {
        format!(
            r#"Clients(name: "{client}", target: "gw", load: Poisson(rps: 1000), policy: (timeout: "{client_timeout}"),
                       mix: [(method: {method}, path: "/{client}"{priority})]),"#
        )
    };
    format!(
        r#"Scenario(name: "{name}", seed: 5, duration: "30s", warmup: "5s", network: (latency: Const("0ms")),
        nodes: [
            {} {} {} {}
            Gateway(name: "gw", {gateway}, routes: [Route(prefix: "/", to: "s", policy: (timeout: "1s"))]),
            Service(name: "s", workers: 1000, queue: 0, work: Const("10ms")),
        ])"#,
        client("critical", "Get", ", priority: Critical"),
        client("post", "Post", ""),
        client("get", "Get", ""),
        client("test", "Get", ", priority: Test"),
    )
}

#[test]
fn priority_shedding_keeps_the_critical_class_whole_under_overload() {
    let text = |shed: &str| four_classes("shed", "2s", &format!("workers: 20, queue: 200{shed}"));
    let plain = run_text(&text(""));
    let ok = |s: &gatesim::metrics::Summary, n: &str| node(s, n).success_rate;
    // Without shedding the full queue refuses every class alike.
    for n in ["critical", "post", "get", "test"] {
        assert!((ok(&plain, n) - 0.5).abs() < 0.05, "{n}: {}", ok(&plain, n));
    }
    let shed = run_text(&text(", shed: (test: 0.5, get: 0.9, post: 1.0)"));
    let (c, p, g, t) = (ok(&shed, "critical"), ok(&shed, "post"), ok(&shed, "get"), ok(&shed, "test"));
    assert!(c > 0.99, "critical {c}");
    assert!(c >= p && p >= g && g >= t && t < 0.1, "critical {c}, post {p}, get {g}, test {t}");
    let gw = node(&shed, "gw");
    assert!(gw.shed.iter().any(|(class, n)| *class == gatesim::mechanisms::shed::Priority::Test && *n > 10_000));
}

#[test]
fn shedding_on_queue_delay_drops_the_least_important_class_first() {
    // The gateway of the test above (2000 requests a second) with a long
    // queue and no occupancy thresholds: only the oldest queued request's
    // wait sheds. Critical and POST traffic together fill the gateway
    // exactly, so GET and test traffic must go; a class is shed once the
    // head of the queue has waited its threshold.
    let text = four_classes(
        "shed-delay",
        "5s",
        r#"workers: 20, queue: 20000, shed: (test_delay: "20ms", get_delay: "100ms", post_delay: "300ms")"#,
    );
    let s = run_text(&text);
    let ok = |n: &str| node(&s, n).success_rate;
    let (c, p, g, t) = (ok("critical"), ok("post"), ok("get"), ok("test"));
    assert!(c > 0.99, "critical {c}");
    assert!(c >= p && p >= g && g >= t, "critical {c}, post {p}, get {g}, test {t}");
    assert!(g < 0.2 && t < 0.1, "GET {g} and test {t} traffic are shed");
    // The queue stays near the POST threshold: the p99 of critical requests
    // is about 300 ms of queueing plus 10 ms of work, not seconds.
    let critical_p99 = node(&s, "critical").latency_ms.p99;
    assert!(critical_p99 < 400.0, "{critical_p99}");
    let gw = node(&s, "gw");
    let shed = |class| gw.shed.iter().find(|(c, _)| *c == class).map_or(0, |(_, n)| *n);
    use gatesim::mechanisms::shed::Priority;
    assert!(shed(Priority::Test) > shed(Priority::Post), "{:?}", gw.shed);
    assert_eq!(shed(Priority::Critical), 0);
}

/// Two routes to one service, each with `max_requests: 2`, in one cluster
/// or not: `cluster` decides whether they share one pool.
fn two_routes(cluster: &str) -> String {
    let policy = format!("(thresholds: (max_requests: 2){cluster})");
    format!(
        r#"Scenario(name: "two-routes", seed: 1, duration: "120s", warmup: "0s",
            network: (latency: Const("0ms")),
            nodes: [
                Clients(name: "c", target: "gw", load: Poisson(rps: 1000),
                        mix: [(weight: 1, path: "/a"), (weight: 1, path: "/b")]),
                Gateway(name: "gw", workers: 1000, queue: 0, routes: [
                    Route(prefix: "/a", to: "s", policy: {policy}),
                    Route(prefix: "/b", to: "s", policy: {policy}),
                ]),
                Service(name: "s", workers: 1000, queue: 0, work: Const("10ms")),
            ])"#
    )
}

#[test]
fn routes_naming_one_cluster_share_its_thresholds() {
    // Envoy keeps circuit breakers per cluster: two routes to one cluster
    // share max_requests. The pool is then M/G/2/2 over both routes'
    // arrivals (a = 1000/s x 10 ms = 10 erlangs); apart, each route's pool
    // is M/G/2/2 over half of them (5 erlangs). Erlang B holds for any
    // service time distribution.
    let erlang_b = |a: f64| (1..=2).fold(1.0, |b, k| a * b / (f64::from(k) + a * b));
    for (cluster, a, pools) in [(r#", cluster: "s""#, 10.0, 1), ("", 5.0, 2)] {
        let s = run_text(&two_routes(cluster));
        assert_eq!(s.thresholds.len(), pools, "one set of thresholds per cluster: {:?}", s.thresholds);
        let overflow: u64 = s.thresholds.iter().map(|t| t.upstream_rq_pending_overflow).sum();
        assert_eq!(overflow, s.requests.rejected, "every overflow is a 503 to the client");
        let measured = s.requests.rejected as f64 / s.requests.total as f64;
        let expected = erlang_b(a);
        assert!((measured - expected).abs() < 0.01, "cluster {cluster:?}: blocking {measured} vs Erlang B {expected}");
    }
    let shared = run_text(&two_routes(r#", cluster: "s""#));
    assert_eq!(shared.thresholds[0].edge, "gw -> s (cluster s)", "a shared state is named after its cluster");
}

/// A balancer over four replicas, `crashed` of them down for the whole
/// run and soon ejected by its health check; `threshold` is its policy's
/// `healthy_panic_threshold`, if any.
fn panic_lb(threshold: Option<f64>, crashed: u32) -> String {
    panic_lb_with(threshold, crashed, "")
}

/// `panic_lb` with more policy fields (`extra`, starting with a comma).
fn panic_lb_with(threshold: Option<f64>, crashed: u32, extra: &str) -> String {
    let policy = threshold.map_or(String::new(), |t| format!("healthy_panic_threshold: {t:?}{extra}"));
    let faults: Vec<String> =
        (0..crashed).map(|i| format!(r#"Fault(target: "s#{i}", at: "0s", duration: "30s", kind: Crash)"#)).collect();
    format!(
        r#"Scenario(name: "panic", seed: 1, duration: "30s", warmup: "2s",
            nodes: [
                Clients(name: "c", target: "lb", load: Poisson(rps: 400), mix: [(path: "/")]),
                LoadBalancer(name: "lb", targets: ["s"],
                             health_check: Some((interval: "100ms", timeout: "50ms", unhealthy_after: 1, healthy_after: 1)),
                             policy: ({policy})),
                Service(name: "s", replicas: 4, workers: 100, queue: 0, work: Const("1ms")),
            ],
            faults: [{}])"#,
        faults.join(", ")
    )
}

#[test]
fn below_the_panic_threshold_a_balancer_uses_every_target_again() {
    // Envoy's panic threshold (default 50%): with fewer usable hosts than
    // that, it balances over all of them, dead or alive. One priority
    // level with overprovisioning 1.4 never panics at 1/1.4 = 71.4% usable
    // or more. Round robin over four: one live replica serves 1/4.
    let success = |threshold, crashed| run_text(&panic_lb(threshold, crashed)).success_rate;
    for (threshold, crashed, expected, why) in [
        (None, 3, 1.0, "no threshold: the live replica serves everything"),
        (Some(50.0), 3, 0.25, "25% usable is below 50%: all four again"),
        (Some(20.0), 3, 1.0, "25% usable is not below 20%"),
        (Some(50.0), 2, 1.0, "50% usable is not below 50%"),
        (Some(80.0), 1, 1.0, "75% usable x 1.4 is over 100%: no panic at 80%"),
        (Some(80.0), 2, 0.5, "50% usable x 1.4 is under 100% and below 80%"),
    ] {
        let s = success(threshold, crashed);
        assert!((s - expected).abs() < 0.03, "{why}: success {s}, expected {expected}");
    }
    // The summary says when the balancer was in panic: from the third
    // ejection (within the first probes) to the end.
    let s = run_text(&panic_lb(Some(50.0), 3));
    assert_eq!(s.panics.len(), 1, "{:?}", s.panics);
    let p = &s.panics[0];
    assert_eq!((p.caller.as_str(), p.target.as_str(), p.entered), ("lb", "s", 1));
    assert!(p.first_at_s < 0.2 && p.panic_s > 29.8 && p.panic_s <= 30.0, "{p:?}");
    assert!(run_text(&panic_lb(None, 3)).panics.is_empty());
}

#[test]
fn fail_traffic_on_panic_sends_to_no_target_while_in_panic() {
    // Envoy's `fail_traffic_on_panic`: in panic the cluster fails every
    // request "as if all hosts are unhealthy" instead of trying them all.
    let run = |threshold, crashed| run_text(&panic_lb_with(Some(threshold), crashed, ", fail_traffic_on_panic: true"));
    for (threshold, crashed, expected, why) in [
        (50.0, 3, 0.0, "25% usable is below 50%: nothing is sent"),
        (80.0, 2, 0.0, "50% usable x 1.4 is below 80%: nothing is sent"),
        (80.0, 1, 1.0, "75% usable x 1.4 is over 100%: no panic, the three live replicas serve"),
        (20.0, 3, 1.0, "25% usable is not below 20%: the live replica serves"),
    ] {
        let s = run(threshold, crashed);
        assert!((s.success_rate - expected).abs() < 0.03, "{why}: success {}, expected {expected}", s.success_rate);
    }
    // The failures are the balancer's own 503s: after the warm-up the
    // replicas, dead or alive, get nothing.
    let s = run(50.0, 3);
    assert_eq!(s.panics.len(), 1, "the spell is reported as before: {:?}", s.panics);
    assert!(s.requests.unavailable as f64 > 0.97 * s.requests.total as f64, "{:?}", s.requests);
    let replicas = s.nodes.0.iter().find(|(name, _)| name == "s").map(|(_, n)| n.arrivals);
    assert_eq!(replicas, Some(0), "no request reaches a replica while in panic");
}

#[test]
fn adaptive_concurrency_on_the_sidecar_limits_all_callers_together() {
    // The same service at three times its capacity, now called by four
    // clients of 750/s each. Envoy's filter on the service's own sidecar is
    // one controller for all of them: it admits about what the service can
    // do and keeps the p99 of what it admits near the no-load p99.
    let text = |rps: u32, sidecar: &str| {
        let clients: Vec<String> = (0..4)
            .map(|i| {
                format!(
                    r#"Clients(name: "c{i}", target: "s", load: Poisson(rps: {rps}), mix: [(path: "/")], policy: (timeout: "5s")),"#
                )
            })
            .collect();
        format!(
            r#"Scenario(name: "overload", seed: 1, duration: "60s", warmup: "10s", network: (latency: Const("0ms")),
            nodes: [{}
                    Service(name: "s", workers: 10, queue: 100000, work: Exp(mean: "10ms"){sidecar})])"#,
            clients.join("\n")
        )
    };
    let baseline = run_text(&text(75, "")).latency_ms.p99;
    let open = run_text(&text(750, ""));
    assert!(open.goodput_rps < 100.0, "no limit: the queue melts down: {}", open.goodput_rps);
    let limited = run_text(&text(750, r#", sidecar: (overhead: Const("0ms"), adaptive_concurrency: ())"#));
    assert!(limited.goodput_rps > 900.0, "{}", limited.goodput_rps);
    assert!(limited.latency_ms.p99 < 2.0 * baseline, "{} vs {baseline}", limited.latency_ms.p99);
    // The refused are the filter's overloaded 503s, at the service.
    assert!(limited.requests.rejected as f64 > 0.6 * limited.requests.total as f64, "{:?}", limited.requests);
    // The queue never fills (100000 places): the summary puts every refusal
    // on the filter, as many as the service answered `rejected`.
    let at_service = node(&limited, "s").outcomes.rejected;
    let sidecar = RefusalSummary { at: "s".into(), by: RefusedBy::InboundLimit, rejected: at_service };
    assert_eq!(limited.refusals, [sidecar]);
}
