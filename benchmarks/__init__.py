"""Benchmarks of dronesim against reference models (``make bench``; not part of the package).

* :mod:`benchmarks.workload` - the one pre-generated workload, the docks of each fleet, the drone.
* :mod:`benchmarks.ref_simpy` - an idiomatic SimPy model of the same dispatch.
* :mod:`benchmarks.ref_heapq` - a minimal heapq event loop with batched KD-tree candidates.
* :mod:`benchmarks.adapter` - dronesim run on the same workload, with whatever engine hooks exist.
* :mod:`benchmarks.bench` - the harness that prints the targets table.
* :mod:`benchmarks.probe` - measurements that need a fresh process (memory, the London year).
"""
