"""Consensus Control for Decentralized Deep Learning (Kong et al., ICML 2021); see docs/consensus.md."""
