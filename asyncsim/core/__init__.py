"""The contracts every other part of asyncsim is written against: the registry records
(:mod:`.registry`), what a protocol sees of a run (:mod:`.training`), the engine port that the
simulation and the emulation implement (:mod:`.engine`), the optimizer contract
(:mod:`.optimizer`) and the trace's event names (:mod:`.events`). Nothing here imports a floor
above it."""
