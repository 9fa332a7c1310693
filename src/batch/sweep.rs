//! Sweep: one scenario over a grid of parameter values (one `--set` is a
//! line, two are a grid); every metric per point, mean and 95% CI.

use serde::Serialize;

use crate::metrics::summary::Ordered;
use crate::scenario::units::parse_duration;

use super::compare::{estimates, never_recovered, runs_of, verdicts};
use super::runs::RunsFile;
use super::stats::Estimate;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Sweep {
    pub file: String,
    pub replications: u32,
    pub base_seed: u64,
    pub parameters: Vec<(String, Vec<String>)>,
    pub points: Vec<Point>,
    /// Per parameter: its values as numbers, for charts (not written).
    #[serde(skip)]
    pub axes: Vec<Axis>,
}

/// A parameter's values as numbers: plain numbers, durations in seconds,
/// otherwise each value's position in the list.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub values: Vec<f64>,
    /// The values were durations (the numbers are seconds).
    pub seconds: bool,
}

impl Axis {
    fn of(values: &[String]) -> Axis {
        let bare = |v: &String| v.trim_matches('"').to_string();
        let parsed: Option<Vec<f64>> = values
            .iter()
            .map(|v| {
                let v = bare(v);
                v.parse::<f64>().ok().or_else(|| parse_duration(&v).ok().map(|d| d.as_secs_f64()))
            })
            .collect();
        let seconds = values.iter().any(|v| parse_duration(&bare(v)).is_ok() && bare(v).parse::<f64>().is_err());
        match parsed {
            Some(values) => Axis { values, seconds },
            None => Axis { values: (0..values.len()).map(|i| i as f64).collect(), seconds: false },
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Point {
    /// The value of each parameter at this point, in parameter order.
    pub values: Vec<String>,
    pub metrics: Ordered<Estimate>,
    pub verdicts: Ordered<u64>,
    /// Replications that never recovered (left out of `recovery_s`).
    pub never_recovered: u64,
}

/// Every combination of values, the first parameter varying slowest.
pub fn grid(parameters: &[(String, Vec<String>)]) -> Vec<Vec<String>> {
    parameters.iter().fold(vec![Vec::new()], |acc, (_, values)| {
        acc.iter().flat_map(|prefix| values.iter().map(move |v| [prefix.clone(), vec![v.clone()]].concat())).collect()
    })
}

pub fn sweep(file: &RunsFile) -> Sweep {
    let points = grid(&file.parameters)
        .into_iter()
        .enumerate()
        .map(|(i, values)| {
            let runs = runs_of(file, i);
            Point {
                values,
                metrics: estimates(&runs),
                verdicts: verdicts(&runs),
                never_recovered: never_recovered(&runs),
            }
        })
        .collect();
    Sweep {
        file: file.files.first().cloned().unwrap_or_default(),
        replications: file.replications,
        base_seed: file.base_seed,
        parameters: file.parameters.clone(),
        axes: file.parameters.iter().map(|(_, v)| Axis::of(v)).collect(),
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_the_cartesian_product_in_order() {
        let p = vec![("a".to_string(), vec!["1".into(), "2".into()]), ("b".to_string(), vec!["x".into(), "y".into()])];
        assert_eq!(grid(&p), vec![vec!["1", "x"], vec!["1", "y"], vec!["2", "x"], vec!["2", "y"]]);
    }
}
