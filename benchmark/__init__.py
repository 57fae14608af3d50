"""Experiments, compute-cost measurement and speed suites of the seamless harness."""
