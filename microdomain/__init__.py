"""microdomain: buffered Ca²⁺ and Zn²⁺ reaction–diffusion in cellular microdomains (FiPy)."""

__version__ = "0.1.0"
