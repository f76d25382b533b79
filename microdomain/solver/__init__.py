"""The solver: residual (what the equations are), integrators (one step), linear algebra, Newton,
the step policy and the time loop — each in its own module, read top to bottom:

    state → membrane → residual → jacobian → linear → newton → integrators → steady → loop
"""

from .loop import Stepper
from .membrane import initial_gates
from .policy import StepPolicy
from .state import Counters, NotConverged, Observer, SimulationError, State, StepInfo

__all__ = ["Counters", "NotConverged", "Observer", "SimulationError", "State", "StepInfo",
           "StepPolicy", "Stepper", "initial_gates"]
