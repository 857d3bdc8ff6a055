"""Evaluation: training popularity and tail groups, fixed sampled negatives, long-tail metrics."""
