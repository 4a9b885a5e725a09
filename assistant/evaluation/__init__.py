"""Measuring retrieval (BEIR) and answers (question sets)."""
