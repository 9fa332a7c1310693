//! Request conservation: every request issued is counted exactly once, at
//! the clients and at every node, also under crashes, hangs and retries.
//! The counters compared are independent: arrivals are counted when a
//! request arrives, outcomes when it ends.

use gatesim::metrics::Summary;
use gatesim::metrics::summary::NodeKindName;

use crate::util::{read, run_text, scenario};

pub fn assert_conserved(s: &Summary) {
    let mut client_arrivals = 0;
    for (name, n) in &s.nodes.0 {
        assert_eq!(
            n.arrivals,
            n.completed + n.dropped + n.in_progress_at_end,
            "node {name}: arrivals {} != completed {} + dropped {} + in progress {}",
            n.arrivals,
            n.completed,
            n.dropped,
            n.in_progress_at_end
        );
        let counted: u64 = n.outcomes.total - n.outcomes.unfinished;
        assert_eq!(counted, n.completed, "node {name}: outcomes do not add up");
        if n.kind == NodeKindName::Clients {
            client_arrivals += n.arrivals;
            assert_eq!(n.dropped, 0, "clients drop nothing");
        }
    }
    assert_eq!(s.requests.total, client_arrivals, "{}: requests issued vs counted", s.scenario);
    let r = &s.requests;
    let sum = r.ok
        + r.partial
        + r.fallback
        + r.error
        + r.timeout
        + r.rate_limited
        + r.unauthorized
        + r.not_found
        + r.rejected
        + r.short_circuited
        + r.unavailable
        + r.unfinished;
    assert_eq!(sum, r.total, "{}: outcomes + unfinished != total", s.scenario);
}

#[test]
fn every_example_conserves_requests_at_every_node() {
    for name in
        ["quickstart.ron", "ha-fleet.ron", "arch-single.ron", "arch-bff.ron", "arch-mesh.ron", "retry-storm.ron"]
    {
        assert_conserved(&run_text(&read(&scenario(name))));
    }
}

#[test]
fn a_crash_loses_queued_work_and_conservation_still_holds() {
    // One worker, a long queue: at the crash, the queue is lost; its callers
    // see the connection reset (unavailable) and nothing is counted twice.
    let text = r#"Scenario(name: "crash", seed: 2, duration: "20s",
        nodes: [
            Clients(name: "c", target: "svc", load: Poisson(rps: 900), mix: [(path: "/")], policy: (timeout: "5s")),
            Service(name: "svc", workers: 1, queue: 10000, work: Exp(mean: "1ms")),
        ],
        faults: [Fault(target: "svc", at: "10s", duration: "2s", kind: Crash)])"#;
    let s = run_text(text);
    assert_conserved(&s);
    let svc = &s.nodes.0.iter().find(|(n, _)| n == "svc").unwrap().1;
    assert!(svc.dropped > 0, "queued work at the crash is lost: {svc:?}");
    // During the 2 s crash, ~1800 requests are refused.
    assert!(s.requests.unavailable > 1500 && s.requests.unavailable < 2300, "{:?}", s.requests);
}

#[test]
fn a_hang_without_timeouts_leaves_requests_unfinished_and_counted() {
    let text = r#"Scenario(name: "hang", seed: 2, duration: "20s",
        nodes: [
            Clients(name: "c", target: "svc", load: Poisson(rps: 100), mix: [(path: "/")]),
            Service(name: "svc", workers: 4, queue: 100, work: Const("1ms")),
        ],
        faults: [Fault(target: "svc", at: "5s", duration: "5s", kind: Hang)])"#;
    let s = run_text(text);
    assert_conserved(&s);
    // ~500 requests went into the hang and never came back.
    assert!(s.requests.unfinished > 400 && s.requests.unfinished < 600, "{:?}", s.requests);
}
