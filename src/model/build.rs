//! Building the world from a validated model, and its first events.

use crate::engine::{EventQueue, SimTime};

use super::calls::CallTable;
use super::clients::Clients;
use super::config::{LimitScope, ModelConfig, NodeKind};
use super::faults::Faults;
use super::network::Network;
use super::record::Recorder;
use super::servers::Servers;
use super::world::{Ev, World};

/// The world at time 0, with its first events scheduled.
pub(super) fn world<'a>(cfg: &'a ModelConfig, q: &mut EventQueue<Ev>) -> World<'a> {
    let mut world = World {
        cfg,
        end: SimTime(cfg.duration.as_nanos()),
        clients: Clients::new(cfg),
        calls: CallTable::new(cfg),
        servers: Servers::new(cfg),
        net: Network::new(cfg),
        faults: Faults::new(cfg),
        rec: recorder(cfg),
        tracer: cfg.trace.map(super::trace::Tracer::new),
        stop: None,
    };
    world.schedule_start(q);
    world
}

fn recorder(cfg: &ModelConfig) -> Recorder {
    let capacity = cfg
        .nodes
        .iter()
        .map(|n| match &n.kind {
            NodeKind::Gateway(g) => u64::from(g.workers) * u64::from(n.replicas),
            NodeKind::Service(s) => u64::from(s.workers) * u64::from(n.replicas),
            _ => 0,
        })
        .collect();
    let routes: Vec<usize> =
        cfg.nodes.iter().map(|n| if let NodeKind::Gateway(g) = &n.kind { g.routes.len() } else { 0 }).collect();
    // Per gateway and rate limit: how many keys it has (users, or one).
    let users = cfg.total_users();
    let limits: Vec<Vec<u32>> = cfg
        .nodes
        .iter()
        .map(|n| match &n.kind {
            NodeKind::Gateway(g) => {
                g.rate_limits.iter().map(|l| if matches!(l.scope, LimitScope::PerUser) { users } else { 1 }).collect()
            }
            _ => Vec::new(),
        })
        .collect();
    let mut rec = Recorder::new(cfg.warmup, cfg.resolution, capacity, &routes, &limits, cfg.edges.len());
    // Every row the run will write, reserved once (validated against
    // MAX_ROWS and budgeted): growing by doubling copies and fragments.
    let buckets = cfg.duration.as_nanos().div_ceil(cfg.resolution.as_nanos().max(1));
    rec.reserve_rows(usize::try_from(buckets.saturating_mul(cfg.nodes.len() as u64)).unwrap_or(0));
    rec
}

impl World<'_> {
    /// The first events: arrivals, ticks, faults, probes, chaos.
    fn schedule_start(&mut self, q: &mut EventQueue<Ev>) {
        self.schedule_first_arrivals(q);
        self.schedule_before_end(q, SimTime::ZERO + self.cfg.resolution, Ev::Tick);
        for (i, f) in self.cfg.faults.iter().enumerate() {
            if f.at < self.end {
                q.schedule(f.at, Ev::FaultStart { fault: i as u32 });
                q.schedule(f.until, Ev::FaultEnd { fault: i as u32 });
            }
        }
        self.schedule_probes(q);
        for (state, interval) in self.calls.outlier_sweeps(self.cfg) {
            self.schedule_before_end(q, SimTime::ZERO + interval, Ev::OutlierSweep { state });
        }
        self.schedule_chaos(q);
    }
}
