"""Test clocks: simulated time for a set of customers, advanced on demand."""
