"""The lab: sweeps of approaches x scenarios x seeds x data budgets, and what they show.

- :mod:`cgfsim.lab.spec`: the sweep TOML, checked before anything runs;
- :mod:`cgfsim.lab.approaches`: the approach registry (adapters to the learners);
- :mod:`cgfsim.lab.protocol`: one evaluation protocol (split keys, held-out maps,
  exact budgets, validation selection);
- :mod:`cgfsim.lab.jobs` / :mod:`cgfsim.lab.store`: one job, the append-only store;
- :mod:`cgfsim.lab.executors`: ``serial``, ``process`` or ``ray``;
- :mod:`cgfsim.lab.stats`: IQM, stratified bootstrap, profiles, P(improvement),
  samples-to-reliability (numpy + scipy);
- :mod:`cgfsim.lab.targets`, :mod:`cgfsim.lab.report`, :mod:`cgfsim.lab.plots`.

Submodules are imported on use; ``import cgfsim.lab`` loads no torch.
"""
