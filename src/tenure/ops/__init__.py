"""Operating Tenure: readiness, business gauges, invariant checks and the use cases behind the
operator commands (``tenure check``, ``tenure customer show``, ``tenure events replay``,
``tenure subscription rerun``). Above the flows, below the API and the CLI."""
