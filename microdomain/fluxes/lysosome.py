"""Lysosomal release channels: TPC2 (NAADP-gated) and TRPML1 (agonist-gated)."""

from __future__ import annotations

from . import register
from .channels import AgonistGatedCluster


@register("tpc2")
class Tpc2(AgonistGatedCluster):
    """Two-pore channel 2, lysosome → cytosol: N channels with P = P_max·Lⁿ/(EC50ⁿ + Lⁿ), L the
    NAADP concentration, J = N·P·p·(c_lys − c_cyt)/A (channels.py; magnitudes illustrative)."""

    references = ("Su2024",)


@register("trpml1")
class Trpml1(AgonistGatedCluster):
    """TRPML1 (mucolipin 1), lysosome → cytosol, gated by an agonist (PI(3,5)P2, ML-SA1) at
    concentration L: P = P_max·Lⁿ/(EC50ⁿ + Lⁿ); also passes Zn²⁺ when given a Zn²⁺ unitary
    current (magnitudes illustrative)."""

    references = ("Su2024",)
