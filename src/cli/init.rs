//! `gatesim init [TEMPLATE]`: a commented starting scenario on stdout.
//! The templates are files in scenarios/ (the test suite validates and
//! runs them), compiled in so that the binary needs nothing beside it.

/// The architectures a new scenario can start from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// One gateway (auth, rate limit, routes with timeout/retry/breaker/fallback) in front of two services.
    Single,
    /// Backends for frontends: a gateway per client type, one of them aggregating three services.
    Bff,
    /// A service mesh: a thin edge gateway, policies and sidecars on the services' own calls.
    Mesh,
    /// A health-checked load balancer in front of a gateway fleet; one replica crashes.
    Ha,
    /// Random chaos (MTBF/MTTR) over three services for 10 minutes.
    Chaos,
}

impl Template {
    pub fn text(self) -> &'static str {
        match self {
            Template::Single => include_str!("../../scenarios/templates/single.ron"),
            Template::Bff => include_str!("../../scenarios/templates/bff.ron"),
            Template::Mesh => include_str!("../../scenarios/templates/mesh.ron"),
            Template::Ha => include_str!("../../scenarios/templates/ha.ron"),
            Template::Chaos => include_str!("../../scenarios/templates/chaos.ron"),
        }
    }
}
