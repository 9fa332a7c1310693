//! Envoy's overload protection, checked against closed forms and Envoy's
//! documented behaviour: cluster circuit-breaker thresholds (a caller's
//! connection pool is an M/M/c/K system), retry overflow, cancellation
//! of work nobody waits for, and gRPC deadline propagation.

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
