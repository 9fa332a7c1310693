//! The network between instances: one-way latency per hop, the sidecars
//! on either end (a mesh proxy's overhead), partitions that swallow
//! messages, and `Latency` faults that delay requests on the wire.

use crate::engine::SimDuration;
use crate::engine::dist::Dist;
use crate::engine::rng::SimRng;

use super::config::FaultKind;
use super::config::{InstId, ModelConfig, NodeId, NodeKind, ServiceConfig};
use super::faults::fault_kind;
use super::world::World;

pub(super) struct Network {
    /// Per instance: its network stream (latency, sidecar and fault-delay draws).
    rngs: Vec<SimRng>,
    /// Per instance: its node's sidecar overhead, if it has one.
    sidecars: Vec<Option<Dist>>,
    /// Node pairs cut off from each other, both ways.
    partitions: Vec<(NodeId, NodeId)>,
    /// Every hop takes this long (a constant latency and no sidecars):
    /// no draw, no lookups.
    uniform: Option<SimDuration>,
}

impl Network {
    pub(super) fn new(cfg: &ModelConfig) -> Network {
        let rngs = cfg
            .instances
            .iter()
            .map(|i| crate::engine::rng::stream(cfg.seed, "network", &cfg.nodes[i.node as usize].name, i.replica))
            .collect();
        let sidecars = cfg
            .instances
            .iter()
            .map(|i| match &cfg.nodes[i.node as usize].kind {
                NodeKind::Service(ServiceConfig { sidecar: Some(overhead), .. }) => Some(overhead.clone()),
                _ => None,
            })
            .collect();
        let sidecars: Vec<Option<Dist>> = sidecars;
        let uniform = match &cfg.network {
            Dist::Const(d) if sidecars.iter().all(Option::is_none) => Some(*d),
            _ => None,
        };
        Network { rngs, sidecars, partitions: Vec::new(), uniform }
    }

    pub(super) fn cut(&mut self, a: NodeId, b: NodeId) {
        self.partitions.push((a, b));
    }

    pub(super) fn mend(&mut self, a: NodeId, b: NodeId) {
        if let Some(i) = self.partitions.iter().position(|p| *p == (a, b)) {
            self.partitions.remove(i);
        }
    }

    /// Nodes at either end of an active partition.
    pub(super) fn partitioned_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.partitions.iter().flat_map(|&(a, b)| [a, b])
    }

    fn cut_off(&self, a: NodeId, b: NodeId) -> bool {
        !self.partitions.is_empty() && self.partitions.iter().any(|&(x, y)| (x == a && y == b) || (x == b && y == a))
    }
}

impl World<'_> {
    /// One network hop from instance `from` to `to`: latency plus the
    /// sidecars on either end, or `None` if a partition swallows it.
    #[inline]
    pub(super) fn hop(&mut self, from: InstId, to: InstId) -> Option<SimDuration> {
        if let (Some(d), true) = (self.net.uniform, self.net.partitions.is_empty()) {
            return Some(d);
        }
        let cfg = self.cfg;
        let (a, b) = (cfg.instances[from as usize].node, cfg.instances[to as usize].node);
        let net = &mut self.net;
        if net.cut_off(a, b) {
            return None;
        }
        let mut d = match &cfg.network {
            Dist::Const(d) => *d,
            dist => dist.sample(&mut net.rngs[from as usize]),
        };
        for inst in [from, to] {
            if let Some(overhead) = &net.sidecars[inst as usize] {
                d = d + overhead.sample(&mut net.rngs[inst as usize]);
            }
        }
        Some(d)
    }

    /// A request message from `from` to `to`: one hop, plus the delay of
    /// every `Latency` fault active on `to` (a fault delays the wire, as
    /// Envoy's fault delay or netem do, not the target's workers).
    #[inline]
    pub(super) fn request_hop(&mut self, from: InstId, to: InstId) -> Option<SimDuration> {
        let mut d = self.hop(from, to)?;
        for &f in self.faults.latency_faults(to) {
            if let FaultKind::Latency { add } = fault_kind(self.cfg, &self.faults, f) {
                d = d + add.sample(&mut self.net.rngs[to as usize]);
            }
        }
        Some(d)
    }
}
