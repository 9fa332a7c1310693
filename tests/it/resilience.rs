//! Resilience mechanisms in whole simulations, against closed forms
//! (validation.md, "Overload and retries" and "Fan-out").

use gatesim::engine::SimDuration;
use gatesim::metrics::Summary;
use gatesim::metrics::summary::{RefusalSummary, RefusedBy};

use crate::util::{node, read, run_text, scenario};

/// `count` of `n` is within 4.5 binomial standard deviations of share `p`.
fn assert_share(what: &str, count: f64, n: f64, p: f64) {
    let sd = (n * p * (1.0 - p)).sqrt().max(1.0);
    assert!((count - n * p).abs() <= 4.5 * sd, "{what}: {count} of {n}, expected {:.1} +- {:.1}", n * p, 4.5 * sd);
}

fn direct(errors: f64, retries: &str) -> String {
    format!(
        r#"Scenario(name: "retries", seed: 11, duration: "60s", warmup: "2s",
            nodes: [
                Clients(name: "c", target: "svc", load: Poisson(rps: 500), mix: [(path: "/")],
                        policy: (timeout: "1s", retries: {retries})),
                Service(name: "svc", workers: 64, queue: 1000, work: Exp(mean: "1ms"), errors: {errors}),
            ])"#
    )
}

#[test]
fn retries_amplify_attempts_as_a_geometric_series() {
    // Attempt failure probability f, r retries: attempts per request are
    // 1 + f + ... + f^r and the success rate is 1 - f^(r+1).
    let (f, r) = (0.3f64, 3);
    let s = run_text(&direct(f, &format!("(max: {r}, backoff: None)")));
    let requests = (s.requests.total - s.requests.unfinished) as f64;
    let expected_attempts: f64 = (0..=r).map(|k| f.powi(k)).sum();
    let per_request = s.attempts.total as f64 / requests;
    // Attempts per request: each request's count is a truncated geometric
    // variable with sd < 0.8; the mean of ~29,000 is within 0.02 of its mean.
    assert!(
        (per_request - expected_attempts).abs() < 0.02,
        "attempts per request {per_request} vs {expected_attempts}"
    );
    assert_share("success", s.requests.ok as f64, requests, 1.0 - f.powi(r + 1));
    // Every request makes exactly one first attempt; the rest are retries.
    assert_eq!(s.attempts.total - s.attempts.retries, s.requests.total);
}

#[test]
fn a_retry_budget_caps_attempts_near_one_plus_ratio() {
    // Every attempt fails; 10 retries allowed, but a budget of 20% of recent
    // requests (no per-second floor): attempts ~ 1.2 x requests instead of 11x.
    let s = run_text(&direct(1.0, "(max: 10, backoff: None, budget: Some((ratio: 0.2, min_per_s: 0)))"));
    let ratio = s.attempts.total as f64 / s.requests.total as f64;
    assert!((1.17..=1.21).contains(&ratio), "attempts per request {ratio}, expected about 1.2");
    // Without the budget the same policy makes 11 attempts per request.
    let unbudgeted = run_text(&direct(1.0, "(max: 10, backoff: None)"));
    let ratio = unbudgeted.attempts.total as f64 / unbudgeted.requests.total as f64;
    assert!((ratio - 11.0).abs() < 0.01, "{ratio}");
}

#[test]
fn retries_at_three_layers_multiply() {
    // Client, gateway route and service each make up to 3 attempts; the
    // bottom always fails: every client request reaches it 3 x 3 x 3 = 27 times.
    let text = r#"Scenario(name: "layers", seed: 2, duration: "20s",
        nodes: [
            Clients(name: "c", target: "gw", load: Poisson(rps: 20), mix: [(path: "/x")],
                    policy: (timeout: "10s", retries: (max: 2, backoff: None))),
            Gateway(name: "gw", workers: 1000, queue: 1000,
                    routes: [Route(prefix: "/x", to: "mid", policy: (timeout: "5s", retries: (max: 2, backoff: None)))]),
            Service(name: "mid", workers: 1000, queue: 1000, work: Const("1ms"),
                    calls: [Call(to: "bottom", policy: (timeout: "1s", retries: (max: 2, backoff: None)))]),
            Service(name: "bottom", workers: 1000, queue: 1000, work: Const("1ms"), errors: 1.0),
        ])"#;
    let s = run_text(text);
    let done = s.requests.total - s.requests.unfinished;
    assert_eq!(s.requests.error, done, "every request fails in the end");
    let bottom = node(&s, "bottom").completed;
    let per_request = bottom as f64 / done as f64;
    assert!((per_request - 27.0).abs() < 0.1, "bottom calls per request {per_request}");
}

#[test]
fn a_token_bucket_admits_its_rate_plus_burst() {
    // 2000 rps offered, a global bucket of 500/s with burst 50, for 20 s:
    // at most 50 + 500 x 20 = 10050 admitted, and the bucket is never idle.
    let text = r#"Scenario(name: "bucket", seed: 5, duration: "20s",
        nodes: [
            Clients(name: "c", target: "gw", load: Poisson(rps: 2000), mix: [(path: "/")], policy: (timeout: "1s")),
            Gateway(name: "gw", workers: 1000, queue: 1000,
                    rate_limits: [RateLimit(scope: Global, limit: 500, per: "1s", algorithm: TokenBucket(burst: 50))],
                    routes: [Route(prefix: "/", to: "svc", policy: (timeout: "1s"))]),
            Service(name: "svc", workers: 100, queue: 1000, work: Const("1ms")),
        ])"#;
    let s = run_text(text);
    let admitted = node(&s, "svc").arrivals;
    assert!(admitted <= 10_050, "{admitted} admitted");
    assert!(admitted >= 10_000, "{admitted} admitted: the bucket should stay saturated");
    assert_eq!(s.requests.rate_limited + admitted, s.requests.total - s.requests.unfinished);
}

fn fan_out(hedge: &str) -> String {
    // 10 parallel calls, each slow (100 ms) with probability 0.05.
    let calls: Vec<String> = (0..10).map(|_| format!(r#"Call(to: "leaf", policy: (timeout: "1s"{hedge}))"#)).collect();
    format!(
        r#"Scenario(name: "fanout", seed: 8, duration: "60s", warmup: "1s",
            nodes: [
                Clients(name: "c", target: "root", load: Poisson(rps: 200), mix: [(path: "/")], policy: (timeout: "2s")),
                Service(name: "root", workers: 1000, queue: 1000, work: Const("0ms"), calls: [Parallel([{}])]),
                Service(name: "leaf", workers: 10000, queue: 1000,
                        work: Mixture([(0.95, Const("1ms")), (0.05, Const("100ms"))])),
            ])"#,
        calls.join(", ")
    )
}

fn slow_share(text: &str) -> (f64, f64, Summary) {
    let loaded = gatesim::scenario::parse(text).expect("valid");
    let run = gatesim::model::simulate(loaded.model, &mut |_| {}).expect("runs");
    let client = &run.rec.nodes[0].latency;
    let share = client.fraction_above(SimDuration::from_millis(50));
    (share, client.count() as f64, Summary::from_run(&run))
}

#[test]
fn fan_out_makes_the_tail_the_common_case_and_hedging_cuts_it() {
    let (p, n) = (0.05f64, 10);
    let (share, count, _) = slow_share(&fan_out(""));
    let expected = 1.0 - (1.0 - p).powi(n);
    assert_share("slow requests without hedging", share * count, count, expected);
    // Hedge after 10 ms: a call is slow only if both copies are (p^2).
    let (share, count, s) = slow_share(&fan_out(r#", hedge: (after: "10ms", max_extra: 1)"#));
    let expected = 1.0 - (1.0 - p * p).powi(n);
    assert_share("slow requests with hedging", share * count, count, expected);
    // The price: one extra call per slow first copy, ~5% more calls.
    let calls = node(&s, "root").attempts.total as f64;
    let hedges = node(&s, "root").attempts.hedges as f64;
    assert_share("hedges per call", hedges, calls - hedges, p);
}

#[test]
fn quickstart_breaker_opens_fallback_serves_and_heavy_users_are_limited() {
    let s = run_text(&read(&scenario("quickstart.ron")));
    // The slowdown of users runs from 20 s to 40 s.
    let opened: Vec<_> = s.breakers.iter().filter(|b| b.target == "users" && b.opened > 0).collect();
    assert!(!opened.is_empty(), "the gateway's breaker on /api/users opens: {:?}", s.breakers);
    for b in &opened {
        let first = b.first_open_s.expect("opened");
        assert!((20.0..40.0).contains(&first), "{} opened at {first}s, outside the slowdown", b.caller);
    }
    assert!(s.requests.fallback > 0 && node(&s, "gw").fallbacks_served > 0, "the cached fallback serves");
    // Per-user limits hit the heaviest (Zipf rank 1) users hardest.
    let per_user = s.rate_limits.iter().find(|l| l.limit == "PerUser").expect("per-user limit");
    assert!(per_user.rejected > 0);
    assert_eq!(per_user.top_users[0].user, "web:0");
    let top5: u64 = per_user.top_users.iter().map(|u| u.rejected).sum();
    assert!(top5 * 10 > per_user.rejected * 5, "5 of 5000 users draw over half the rejections");
}

/// One caller behind a bulkhead of one slot in front of a healthy service
/// (10 ms of work, Poisson 500/s: 5 erlangs offered to one slot), with a
/// breaker that trips at 50% failures over 20 calls.
fn bulkhead_behind_breaker(trips: bool) -> Summary {
    run_text(&format!(
        r#"Scenario(name: "bulkhead-trips", seed: 3, duration: "30s", warmup: "2s",
            nodes: [
                Clients(name: "c", target: "svc", load: Poisson(rps: 500), mix: [(path: "/")],
                        policy: (timeout: "1s", bulkhead: (max_concurrent: 1, trips_breaker: {trips}),
                                 breaker: Breaker(window: Count(20), min_calls: 20, failure_rate: 0.5,
                                                  open_for: "1s", half_open_calls: 1))),
                Service(name: "svc", workers: 100, queue: 0, work: Const("10ms")),
            ])"#
    ))
}

#[test]
fn a_full_bulkhead_trips_the_breaker_only_when_told_to() {
    // By default the caller's own refusal is no result for its breaker: the
    // bulkhead rejects Erlang B's share for one server, rho / (1 + rho) =
    // 5/6, and the breaker in front never opens, the callee being healthy.
    let own = bulkhead_behind_breaker(false);
    let r = &own.requests;
    assert_share("rejected by the bulkhead", r.rejected as f64, r.total as f64, 5.0 / 6.0);
    assert_eq!((r.short_circuited, own.breakers[0].opened), (0, 0), "{:?}", own.breakers[0]);
    // The callee, 100 workers for at most one request, never refuses: every
    // rejected request is the bulkhead's, and the summary says so.
    let bulkhead = RefusalSummary { at: "c -> svc".into(), by: RefusedBy::Bulkhead, rejected: r.rejected };
    assert_eq!(own.refusals, [bulkhead]);
    // resilience4j's default decorator order puts the Bulkhead inside the
    // CircuitBreaker, which records each BulkheadFullException as a failure:
    // five in six results fail, over the 50% threshold, so the breaker opens
    // and short-circuits most requests.
    let r4j = bulkhead_behind_breaker(true);
    let b = &r4j.breakers[0];
    assert!(b.opened >= 10, "the breaker opens again and again: {b:?}");
    assert!(r4j.requests.short_circuited as f64 > 0.5 * r4j.requests.total as f64, "{:?}", r4j.requests);
}
