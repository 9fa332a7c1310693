//! Textbook queueing results (validation.md): the expected value comes from
//! the formula, the tolerance from independent replications (Student t).
//!
//! Each check runs R replications with seeds 1..=R and asserts that
//! (a) the mean over replications is within 2% of the formula,
//! (b) the formula lies inside mean +- 4 standard errors (a correct
//!     simulator fails this about once in 15,000 seed sets), and
//! (c) the 95% confidence half-width is below 1% of the value, so the test
//!     has the power to see a 2% error.

use gatesim::metrics::summary::{RefusalSummary, RefusedBy};

use crate::util::{mean_ci95, node, run_seeded};

/// A single station: Poisson arrivals straight into one service.
fn station(rps: f64, workers: u32, queue: u32, work: &str, duration_s: u32) -> String {
    format!(
        r#"Scenario(name: "station", seed: 1, duration: "{duration_s}s", warmup: "20s",
            network: (latency: Const("0ms")),
            nodes: [
                Clients(name: "arrivals", target: "station", load: Poisson(rps: {rps}), mix: [(path: "/")]),
                Service(name: "station", workers: {workers}, queue: {queue}, work: {work}),
            ])"#
    )
}

/// Erlang C: probability that an arrival waits in M/M/c.
fn erlang_c(lambda: f64, mean_service: f64, c: u32) -> f64 {
    let a = lambda * mean_service;
    let rho = a / f64::from(c);
    let mut term = 1.0; // a^k / k!
    let mut sum = 0.0;
    for k in 0..c {
        sum += term;
        term *= a / f64::from(k + 1);
    }
    // term is now a^c / c!
    let top = term / (1.0 - rho);
    top / (sum + top)
}

/// Erlang B: blocking probability of M/M/c/c (no waiting room).
fn erlang_b(a: f64, c: u32) -> f64 {
    (1..=c).fold(1.0, |b, k| a * b / (f64::from(k) + a * b))
}

struct Check {
    name: &'static str,
    expected: f64,
    samples: Vec<f64>,
}

impl Check {
    fn assert(&self) {
        let (mean, se, half) = mean_ci95(&self.samples);
        let rel = (mean - self.expected).abs() / self.expected;
        eprintln!(
            "{}: expected {:.5}, measured {:.5} +- {:.5} (95% CI, {} replications), error {:.3}%",
            self.name,
            self.expected,
            mean,
            half,
            self.samples.len(),
            rel * 100.0
        );
        assert!(rel < 0.02, "{}: {mean} is {:.2}% off the formula {}", self.name, rel * 100.0, self.expected);
        assert!(
            (mean - self.expected).abs() < 4.0 * se,
            "{}: formula outside mean +- 4 SE ({mean} +- {se})",
            self.name
        );
        assert!(half < 0.01 * self.expected, "{}: CI half-width {half} too wide to test 2%", self.name);
    }
}

/// Mean response time (ms) of the station over `reps` replications.
fn response_times(text: &str, reps: u64) -> Vec<f64> {
    (1..=reps).map(|seed| node(&run_seeded(text, seed), "station").latency_ms.mean).collect()
}

#[test]
fn mm1_mean_response_time() {
    // lambda = 700/s, S = 1 ms: rho = 0.7, W = S / (1 - rho) = 3.3333 ms.
    let (lambda, s) = (700.0, 1e-3);
    let expected_ms = s / (1.0 - lambda * s) * 1e3;
    let text = station(lambda, 1, 1_000_000, r#"Exp(mean: "1ms")"#, 320);
    Check { name: "M/M/1", expected: expected_ms, samples: response_times(&text, 10) }.assert();
}

#[test]
fn mmc_mean_response_time_matches_erlang_c() {
    // validation.md's example: lambda = 3000/s, S = 2 ms, c = 8:
    // rho = 0.75, P_wait = 0.35698, W = 2.35698 ms.
    let (lambda, s, c) = (3000.0, 2e-3, 8);
    let p_wait = erlang_c(lambda, s, c);
    assert!((p_wait - 0.35698).abs() < 1e-4, "Erlang C itself: {p_wait}");
    let expected_ms = (p_wait / (f64::from(c) / s - lambda) + s) * 1e3;
    let text = station(lambda, c, 1_000_000, r#"Exp(mean: "2ms")"#, 220);
    Check { name: "M/M/8", expected: expected_ms, samples: response_times(&text, 10) }.assert();
}

#[test]
fn md1_mean_response_time_matches_pollaczek_khinchine() {
    // lambda = 800/s, constant S = 1 ms: Wq = rho*S / (2(1 - rho)) = 2 ms, W = 3 ms.
    let (lambda, s) = (800.0, 1e-3);
    let rho = lambda * s;
    let expected_ms = (rho * s / (2.0 * (1.0 - rho)) + s) * 1e3;
    let text = station(lambda, 1, 1_000_000, r#"Const("1ms")"#, 320);
    Check { name: "M/D/1", expected: expected_ms, samples: response_times(&text, 10) }.assert();
}

#[test]
fn mg1_uniform_service_matches_pollaczek_khinchine() {
    // Uniform(0.5ms, 2.5ms): E[S] = 1.5 ms, E[S^2] = (b^3 - a^3) / (3(b - a)).
    let (lambda, a, b) = (500.0, 0.5e-3, 2.5e-3);
    let es = (a + b) / 2.0;
    let es2 = (b * b * b - a * a * a) / (3.0 * (b - a));
    let expected_ms = (lambda * es2 / (2.0 * (1.0 - lambda * es)) + es) * 1e3;
    let text = station(lambda, 1, 1_000_000, r#"Uniform(min: "0.5ms", max: "2.5ms")"#, 320);
    Check { name: "M/G/1 (uniform)", expected: expected_ms, samples: response_times(&text, 10) }.assert();
}

#[test]
fn erlang_b_blocking_with_no_waiting_room() {
    // M/M/4/4: a = lambda * S = 3 erlangs; B(4, 3) = 0.20611.
    let (lambda, c) = (1500.0, 4);
    let expected = erlang_b(lambda * 2e-3, c);
    assert!((expected - 0.20611).abs() < 1e-4, "Erlang B itself: {expected}");
    let text = station(lambda, c, 0, r#"Exp(mean: "2ms")"#, 220);
    let samples = (1..=10)
        .map(|seed| {
            let s = run_seeded(&text, seed);
            // Every rejection is the station's full "queue" (no waiting room), named as such.
            let full = RefusalSummary { at: "station".into(), by: RefusedBy::QueueFull, rejected: s.requests.rejected };
            assert_eq!(s.refusals, [full]);
            s.requests.rejected as f64 / s.requests.total as f64
        })
        .collect();
    Check { name: "M/M/4/4 blocking", expected, samples }.assert();
}

#[test]
fn littles_law_holds_at_the_station() {
    // L = lambda * W, with L the time-average number in the station.
    let text = station(3000.0, 8, 1_000_000, r#"Exp(mean: "2ms")"#, 220);
    for seed in 1..=3 {
        let s = run_seeded(&text, seed);
        let n = node(&s, "station");
        let l_from_little = n.throughput_rps * n.latency_ms.mean / 1e3;
        let rel = (n.mean_in_system - l_from_little).abs() / l_from_little;
        assert!(rel < 0.005, "seed {seed}: L = {} but lambda*W = {l_from_little}", n.mean_in_system);
        // Utilisation of c servers = lambda * S / c.
        assert!((n.utilization - 0.75).abs() < 0.01, "utilisation {}", n.utilization);
    }
}

#[test]
fn littles_law_holds_at_every_node_of_a_gateway_architecture() {
    // quickstart: a gateway with retries, breakers, limits and a 20x
    // slowdown; nothing is dropped, so L = X * W at every server node
    // (up to requests straddling the warm-up and the end: < 1%). Every
    // request is answered and timed: no caller resets its callee (a
    // cancelled request ends unanswered, with no latency to average).
    let text = crate::util::read(&crate::util::scenario("quickstart.ron"));
    let s = crate::util::run_text(&text.replace("policy: (", "policy: (propagate_cancel: false, "));
    for (name, n) in s.nodes.0.iter().filter(|(_, n)| n.kind.has_workers()) {
        assert_eq!(n.dropped, 0);
        // W over every answer: successes and answered failures.
        let (s, f) = (&n.latency_ms, &n.failure_latency_ms);
        let w = (s.mean * s.count as f64 + f.mean * f.count as f64) / (s.count + f.count) as f64;
        let l = n.throughput_rps * w / 1e3;
        let rel = (n.mean_in_system - l).abs() / l;
        assert!(rel < 0.01, "{name}: L = {} but X*W = {l} ({:.2}% off)", n.mean_in_system, rel * 100.0);
    }
}
