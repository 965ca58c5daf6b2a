"""Thin glue for web frameworks: each module adapts one framework to the adapters."""
