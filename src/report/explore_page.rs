//! What `gatesim explore` found, for people: the stdout table and
//! explore.html (the ranking, each minimal breaking set with its cascade
//! story and a link to its report).

use std::fmt::Write as _;

use crate::batch::explore::search::Trial;
use crate::batch::explore::{Exploration, Settings};
use crate::batch::stats::Estimate;

use super::batch_plots::escape;
use super::plots::html;
use super::table::num;

/// Criticality rows printed on stdout.
const TOP: usize = 12;

fn faults(t: &Trial) -> String {
    t.faults.iter().map(|f| f.describe()).collect::<Vec<_>>().join(" + ")
}

/// A share (0 to 1) as a percentage with its interval.
fn pct(e: &Estimate) -> String {
    est(&e.scaled(100.0))
}

/// "mean ± half-width", or "mean [low, high]" where the interval was cut
/// to the values' range (a share cannot pass 100 %).
fn est(e: &Estimate) -> String {
    e.show_with(num)
}

/// The worse objective's mean as a multiple of what the SLO allows.
fn times(t: &Trial, s: &Settings) -> String {
    match s.times_target(t) {
        x if !x.is_finite() => "∞".into(),
        x if x >= 100.0 => format!("{x:.0}x"),
        x => format!("{x:.1}x"),
    }
}

fn slo(t: &Trial) -> String {
    if t.slo_met { "met".into() } else { format!("missed {}/{}", t.slo_missed_runs, t.runs) }
}

/// Which objectives a finding's means miss, and whether a target lies
/// inside the 95% interval (a borderline finding: other seeds may meet it).
fn missed(t: &Trial, s: &Settings) -> String {
    let mut out = Vec::new();
    let p99 = s.slo_p99_ms;
    // As the run's verdict: a p99 objective without a successful answer is missed.
    let no_answer = p99.is_some() && t.success_rate.mean <= 0.0;
    if no_answer {
        out.push("no successful answer for the p99".to_string());
    }
    let mut borderline = false;
    let mut check = |e: &Estimate, target: Option<f64>, over: bool, what: String| {
        let Some(target) = target else { return };
        if (over && e.mean > target) || (!over && e.mean < target) {
            out.push(what);
        }
        borderline |= e.ci95.is_some_and(|h| h > 0.0) && e.low() <= target && target <= e.high();
    };
    if !no_answer {
        check(&t.latency_ms_p99, p99, true, format!("p99 over {} ms", num(p99.unwrap_or(0.0))));
    }
    let ok = s.slo_success_rate.map(|r| r * 100.0);
    check(&t.success_rate.scaled(100.0), ok, false, format!("success under {} %", num(ok.unwrap_or(0.0))));
    if borderline {
        out.push("borderline: a target lies within the 95% interval".into());
    }
    if out.is_empty() { String::new() } else { format!(" [{}]", out.join("; ")) }
}

fn recovery(t: &Trial) -> String {
    match (t.never_recovered_runs, t.recovery_s.n) {
        (0, 0) => "–".into(),
        (0, _) => format!("{} s", est(&t.recovery_s)),
        (k, _) => format!("never ({k}/{})", t.runs),
    }
}

/// The stdout table: the most harmful single faults, then the minimal sets.
pub fn explore_table(e: &Exploration) -> String {
    let mut out = format!(
        "explore {}: {} runs ({} single faults x {} replications, then the search), seed {}\n",
        e.scenario,
        e.runs,
        e.criticality.len(),
        e.settings.replications,
        e.settings.seed
    );
    for n in &e.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let b = &e.baseline;
    let _ = writeln!(
        out,
        "fault-free: SLO success {} %, p99 of successes {} ms, SLO {}",
        pct(&b.success_rate),
        est(&b.latency_ms_p99),
        slo(b)
    );
    let _ = writeln!(
        out,
        "\nmost harmful single faults, by SLO misses, then by how far past the SLO (x SLO: the worse objective's\n\
         mean over what the SLO allows: failures over the share it allows, or p99 over its target);\n\
         success % as the SLO counts it, p99 ms of successes: mean ± 95% CI, or [low, high] where cut at 0 or 100 %:"
    );
    for (i, t) in e.criticality.iter().take(TOP).enumerate() {
        let _ = writeln!(
            out,
            "{:>3}. {:<44} SLO {:<11} {:>6} SLO  success {:<16} p99 {:<16} {} recover {}",
            i + 1,
            faults(t),
            slo(t),
            times(t, &e.settings),
            pct(&t.success_rate),
            est(&t.latency_ms_p99),
            t.verdict.key(),
            recovery(t)
        );
    }
    if e.criticality.len() > TOP {
        let _ = writeln!(out, "     ... {} more in explore.json", e.criticality.len() - TOP);
    }
    if e.minimal.is_empty() {
        let _ = writeln!(out, "\nno fault set within the budget broke the SLO");
    } else {
        let _ = writeln!(out, "\nminimal fault sets that break the SLO (metastable first):");
        for m in &e.minimal {
            let stays = if m.metastable {
                "stays down (metastable)".to_string()
            } else {
                format!("recovery {}", recovery(&m.trial))
            };
            // Both objectives: a set may miss on its p99 alone.
            let _ = writeln!(
                out,
                "  {}: {}  -> success {} %, p99 {} ms, SLO {}, {stays}{}",
                m.repro,
                faults(&m.trial),
                pct(&m.trial.success_rate),
                est(&m.trial.latency_ms_p99),
                slo(&m.trial),
                missed(&m.trial, &e.settings)
            );
        }
        let _ = writeln!(out, "replay one with: gatesim run DIR/repro-1.ron --fail-on-slo");
    }
    out
}

/// explore.html; `stories[i]` is the cascade story of minimal set i's replay.
pub fn explore_html(e: &Exploration, stories: &[Vec<String>]) -> String {
    let mut b = format!(
        "<h1>What breaks {}?</h1>\n<p class=\"meta\">{} runs: every single fault ({}) with {} replications each \
         (seeds {} + i, common random numbers), then a random search of up to {} faults at a time, each breaking \
         case shrunk to a minimal one. ± is the half-width of the 95% confidence interval; [low, high] gives its ends where it was cut at 0 or 100 %.</p>\n",
        escape(&e.scenario),
        e.runs,
        e.criticality.len(),
        e.settings.replications,
        e.settings.seed,
        e.settings.max_faults
    );
    for n in &e.notes {
        let _ = writeln!(b, "<p class=\"meta\"><b>Note:</b> {}.</p>", escape(n));
    }
    let base = &e.baseline;
    let _ = writeln!(
        b,
        "<p>Without faults: success {} % (as the SLO counts it), p99 of successes {} ms, SLO {}.</p>",
        escape(&pct(&base.success_rate)),
        escape(&est(&base.latency_ms_p99)),
        escape(&slo(base))
    );
    minimal_sets(&mut b, e, stories);
    b.push_str(
        "<h2>Criticality</h2>\n<p class=\"meta\">Every single fault in the same window, most harmful first: by \
         SLO misses, then by how far past the SLO it takes the worse objective (× SLO: its mean over what the SLO \
         allows, the failures over the share it allows or the p99 over its target).</p>\n\
         <div class=\"scroll\"><table><thead><tr><th>#</th><th>fault</th><th>SLO</th><th class=\"n\">× SLO</th>\
         <th class=\"n\">SLO success %</th>\
         <th class=\"n\">p99 ms</th><th>verdict</th><th>recovery</th></tr></thead><tbody>\n",
    );
    for (i, t) in e.criticality.iter().enumerate() {
        let _ = writeln!(
            b,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            escape(&faults(t)),
            escape(&slo(t)),
            escape(&times(t, &e.settings)),
            escape(&pct(&t.success_rate)),
            escape(&est(&t.latency_ms_p99)),
            t.verdict.key(),
            escape(&recovery(t))
        );
    }
    b.push_str("</tbody></table></div>\n<footer>Made by gatesim explore; the numbers are in explore.json.</footer>\n");
    html::page(&format!("What breaks {}? gatesim explore", e.scenario), &b)
}

/// Each minimal breaking set with its replay, report link and story.
fn minimal_sets(b: &mut String, e: &Exploration, stories: &[Vec<String>]) {
    b.push_str("<h2>Minimal breaking sets</h2>\n");
    if e.minimal.is_empty() {
        b.push_str("<p>No fault set within the budget broke the SLO.</p>\n");
    }
    for (m, story) in e.minimal.iter().zip(stories.iter().map(Some).chain(std::iter::repeat(None))) {
        let stem = m.repro.trim_end_matches(".ron");
        let badge = if m.metastable { ("bad", "stays down: metastable") } else { ("warn", "recovers") };
        let _ = write!(
            b,
            "<div class=\"episode\"><h3>{} <span class=\"badge {}\">{}</span></h3>\n<p>{}</p>\n\
             <p class=\"meta\">success {} %, p99 of successes {} ms, SLO {}; replay: <code>gatesim run {}</code> · \
             <a href=\"{stem}/report.html\">report</a></p>\n",
            escape(stem),
            badge.0,
            badge.1,
            escape(&faults(&m.trial)),
            escape(&pct(&m.trial.success_rate)),
            escape(&est(&m.trial.latency_ms_p99)),
            escape(&slo(&m.trial)),
            escape(&m.repro),
        );
        if let Some(story) = story.filter(|s| !s.is_empty()) {
            let _ = writeln!(b, "<pre>{}</pre>", escape(&story.join("\n")));
        }
        b.push_str("</div>\n");
    }
}
