"""microdomain: buffered Ca²⁺ and Zn²⁺ reaction–diffusion in cellular microdomains (FiPy)."""

import os

# The solver's vector operations are small and many; a multi-threaded BLAS on them costs far
# more in thread hand-offs than it gains (18x slower per CG iteration measured on a loaded
# 2-core machine). Must be set before numpy is imported; an explicit setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
