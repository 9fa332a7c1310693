#!/usr/bin/env bash
# Regenerates the pictures in docs/ that README.md shows, from the scenarios
# in scenarios/ (deterministic: the same commit gives the same pictures).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
./target/release/gatesim run scenarios/quickstart.ron --quiet --out output/quickstart
cp output/quickstart/errors.png docs/quickstart-outcomes.png
cp output/quickstart/latency.png docs/quickstart-latency.png
cp output/quickstart/topology.svg docs/quickstart-topology.svg
./target/release/gatesim compare scenarios/arch-single.ron scenarios/arch-bff.ron scenarios/arch-mesh.ron \
    -r 10 --quiet --out output/compare-arch
cp output/compare-arch/comparison_success.png docs/compare-success.png
echo "docs/ updated"
