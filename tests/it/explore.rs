//! `gatesim explore` on constructed scenarios whose answers are known:
//! the critical dependency ranks first, a pair that only breaks together
//! is found, shrinking reaches the analytic threshold, every repro replays,
//! and the result does not depend on threads or shards.

use std::path::Path;

use serde_json::Value;

use crate::util::gatesim;

fn explore(file: &str, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Value {
    let mut args = vec!["explore", file, "-r", "2", "--budget", "160", "--quiet", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = gatesim(&args, env);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(out.join("explore.json")).unwrap()).unwrap()
}

/// The label of a fault as explore.json names it: "a", "b#0" or "x<->y".
fn target(fault: &Value) -> String {
    match (fault["target"].as_str(), fault["link"].as_array()) {
        (Some(t), _) => t.to_string(),
        (None, Some(l)) => format!("{}<->{}", l[0].as_str().unwrap(), l[1].as_str().unwrap()),
        _ => panic!("a fault without target or link: {fault}"),
    }
}

fn rank_of(crit: &[Value], pred: impl Fn(&str) -> bool) -> usize {
    crit.iter().position(|t| pred(&target(&t["faults"][0]))).expect("a matching single fault")
}

#[test]
fn a_single_replica_dependency_without_fallback_ranks_above_protected_ones() {
    let dir = tempfile::tempdir().unwrap();
    let e = explore("tests/explore/rank.ron", &dir.path().join("x"), &[], &[]);
    let crit = e["criticality"].as_array().unwrap();
    // The gateway is in front of everything: its faults hurt most.
    assert_eq!(target(&crit[0]["faults"][0]), "gw", "{}", crit[0]);
    let a = rank_of(crit, |t| t == "a");
    let replica_of_b = rank_of(crit, |t| t.starts_with("b#"));
    let c = rank_of(crit, |t| t == "c" || t.ends_with("<->c"));
    assert!(a < replica_of_b, "a (#{a}) above one replica of b behind a retrying balancer (#{replica_of_b})");
    assert!(a < c, "a (#{a}) above c, whose breaker has a fallback (#{c})");
    // The same faults on c are contained by its fallback; on a they break the SLO.
    let slo_met = |label: &str, kind: &str| {
        crit.iter()
            .find(|t| target(&t["faults"][0]) == label && t["faults"][0]["kind"] == kind)
            .map(|t| t["slo_met"].as_bool().unwrap())
            .unwrap()
    };
    assert!(!slo_met("a", "Crash") && slo_met("b#0", "Crash"));
    // Sorted most harmful first: SLO misses never increase down the list.
    let missed: Vec<u64> = crit.iter().map(|t| t["slo_missed_runs"].as_u64().unwrap()).collect();
    assert!(missed.windows(2).all(|w| w[0] >= w[1]), "{missed:?}");
}

#[test]
fn a_pair_that_only_breaks_together_is_reported_as_minimal() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let e = explore("tests/explore/pair.ron", &out, &[], &[]);
    let crit = e["criticality"].as_array().unwrap();
    // Either region fails alone (every kind, default severity) and the SLO holds.
    for t in crit.iter().filter(|t| matches!(target(&t["faults"][0]).as_str(), "east" | "west")) {
        assert_eq!(t["slo_met"], true, "{t}");
    }
    let minimal = e["minimal"].as_array().unwrap();
    let pair = minimal.iter().find(|m| {
        let mut t: Vec<String> = m["faults"].as_array().unwrap().iter().map(target).collect();
        t.sort();
        t.iter().any(|x| x.contains("east")) && t.iter().any(|x| x.contains("west")) && t.len() == 2
    });
    let pair = pair.unwrap_or_else(|| panic!("no east + west pair in {minimal:#?}"));
    assert_eq!(pair["slo_met"], false);
    assert!(pair["repro"].as_str().unwrap().starts_with("repro-"));
    every_repro_replays(&out, minimal);
}

/// Each repro-N.ron makes `gatesim run --fail-on-slo` exit 1.
fn every_repro_replays(out: &Path, minimal: &[Value]) {
    assert!(!minimal.is_empty());
    for m in minimal {
        let file = out.join(m["repro"].as_str().unwrap());
        let dest = out.join(format!("{}.replay", m["repro"].as_str().unwrap()));
        let o =
            gatesim(&["run", file.to_str().unwrap(), "--fail-on-slo", "--quiet", "--out", dest.to_str().unwrap()], &[]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{} does not replay: {}",
            file.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.join(m["repro"].as_str().unwrap().trim_end_matches(".ron")).join("report.html").is_file());
    }
}

#[test]
fn shrinking_reaches_the_analytic_duration_threshold() {
    // threshold.ron: one unreplicated service, no retries, a 96% objective
    // over 60 s: a crash of d seconds fails d/60 of the requests, so the
    // shortest breaking crash on a 1 s grid is 3 s (2 s fail 3.3%).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let e = explore("tests/explore/threshold.ron", &out, &["--max-faults", "1"], &[]);
    let minimal = e["minimal"].as_array().unwrap();
    let crash = minimal
        .iter()
        .find(|m| m["faults"][0]["kind"] == "Crash" && m["faults"].as_array().unwrap().len() == 1)
        .unwrap_or_else(|| panic!("no crash in {minimal:#?}"));
    assert_eq!(crash["faults"][0]["duration_s"], 3.0, "{crash}");
    every_repro_replays(&out, minimal);
}

#[test]
fn explore_is_identical_with_one_or_two_threads_and_when_sharded() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let file = "tests/explore/threshold.ron";
    explore(file, &p("one"), &[], &[("RAYON_NUM_THREADS", "1")]);
    explore(file, &p("two"), &[], &[("RAYON_NUM_THREADS", "2")]);
    for (i, shard) in ["0/2", "1/2"].iter().enumerate() {
        let out = p(&format!("s{i}"));
        let args = [
            "explore",
            file,
            "-r",
            "2",
            "--budget",
            "160",
            "--quiet",
            "--shard",
            shard,
            "--out",
            out.to_str().unwrap(),
        ];
        assert!(gatesim(&args, &[]).status.success());
    }
    let merged = p("merged");
    let o = gatesim(
        &["merge", p("s1").to_str().unwrap(), p("s0").to_str().unwrap(), "--out", merged.to_str().unwrap(), "--quiet"],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let one = std::fs::read(p("one").join("explore.json")).unwrap();
    assert_eq!(one, std::fs::read(p("two").join("explore.json")).unwrap(), "1 vs 2 threads");
    assert_eq!(one, std::fs::read(merged.join("explore.json")).unwrap(), "merged shards");
    // A shard alone is not a search.
    let o = gatesim(&["merge", p("s0").to_str().unwrap(), "--out", p("partial").to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn explore_refuses_a_scenario_without_an_slo_or_one_that_fails_without_faults() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("tests/explore/threshold.ron").unwrap();
    let no_slo = dir.path().join("no-slo.ron");
    std::fs::write(&no_slo, text.replace("slo: (success_rate: 0.96),", "")).unwrap();
    let o = gatesim(&["explore", no_slo.to_str().unwrap(), "--out", dir.path().join("a").to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("has none"), "{}", String::from_utf8_lossy(&o.stderr));
    let broken = dir.path().join("broken.ron");
    std::fs::write(&broken, text.replace("success_rate: 0.96", "p99: \"1ms\"")).unwrap();
    let o = gatesim(&["explore", broken.to_str().unwrap(), "--out", dir.path().join("b").to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("without any fault"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!dir.path().join("a").exists() && !dir.path().join("b").exists(), "nothing written");
}

/// A newcomer's review: the minimal sets printed only the success rate, so
/// a set missing on its p99 read "success 99.97 %, SLO missed". Each line
/// now says which objective its means miss.
#[test]
fn each_minimal_set_says_which_objective_it_misses() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let args = ["explore", "tests/explore/threshold.ron", "-r", "2", "--budget", "160", "--max-faults", "1"];
    let o = gatesim(&[&args[..], &["--out", out.to_str().unwrap()]].concat(), &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let crash = stdout.lines().find(|l| l.contains("repro-") && l.contains("Crash")).expect("a crash found");
    assert!(crash.contains("p99 ") && crash.contains("[success under 96 %"), "{crash}");
    assert!(stdout.contains("the SLO is judged over each run's"), "{stdout}");
}
