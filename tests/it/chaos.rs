//! Chaos mode: faults, health checks and the cascade verdicts, on the
//! design examples and on random topologies with random fault schedules.

use gatesim::chaos::Verdict;
use gatesim::metrics::Summary;
use gatesim::metrics::summary::FaultKindName;
use proptest::prelude::*;

use crate::conservation::assert_conserved;
use crate::util::{read, run_text, scenario};

fn story(s: &Summary, i: usize) -> &gatesim::chaos::cascade::FaultStory {
    &s.cascade.faults[i]
}

#[test]
fn retry_storm_is_metastable_and_the_guarded_one_recovers() {
    let storm = run_text(&read(&scenario("retry-storm.ron")));
    let f = story(&storm, 0);
    assert_eq!(f.verdict, Verdict::Metastable, "{:#?}", storm.cascade.story);
    // Long after the 10 s slowdown ended, goodput is still collapsed.
    assert!(f.goodput.after_share.expect("judged") < 0.5);
    assert!(f.recovered_at_s.is_none());

    let guarded = run_text(&read(&scenario("retry-storm-guarded.ron")));
    let g = story(&guarded, 0);
    assert_ne!(g.verdict, Verdict::Metastable, "{:#?}", guarded.cascade.story);
    let recovery = g.recovery_s.expect("the clients come back");
    assert!(recovery <= 5.0, "guarded goodput recovers {recovery}s after the fault ends");
    assert!(g.goodput.after_share.expect("judged") > 0.9);
    assert!(!g.breakers_opened.is_empty(), "the clients' breaker is what stops the storm");
    // The storm's retries amplify load; the budget keeps the guarded one low.
    assert!(storm.cascade.amplification.peak > 3.0 * guarded.cascade.amplification.peak.max(1.0) / 2.0);
}

#[test]
fn ha_fleet_ejects_the_crashed_instance_in_time_and_the_auth_slowdown_reaches_every_route() {
    let text = read(&scenario("ha-fleet.ron"));
    let s = run_text(&text);
    let crash = story(&s, 0);
    assert_eq!((crash.kind, crash.target.as_str()), (FaultKindName::Crash, "gw#1"));
    // Probes every 1 s, 3 failures to eject: at most 3 s + one interval.
    let ejection = crash.ejections.first().expect("the balancer ejects gw#1");
    assert!(ejection.after_s <= 1.0 * 3.0 + 1.0, "ejected {}s after the crash", ejection.after_s);
    assert!(ejection.after_s >= 2.0, "three probes cannot fail in under two intervals");
    // Until then, requests sent to the dead instance fail fast (refused):
    // counted, and explained as unavailable at the clients.
    assert!(crash.client_failures > 0);
    assert!(s.requests.unavailable >= crash.client_failures / 2, "{:?}", s.requests);
    // It comes back: the crash is contained once the instance is ejected.
    assert!(crash.recovered_at_s.expect("recovers") < 35.0);

    // The auth slowdown (30-40 s) reaches every route: paired runs with and
    // without it (same arrivals, same work: common random numbers).
    let without =
        run_text(&text.replace(r#"Fault(target: "auth", at: "30s", duration: "10s", kind: Slow(factor: 10)),"#, ""));
    assert_eq!(without.faults.len(), 1);
    for (path, with) in &s.routes.0 {
        let base = &without.routes.0.iter().find(|(p, _)| p == path).expect("same routes").1;
        assert!(
            with.latency_ms.p99 > base.latency_ms.p99 * 1.1 && with.latency_ms.mean > base.latency_ms.mean,
            "{path}: p99 {} vs {} without the auth fault",
            with.latency_ms.p99,
            base.latency_ms.p99
        );
    }
}

#[test]
fn quickstart_slowdown_opens_the_breaker_and_reaches_orders() {
    let s = run_text(&read(&scenario("quickstart.ron")));
    let f = story(&s, 0);
    let order: Vec<&str> = f.unhealthy.iter().map(|o| o.node.as_str()).collect();
    assert!(order.contains(&"users") && order.contains(&"orders"), "orders calls users: {order:?}");
    assert!(f.breakers_opened.iter().any(|b| b.target == "users" && b.at_s >= 20.0 && b.at_s < 40.0));
    assert!(f.fallbacks_served > 0);
    assert!(f.recovery.iter().all(|r| r.at_s.is_some()), "everything recovers: {:?}", f.recovery);
}

const CHAOS: &str = r#"Scenario(name: "chaos", seed: 4, duration: "120s",
    nodes: [
        Clients(name: "web", target: "api", load: Poisson(rps: 300), mix: [(path: "/")], policy: (timeout: "500ms")),
        Service(name: "api", replicas: 3, workers: 8, queue: 50, work: Exp(mean: "5ms")),
    ],
    CHAOS)"#;

#[test]
fn random_chaos_injects_faults_without_changing_the_workload() {
    let calm = run_text(&CHAOS.replace("CHAOS", ""));
    let text = CHAOS.replace(
        "CHAOS",
        r#"chaos: Some(Chaos(targets: ["api"], mtbf: "20s", mttr: "5s", kinds: [Crash, Slow(factor: 5), Hang]))"#,
    );
    let stormy = run_text(&text);
    assert!(calm.faults.is_empty());
    assert!(stormy.faults.len() >= 2, "mtbf 20 s over 120 s: {:?}", stormy.faults);
    for f in &stormy.faults {
        assert!(f.target.starts_with("api#"), "one replica at a time: {}", f.target);
        assert!(f.until_s > f.at_s);
    }
    // Chaos draws from its own stream: the clients' arrivals are unchanged.
    let arrivals = |s: &Summary| s.nodes.0.iter().find(|(n, _)| n == "web").unwrap().1.arrivals;
    assert_eq!(arrivals(&calm), arrivals(&stormy));
    assert!(stormy.requests.successes() < calm.requests.successes());
    assert_conserved(&stormy);
    assert_eq!(gatesim::report::summary_json(&stormy), gatesim::report::summary_json(&run_text(&text)));
}

/// A random small topology: clients -> (gateway ->) services that call
/// services further down the list (so no cycles), random policies, and a
/// random fault schedule.
fn topology() -> impl Strategy<Value = String> {
    let service = (1u32..3, 1u32..6, 0u32..20, 0u8..4, 0u32..3, any::<bool>(), any::<bool>());
    let fault = (0usize..5, 0u8..6, 0u32..8, 1u32..6);
    (
        proptest::collection::vec(service, 1..5),
        any::<bool>(),
        proptest::collection::vec(fault, 0..4),
        50u32..400,
        any::<u64>(),
    )
        .prop_map(|(services, gateway, faults, rps, seed)| {
            let n = services.len();
            let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
            let mut nodes = Vec::new();
            let entry = if gateway { "gw" } else { "s0" };
            nodes.push(format!(
                r#"Clients(name: "c", target: "{entry}", load: Poisson(rps: {rps}), mix: [(path: "/a"), (path: "/b")],
                   policy: (timeout: "300ms", retries: (max: 1, backoff: Constant("10ms"))))"#
            ));
            if gateway {
                nodes.push(
                    r#"Gateway(name: "gw", replicas: 2, workers: 8, queue: 20,
                       routes: [Route(prefix: "/a", to: "s0", policy: (timeout: "200ms",
                                breaker: Some(Breaker(window: Count(10), min_calls: 5, failure_rate: 0.5, open_for: "1s", half_open_calls: 2)),
                                fallback: Some(Static(latency: Const("1ms")))))])"#
                        .to_string(),
                );
            }
            for (i, (replicas, workers, queue, calls, retries, timeout, parallel)) in services.iter().enumerate() {
                let downstream: Vec<String> = (i + 1..n)
                    .take(*calls as usize)
                    .map(|j| {
                        let t = if *timeout { r#"timeout: "100ms", "# } else { "" };
                        format!(r#"Call(to: "{}", policy: ({t}retries: (max: {retries})))"#, names[j])
                    })
                    .collect();
                let calls = match (downstream.is_empty(), parallel) {
                    (true, _) => String::new(),
                    (false, true) => format!("calls: [Parallel([{}])]", downstream.join(", ")),
                    (false, false) => format!("calls: [{}]", downstream.join(", ")),
                };
                nodes.push(format!(
                    r#"Service(name: "{}", replicas: {replicas}, workers: {workers}, queue: {queue},
                       work: Exp(mean: "2ms"), errors: 0.01, {calls})"#,
                    names[i]
                ));
            }
            let kinds = ["Crash", "Hang", "Slow(factor: 5)", "Errors(rate: 0.5)", r#"Latency(add: Const("20ms"))"#];
            let faults: Vec<String> = faults
                .iter()
                .map(|(target, kind, at, dur)| {
                    let target = if *target < n { names[*target].clone() } else if gateway { "gw#1".into() } else { "s0".into() };
                    if *kind == 5 && n > 1 {
                        format!(r#"Fault(link: ("{}", "{}"), at: "{at}s", duration: "{dur}s", kind: Partition)"#, names[0], names[1])
                    } else {
                        format!(r#"Fault(target: "{target}", at: "{at}s", duration: "{dur}s", kind: {})"#, kinds[*kind as usize % 5])
                    }
                })
                .collect();
            format!(
                r#"Scenario(name: "random", seed: {seed}, duration: "12s", warmup: "1s", network: (latency: Exp(mean: "0.2ms")),
                   nodes: [{}], faults: [{}])"#,
                nodes.join(",\n"),
                faults.join(",\n")
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    // For random small topologies and random fault schedules: every request
    // is counted exactly once at every node (conservation), no event is ever
    // scheduled in the past (the event queue asserts it, so a run that
    // finishes proves it), and the run is deterministic.
    #[test]
    fn random_topologies_under_random_faults_conserve_and_repeat(text in topology()) {
        let loaded = gatesim::scenario::parse(&text);
        prop_assert!(loaded.is_ok(), "generated scenario must validate: {:?}\n{text}", loaded.err());
        let a = run_text(&text);
        assert_conserved(&a);
        let b = run_text(&text);
        prop_assert_eq!(gatesim::report::summary_json(&a), gatesim::report::summary_json(&b));
    }
}

#[test]
fn errors_and_latency_faults_strike_gateways_and_balancers_too() {
    let text = |faults: &str| {
        format!(
            r#"Scenario(name: "edge-faults", seed: 6, duration: "20s", network: (latency: Const("0ms")),
            nodes: [
                Clients(name: "c", target: "lb", load: Poisson(rps: 500), mix: [(path: "/x")], policy: (timeout: "2s")),
                LoadBalancer(name: "lb", targets: ["gw"]),
                Gateway(name: "gw", workers: 100, queue: 100, routes: [Route(prefix: "/x", to: "s", policy: (timeout: "1s"))]),
                Service(name: "s", workers: 100, queue: 100, work: Const("1ms")),
            ],
            faults: [{faults}])"#
        )
    };
    let calm = run_text(&text(""));
    assert_eq!(calm.requests.error, 0);
    // Half the gateway's answers fail for the whole run.
    let s = run_text(&text(r#"Fault(target: "gw", at: "0s", duration: "20s", kind: Errors(rate: 0.5))"#));
    let done = (s.requests.total - s.requests.unfinished) as f64;
    let share = s.requests.error as f64 / done;
    assert!((share - 0.5).abs() < 0.03, "gateway Errors fault: {share} of requests failed");
    // 100 ms more at the gateway and 50 ms at the balancer: +150 ms on every request.
    let slow = run_text(&text(
        r#"Fault(target: "gw", at: "0s", duration: "20s", kind: Latency(add: Const("100ms"))),
           Fault(target: "lb", at: "0s", duration: "20s", kind: Latency(add: Const("50ms")))"#,
    ));
    let added = slow.latency_ms.mean - calm.latency_ms.mean;
    assert!((added - 150.0).abs() < 0.5, "latency faults added {added} ms");
    assert_conserved(&slow);
}

/// Regressions for a review of the simulation core (each was a real bug).
mod review {
    use super::*;

    #[test]
    fn hedges_respect_max_extra_per_round_and_never_overflow() {
        // Fast failures then a hang, many retries, 7 hedges: hedge timers of
        // failed rounds used to fire into later rounds and overflow the
        // attempts in flight (a panic).
        let text = r#"Scenario(name: "hedge", seed: 1, duration: "20s",
            nodes: [
                Clients(name: "c", target: "s", load: Closed(users: 1, think: Const("999.8ms")), mix: [(path: "/")],
                        policy: (timeout: "1s", retries: (max: 20, backoff: None), hedge: (after: "50ms", max_extra: 7))),
                Service(name: "s", workers: 10, queue: 10, work: Const("1ms")),
            ],
            faults: [Fault(target: "s", at: "0s", duration: "1s", kind: Errors(rate: 1.0)),
                     Fault(target: "s", at: "1s", duration: "19s", kind: Hang)])"#;
        let s = run_text(text);
        let rounds = s.attempts.total - s.attempts.hedges;
        assert!(s.attempts.hedges <= 7 * rounds, "{:?}", s.attempts);
        // With max_extra 1 and healthy service, at most one hedge per round.
        let one = run_text(&text.replace("max_extra: 7", "max_extra: 1"));
        assert!(one.attempts.hedges <= one.attempts.total - one.attempts.hedges, "{:?}", one.attempts);
    }

    #[test]
    fn a_crashed_instance_stops_calling_out() {
        // s1 calls a failing s2 with slow retries; s1 crashes at 5 s. The
        // dead process's calls must stop, not keep retrying into s2.
        let text = r#"Scenario(name: "zombie", seed: 2, duration: "20s",
            nodes: [
                Clients(name: "c", target: "s1", load: Poisson(rps: 300), mix: [(path: "/")], policy: (timeout: "30s")),
                Service(name: "s1", workers: 1000, queue: 0, work: Const("1ms"),
                        calls: [Call(to: "s2", policy: (timeout: "500ms", retries: (max: 10, backoff: Constant("1s"))))]),
                Service(name: "s2", workers: 100, queue: 100, work: Const("1ms")),
            ],
            faults: [Fault(target: "s2", at: "0s", duration: "20s", kind: Errors(rate: 1.0)),
                     Fault(target: "s1", at: "5s", duration: "15s", kind: Crash)])"#;
        let loaded = gatesim::scenario::parse(text).unwrap();
        let run = gatesim::model::simulate(loaded.model, &mut |_| {}).unwrap();
        let s2 = 2; // node index
        let after: u64 = run.rec.rows.iter().filter(|r| r.node == s2 && r.bucket >= 6).map(|r| r.arrivals).sum();
        assert_eq!(after, 0, "s2 still called after s1 crashed");
    }

    #[test]
    fn fault_active_flags_exactly_the_fault_buckets_partitions_included() {
        let text = r#"Scenario(name: "flags", seed: 1, duration: "10s",
            nodes: [
                Clients(name: "c", target: "a", load: Poisson(rps: 100), mix: [(path: "/")], policy: (timeout: "100ms")),
                Service(name: "a", workers: 10, queue: 10, work: Const("1ms"), calls: [Call(to: "b", policy: (timeout: "50ms"))]),
                Service(name: "b", workers: 10, queue: 10, work: Const("1ms")),
            ],
            faults: [Fault(target: "b", at: "2s", duration: "2s", kind: Hang),
                     Fault(link: ("a", "b"), at: "5s", duration: "3s", kind: Partition)])"#;
        let loaded = gatesim::scenario::parse(text).unwrap();
        let run = gatesim::model::simulate(loaded.model, &mut |_| {}).unwrap();
        let flags = |node: u32| -> Vec<u32> {
            run.rec.rows.iter().filter(|r| r.node == node && r.fault_active).map(|r| r.bucket).collect()
        };
        assert_eq!(flags(2), vec![2, 3, 5, 6, 7], "b: hang 2-4 s, partition 5-8 s");
        assert_eq!(flags(1), vec![5, 6, 7], "a: partition only");
    }

    #[test]
    fn no_baseline_or_a_fault_after_the_end_gives_no_false_verdict() {
        let base = r#"Scenario(name: "edge", seed: 1, duration: "30s",
            nodes: [
                Clients(name: "c", target: "s", load: Poisson(rps: 200), mix: [(path: "/")], policy: (timeout: "1s")),
                Service(name: "s", workers: 10, queue: 10, work: Const("1ms")),
            ],
            faults: [FAULT])"#;
        let from_start =
            run_text(&base.replace("FAULT", r#"Fault(target: "s", at: "0s", duration: "30s", kind: Crash)"#));
        assert_eq!(from_start.success_rate, 0.0);
        assert_eq!(from_start.cascade.faults[0].verdict, Verdict::Inconclusive);
        assert!(from_start.cascade.faults[0].recovered_at_s.is_none());
        let late = run_text(&base.replace("FAULT", r#"Fault(target: "s", at: "50s", duration: "5s", kind: Crash)"#));
        assert!(late.faults.is_empty() && late.cascade.faults.is_empty(), "a fault after the end never happened");
        assert_eq!(late.cascade.verdict, Verdict::None);
    }

    #[test]
    fn a_harmless_fault_at_a_low_rate_is_contained_not_mistaken_for_noise() {
        // 50 rps (about 50 +- 7 per bucket): a 10 us latency fault changes
        // nothing; Poisson noise alone must not make it "spread".
        let text = r#"Scenario(name: "harmless", seed: 3, duration: "60s",
            nodes: [
                Clients(name: "c", target: "s", load: Poisson(rps: 50), mix: [(path: "/")], policy: (timeout: "1s")),
                Service(name: "s", workers: 10, queue: 10, work: Exp(mean: "2ms")),
            ],
            faults: [Fault(target: "s", at: "20s", duration: "20s", kind: Latency(add: Const("10us")))])"#;
        let s = run_text(text);
        assert_eq!(s.cascade.faults[0].verdict, Verdict::Contained, "{:#?}", s.cascade.story);
    }
}

/// A fallback is served by one caller, whatever the hops it travels back
/// through (dashboard -> ingress -> clients): the episode counts it once.
#[test]
fn the_cascade_counts_each_fallback_once_where_it_was_served() {
    let s = run_text(&read(&scenario("arch-mesh.ron")));
    let f = story(&s, 0);
    // The fallbacks served in the whole run after the warm-up bound those of
    // one episode (before: every hop's `fallback` answers were added up,
    // about twice this).
    let served: u64 = s.nodes.0.iter().map(|(_, n)| n.fallbacks_served).sum();
    assert!(f.fallbacks_served > 0, "the dashboard's breaker serves fallbacks: {:#?}", s.cascade.story);
    assert!(f.fallbacks_served <= served, "{} fallbacks in the episode, {served} in the run", f.fallbacks_served);
}

/// A hung node stays unhealthy for the whole hang, also in the seconds its
/// caller's breaker lets almost nothing through (too little traffic to
/// judge it by what it answers: it is judged by its fault).
#[test]
fn a_hung_node_is_unhealthy_while_it_hangs_even_behind_an_open_breaker() {
    let text = read(&scenario("retry-storm-guarded.ron")).replace(
        r#"Fault(target: "api", at: "30s", duration: "10s", kind: Slow(factor: 4))"#,
        r#"Fault(target: "api", at: "30s", duration: "40s", kind: Hang)"#,
    );
    assert!(text.contains("kind: Hang"));
    let s = run_text(&text);
    assert!(!story(&s, 0).breakers_opened.is_empty(), "the breaker keeps traffic away: {:#?}", s.cascade.story);
    let api = crate::util::node(&s, "api");
    assert!(api.health.unhealthy_s >= 40.0, "api hung for 40 s, unhealthy {} s", api.health.unhealthy_s);
}

/// `users` is slow from the first second of its 20x slowdown and fails only
/// later: its health says when it first became unhealthy, not only when it
/// reached its final grade.
#[test]
fn a_node_slow_before_it_fails_says_when_it_first_became_unhealthy() {
    let s = run_text(&read(&scenario("quickstart.ron")));
    let h = &crate::util::node(&s, "users").health;
    assert_eq!(h.first_unhealthy_s, Some(20.0), "the slowdown starts at 20 s");
    assert!(h.since_s.is_some_and(|since| since >= 20.0), "{h:?}");
}

/// Without a fault there is no "before" to compare with: a service whose
/// every answer is an error, all run long, is failing, not healthy "as
/// usual"; one that fails 1% of the time is healthy.
#[test]
fn without_a_fault_a_node_failing_all_run_long_is_failing() {
    let text = |errors: &str| {
        format!(
            r#"Scenario(name: "nofault", seed: 1, duration: "30s", warmup: "5s",
            nodes: [Clients(name: "c", target: "s", load: Poisson(rps: 100), mix: [(path: "/x")]),
                    Service(name: "s", workers: 16, queue: 100, work: Exp(mean: "5ms"), errors: {errors})])"#
        )
    };
    let broken = run_text(&text("1.0"));
    assert_eq!(crate::util::node(&broken, "s").health.grade, gatesim::chaos::health::Grade::Failing);
    assert_eq!(crate::util::node(&broken, "c").health.grade, gatesim::chaos::health::Grade::Failing);
    let fine = run_text(&text("0.01"));
    assert_eq!(crate::util::node(&fine, "s").health.grade, gatesim::chaos::health::Grade::Healthy);
}

/// A newcomer's review: clients hurt for a whole fault and well again in
/// the bucket it ended read "back to normal at 31.0s, before the fault
/// ended" for a fault that ended at 31 s.
#[test]
fn a_recovery_as_the_fault_ends_is_not_told_as_before_it() {
    let text = read(&scenario("quickstart.ron")).replace(
        r#"Fault(target: "users", at: "20s", duration: "20s", kind: Slow(factor: 20))"#,
        r#"Fault(target: "gw#0", at: "18s", duration: "13s", kind: Crash)"#,
    );
    let s = run_text(&text);
    let f = story(&s, 0);
    assert_eq!((f.until_s, f.recovered_at_s), (31.0, Some(31.0)), "{:#?}", s.cascade.story);
    let story = s.cascade.story.join("\n");
    assert!(story.contains("back to normal at 31.0s, when the fault ended"), "{story}");
    assert!(!story.contains("before the fault ended"), "{story}");
}

/// A newcomer's review: compare's and explore's "time to recover" took the
/// longest over every fault, so a fault begun while the clients were
/// already unhealthy (overlapped) set it from the first fault's damage.
#[test]
fn the_runs_time_to_recover_leaves_overlapped_faults_out() {
    let text = read(&scenario("quickstart.ron")).replace(
        r#"Fault(target: "users", at: "20s", duration: "20s", kind: Slow(factor: 20))"#,
        r#"Fault(target: "users", at: "20s", duration: "20s", kind: Slow(factor: 20)),
           Fault(target: "orders", at: "26s", duration: "2s", kind: Crash)"#,
    );
    let s = run_text(&text);
    let (first, second) = (story(&s, 0), story(&s, 1));
    assert_eq!(second.verdict, Verdict::Overlapped, "{:#?}", s.cascade.story);
    assert!(second.recovery_s.unwrap_or(0.0) > 10.0, "measured from its own end: {:?}", second.recovery_s);
    assert_eq!(s.cascade.run_recovery(), Some(first.recovery_s), "{:#?}", s.cascade.story);
}

/// A newcomer's review: a fault's tallies ran on until its clients
/// recovered, into the next fault's time, so a catalog slowdown was
/// credited with the fallbacks of a users crash that began 20 s later (the
/// catalog route has none) and the two told the same failures twice.
#[test]
fn each_faults_tallies_stop_where_the_next_fault_begins() {
    let s = run_text(&read(&scenario("chaos-random.ron")));
    let faults = &s.cascade.faults;
    assert!(faults.len() > 10, "{:#?}", s.cascade.story);
    for f in faults.iter().filter(|f| f.target.starts_with("catalog")) {
        assert_eq!(f.fallbacks_served, 0, "catalog has no fallback: {f:#?}");
    }
    // Told once each: the episodes' failures add up to no more than the clients'.
    let told: u64 = faults.iter().map(|f| f.client_failures).sum();
    let r = &s.requests;
    let failed = r.error + r.timeout + r.rejected + r.short_circuited + r.unavailable + r.unfinished;
    assert!(told <= failed, "{told} told, {failed} failed");
}

/// A newcomer's review: a fault that began in the warm-up had no "before"
/// to compare with, and the story printed a made-up "goodput 0/s before,
/// 0/s at worst" and "1.00 before the faults".
#[test]
fn a_fault_without_a_pre_fault_level_says_so_instead_of_inventing_one() {
    let text = read(&scenario("quickstart.ron")).replace(
        r#"Fault(target: "users", at: "20s", duration: "20s", kind: Slow(factor: 20))"#,
        r#"Fault(target: "users", at: "0s", duration: "60s", kind: Slow(factor: 20))"#,
    );
    let s = run_text(&text);
    assert!(story(&s, 0).no_baseline && s.cascade.amplification.no_baseline);
    let story = s.cascade.story.join("\n");
    assert!(story.contains("no pre-fault level to compare with"), "{story}");
    assert!(!story.contains("/s before") && !story.contains("before the faults"), "{story}");
    // A run with a level before its fault says nothing of the kind.
    let usual = run_text(&read(&scenario("quickstart.ron")));
    assert!(!usual.cascade.faults[0].no_baseline && !usual.cascade.amplification.no_baseline);
}

/// A newcomer's review: behind a gateway hang, clients that wait 30 s were
/// told "back to normal at 40.0s" (as the hang ended) although the
/// requests they sent during it kept ending badly until 60 s.
#[test]
fn clients_are_back_only_once_the_requests_sent_during_the_fault_have_ended() {
    let text = read(&scenario("quickstart.ron"))
        .replace(
            r#"Fault(target: "users", at: "20s", duration: "20s", kind: Slow(factor: 20))"#,
            r#"Fault(target: "gw", at: "20s", duration: "20s", kind: Hang)"#,
        )
        .replacen(r#"policy: (timeout: "2s""#, r#"policy: (timeout: "30s""#, 1);
    let s = run_text(&text);
    let f = story(&s, 0);
    let web = f.recovery.iter().find(|r| r.node == "web").expect("web was hurt");
    assert!(web.at_s.is_none_or(|t| t > 50.0), "{:#?}", s.cascade.story);
    assert_ne!(f.recovered_at_s, Some(40.0), "{:#?}", s.cascade.story);
}

#[test]
fn a_faults_timeline_is_told_in_time_order() {
    // In canary.ron the canary's first breaker opens at 20.5 s, before the
    // clients turn unhealthy at 21 s: the text once listed every node
    // first and every breaker after.
    let s = run_text(&read(&scenario("canary.ron")));
    let times: Vec<f64> = s
        .cascade
        .story
        .iter()
        .filter_map(|line| line.trim_start().split_once("s  ").and_then(|(t, _)| t.parse().ok()))
        .collect();
    assert!(times.len() >= 5, "{:#?}", s.cascade.story);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?} in {:#?}", s.cascade.story);
    let breaker = s.cascade.story.iter().position(|l| l.contains("breaker")).unwrap();
    let clients = s.cascade.story.iter().position(|l| l.contains("web unhealthy")).unwrap();
    assert!(breaker < clients, "{:#?}", s.cascade.story);
}

#[test]
fn an_episode_counts_the_requests_refused_at_once_during_it() {
    // A service with 10 workers and 5 places in its queue, 2% busy until it
    // slows down 100x for 10 s (twice what it can then serve): only then
    // does its queue fill. Every
    // refusal of the run falls in the episode, so the episode's count (from
    // the time series) equals the run's (summary.json's refusals).
    let s = run_text(
        r#"Scenario(name: "full", seed: 2, duration: "40s", warmup: "2s", network: (latency: Const("0ms")),
            nodes: [Clients(name: "c", target: "s", load: Poisson(rps: 200), mix: [(path: "/")], policy: (timeout: "5s")),
                    Service(name: "s", workers: 10, queue: 5, work: Exp(mean: "1ms"))],
            faults: [Fault(target: "s", at: "10s", duration: "10s", kind: Slow(factor: 100))])"#,
    );
    let [full] = &s.refusals[..] else { panic!("{:?}", s.refusals) };
    assert!(full.rejected > 500, "about half of 2000 requests: {full:?}");
    assert_eq!(story(&s, 0).refused, full.rejected);
    assert!(
        s.cascade.story.iter().any(|l| l.contains(&format!("refused at once {}", full.rejected))),
        "{:#?}",
        s.cascade.story
    );
}
