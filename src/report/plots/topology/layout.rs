//! A small layered (Sugiyama-style) layout: layers by longest path, waypoints
//! where an edge skips a layer (so it bends around the boxes in between),
//! barycentre ordering against crossings, and edge labels put where they
//! overlap least, on their own curve.
//!
//! Deterministic: every tie is broken by index.

const VGAP: f64 = 44.0;
/// Height reserved for an edge passing through a layer.
const WAYPOINT_H: f64 = 14.0;
pub(super) const TOP: f64 = 70.0;
const LEFT: f64 = 30.0;

pub(super) struct Input {
    /// Width of every box.
    pub box_w: f64,
    /// Box height of each node.
    pub heights: Vec<f64>,
    /// (from, to) of each arrow.
    pub links: Vec<(usize, usize)>,
    /// (width, height) of each arrow's label.
    pub labels: Vec<(f64, f64)>,
}

pub(super) struct Output {
    /// Top-left corner of each node's box.
    pub boxes: Vec<(f64, f64)>,
    /// SVG path data of each arrow.
    pub paths: Vec<String>,
    /// Centre of each arrow's label.
    pub labels: Vec<(f64, f64)>,
    /// The point on each arrow its label belongs to (its centre when on the curve).
    pub anchors: Vec<(f64, f64)>,
    pub width: f64,
    pub height: f64,
}

/// Layer of each node: the longest path from a node without callers.
/// Relaxation stops after n rounds, so a cycle cannot loop forever.
fn layers(n: usize, links: &[(usize, usize)]) -> Vec<usize> {
    let mut layer = vec![0usize; n];
    for _ in 0..n {
        let mut changed = false;
        for &(a, b) in links {
            if a != b && layer[b] < layer[a] + 1 && layer[a] + 1 < n {
                layer[b] = layer[a] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    layer
}

/// Nodes and waypoints: items `0..n` are nodes, the rest waypoints.
struct Grid {
    layer: Vec<usize>,
    heights: Vec<f64>,
    /// Per link: the items it passes through, source and target included.
    chains: Vec<Vec<usize>>,
    cols: Vec<Vec<usize>>,
}

fn grid(input: &Input) -> Grid {
    let n = input.heights.len();
    let mut layer = layers(n, &input.links);
    let mut heights = input.heights.clone();
    let mut chains = Vec::with_capacity(input.links.len());
    for &(a, b) in &input.links {
        let mut chain = vec![a];
        if layer[b] > layer[a] + 1 {
            for l in layer[a] + 1..layer[b] {
                layer.push(l);
                heights.push(WAYPOINT_H);
                chain.push(layer.len() - 1);
            }
        }
        chain.push(b);
        chains.push(chain);
    }
    let depth = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut cols: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (i, &l) in layer.iter().enumerate() {
        cols[l].push(i);
    }
    let mut g = Grid { layer, heights, chains, cols };
    order(&mut g);
    g
}

/// Barycentre sweeps, down then up, four times.
fn order(g: &mut Grid) {
    let items = g.layer.len();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for chain in &g.chains {
        for w in chain.windows(2) {
            if g.layer[w[1]] == g.layer[w[0]] + 1 {
                pairs.push((w[0], w[1]));
            }
        }
    }
    let mut pos = vec![0.0f64; items];
    let depth = g.cols.len();
    for round in 0..8 {
        for col in &g.cols {
            for (k, &i) in col.iter().enumerate() {
                pos[i] = k as f64;
            }
        }
        let down = round % 2 == 0;
        let layers: Vec<usize> = if down { (1..depth).collect() } else { (0..depth.saturating_sub(1)).rev().collect() };
        for c in layers {
            let key = |i: usize| {
                let near: Vec<f64> = pairs
                    .iter()
                    .filter_map(|&(a, b)| match down {
                        true if b == i => Some(pos[a]),
                        false if a == i => Some(pos[b]),
                        _ => None,
                    })
                    .collect();
                if near.is_empty() { pos[i] } else { near.iter().sum::<f64>() / near.len() as f64 }
            };
            let mut keyed: Vec<(f64, usize)> = g.cols[c].iter().map(|&i| (key(i), i)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            g.cols[c] = keyed.into_iter().map(|(_, i)| i).collect();
            for (k, &i) in g.cols[c].iter().enumerate() {
                pos[i] = k as f64;
            }
        }
    }
}

fn bezier(a: f64, b: f64, c: f64, d: f64, t: f64) -> f64 {
    let u = 1.0 - t;
    u * u * u * a + 3.0 * u * u * t * b + 3.0 * u * t * t * c + t * t * t * d
}

/// A horizontal-tangent curve from `p` to `q`.
#[derive(Clone, Copy)]
struct Hop {
    p: (f64, f64),
    q: (f64, f64),
}

impl Hop {
    fn at(self, t: f64) -> (f64, f64) {
        let dx = (self.q.0 - self.p.0) / 2.0;
        (bezier(self.p.0, self.p.0 + dx, self.q.0 - dx, self.q.0, t), bezier(self.p.1, self.p.1, self.q.1, self.q.1, t))
    }
}

type Rect = (f64, f64, f64, f64);

fn overlap(a: Rect, b: Rect) -> f64 {
    let w = (a.2.min(b.2) - a.0.max(b.0)).max(0.0);
    let h = (a.3.min(b.3) - a.1.max(b.1)).max(0.0);
    w * h
}

pub(super) fn layout(input: &Input) -> Output {
    let box_w = input.box_w;
    let g = grid(input);
    let xs = column_xs(&g, input);
    let n = input.heights.len();
    let col_h = |c: &Vec<usize>| c.iter().map(|&i| g.heights[i]).sum::<f64>() + VGAP * c.len().saturating_sub(1) as f64;
    let tallest = g.cols.iter().map(col_h).fold(0.0, f64::max);
    let mut at = vec![(0.0, 0.0); g.layer.len()];
    for (c, col) in g.cols.iter().enumerate() {
        let x = xs[c];
        let mut y = TOP + (tallest - col_h(col)) / 2.0;
        for &i in col {
            at[i] = (x, y);
            y += g.heights[i] + VGAP;
        }
    }
    let mid = |i: usize| at[i].1 + g.heights[i] / 2.0;
    let mut paths = Vec::with_capacity(g.chains.len());
    let mut hops: Vec<Vec<Hop>> = Vec::with_capacity(g.chains.len());
    for chain in &g.chains {
        let (a, b) = (chain[0], chain[chain.len() - 1]);
        if g.layer[b] <= g.layer[a] {
            let (path, hop) = backwards(box_w, (at[a], g.heights[a]), (at[b], g.heights[b]));
            paths.push(path);
            hops.push(vec![hop]);
            continue;
        }
        let mut d = String::new();
        let mut chain_hops = Vec::new();
        for (k, w) in chain.windows(2).enumerate() {
            let p = (at[w[0]].0 + box_w, mid(w[0]));
            let q = (at[w[1]].0 - if k + 2 == chain.len() { 2.0 } else { 0.0 }, mid(w[1]));
            if k == 0 {
                d.push_str(&format!("M{:.1},{:.1}", p.0, p.1));
            } else {
                d.push_str(&format!(" L{:.1},{:.1}", p.0, p.1));
            }
            let dx = (q.0 - p.0) / 2.0;
            d.push_str(&format!(" C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}", p.0 + dx, p.1, q.0 - dx, q.1, q.0, q.1));
            chain_hops.push(Hop { p, q });
        }
        paths.push(d);
        hops.push(chain_hops);
    }
    let boxes: Vec<Rect> = (0..n).map(|i| (at[i].0, at[i].1, at[i].0 + box_w, at[i].1 + g.heights[i])).collect();
    let (labels, anchors) = place_labels(&hops, &input.labels, &boxes);
    let label_bottom = labels.iter().zip(&input.labels).map(|(c, s)| c.1 + s.1 / 2.0).fold(0.0, f64::max);
    let width = (xs.last().copied().unwrap_or(LEFT) + box_w + LEFT).max(760.0);
    let height = (TOP + tallest).max(label_bottom) + 30.0;
    Output { boxes: (0..n).map(|i| at[i]).collect(), paths, labels, anchors, width, height }
}

/// The left edge of each column. A gap is as wide as its widest label, or
/// room for two side by side when more than three labels start in it.
fn column_xs(g: &Grid, input: &Input) -> Vec<f64> {
    let depth = g.cols.len();
    let mut widest = vec![0.0f64; depth];
    let mut count = vec![0usize; depth];
    for (chain, size) in g.chains.iter().zip(&input.labels) {
        let c = g.layer[chain[0]];
        widest[c] = widest[c].max(size.0);
        count[c] += 1;
    }
    let mut xs = Vec::with_capacity(depth);
    let mut x = LEFT;
    for c in 0..depth {
        xs.push(x);
        let room = if count[c] > 3 { 2.0 * widest[c] + 50.0 } else { widest[c] + 30.0 };
        x += input.box_w + room.clamp(150.0, 520.0);
    }
    xs
}

/// Backwards or within a layer: a loop below both boxes.
fn backwards(box_w: f64, (a, ha): ((f64, f64), f64), (b, hb): ((f64, f64), f64)) -> (String, Hop) {
    let (x0, y0, x1, y1) = (a.0 + box_w * 0.6, a.1 + ha, b.0 + box_w * 0.4, b.1 + hb + 2.0);
    let low = y0.max(y1) + 50.0;
    let path = format!("M{x0:.1},{y0:.1} C{x0:.1},{low:.1} {x1:.1},{low:.1} {x1:.1},{y1:.1}");
    let c = ((x0 + x1) / 2.0, low - 10.0);
    (path, Hop { p: c, q: c })
}

/// Each label where it overlaps the boxes and the labels placed before it
/// least: on its own curve if possible, else nudged up or down from it
/// (nudges cost a little, so an exact spot on the curve wins); leftover
/// overlaps with labels are pushed down.
/// (centres, anchors) of the labels.
type Placed = (Vec<(f64, f64)>, Vec<(f64, f64)>);

fn place_labels(hops: &[Vec<Hop>], sizes: &[(f64, f64)], boxes: &[Rect]) -> Placed {
    const TS: [f64; 9] = [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.1, 0.9];
    const NUDGES: [f64; 7] = [0.0, -1.0, 1.0, -2.0, 2.0, -3.0, 3.0];
    let mut placed: Vec<Rect> = Vec::with_capacity(sizes.len());
    let mut centres = Vec::with_capacity(sizes.len());
    let mut anchors = Vec::with_capacity(sizes.len());
    for (chain, &(w, h)) in hops.iter().zip(sizes) {
        let rect = |c: (f64, f64)| (c.0 - w / 2.0 - 3.0, c.1 - h / 2.0 - 3.0, c.0 + w / 2.0 + 3.0, c.1 + h / 2.0 + 3.0);
        let mut best = (f64::INFINITY, (0.0, 0.0), (0.0, 0.0));
        for nudge in NUDGES {
            for hop in chain {
                for t in TS {
                    let (x, y) = hop.at(t);
                    let c = (x, (y + nudge * (h / 2.0 + 6.0)).max(TOP - 20.0 + h / 2.0));
                    let r = rect(c);
                    let hit: f64 = boxes.iter().chain(&placed).map(|b| overlap(r, *b)).sum();
                    let cost = hit + nudge.abs() * 10.0 + (t - 0.5).abs();
                    if cost < best.0 {
                        best = (cost, c, (x, y));
                    }
                }
            }
            if best.0 < 100.0 {
                break;
            }
        }
        let mut c = best.1;
        for _ in 0..placed.len() {
            let r = rect(c);
            match placed.iter().filter(|p| overlap(r, **p) > 0.0).map(|p| p.3).reduce(f64::max) {
                Some(bottom) => c.1 = bottom + h / 2.0 + 4.0,
                None => break,
            }
        }
        placed.push(rect(c));
        centres.push(c);
        anchors.push(best.2);
    }
    (centres, anchors)
}
