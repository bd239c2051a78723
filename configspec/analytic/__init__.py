"""The analytic model: pure functions from (profiles, configuration, scenario) to metrics.

`scenario` (the YAML schema), `formulas` (one function per formula, each citing its source),
`inputs` (numbers read from profiles: step times, verification latency, power, with their source
labels), `evaluate` (a whole configuration table at once, vectorised) and `baselines`
(autoregressive references).
"""
