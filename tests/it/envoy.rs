//! Envoy's overload protection, checked against closed forms and Envoy's
//! documented behaviour: cluster circuit-breaker thresholds (a caller's
//! connection pool is an M/M/c/K system), retry overflow.

use crate::util::{mean_ci95, run_seeded, run_text};

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
