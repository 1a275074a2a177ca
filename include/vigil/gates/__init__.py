"""Gates: data-quality suites (Great Expectations) and the circuit breakers."""
